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

    stored_floats_equal_result_json(&sb, &rows);
    page_renders_in_chromium(&report.join("index.html"), &rows);
    readme_pandas_example_matches_the_table(&sb, "quickstart");
}

/// Every number of a run's `result.json` is in the store bit for bit (no last-digit drift).
fn stored_floats_equal_result_json(sb: &Sandbox, rows: &[ccll_report::RunRow]) {
    for r in rows {
        let dir = r.run_dir.as_deref().expect("the run folder is recorded");
        let file: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(std::path::Path::new(dir).join("result.json")).unwrap(),
        )
        .unwrap();
        let stored: serde_json::Value = serde_json::from_str(&sb.result_json(r.id)).unwrap();
        for key in [
            "acc_matrix",
            "loss_matrix",
            "metrics",
            "params",
            "task_agnostic",
        ] {
            assert_eq!(
                stored[key], file[key],
                "run {} {key}: store vs result.json",
                r.id
            );
        }
        let curve = |v: &serde_json::Value| v["curves"].as_array().unwrap().len();
        assert_eq!(curve(&stored), curve(&file));
        for (a, b) in stored["curves"]
            .as_array()
            .unwrap()
            .iter()
            .zip(file["curves"].as_array().unwrap())
        {
            assert_eq!(a["train_loss"], b["train_loss"], "run {} curves", r.id);
            assert_eq!(a["train_acc"], b["train_acc"], "run {} curves", r.id);
        }
        assert_eq!(r.acc, file["metrics"]["acc"].as_f64());
    }
}

/// Opens the page in headless Chromium: the rendered DOM holds every run and every chart, and
/// the screenshot is not blank and shows the charts' colours. Skipped, saying why, without
/// Chromium (`./setup.sh` installs Debian's `chromium`).
fn page_renders_in_chromium(page: &std::path::Path, rows: &[ccll_report::RunRow]) {
    let Some(chromium) = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            std::process::Command::new(b)
                .arg("--version")
                .output()
                .is_ok()
        })
    else {
        eprintln!(
            "SKIPPED: no chromium on PATH (./setup.sh installs it) to render {}",
            page.display()
        );
        return;
    };
    let url = format!("file://{}", page.canonicalize().unwrap().display());
    let headless = |extra: &[&str]| {
        let mut c = std::process::Command::new(chromium);
        c.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            // Containers often have a small /dev/shm, where Chromium's renderer crashes.
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--no-first-run",
            "--window-size=1280,2400",
        ])
        .args(extra)
        .arg(&url);
        c
    };
    let dom = run(headless(&["--dump-dom"]));
    assert!(dom.status.success());
    let dom = String::from_utf8_lossy(&dom.stdout);
    for r in rows {
        assert!(
            dom.contains(&format!("id=\"run-{}\"", r.id)),
            "run {} not on the page",
            r.id
        );
    }
    let charts = std::fs::read_dir(page.parent().unwrap())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "svg")
        })
        .count();
    assert_eq!(
        dom.matches("<figure").count(),
        charts,
        "one figure per chart"
    );
    assert!(dom.matches("<svg").count() >= charts);

    let shot = page.with_file_name("screenshot.png");
    let out = run(headless(&[&format!("--screenshot={}", shot.display())]));
    assert!(out.status.success() && shot.is_file(), "no screenshot");
    let img = image::open(&shot).unwrap().to_rgb8();
    let (mut dark, mut colourful) = (0usize, 0usize);
    for p in img.pixels() {
        let [r, g, b] = p.0.map(i32::from);
        if r + g + b < 300 {
            dark += 1;
        }
        if r.max(g).max(b) - r.min(g).min(b) > 60 {
            colourful += 1;
        }
    }
    let total = (img.width() * img.height()) as usize;
    eprintln!("screenshot: {dark} dark and {colourful} colourful pixels of {total}");
    // Text and table borders give the dark pixels; the charts' lines, bars and heat-map cells
    // give the colourful ones (text alone has a few hundred: the status words).
    assert!(
        dark > total / 200,
        "the screenshot is blank: {dark} dark pixels of {total}"
    );
    assert!(
        colourful > 20_000,
        "no chart visible: {colourful} colourful pixels of {total}"
    );
}

/// The README's pandas example, run as written against this store, prints the numbers
/// `ccll-report table` has. Skipped, saying why, only when pandas cannot be installed.
fn readme_pandas_example_matches_the_table(sb: &Sandbox, sweep: &str) {
    let python = repo_root().join(".venv/bin/python");
    let has_pandas = |py: &std::path::Path| {
        std::process::Command::new(py)
            .args(["-c", "import pandas"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !has_pandas(&python) {
        let pip = std::process::Command::new(&python)
            .args(["-m", "pip", "install", "-q", "pandas"])
            .output();
        if !has_pandas(&python) {
            eprintln!(
                "SKIPPED: pandas is not in {} and pip could not install it: {:?}",
                python.display(),
                pip.map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
            );
            return;
        }
    }
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let marker = "<!-- pandas-example: run by crates/ccll-runner/tests/quickstart.rs -->";
    let code = readme
        .split(marker)
        .nth(1)
        .and_then(|rest| rest.split("```python\n").nth(1))
        .and_then(|block| block.split("```").next())
        .expect("the README's marked pandas example");
    let out = run(std::process::Command::new(&python)
        .arg("-c")
        .arg(code)
        .env("CCLL_DB", sb.db()));
    assert!(out.status.success(), "the README's pandas example failed");
    let printed = String::from_utf8_lossy(&out.stdout);

    let table = common::block_on(async {
        let store = ccll_report::Store::open_read_only(&sb.db()).await.unwrap();
        let data = ccll_report::SweepData::load(&store, sweep).await.unwrap();
        ccll_report::table::summarize(&data)
    });
    // The example prints CSV: method, alpha, beta, acc_mean, acc_std, finished.
    let mut lines = printed.lines();
    assert_eq!(
        lines.next(),
        Some("method,alpha,beta,acc_mean,acc_std,finished")
    );
    let printed: Vec<Vec<&str>> = lines
        .filter(|l| !l.is_empty())
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(printed.len(), table.rows.len(), "{printed:?}");
    for row in &table.rows {
        let label = &row.group.label;
        let method = label.split_whitespace().next().unwrap();
        let p = printed
            .iter()
            .find(|p| p[0] == method)
            .unwrap_or_else(|| panic!("{label} missing from the pandas output {printed:?}"));
        let (mean, std) = row.acc.expect("a mean");
        let num = |s: &str| s.parse::<f64>().ok();
        assert!(
            (num(p[3]).unwrap() - mean).abs() < 1e-9,
            "{label}: {p:?} vs {mean}"
        );
        match std {
            Some(sd) => assert!((num(p[4]).unwrap() - sd).abs() < 1e-9, "{label}: {p:?}"),
            None => assert_eq!(p[4], "", "{label}: one run has no std"),
        }
        assert_eq!(p[5], row.finished.to_string(), "{label}");
    }
}
