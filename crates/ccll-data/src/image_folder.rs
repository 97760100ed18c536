//! Image folders (`ROOT/train/CLASS/*.{jpg,jpeg,png}` and `ROOT/val/CLASS/...`), the layout
//! of the ImageNet-100 and MS-Celeb-10K subsets. Class folders sorted by name define the class
//! ids. Images are decoded in parallel, centre-cropped to a square and resized to the
//! configured side, and cached in one binary file per split so that the next load reads a
//! single file.

use crate::error::thousands;
use crate::{DataError, DatasetId, RawDataset, RawSplit};
use image::imageops::FilterType;
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use tch::Tensor;

/// How to turn a folder of images into tensors.
#[derive(Debug, Clone)]
pub struct FolderOptions {
    /// Side of the square images after resizing.
    pub size: i64,
    /// 3 (RGB) or 1 (luma).
    pub channels: i64,
    /// Warn about and skip undecodable images instead of failing on the first one.
    pub skip_bad_images: bool,
    /// Where decoded splits are cached; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
    /// Keep at most this many training / test images per class (the first ones by file name),
    /// applied before decoding.
    pub train_cap: Option<usize>,
    pub test_cap: Option<usize>,
}

const EXTENSIONS: [&str; 3] = ["jpg", "jpeg", "png"];
const TEST_DIRS: [&str; 2] = ["val", "test"];
const CACHE_MAGIC: &[u8; 8] = b"CCLLIMG1";

/// The class folders under `dir/train`, sorted by name.
pub fn list_classes(dir: &Path) -> Result<Vec<String>, DataError> {
    let train = dir.join("train");
    let entries = std::fs::read_dir(&train).map_err(|e| DataError::io(&train, e))?;
    let mut classes = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| DataError::io(&train, e))?;
        if entry.path().is_dir() {
            classes.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    classes.sort();
    if classes.is_empty() {
        return Err(DataError::file(
            &train,
            "no class folders (expected train/CLASS/*.jpg|jpeg|png)",
        ));
    }
    Ok(classes)
}

/// The image files of one class folder, sorted by name, at most `cap` of them.
fn class_files(dir: &Path, cap: Option<usize>) -> Result<Vec<PathBuf>, DataError> {
    let entries = std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| DataError::io(dir, e))?.path();
        let is_image = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)));
        if is_image && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(DataError::file(
            dir,
            "class folder holds no .jpg, .jpeg or .png images",
        ));
    }
    if let Some(cap) = cap {
        files.truncate(cap);
    }
    Ok(files)
}

/// Loads the `wanted` classes (ids into [`list_classes`]'s order; `None` = all) of an image
/// folder dataset. Labels are class ids in the sorted order, so they do not depend on which
/// classes were wanted.
pub fn load_image_folder(
    id: DatasetId,
    dir: &Path,
    options: &FolderOptions,
    wanted: Option<&[usize]>,
) -> Result<RawDataset, DataError> {
    if !(1..=4096).contains(&options.size) || !matches!(options.channels, 1 | 3) {
        return Err(DataError::file(
            dir,
            format!(
                "image size must be 1..=4096 and channels 1 or 3 (got {} and {})",
                options.size, options.channels
            ),
        ));
    }
    let classes = list_classes(dir)?;
    let all: Vec<usize> = (0..classes.len()).collect();
    let wanted = wanted.unwrap_or(&all);
    let test_dir = TEST_DIRS
        .iter()
        .map(|d| dir.join(d))
        .find(|p| p.is_dir())
        .ok_or_else(|| DataError::file(dir, "no val/ (or test/) folder next to train/"))?;
    let mut train_files = Vec::new();
    let mut test_files = Vec::new();
    for &c in wanted {
        let name = classes.get(c).ok_or_else(|| {
            DataError::file(
                dir,
                format!(
                    "class id {c} out of range (found {} classes)",
                    classes.len()
                ),
            )
        })?;
        for f in class_files(&dir.join("train").join(name), options.train_cap)? {
            train_files.push((f, c as i64));
        }
        let val_class = test_dir.join(name);
        if !val_class.is_dir() {
            return Err(DataError::file(
                &test_dir,
                format!("no folder for class `{name}` (present in train/)"),
            ));
        }
        for f in class_files(&val_class, options.test_cap)? {
            test_files.push((f, c as i64));
        }
    }
    let slug = match id {
        DatasetId::MsCeleb10k => "msceleb10k",
        DatasetId::ImageFolder => "image_folder",
        _ => "imagenet100",
    };
    let train = load_split(slug, "train", &train_files, options)?;
    let test = load_split(slug, "val", &test_files, options)?;
    Ok(RawDataset {
        id,
        class_names: classes,
        train,
        test,
        source: format!(
            "{} image folders in {} ({} classes loaded, {}x{} pixels)",
            id.display_name(),
            dir.display(),
            wanted.len(),
            options.size,
            options.size
        ),
    })
}

/// The cache file of a split: its name carries a hash of everything that changes the result
/// (file paths, sizes, modification times, labels, and the options).
fn cache_path(
    slug: &str,
    split: &str,
    files: &[(PathBuf, i64)],
    options: &FolderOptions,
) -> Option<PathBuf> {
    let dir = options.cache_dir.as_ref()?;
    let mut h = Sha256::new();
    h.update(CACHE_MAGIC);
    h.update(options.size.to_le_bytes());
    h.update(options.channels.to_le_bytes());
    h.update([options.skip_bad_images as u8]);
    for (path, label) in files {
        let meta = std::fs::metadata(path).ok()?;
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        h.update(path.to_string_lossy().as_bytes());
        h.update([0]);
        h.update(meta.len().to_le_bytes());
        h.update(mtime.to_le_bytes());
        h.update(label.to_le_bytes());
    }
    let digest = hex::encode(h.finalize());
    Some(dir.join(format!(
        "{slug}-{split}-{}-{}.bin",
        options.size,
        &digest[..16]
    )))
}

fn load_split(
    slug: &str,
    split: &str,
    files: &[(PathBuf, i64)],
    options: &FolderOptions,
) -> Result<RawSplit, DataError> {
    let cache = cache_path(slug, split, files, options);
    if let Some(path) = &cache {
        if path.exists() {
            match read_cache(path) {
                Ok(s) => return Ok(s),
                Err(e) => tracing::warn!("ignoring unreadable cache {}: {e}", path.display()),
            }
        }
    }
    let decoded = decode_all(files, options)?;
    if let Some(path) = &cache {
        if let Err(e) = write_cache(path, &decoded) {
            tracing::warn!("could not write the cache {}: {e}", path.display());
        }
    }
    Ok(decoded)
}

/// Decodes every file in parallel into one `[N, H, W, C]` buffer, then permutes once.
fn decode_all(files: &[(PathBuf, i64)], options: &FolderOptions) -> Result<RawSplit, DataError> {
    let (s, c) = (options.size as usize, options.channels as usize);
    let per_image = s * s * c;
    let mut buffer = vec![0u8; files.len() * per_image];
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(files.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    if let Ok(style) =
        ProgressStyle::with_template("decoding {msg} {bar:40} {pos}/{len} images ({eta})")
    {
        bar.set_style(style);
    }
    let results: Vec<Result<(), String>> = buffer
        .par_chunks_mut(per_image)
        .zip(files.par_iter())
        .map(|(out, (path, _))| {
            let r = decode_one(path, options.size as u32, options.channels, out);
            bar.inc(1);
            r
        })
        .collect();
    bar.finish_and_clear();
    let mut keep = Vec::with_capacity(files.len());
    for (i, r) in results.iter().enumerate() {
        match r {
            Ok(()) => keep.push(i as i64),
            Err(message) if options.skip_bad_images => {
                tracing::warn!("skipping {}: {message}", files[i].0.display());
            }
            Err(message) => {
                return Err(DataError::file(
                    &files[i].0,
                    format!(
                        "undecodable image: {message} (set benchmark.skip_bad_images: true to skip such files)"
                    ),
                ))
            }
        }
    }
    let n = files.len() as i64;
    let mut images = Tensor::from_slice(&buffer)
        .view([n, s as i64, s as i64, c as i64])
        .permute([0, 3, 1, 2])
        .contiguous();
    drop(buffer);
    let mut labels: Vec<i64> = files.iter().map(|(_, l)| *l).collect();
    if keep.len() < files.len() {
        tracing::warn!(
            "skipped {} undecodable image(s) of {}",
            files.len() - keep.len(),
            files.len()
        );
        images = images.index_select(0, &Tensor::from_slice(&keep));
        labels = keep.iter().map(|&i| labels[i as usize]).collect();
    }
    Ok(RawSplit { images, labels })
}

/// Decodes one image, crops its central square, resizes it to `size`, and writes `HWC` bytes.
fn decode_one(path: &Path, size: u32, channels: i64, out: &mut [u8]) -> Result<(), String> {
    let img = image::ImageReader::open(path)
        .map_err(|e| e.to_string())?
        .with_guessed_format()
        .map_err(|e| e.to_string())?
        .decode()
        .map_err(|e| e.to_string())?;
    let (w, h) = (img.width(), img.height());
    if w == 0 || h == 0 {
        return Err("empty image".into());
    }
    let side = w.min(h);
    let square = img.crop_imm((w - side) / 2, (h - side) / 2, side, side);
    let resized = if side == size {
        square
    } else {
        square.resize_exact(size, size, FilterType::Triangle)
    };
    let pixels = if channels == 1 {
        resized.to_luma8().into_raw()
    } else {
        resized.to_rgb8().into_raw()
    };
    if pixels.len() != out.len() {
        return Err(format!(
            "decoded to {} bytes, expected {}",
            pixels.len(),
            out.len()
        ));
    }
    out.copy_from_slice(&pixels);
    Ok(())
}

/// Cache layout: magic `CCLLIMG1`, `n: u64`, `c, h, w: u32` (little-endian), `n` labels as
/// `i64`, then the `u8` pixels `[N, C, H, W]`.
fn write_cache(path: &Path, split: &RawSplit) -> std::io::Result<()> {
    let size = split.images.size();
    let (c, h, w) = (size[1] as u32, size[2] as u32, size[3] as u32);
    let pixels = Vec::<u8>::try_from(split.images.flatten(0, -1))
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // Write to a temporary name and rename, so a reader never sees half a cache.
    let tmp = path.with_extension(format!("partial{}", std::process::id()));
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        f.write_all(CACHE_MAGIC)?;
        f.write_all(&(split.len() as u64).to_le_bytes())?;
        for d in [c, h, w] {
            f.write_all(&d.to_le_bytes())?;
        }
        for l in &split.labels {
            f.write_all(&l.to_le_bytes())?;
        }
        f.write_all(&pixels)?;
        f.flush()?;
    }
    std::fs::rename(&tmp, path)
}

fn read_cache(path: &Path) -> Result<RawSplit, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    if bytes.len() < 28 || &bytes[..8] != CACHE_MAGIC {
        return Err("not a cache file".into());
    }
    let u32_at = |at: usize| {
        u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize
    };
    let n = u64::from_le_bytes(bytes[8..16].try_into().map_err(|_| "bad header")?) as usize;
    let (c, h, w) = (u32_at(16), u32_at(20), u32_at(24));
    let expected = n
        .checked_mul(8 + c * h * w)
        .and_then(|b| b.checked_add(28))
        .ok_or("bad header")?;
    if bytes.len() != expected {
        return Err(format!(
            "{} bytes, expected {}",
            thousands(bytes.len() as u64),
            thousands(expected as u64)
        ));
    }
    let labels: Vec<i64> = bytes[28..28 + 8 * n]
        .chunks_exact(8)
        .map(|b| i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
        .collect();
    let images =
        Tensor::from_slice(&bytes[28 + 8 * n..]).view([n as i64, c as i64, h as i64, w as i64]);
    Ok(RawSplit { images, labels })
}
