//! A reader for the subset of MATLAB MAT-file version 5 (what `save -v7` and `-v6` write, and
//! what SVHN ships) needed for numeric arrays: the 128-byte header, `miMATRIX` elements with
//! numeric classes, the small-element format, and `miCOMPRESSED` (zlib) elements. Cell,
//! struct, char, sparse and object arrays are skipped. Version 7.3 files are HDF5 and are
//! rejected with a message saying so.
//!
//! The `matfile` crate was considered; this reader exists to give byte-offset error messages
//! and to hand the (large) `uint8` payload over without converting it element by element.

use flate2::read::ZlibDecoder;
use std::io::Read;

const MI_INT8: u32 = 1;
const MI_UINT8: u32 = 2;
const MI_INT16: u32 = 3;
const MI_UINT16: u32 = 4;
const MI_INT32: u32 = 5;
const MI_UINT32: u32 = 6;
const MI_SINGLE: u32 = 7;
const MI_DOUBLE: u32 = 9;
const MI_INT64: u32 = 12;
const MI_UINT64: u32 = 13;
const MI_MATRIX: u32 = 14;
const MI_COMPRESSED: u32 = 15;

/// MATLAB array classes (`mxCLASS`) this reader returns; others are skipped.
const NUMERIC_CLASSES: std::ops::RangeInclusive<u8> = 6..=15;

/// A numeric array: its MATLAB class, dimensions (column-major, as MATLAB lists them) and the
/// real part's raw bytes in the element type they were stored with (MATLAB may store a
/// `double` array as `miUINT8` when its values fit).
#[derive(Debug, Clone)]
pub struct MatArray {
    pub name: String,
    /// `mxCLASS` id: 6 double, 7 single, 8 int8, 9 uint8, 10 int16, 11 uint16, 12 int32,
    /// 13 uint32, 14 int64, 15 uint64.
    pub class: u8,
    pub dims: Vec<usize>,
    data_type: u32,
    big_endian: bool,
    data: Vec<u8>,
}

impl MatArray {
    pub fn numel(&self) -> usize {
        self.dims.iter().product()
    }

    /// The values as bytes: moved out without conversion when stored as `miUINT8`, else
    /// converted, failing on the first value that is not an integer in 0..=255.
    pub fn into_u8(self) -> Result<Vec<u8>, String> {
        if self.data_type == MI_UINT8 {
            return Ok(self.data);
        }
        let values = self.to_f64()?;
        let mut out = Vec::with_capacity(values.len());
        for (i, v) in values.iter().enumerate() {
            if v.fract() != 0.0 || !(0.0..=255.0).contains(v) {
                return Err(format!(
                    "variable `{}`: value {v} at element {i} is not a byte",
                    self.name
                ));
            }
            out.push(*v as u8);
        }
        Ok(out)
    }

    /// The values converted to `f64`.
    pub fn to_f64(&self) -> Result<Vec<f64>, String> {
        let be = self.big_endian;
        macro_rules! conv {
            ($t:ty, $n:expr) => {
                self.data
                    .chunks_exact($n)
                    .map(|c| {
                        let mut a = [0u8; $n];
                        a.copy_from_slice(c);
                        (if be {
                            <$t>::from_be_bytes(a)
                        } else {
                            <$t>::from_le_bytes(a)
                        }) as f64
                    })
                    .collect()
            };
        }
        Ok(match self.data_type {
            MI_INT8 => self.data.iter().map(|&b| b as i8 as f64).collect(),
            MI_UINT8 => self.data.iter().map(|&b| b as f64).collect(),
            MI_INT16 => conv!(i16, 2),
            MI_UINT16 => conv!(u16, 2),
            MI_INT32 => conv!(i32, 4),
            MI_UINT32 => conv!(u32, 4),
            MI_SINGLE => conv!(f32, 4),
            MI_DOUBLE => conv!(f64, 8),
            MI_INT64 => conv!(i64, 8),
            MI_UINT64 => conv!(u64, 8),
            t => {
                return Err(format!(
                    "variable `{}`: unsupported data type {t}",
                    self.name
                ))
            }
        })
    }
}

fn element_size(data_type: u32) -> Option<usize> {
    match data_type {
        MI_INT8 | MI_UINT8 => Some(1),
        MI_INT16 | MI_UINT16 => Some(2),
        MI_INT32 | MI_UINT32 | MI_SINGLE => Some(4),
        MI_DOUBLE | MI_INT64 | MI_UINT64 => Some(8),
        _ => None,
    }
}

fn type_name(data_type: u32) -> String {
    let name = match data_type {
        MI_INT8 => "miINT8",
        MI_UINT8 => "miUINT8",
        MI_INT16 => "miINT16",
        MI_UINT16 => "miUINT16",
        MI_INT32 => "miINT32",
        MI_UINT32 => "miUINT32",
        MI_SINGLE => "miSINGLE",
        MI_DOUBLE => "miDOUBLE",
        MI_INT64 => "miINT64",
        MI_UINT64 => "miUINT64",
        MI_MATRIX => "miMATRIX",
        MI_COMPRESSED => "miCOMPRESSED",
        _ => return format!("type {data_type}"),
    };
    name.to_string()
}

struct Reader {
    big_endian: bool,
}

/// One data element: its type, its payload's range in the buffer, and where the next starts.
struct Element {
    data_type: u32,
    start: usize,
    end: usize,
    next: usize,
}

impl Reader {
    fn u32_at(&self, buf: &[u8], at: usize) -> u32 {
        let a = [buf[at], buf[at + 1], buf[at + 2], buf[at + 3]];
        if self.big_endian {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        }
    }

    /// Reads the tag at `at` (normal or small format). `base` is the offset of `buf` in the
    /// file, for messages. Payloads are padded to 8 bytes except compressed ones.
    fn element(&self, buf: &[u8], at: usize, base: &str) -> Result<Element, String> {
        if buf.len() < at + 8 {
            return Err(format!(
                "truncated: a data element tag at {base}byte {at} needs 8 bytes, {} remain",
                buf.len().saturating_sub(at)
            ));
        }
        let first = self.u32_at(buf, at);
        if first >> 16 != 0 {
            // Small data element: type and size share the first word, payload the second.
            let data_type = first & 0xffff;
            let n = (first >> 16) as usize;
            if n > 4 {
                return Err(format!(
                    "corrupt small data element at {base}byte {at}: {n} bytes (at most 4)"
                ));
            }
            return Ok(Element {
                data_type,
                start: at + 4,
                end: at + 4 + n,
                next: at + 8,
            });
        }
        let n = self.u32_at(buf, at + 4) as usize;
        let start = at + 8;
        let remain = buf.len() - start;
        if n > remain {
            return Err(format!(
                "truncated: the {} element at {base}byte {at} claims {n} bytes but only {remain} remain",
                type_name(first)
            ));
        }
        let next = if first == MI_COMPRESSED {
            start + n
        } else {
            (start + n).div_ceil(8) * 8
        };
        Ok(Element {
            data_type: first,
            start,
            end: start + n,
            next: next.min(buf.len()),
        })
    }

    /// Parses every top-level element of `buf` (a whole file after its header, or one
    /// decompressed element), appending numeric arrays to `out`.
    fn elements(
        &self,
        buf: &[u8],
        start: usize,
        base: &str,
        out: &mut Vec<MatArray>,
    ) -> Result<(), String> {
        let mut at = start;
        while at + 8 <= buf.len() {
            let el = self.element(buf, at, base)?;
            match el.data_type {
                MI_COMPRESSED => {
                    let mut inflated = Vec::new();
                    ZlibDecoder::new(&buf[el.start..el.end])
                        .read_to_end(&mut inflated)
                        .map_err(|e| {
                            format!("corrupt compressed element at {base}byte {at}: {e}")
                        })?;
                    let inner = format!("{base}byte {at} (decompressed) + ");
                    self.elements(&inflated, 0, &inner, out)?;
                }
                MI_MATRIX => {
                    let inner = format!("{base}byte {} + ", el.start);
                    if let Some(array) = self.matrix(&buf[el.start..el.end], &inner)? {
                        out.push(array);
                    }
                }
                // Other top-level elements carry nothing we read.
                _ => {}
            }
            at = el.next;
        }
        Ok(())
    }

    /// Parses the sub-elements of an `miMATRIX`; `None` for non-numeric arrays.
    fn matrix(&self, buf: &[u8], base: &str) -> Result<Option<MatArray>, String> {
        let where_ = base.trim_end_matches(" + ");
        if buf.is_empty() {
            return Ok(None); // an empty placeholder matrix
        }
        let flags = self.element(buf, 0, base)?;
        if flags.data_type != MI_UINT32 || flags.end - flags.start != 8 {
            return Err(format!(
                "corrupt array at {where_}: array flags should be 8 bytes of miUINT32, found {} bytes of {}",
                flags.end - flags.start,
                type_name(flags.data_type)
            ));
        }
        let class = (self.u32_at(buf, flags.start) & 0xff) as u8;
        let dims_el = self.element(buf, flags.next, base)?;
        if dims_el.data_type != MI_INT32 {
            return Err(format!(
                "corrupt array at {where_}: dimensions should be miINT32, found {}",
                type_name(dims_el.data_type)
            ));
        }
        let mut dims = Vec::new();
        for k in (dims_el.start..dims_el.end).step_by(4) {
            if k + 4 > dims_el.end {
                break;
            }
            let d = self.u32_at(buf, k) as i32;
            if d < 0 {
                return Err(format!("corrupt array at {where_}: negative dimension {d}"));
            }
            dims.push(d as usize);
        }
        let name_el = self.element(buf, dims_el.next, base)?;
        let name = String::from_utf8_lossy(&buf[name_el.start..name_el.end]).into_owned();
        if !NUMERIC_CLASSES.contains(&class) {
            return Ok(None);
        }
        let real = self.element(buf, name_el.next, base)?;
        let size = element_size(real.data_type).ok_or_else(|| {
            format!(
                "variable `{name}` at {where_}: unsupported numeric data type {}",
                type_name(real.data_type)
            )
        })?;
        let numel = dims
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| {
                format!("variable `{name}` at {where_}: dimensions {dims:?} overflow")
            })?;
        let have = real.end - real.start;
        if numel.checked_mul(size) != Some(have) {
            return Err(format!(
                "variable `{name}` at {where_}: dimensions {dims:?} need {numel} values of {} but the data holds {have} bytes",
                type_name(real.data_type)
            ));
        }
        Ok(Some(MatArray {
            name,
            class,
            dims,
            data_type: real.data_type,
            big_endian: self.big_endian,
            data: buf[real.start..real.end].to_vec(),
        }))
    }
}

/// Parses a MAT v5 file's bytes into its numeric arrays. Errors are plain messages; the
/// caller adds the file name.
pub fn parse_mat(bytes: &[u8]) -> Result<Vec<MatArray>, String> {
    if bytes.starts_with(b"MATLAB 7.3 MAT-file") {
        return Err(
            "a MAT-file version 7.3 (HDF5) file; only version 5 files (MATLAB `save -v7`, as SVHN ships them) are read"
                .into(),
        );
    }
    if bytes.len() < 128 {
        return Err(format!(
            "truncated: {} bytes, a MAT-file header needs 128",
            bytes.len()
        ));
    }
    if !bytes.starts_with(b"MATLAB 5.0 MAT-file") {
        return Err(
            "not a MATLAB 5.0 MAT-file (the header text does not start with `MATLAB 5.0 MAT-file`)"
                .into(),
        );
    }
    let big_endian = match &bytes[126..128] {
        b"IM" => false,
        b"MI" => true,
        other => {
            return Err(format!(
                "bad endian indicator {:?} at byte 126, expected \"IM\" or \"MI\"",
                String::from_utf8_lossy(other)
            ))
        }
    };
    let reader = Reader { big_endian };
    let mut out = Vec::new();
    reader.elements(bytes, 128, "", &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Vec<u8> {
        let mut h = b"MATLAB 5.0 MAT-file, test".to_vec();
        h.resize(116, b' ');
        h.extend_from_slice(&[0; 8]);
        h.extend_from_slice(&0x0100u16.to_le_bytes());
        h.extend_from_slice(b"IM");
        h
    }

    fn tag(t: u32, n: usize) -> Vec<u8> {
        let mut v = t.to_le_bytes().to_vec();
        v.extend_from_slice(&(n as u32).to_le_bytes());
        v
    }

    fn padded(mut v: Vec<u8>) -> Vec<u8> {
        v.resize(v.len().div_ceil(8) * 8, 0);
        v
    }

    fn matrix(name: &str, class: u8, dims: &[i32], data_type: u32, data: &[u8]) -> Vec<u8> {
        let mut body = tag(MI_UINT32, 8);
        body.extend_from_slice(&(class as u32).to_le_bytes());
        body.extend_from_slice(&[0; 4]);
        let mut d = Vec::new();
        for x in dims {
            d.extend_from_slice(&x.to_le_bytes());
        }
        body.extend(tag(MI_INT32, d.len()));
        body.extend(padded(d));
        // Small-element name, as MATLAB writes names of up to 4 characters.
        body.extend_from_slice(&((name.len() as u32) << 16 | MI_INT8).to_le_bytes());
        let mut n = name.as_bytes().to_vec();
        n.resize(4, 0);
        body.extend(n);
        body.extend(tag(data_type, data.len()));
        body.extend(padded(data.to_vec()));
        let mut out = tag(MI_MATRIX, body.len());
        out.extend(body);
        out
    }

    #[test]
    fn reads_a_double_matrix_stored_as_uint8() {
        let mut file = header();
        file.extend(matrix("y", 6, &[3, 1], MI_UINT8, &[1, 10, 7]));
        let arrays = parse_mat(&file).unwrap();
        assert_eq!(arrays.len(), 1);
        assert_eq!(arrays[0].name, "y");
        assert_eq!(arrays[0].dims, vec![3, 1]);
        assert_eq!(arrays[0].to_f64().unwrap(), vec![1.0, 10.0, 7.0]);
    }

    #[test]
    fn truncated_element_is_reported_with_its_offset() {
        let mut file = header();
        file.extend(matrix("y", 6, &[3, 1], MI_UINT8, &[1, 10, 7]));
        file.truncate(file.len() - 10);
        let err = parse_mat(&file).unwrap_err();
        assert!(
            err.contains("truncated: the miMATRIX element at byte 128 claims"),
            "{err}"
        );
    }

    #[test]
    fn hdf5_files_are_named_as_such() {
        let mut file = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, HDF5 schema 1.00".to_vec();
        file.resize(512, 0);
        assert!(parse_mat(&file).unwrap_err().contains("HDF5"));
    }
}
