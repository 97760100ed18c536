//! Where a dataset's files are looked for under the data root, and the not-found error that
//! lists every place searched and says how to obtain the files.

use crate::{DataError, DatasetId};
use std::path::{Path, PathBuf};

/// One file (or folder) a dataset needs, under any of several accepted names.
pub(crate) struct Wanted<'a> {
    pub alternates: &'a [&'a str],
}

/// What a dataset's folder must hold, in the order its loader reads the files.
pub(crate) fn wanted(id: DatasetId) -> Vec<Wanted<'static>> {
    let one = |alternates: &'static [&'static str]| Wanted { alternates };
    match id {
        DatasetId::Mnist | DatasetId::FashionMnist => {
            crate::idx::FILES.iter().map(|a| one(a)).collect()
        }
        DatasetId::Cifar10 => crate::cifar::CIFAR10_FILES
            .iter()
            .map(|f| one(std::slice::from_ref(f)))
            .collect(),
        DatasetId::Cifar100 => vec![one(&["train.bin"]), one(&["test.bin"])],
        DatasetId::Svhn => vec![one(&["train_32x32.mat"]), one(&["test_32x32.mat"])],
        DatasetId::ImageNet100 | DatasetId::MsCeleb10k | DatasetId::ImageFolder => {
            vec![one(&["train"]), one(&["val", "test"])]
        }
    }
}

/// The directory holding the dataset and the path found for each wanted entry, in order.
pub(crate) struct Located {
    pub dir: PathBuf,
    pub files: Vec<PathBuf>,
}

/// Searches `explicit` if given, else each of the dataset's usual folders under `root`, for a
/// directory holding every wanted entry.
pub(crate) fn locate(
    id: DatasetId,
    root: &Path,
    explicit: Option<&Path>,
    wanted: &[Wanted<'_>],
) -> Result<Located, DataError> {
    let dirs: Vec<PathBuf> = match explicit {
        Some(dir) => vec![dir.to_path_buf()],
        None => id.dir_candidates().iter().map(|d| root.join(d)).collect(),
    };
    let mut partial: Option<(PathBuf, Vec<String>)> = None;
    for dir in &dirs {
        if !dir.is_dir() {
            continue;
        }
        let mut files = Vec::with_capacity(wanted.len());
        let mut missing = Vec::new();
        for w in wanted {
            match w
                .alternates
                .iter()
                .map(|a| dir.join(a))
                .find(|p| p.exists())
            {
                Some(p) => files.push(p),
                None => missing.push(w.alternates.join(" or ")),
            }
        }
        if missing.is_empty() {
            return Ok(Located {
                dir: dir.clone(),
                files,
            });
        }
        if partial.is_none() {
            partial = Some((dir.clone(), missing));
        }
    }
    let expected = describe_wanted(wanted);
    let looked = match partial {
        Some((dir, missing)) => format!(
            "{} exists but lacks {} (looked for {expected})",
            dir.display(),
            missing.join(", ")
        ),
        None => {
            let mut s = format!("looked for {expected} in {}", dirs[0].display());
            if dirs.len() > 1 {
                let rest: Vec<String> = dirs[1..].iter().map(|d| d.display().to_string()).collect();
                s.push_str(&format!(" (and {})", rest.join(", ")));
            }
            s
        }
    };
    Err(DataError::NotFound {
        dataset: id.display_name().to_string(),
        looked,
        how: id.how_to_obtain().to_string(),
    })
}

/// `a, b .. z` for a long list of files, all of them for a short one.
fn describe_wanted(wanted: &[Wanted<'_>]) -> String {
    let first: Vec<&str> = wanted
        .iter()
        .filter_map(|w| w.alternates.first().copied())
        .collect();
    match first.len() {
        0 => String::new(),
        1..=4 => first.join(", "),
        n => format!("{} .. {}", first[0], first[n - 1]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_dataset_names_every_folder_searched_and_how_to_get_it() {
        let root = tempfile::tempdir().unwrap();
        let err = locate(
            DatasetId::Cifar10,
            root.path(),
            None,
            &[
                Wanted {
                    alternates: &["data_batch_1.bin"],
                },
                Wanted {
                    alternates: &["test_batch.bin"],
                },
            ],
        )
        .err()
        .unwrap()
        .to_string();
        assert!(
            err.starts_with("CIFAR-10 not found: looked for data_batch_1.bin, test_batch.bin in")
        );
        assert!(err.contains("cifar-10-batches-bin"));
        assert!(err.contains("cifar10"));
        assert!(err.contains("cifar-10-binary.tar.gz"));
    }

    #[test]
    fn an_incomplete_folder_names_the_missing_file() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("svhn");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("train_32x32.mat"), b"x").unwrap();
        let err = locate(
            DatasetId::Svhn,
            root.path(),
            None,
            &[
                Wanted {
                    alternates: &["train_32x32.mat"],
                },
                Wanted {
                    alternates: &["test_32x32.mat"],
                },
            ],
        )
        .err()
        .unwrap()
        .to_string();
        assert!(err.contains("exists but lacks test_32x32.mat"), "{err}");
    }
}
