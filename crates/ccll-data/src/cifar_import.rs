//! `ccll data fetch cifar10 --from FILE`: installs CIFAR-10 into `DATA/cifar-10-batches-bin/`
//! in the original binary layout (five training batches and a test batch of 3,073-byte
//! records, CIFAR-10's label order) from either of two archives:
//!
//! - the official `cifar-10-binary.tar.gz` (its batch files are copied as they are), or
//! - an archive of JPEG image folders, `*/train/CLASS/*.jpg` and `*/test/CLASS/*.jpg` with the
//!   ten class names of CIFAR-10 (e.g. `../shared/data/cifar10-jpeg-q75.tar.gz`): every image
//!   is decoded and written as a record. The pixels are those of the JPEG copy, not the
//!   original bytes, and the installed folder says so.
//!
//! The archive's SHA-256 must be one of the pinned ones, or the one given with `--sha256`.
//! Next to the batches, `PROVENANCE.json` records the archive, its hash, its kind and whether
//! the pixels are the original ones; the loader puts that note into the benchmark's source,
//! so that `ccll data info`, run results and reports show where the data came from.
//! Installing is atomic (a staging folder renamed into place) and idempotent.

use crate::{cifar, fetch::sha256_file, DataError, CIFAR10_CLASSES};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The folder under the data root the batches are installed into (what the official archive
/// unpacks to).
pub const INSTALL_DIR: &str = "cifar-10-batches-bin";
/// The provenance note beside the batches.
pub const PROVENANCE_FILE: &str = "PROVENANCE.json";
const BATCH_FILES: [&str; 6] = cifar::CIFAR10_FILES;
const TRAIN_BATCHES: usize = 5;
const SIDE: u32 = 32;
const RECORD: usize = 1 + 3 * 32 * 32;

/// What an archive holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArchiveKind {
    /// `cifar-10-batches-bin/*.bin`, the official binary version.
    OfficialBinary,
    /// `train/CLASS/*.jpg` and `test/CLASS/*.jpg` image folders.
    JpegFolders,
}

struct PinnedArchive {
    sha256: &'static str,
    kind: ArchiveKind,
    what: &'static str,
}

/// Archives accepted without `--sha256`.
const PINNED: [PinnedArchive; 2] = [
    PinnedArchive {
        sha256: "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
        kind: ArchiveKind::OfficialBinary,
        what: "the official cifar-10-binary.tar.gz",
    },
    PinnedArchive {
        sha256: "d34c68f61cca57aa9144c8f25bda427abb9921bd642d5857a2fc1a6b4416f965",
        kind: ArchiveKind::JpegFolders,
        what: "cifar10-jpeg-q75.tar.gz (all 60,000 images re-encoded as JPEG quality 75, 4:2:0)",
    },
];

/// Where installed batches came from (`PROVENANCE.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// File name of the archive imported.
    pub archive: String,
    pub archive_sha256: String,
    pub kind: ArchiveKind,
    /// True only for the official binary batches.
    pub original_pixels: bool,
    /// One line for reports, e.g. "derived from a JPEG copy ...".
    pub note: String,
    /// SHA-256 of every installed batch file, for the idempotence check.
    pub files: BTreeMap<String, String>,
}

impl Provenance {
    /// The note as shown after a result: empty for the original pixels.
    pub fn label(&self) -> String {
        if self.original_pixels {
            format!("original CIFAR-10 binary batches (from {})", self.archive)
        } else {
            self.note.clone()
        }
    }
}

/// Reads the provenance note of an installed CIFAR-10 folder, if it has one.
pub fn read_provenance(dir: &Path) -> Option<Provenance> {
    let text = std::fs::read_to_string(dir.join(PROVENANCE_FILE)).ok()?;
    serde_json::from_str(&text).ok()
}

/// What the import did.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    pub dir: PathBuf,
    pub provenance: Provenance,
    pub already_present: bool,
    pub train_images: usize,
    pub test_images: usize,
}

impl ImportReport {
    pub fn summary(&self) -> String {
        let how = if self.already_present {
            "already present and verified".to_string()
        } else {
            format!(
                "installed {} training and {} test images",
                self.train_images, self.test_images
            )
        };
        format!(
            "cifar10: {how} in {} from {} (sha256 {}); {}",
            self.dir.display(),
            self.provenance.archive,
            &self.provenance.archive_sha256[..12],
            self.provenance.label()
        )
    }
}

/// Installs CIFAR-10 from `archive` into `root/cifar-10-batches-bin`. `expected_sha256`
/// replaces the pinned hashes (for another copy of either format).
pub fn import_cifar10(
    archive: &Path,
    root: &Path,
    expected_sha256: Option<&str>,
) -> Result<ImportReport, DataError> {
    let sha = sha256_file(archive)?;
    let pinned = check_hash(archive, &sha, expected_sha256)?;
    let dir = root.join(INSTALL_DIR);
    if let Some(report) = already_installed(&dir, &sha) {
        return Ok(report);
    }
    let contents = read_archive(archive)?;
    let kind = contents.kind(archive)?;
    if let Some(p) = pinned {
        if p.kind != kind {
            return Err(DataError::file(
                archive,
                format!("has the hash of {} but holds {kind:?}", p.what),
            ));
        }
    }
    let batches = match kind {
        ArchiveKind::OfficialBinary => contents.binary_batches(archive)?,
        ArchiveKind::JpegFolders => contents.jpeg_batches(archive)?,
    };
    let name = archive
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let note = match kind {
        ArchiveKind::OfficialBinary => "original CIFAR-10 binary batches".to_string(),
        ArchiveKind::JpegFolders => format!(
            "CIFAR-10 derived from the JPEG copy {name} (sha256 {}): pixels differ from the original; results are close to, not the same as, published CIFAR-10 figures",
            &sha[..12]
        ),
    };
    let provenance = Provenance {
        archive: name,
        archive_sha256: sha,
        kind,
        original_pixels: kind == ArchiveKind::OfficialBinary,
        note,
        files: batches
            .iter()
            .map(|(f, bytes)| (f.to_string(), hex::encode(Sha256::digest(bytes))))
            .collect(),
    };
    install(root, &dir, &batches, &provenance)?;
    let counts = installed_counts(&dir)?;
    Ok(ImportReport {
        dir,
        provenance,
        already_present: false,
        train_images: counts.0,
        test_images: counts.1,
    })
}

fn check_hash(
    archive: &Path,
    sha: &str,
    expected: Option<&str>,
) -> Result<Option<&'static PinnedArchive>, DataError> {
    if let Some(want) = expected {
        let want = want.trim().to_ascii_lowercase();
        if want != sha {
            return Err(DataError::file(
                archive,
                format!("sha256 {sha}, expected {want} (given with --sha256): a different, truncated or corrupted file; nothing was installed"),
            ));
        }
        return Ok(PINNED.iter().find(|p| p.sha256 == sha));
    }
    match PINNED.iter().find(|p| p.sha256 == sha) {
        Some(p) => Ok(Some(p)),
        None => Err(DataError::file(
            archive,
            format!(
                "sha256 {sha} is not a known CIFAR-10 archive ({}); a truncated or corrupted download fails this check too. To import another copy of either format, pass its hash with --sha256 HEX. Nothing was installed",
                PINNED
                    .iter()
                    .map(|p| format!("{}: {}", p.what, p.sha256))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        )),
    }
}

/// The report for a folder already installed from the archive with hash `sha`, when every
/// batch file still has its recorded content.
fn already_installed(dir: &Path, sha: &str) -> Option<ImportReport> {
    let provenance = read_provenance(dir)?;
    if provenance.archive_sha256 != sha || provenance.files.len() != BATCH_FILES.len() {
        return None;
    }
    for (file, want) in &provenance.files {
        if sha256_file(&dir.join(file)).ok()? != *want {
            return None;
        }
    }
    let (train_images, test_images) = installed_counts(dir).ok()?;
    Some(ImportReport {
        dir: dir.to_path_buf(),
        provenance,
        already_present: true,
        train_images,
        test_images,
    })
}

fn installed_counts(dir: &Path) -> Result<(usize, usize), DataError> {
    let records = |f: &str| -> Result<usize, DataError> {
        let path = dir.join(f);
        let len = std::fs::metadata(&path)
            .map_err(|e| DataError::io(&path, e))?
            .len();
        Ok(len as usize / RECORD)
    };
    let mut train = 0;
    for f in &BATCH_FILES[..TRAIN_BATCHES] {
        train += records(f)?;
    }
    Ok((train, records(BATCH_FILES[TRAIN_BATCHES])?))
}

/// One JPEG image inside the archive.
struct ArchivedImage {
    /// Path inside the archive, for error messages.
    entry: String,
    file_name: String,
    bytes: Vec<u8>,
}

/// The entries of an archive that matter: binary batch files, or images by split and class.
#[derive(Default)]
struct Contents {
    binary: BTreeMap<String, Vec<u8>>,
    /// `(split, class) -> images`, split being `train` or `test`.
    images: BTreeMap<(String, String), Vec<ArchivedImage>>,
}

fn read_archive(archive: &Path) -> Result<Contents, DataError> {
    let file = std::fs::File::open(archive).map_err(|e| DataError::io(archive, e))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let corrupt = |e: std::io::Error| {
        DataError::file(
            archive,
            format!(
                "truncated or corrupt archive (expected a .tar.gz): {e}; nothing was installed"
            ),
        )
    };
    let mut contents = Contents::default();
    for entry in tar.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry.path().map_err(corrupt)?.into_owned();
        let parts: Vec<String> = path
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let Some(file_name) = parts.last().cloned() else {
            continue;
        };
        let is_batch = parts.len() >= 2
            && parts[parts.len() - 2] == INSTALL_DIR
            && BATCH_FILES.contains(&file_name.as_str());
        let is_image = parts.len() >= 3
            && matches!(parts[parts.len() - 3].as_str(), "train" | "test")
            && has_image_extension(&file_name);
        if !is_batch && !is_image {
            continue;
        }
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        entry.read_to_end(&mut bytes).map_err(corrupt)?;
        if is_batch {
            contents.binary.insert(file_name, bytes);
        } else {
            let key = (
                parts[parts.len() - 3].clone(),
                parts[parts.len() - 2].clone(),
            );
            contents.images.entry(key).or_default().push(ArchivedImage {
                entry: path.display().to_string(),
                file_name,
                bytes,
            });
        }
    }
    Ok(contents)
}

fn has_image_extension(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [".jpg", ".jpeg", ".png"].iter().any(|e| lower.ends_with(e))
}

impl Contents {
    fn kind(&self, archive: &Path) -> Result<ArchiveKind, DataError> {
        match (self.binary.is_empty(), self.images.is_empty()) {
            (false, true) => Ok(ArchiveKind::OfficialBinary),
            (true, false) => Ok(ArchiveKind::JpegFolders),
            (false, false) => Err(DataError::file(
                archive,
                "holds both cifar-10-batches-bin/*.bin files and image folders; import one kind at a time",
            )),
            (true, true) => Err(DataError::file(
                archive,
                "holds neither cifar-10-batches-bin/data_batch_1.bin ... test_batch.bin nor train/CLASS/*.jpg and test/CLASS/*.jpg image folders",
            )),
        }
    }

    /// The six batch files, each checked as CIFAR-10 records.
    fn binary_batches(mut self, archive: &Path) -> Result<Vec<(&'static str, Vec<u8>)>, DataError> {
        let mut out = Vec::new();
        for f in BATCH_FILES {
            let bytes = self.binary.remove(f).ok_or_else(|| {
                DataError::file(
                    archive,
                    format!("lacks {INSTALL_DIR}/{f} (truncated, or not the binary version); nothing was installed"),
                )
            })?;
            check_records(archive, f, &bytes)?;
            out.push((f, bytes));
        }
        Ok(out)
    }

    /// Decodes every image and deals each split into batch files: within a class, images in
    /// file-name order; classes interleaved, so every batch holds every class.
    fn jpeg_batches(self, archive: &Path) -> Result<Vec<(&'static str, Vec<u8>)>, DataError> {
        let found: BTreeSet<(&str, &str)> = self
            .images
            .keys()
            .map(|(s, c)| (s.as_str(), c.as_str()))
            .collect();
        for (split, class) in &found {
            if !CIFAR10_CLASSES.contains(class) {
                return Err(DataError::file(
                    archive,
                    format!(
                        "{split}/{class}: not a CIFAR-10 class (expected the folders {})",
                        CIFAR10_CLASSES.join(", ")
                    ),
                ));
            }
        }
        let mut by_split: BTreeMap<String, Vec<Vec<ArchivedImage>>> = BTreeMap::new();
        let mut images = self.images;
        for split in ["train", "test"] {
            let mut classes = Vec::new();
            for class in CIFAR10_CLASSES {
                let mut list = images
                    .remove(&(split.to_string(), class.to_string()))
                    .ok_or_else(|| {
                        DataError::file(
                            archive,
                            format!("lacks images in {split}/{class}/; nothing was installed"),
                        )
                    })?;
                list.sort_by(|a, b| a.file_name.cmp(&b.file_name));
                classes.push(list);
            }
            by_split.insert(split.to_string(), classes);
        }
        let train = records_of(archive, &by_split["train"])?;
        let test = records_of(archive, &by_split["test"])?;
        let n = train.len() / RECORD;
        let per_batch = n.div_ceil(TRAIN_BATCHES);
        let mut out: Vec<(&'static str, Vec<u8>)> = Vec::new();
        for (k, f) in BATCH_FILES[..TRAIN_BATCHES].iter().enumerate() {
            let from = (k * per_batch).min(n) * RECORD;
            let to = ((k + 1) * per_batch).min(n) * RECORD;
            out.push((f, train[from..to].to_vec()));
        }
        out.push((BATCH_FILES[TRAIN_BATCHES], test));
        Ok(out)
    }
}

/// The records of one split, classes interleaved round-robin (image i of class c before
/// image i of class c + 1), decoded in parallel.
fn records_of(archive: &Path, classes: &[Vec<ArchivedImage>]) -> Result<Vec<u8>, DataError> {
    let longest = classes.iter().map(Vec::len).max().unwrap_or(0);
    let order: Vec<(u8, &ArchivedImage)> = (0..longest)
        .flat_map(|i| {
            classes
                .iter()
                .enumerate()
                .filter_map(move |(c, list)| list.get(i).map(|img| (c as u8, img)))
        })
        .collect();
    let mut out = vec![0u8; order.len() * RECORD];
    out.par_chunks_mut(RECORD)
        .zip(order.par_iter())
        .try_for_each(|(record, (label, img))| {
            record[0] = *label;
            decode_into(img, &mut record[1..]).map_err(|m| {
                DataError::file(
                    archive,
                    format!("{}: {m}; nothing was installed", img.entry),
                )
            })
        })?;
    Ok(out)
}

/// Decodes a 32 x 32 image into CIFAR's planar layout (1,024 red, then green, then blue).
fn decode_into(img: &ArchivedImage, planar: &mut [u8]) -> Result<(), String> {
    let decoded = image::load_from_memory(&img.bytes).map_err(|e| format!("undecodable: {e}"))?;
    if decoded.width() != SIDE || decoded.height() != SIDE {
        return Err(format!(
            "{}x{} pixels, CIFAR-10 images are 32x32",
            decoded.width(),
            decoded.height()
        ));
    }
    let rgb = decoded.to_rgb8();
    let plane = (SIDE * SIDE) as usize;
    for (i, px) in rgb.pixels().enumerate() {
        for c in 0..3 {
            planar[c * plane + i] = px.0[c];
        }
    }
    Ok(())
}

fn check_records(archive: &Path, file: &str, bytes: &[u8]) -> Result<(), DataError> {
    if bytes.is_empty() || !bytes.len().is_multiple_of(RECORD) {
        return Err(DataError::file(
            archive,
            format!(
                "{INSTALL_DIR}/{file}: {} bytes is not a whole number of 3,073-byte records (truncated archive?); nothing was installed",
                bytes.len()
            ),
        ));
    }
    if let Some(i) = bytes.iter().step_by(RECORD).position(|&l| l >= 10) {
        return Err(DataError::file(
            archive,
            format!(
                "{INSTALL_DIR}/{file}: label {} out of range 0..9 at record {i}",
                bytes[i * RECORD]
            ),
        ));
    }
    Ok(())
}

/// Writes the batches and the provenance into a staging folder, checks them with the loader,
/// and renames the folder into place (an earlier install is replaced only after that).
fn install(
    root: &Path,
    dir: &Path,
    batches: &[(&'static str, Vec<u8>)],
    provenance: &Provenance,
) -> Result<(), DataError> {
    std::fs::create_dir_all(root).map_err(|e| DataError::io(root, e))?;
    let staging = root.join(format!(".{INSTALL_DIR}.partial{}", std::process::id()));
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(|e| DataError::io(&staging, e))?;
    }
    std::fs::create_dir(&staging).map_err(|e| DataError::io(&staging, e))?;
    for (file, bytes) in batches {
        let path = staging.join(file);
        std::fs::write(&path, bytes).map_err(|e| DataError::io(&path, e))?;
        cifar::read_cifar10_batch(&path)?;
    }
    let meta = staging.join("batches.meta.txt");
    std::fs::write(&meta, format!("{}\n", CIFAR10_CLASSES.join("\n")))
        .map_err(|e| DataError::io(&meta, e))?;
    let note = staging.join(PROVENANCE_FILE);
    let json = serde_json::to_string_pretty(provenance)
        .map_err(|e| DataError::file(&note, format!("could not serialise the provenance: {e}")))?;
    std::fs::write(&note, json).map_err(|e| DataError::io(&note, e))?;
    if dir.exists() {
        let old = root.join(format!(".{INSTALL_DIR}.old{}", std::process::id()));
        std::fs::rename(dir, &old).map_err(|e| DataError::io(dir, e))?;
        std::fs::rename(&staging, dir).map_err(|e| DataError::io(dir, e))?;
        std::fs::remove_dir_all(&old).map_err(|e| DataError::io(&old, e))?;
    } else {
        std::fs::rename(&staging, dir).map_err(|e| DataError::io(dir, e))?;
    }
    Ok(())
}
