//! Every chart kind renders a valid PNG of the declared size and a valid SVG from a store
//! filled by the tests, and refuses unknown sweeps, runs and keys with a clear message.

mod common;

use ccll_report::{
    plot, render_sweep_report_sized, PlotKind, PlotRequest, ReportError, Setting, Store,
};
use common::fill_sweep;
use std::path::{Path, PathBuf};

const SIZE: (u32, u32) = (900, 600);

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    out: PathBuf,
    first_run: i64,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db.sqlite")).await.unwrap();
    let ids = fill_sweep(
        &store,
        "grid",
        &["ccll", "pnn", "separate"],
        &[1, 4],
        &[1, 2, 3],
    )
    .await;
    fill_sweep(&store, "seeds-only", &["ccll"], &[2], &[1, 2]).await;
    let out = dir.path().join("reports");
    Fixture {
        store,
        out,
        first_run: ids[0],
        _dir: dir,
    }
}

fn request(f: &Fixture, kind: PlotKind) -> PlotRequest {
    PlotRequest {
        kind,
        sweep: None,
        run: None,
        x: None,
        out_dir: f.out.clone(),
        size: SIZE,
        setting: Setting::Taw,
    }
}

/// The PNG decodes and has the declared size; the SVG parses with an <svg> root of that size.
fn check_files(files: &[PathBuf], size: (u32, u32)) {
    assert_eq!(files.len(), 2, "{files:?}");
    let png = files
        .iter()
        .find(|f| f.extension().unwrap() == "png")
        .unwrap();
    let svg = files
        .iter()
        .find(|f| f.extension().unwrap() == "svg")
        .unwrap();
    let img = image::open(png).unwrap_or_else(|e| panic!("{}: {e}", png.display()));
    assert_eq!((img.width(), img.height()), size, "{}", png.display());
    // Not blank: a chart has more than a handful of colours.
    let rgb = img.to_rgb8();
    let mut colours: Vec<[u8; 3]> = rgb.pixels().map(|p| p.0).collect();
    colours.sort();
    colours.dedup();
    assert!(colours.len() > 20, "{} looks blank", png.display());
    check_svg(svg, size);
}

fn check_svg(path: &Path, size: (u32, u32)) {
    let text = std::fs::read_to_string(path).unwrap();
    let doc = roxmltree::Document::parse(&text)
        .unwrap_or_else(|e| panic!("{}: not XML: {e}", path.display()));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(root.attribute("width"), Some(size.0.to_string().as_str()));
    assert_eq!(root.attribute("height"), Some(size.1.to_string().as_str()));
    assert!(
        doc.descendants().any(|n| n.has_tag_name("text")),
        "no text in {}",
        path.display()
    );
}

#[tokio::test]
async fn every_kind_renders_png_and_svg() {
    let f = fixture().await;
    let cases = [
        (
            PlotKind::ParamGrowth,
            Some("grid"),
            None,
            None,
            "param-growth-grid",
        ),
        (PlotKind::ParamGrowth, None, None, None, "param-growth"),
        (
            PlotKind::AccMatrix,
            None,
            Some(f.first_run),
            None,
            "acc-matrix-run1",
        ),
        (
            PlotKind::Ablation,
            Some("grid"),
            None,
            Some("alpha"),
            "ablation-grid-alpha",
        ),
        (
            PlotKind::Ablation,
            Some("grid"),
            None,
            Some("method.name"),
            "ablation-grid-method.name",
        ),
        (PlotKind::PerTask, Some("grid"), None, None, "per-task-grid"),
        (PlotKind::TaskId, Some("grid"), None, None, "task-id-grid"),
        (
            PlotKind::Curves,
            None,
            Some(f.first_run),
            None,
            "curves-run1",
        ),
    ];
    for (kind, sweep, run, x, stem) in cases {
        let mut req = request(&f, kind);
        req.sweep = sweep.map(String::from);
        req.run = run;
        req.x = x.map(String::from);
        let files = plot(&f.store, &req)
            .await
            .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        assert_eq!(files[0], f.out.join(format!("{stem}.png")));
        check_files(&files, SIZE);
    }
}

#[tokio::test]
async fn the_declared_size_is_kept() {
    let f = fixture().await;
    let mut req = request(&f, PlotKind::AccMatrix);
    req.run = Some(f.first_run);
    req.size = (1600, 1000);
    check_files(&plot(&f.store, &req).await.unwrap(), (1600, 1000));
}

#[tokio::test]
async fn acc_matrix_draws_the_task_agnostic_and_task_id_matrices() {
    let f = fixture().await;
    for (setting, stem) in [(Setting::Tag, "-tag"), (Setting::TaskId, "-task-id")] {
        let mut req = request(&f, PlotKind::AccMatrix);
        req.run = Some(f.first_run);
        req.setting = setting;
        let files = plot(&f.store, &req).await.unwrap();
        let name = format!("acc-matrix-run{}{stem}.png", f.first_run);
        assert_eq!(files[0], f.out.join(name));
        check_files(&files, SIZE);
    }
}

#[tokio::test]
async fn unknown_sweeps_runs_and_keys_are_refused_clearly() {
    let f = fixture().await;
    for kind in [
        PlotKind::ParamGrowth,
        PlotKind::Ablation,
        PlotKind::PerTask,
        PlotKind::TaskId,
    ] {
        let mut req = request(&f, kind);
        req.sweep = Some("no-such-sweep".into());
        req.x = Some("alpha".into());
        let err = plot(&f.store, &req).await.unwrap_err().to_string();
        assert!(
            err.contains("'no-such-sweep'") && err.contains("ccll-report sweeps"),
            "{err}"
        );
    }
    for kind in [PlotKind::AccMatrix, PlotKind::Curves] {
        let mut req = request(&f, kind);
        req.run = Some(4242);
        let err = plot(&f.store, &req).await.unwrap_err().to_string();
        assert!(
            err.contains("4242") && err.contains("ccll-report runs"),
            "{err}"
        );
        req.run = None;
        let err = plot(&f.store, &req).await.unwrap_err().to_string();
        assert!(err.contains("--run"), "{err}");
    }
    let mut req = request(&f, PlotKind::Ablation);
    req.sweep = Some("grid".into());
    req.x = Some("no.such.key".into());
    let err = plot(&f.store, &req).await.unwrap_err();
    assert!(matches!(err, ReportError::UnknownKey { .. }), "{err}");
    assert!(err.to_string().contains("method.alpha"), "{err}");
    req.x = None;
    assert!(plot(&f.store, &req)
        .await
        .unwrap_err()
        .to_string()
        .contains("--x"));
    // Nothing was written for the refused requests.
    assert!(!f.out.exists() || std::fs::read_dir(&f.out).unwrap().next().is_none());
}

#[tokio::test]
async fn ablation_lines_average_over_seeds() {
    let f = fixture().await;
    let data = ccll_report::SweepData::load(&f.store, "grid")
        .await
        .unwrap();
    let chart = ccll_report::plots::Ablation::build(&data, "alpha").unwrap();
    assert_eq!(chart.categories, None);
    let labels: Vec<&str> = chart.lines.iter().map(|l| l.label.as_str()).collect();
    assert_eq!(labels, ["ccll", "pnn", "separate"]);
    let ccll = &chart.lines[0];
    assert_eq!(
        ccll.points.iter().map(|p| p.x).collect::<Vec<_>>(),
        [1.0, 4.0]
    );
    // Seeds 1..3 shift the accuracy by 0.25 each: the mean is the seed-2 run, std 0.25.
    let seed2 = common::result("ccll", 4, 2).metrics.acc;
    assert!((ccll.points[1].mean - seed2).abs() < 1e-9);
    assert!((ccll.points[1].std.unwrap() - 0.25).abs() < 1e-9);
    assert_eq!(ccll.points[1].runs, 3);

    let by_method = ccll_report::plots::Ablation::build(&data, "method").unwrap();
    assert_eq!(
        by_method.categories.as_deref(),
        Some(&["ccll".to_string(), "pnn".into(), "separate".into()][..])
    );
    // One line per alpha when the methods are on the x axis.
    assert_eq!(by_method.lines.len(), 2);
}

#[tokio::test]
async fn a_sweep_report_writes_what_applies_and_skips_the_rest() {
    let f = fixture().await;
    let files = render_sweep_report_sized(&f.store, "grid", &f.out, SIZE)
        .await
        .unwrap();
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for want in [
        "table.md",
        "table.csv",
        "param-growth.png",
        "per-task.svg",
        "task-id.png",
        "ablation-method.alpha.png",
        "curves-run1.png",
    ] {
        assert!(
            names.contains(&want.to_string()),
            "{want} missing from {names:?}"
        );
    }
    // One accuracy matrix per configuration group (3 methods x 2 alphas).
    assert_eq!(
        names
            .iter()
            .filter(|n| n.starts_with("acc-matrix") && n.ends_with(".png"))
            .count(),
        6
    );
    assert!(files.iter().all(|p| p.starts_with(f.out.join("grid"))));
    // Tables first, the page last, the charts' PNG/SVG pairs between.
    assert!(files.last().unwrap().ends_with("grid/index.html"));
    for pair in files[2..files.len() - 1].chunks(2) {
        check_files(pair, SIZE);
    }

    // Only seeds swept: no ablation, the rest still drawn.
    let files = render_sweep_report_sized(&f.store, "seeds-only", &f.out, SIZE)
        .await
        .unwrap();
    assert!(files
        .iter()
        .all(|p| !p.to_string_lossy().contains("ablation")));
    assert!(files.iter().any(|p| p.ends_with("seeds-only/per-task.png")));
}
