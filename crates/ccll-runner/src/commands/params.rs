//! `ccll params`: parameter and FLOP accounting of a model without training it.

use ccll_core::config::{KeyError, MethodConfig, ModelConfig, RunConfig, TrainConfig};
use ccll_core::run::param_report_for;
use ccll_data::BenchmarkConfig;

#[derive(clap::Args)]
pub struct ParamsArgs {
    /// resnet18, resnet18_cifar or convnet.
    #[arg(long)]
    pub arch: String,
    /// Side of the square input images.
    #[arg(long)]
    pub input_size: i64,
    /// Number of tasks.
    #[arg(long)]
    pub tasks: usize,
    /// Classes of every task.
    #[arg(long)]
    pub classes_per_task: i64,
    /// Channels per group of the spatial calibration.
    #[arg(long, default_value_t = 1)]
    pub alpha: i64,
    /// Channels per group of the channel-wise calibration.
    #[arg(long, default_value_t = 1)]
    pub beta: i64,
    /// Method whose modules are counted.
    #[arg(long, default_value = "ccll")]
    pub method: String,
    /// Backbone width (default: 64 for ResNets, 32 for convnet).
    #[arg(long)]
    pub width: Option<i64>,
    /// Input channels (default: 1 for convnet, 3 otherwise).
    #[arg(long)]
    pub channels: Option<i64>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: ParamsArgs) -> anyhow::Result<()> {
    anyhow::ensure!(a.tasks >= 1, "--tasks must be at least 1");
    anyhow::ensure!(
        a.classes_per_task >= 1,
        "--classes-per-task must be at least 1"
    );
    anyhow::ensure!(a.input_size >= 8, "--input-size must be at least 8");
    let config = RunConfig {
        benchmark: BenchmarkConfig::named("synthetic"),
        model: ModelConfig {
            arch: a.arch.clone(),
            width: a.width,
        },
        method: MethodConfig::named(&a.method, Some(a.alpha), Some(a.beta))
            .map_err(|e| flag_error(&e))?,
        train: TrainConfig::default(),
        base: Default::default(),
    };
    config.validate().map_err(|e| flag_error(&e))?;
    let channels = a
        .channels
        .unwrap_or(if a.arch == "convnet" { 1 } else { 3 });
    let report = param_report_for(
        &config,
        [channels, a.input_size, a.input_size],
        &vec![a.classes_per_task; a.tasks],
    )?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "{} ({}x{}x{}), method {}, alpha {}, beta {}",
        a.arch, channels, a.input_size, a.input_size, a.method, a.alpha, a.beta
    );
    println!("backbone parameters:        {:>12}", report.backbone_params);
    println!(
        "base (backbone + {} heads): {:>12}",
        a.tasks, report.base_params
    );
    println!(
        "forward FLOPs per image:    {:>12} base, {} calibration (+{:.2}%)",
        report.flops.base,
        report.flops.calibration,
        100.0 * report.flops.calibration as f64 / report.flops.base.max(1) as f64
    );
    println!(
        "\n{:>5} {:>12} {:>10} {:>9} {:>14}",
        "task", "calibration", "head", "growth %", "cumulative"
    );
    for t in &report.per_task {
        println!(
            "{:>5} {:>12} {:>10} {:>9.3} {:>14}",
            t.task, t.calibration_params, t.head_params, t.growth_pct, t.cumulative_params
        );
    }
    Ok(())
}

/// A config key's error as the flag of this command that set it (`method.alpha` is `--alpha`,
/// `method.name` is `--method`).
fn flag_error(e: &KeyError) -> anyhow::Error {
    let flag = match e.key.as_str() {
        "method.name" => "method",
        key => key.rsplit('.').next().unwrap_or(key),
    };
    anyhow::anyhow!("--{flag}: {}", e.message)
}
