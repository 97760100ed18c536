//! The sweep's `index.html`: one well-formed, self-contained page holding the summary table,
//! every chart the report drew (inline SVG), each run's matrix, config and paths, and the
//! failed runs with their errors. (Rendering in a browser: the quickstart test in ccll-runner.)

mod common;

use ccll_report::{render_sweep_report_sized, Store};
use common::{fill_sweep, new_run};

const SIZE: (u32, u32) = (600, 400);

/// Every element and attribute that could make a browser fetch something.
fn external_references(doc: &roxmltree::Document) -> Vec<String> {
    let mut found = Vec::new();
    for node in doc.descendants().filter(|n| n.is_element()) {
        let tag = node.tag_name().name();
        if ["script", "link", "iframe", "img", "object", "embed"].contains(&tag) {
            found.push(format!("<{tag}>"));
        }
        for a in node.attributes() {
            let local = matches!(a.name(), "src" | "href" | "srcset" | "action" | "poster");
            let inside = a.value().starts_with('#');
            if local && !inside {
                found.push(format!("{}=\"{}\"", a.name(), a.value()));
            }
            if a.value().contains("url(") && !a.value().contains("url(#") {
                found.push(format!("{}=\"{}\"", a.name(), a.value()));
            }
        }
        if tag == "style" {
            let css = node.text().unwrap_or("");
            if css.contains("url(") || css.contains("@import") {
                found.push("url( or @import in <style>".into());
            }
        }
    }
    found
}

fn element_by_id<'a>(doc: &'a roxmltree::Document, id: &str) -> roxmltree::Node<'a, 'a> {
    doc.descendants()
        .find(|n| n.attribute("id") == Some(id))
        .unwrap_or_else(|| panic!("no element with id {id}"))
}

fn rows(table: roxmltree::Node) -> Vec<Vec<String>> {
    table
        .children()
        .filter(|n| n.has_tag_name("tr"))
        .map(|tr| {
            tr.children()
                .filter(|c| c.is_element())
                .map(|c| {
                    c.descendants()
                        .filter(|t| t.is_text())
                        .filter_map(|t| t.text())
                        .collect::<String>()
                })
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn the_sweep_page_holds_the_table_charts_runs_and_failures_and_fetches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db.sqlite")).await.unwrap();
    let ids = fill_sweep(&store, "grid", &["ccll", "pnn"], &[1, 4], &[1, 2]).await;
    let sweep_id = 1;
    let failed = store
        .register_run(&new_run(Some(sweep_id), "separate", 1, 7))
        .await
        .unwrap();
    store
        .record_failed(
            failed,
            "CUDA out of memory <at> 'task 3'",
            "epoch 3\nOOM & done",
        )
        .await
        .unwrap();
    let out = dir.path().join("reports");
    let files = render_sweep_report_sized(&store, "grid", &out, SIZE)
        .await
        .unwrap();
    let page_path = out.join("grid/index.html");
    assert_eq!(files.last(), Some(&page_path), "the page is written last");
    let html = std::fs::read_to_string(&page_path).unwrap();
    let doc = roxmltree::Document::parse_with_options(
        &html,
        roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("index.html is not well formed: {e}"));

    assert_eq!(external_references(&doc), Vec::<String>::new());

    // Summary: a header and one row per configuration (ccll/pnn x alpha 1/4, separate).
    let summary = rows(element_by_id(&doc, "summary"));
    assert_eq!(summary.len(), 1 + 5, "{summary:?}");
    assert_eq!(summary[0][..2], ["method".to_string(), "alpha".to_string()]);
    let table =
        ccll_report::table::summarize(&ccll_report::SweepData::load(&store, "grid").await.unwrap());
    let ccll_a1 = &table.rows[0];
    assert!(
        summary[1]
            .iter()
            .any(|c| c.starts_with(&format!("{:.2} ±", ccll_a1.acc.unwrap().0))),
        "{:?}",
        summary[1]
    );

    // Every chart the report drew is on the page, as an inline <svg>.
    let svg_files: Vec<_> = files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "svg"))
        .collect();
    assert!(svg_files.len() >= 5, "{svg_files:?}");
    let figures: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("figure"))
        .collect();
    assert_eq!(figures.len(), svg_files.len());
    for (fig, file) in figures.iter().zip(&svg_files) {
        let stem = file.file_stem().unwrap().to_string_lossy();
        assert_eq!(fig.attribute("id"), Some(format!("chart-{stem}").as_str()));
        let svg = fig
            .children()
            .find(|c| c.tag_name().name() == "svg")
            .unwrap_or_else(|| panic!("{stem}: no inline svg"));
        assert!(svg.descendants().count() > 20, "{stem}: an empty chart");
    }

    // Runs: every run listed with its status; each has its details (matrix for finished ones).
    let runs = rows(element_by_id(&doc, "runs"));
    assert_eq!(runs.len(), 1 + ids.len() + 1);
    assert!(runs
        .iter()
        .any(|r| r[2] == "failed" && r[1].contains("separate")));
    for id in &ids {
        let details = element_by_id(&doc, &format!("run-{id}"));
        let matrix = details
            .descendants()
            .find(|n| n.attribute("class") == Some("matrix"))
            .unwrap_or_else(|| panic!("run {id}: no accuracy matrix"));
        let r = store.run_result(*id).await.unwrap();
        let cells = rows(matrix);
        assert_eq!(cells.len(), 1 + r.acc_matrix.rows());
        let last = r.acc_matrix.rows() - 1;
        assert_eq!(
            cells[last + 1][1],
            format!("{:.2}", r.acc_matrix.get(last, 0).unwrap())
        );
        let text: String = details
            .descendants()
            .filter(|t| t.is_text())
            .filter_map(|t| t.text())
            .collect();
        assert!(text.contains("\"method\""), "run {id}: no config");
    }

    // The failure with its error and log tail, escaped, not interpreted.
    let text: String = doc
        .descendants()
        .filter(|t| t.is_text())
        .filter_map(|t| t.text())
        .collect();
    assert!(text.contains("CUDA out of memory <at> 'task 3'"));
    assert!(text.contains("OOM & done"));
    assert!(html.contains("&lt;at&gt;"));
}
