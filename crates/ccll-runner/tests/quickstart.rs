//! The shipped quickstart study end to end on the real MNIST and Fashion-MNIST files, made tiny
//! with overrides: the store filled, the charts and table written. Skipped, with the reason
//! printed, when the files are absent (`ccll data fetch all` installs them).

mod common;

use ccll_report::RunStatus;
use common::{repo_root, run, Sandbox};

#[test]
fn quickstart_fills_the_store_and_writes_the_charts() {
    let data = std::env::var_os("CCLL_DATA")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| repo_root().join("data"));
    for d in ["mnist", "fashion-mnist"] {
        if !data.join(d).is_dir() {
            eprintln!(
                "SKIPPED: no {d} in {} (run `ccll data fetch all` or ./setup.sh)",
                data.display()
            );
            return;
        }
    }
    let sb = Sandbox::new();
    let out = run(sb
        .sweep(
            &repo_root().join("experiments/quickstart.yaml"),
            &[
                "-o",
                "benchmark.per_class_cap=20",
                "-o",
                "benchmark.test_per_class_cap=20",
                "-o",
                "train.epochs=1",
                "-o",
                "model.width=8",
            ],
        )
        .arg("--data-root")
        .arg(&data));
    assert!(out.status.success());
    let rows = sb.rows("quickstart");
    let methods: Vec<&str> = rows.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(methods, ["ccll", "head_only", "finetune"]);
    for r in &rows {
        assert_eq!(r.status, RunStatus::Finished, "{}: {:?}", r.name, r.error);
        assert_eq!(r.benchmark, "fashion_mnist_to_mnist");
        let acc = r.acc.expect("a finished run has its ACC");
        assert!((0.0..=100.0).contains(&acc), "{}: {acc}", r.name);
    }
    let report = sb.reports().join("quickstart");
    for f in [
        "table.md",
        "table.csv",
        "param-growth.png",
        "param-growth.svg",
        "per-task.png",
    ] {
        assert!(
            report.join(f).is_file(),
            "{f} missing in {}",
            report.display()
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("report:"), "{stdout}");
}
