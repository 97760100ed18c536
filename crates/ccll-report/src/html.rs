//! A sweep's one page, `reports/<sweep>/index.html`: the study's description and grid, the
//! summary table, the claim checks, every chart, each run's accuracy matrix, config and paths,
//! and the failed runs with their errors and log tails.
//!
//! The page is self-contained so that it can be mailed or copied anywhere: the charts are the
//! report's SVG files inlined, the style is one `<style>` element, there is no script and no
//! reference to anything outside the file (tested: no `src`, `href` or `url(` points out).

use crate::claims::Verdict;
use crate::store::SweepRow;
use crate::sweep::SweepData;
use crate::table::SummaryTable;
use ccll_results::{RunResult, TaskMatrix};
use serde_json::Value;
use std::fmt::Write;

/// One chart as drawn for the report: its file stem and its SVG document.
pub struct InlineChart {
    pub name: String,
    pub svg: String,
}

/// Everything the page shows.
pub struct Page<'a> {
    pub sweep: &'a SweepRow,
    pub data: &'a SweepData,
    pub table: &'a SummaryTable,
    pub verdicts: &'a [Verdict],
    pub charts: &'a [InlineChart],
}

const STYLE: &str = "
body { font-family: sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { margin-bottom: 0.2em; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #bbb; padding: 0.2em 0.6em; }
th { background: #eee; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
figure { display: inline-block; margin: 0.5em; vertical-align: top; }
figure svg { width: 570px; max-width: 100%; height: auto; border: 1px solid #ddd; }
pre { background: #f6f6f6; padding: 0.5em; overflow-x: auto; white-space: pre-wrap; }
.holds, .finished { color: #1a7f37; font-weight: bold; }
.fails, .failed { color: #c62828; font-weight: bold; }
.note { color: #555; }
";

impl Page<'_> {
    /// The whole HTML document.
    pub fn render(&self) -> String {
        let title = format!("ccll sweep {}", self.sweep.name);
        let mut out = String::new();
        let _ = write!(
            out,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n\
             <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
            escape(&title)
        );
        self.header(&mut out);
        self.summary(&mut out);
        self.claims(&mut out);
        self.charts(&mut out);
        self.runs(&mut out);
        self.failures(&mut out);
        out.push_str("</body>\n</html>\n");
        out
    }

    fn header(&self, out: &mut String) {
        let s = self.sweep;
        let _ = writeln!(out, "<h1>Sweep <code>{}</code></h1>", escape(&s.name));
        if let Some(d) = s.spec.get("description").and_then(Value::as_str) {
            let _ = writeln!(out, "<p>{}</p>", escape(d));
        }
        let _ = writeln!(
            out,
            "<p class=\"note\">study file {} · profile {} · {} runs ({} finished, {} failed) · \
             created {} · updated {}</p>",
            code(s.study_file.as_deref().unwrap_or("–")),
            code(s.profile.as_deref().unwrap_or("–")),
            s.runs,
            s.finished,
            s.failed,
            escape(&s.created_at),
            escape(&s.updated_at),
        );
        if let Some(Value::Object(grid)) = s.spec.get("grid") {
            out.push_str("<h2>Grid</h2>\n<table>\n<tr><th>key</th><th>values</th></tr>\n");
            for (key, values) in grid {
                let _ = writeln!(
                    out,
                    "<tr><td>{}</td><td>{}</td></tr>",
                    code(key),
                    escape(&compact(values))
                );
            }
            out.push_str("</table>\n");
        }
        let _ = writeln!(
            out,
            "<details><summary>expanded study spec</summary><pre>{}</pre></details>",
            escape(&pretty(&s.spec))
        );
    }

    fn summary(&self, out: &mut String) {
        out.push_str("<h2>Summary</h2>\n");
        out.push_str(&self.table.to_html());
    }

    fn claims(&self, out: &mut String) {
        if self.verdicts.is_empty() {
            return;
        }
        out.push_str(
            "<h2>Claims</h2>\n<table id=\"claims\">\n\
             <tr><th>claim</th><th>paper</th><th>verdict</th><th>measured</th></tr>\n",
        );
        for v in self.verdicts {
            let status = v.status.as_str();
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td class=\"{}\">{}</td><td>{}</td></tr>",
                escape(&v.name),
                escape(v.paper.as_deref().unwrap_or("")),
                escape(&status.replace(' ', "-")),
                escape(status),
                escape(&v.detail)
            );
        }
        out.push_str("</table>\n");
    }

    fn charts(&self, out: &mut String) {
        if self.charts.is_empty() {
            return;
        }
        out.push_str("<h2>Charts</h2>\n");
        for c in self.charts {
            let _ = writeln!(
                out,
                "<figure id=\"chart-{0}\">{1}<figcaption>{0}</figcaption></figure>",
                escape(&c.name),
                svg_body(&c.svg)
            );
        }
    }

    fn runs(&self, out: &mut String) {
        out.push_str(
            "<h2>Runs</h2>\n<table id=\"runs\">\n<tr><th>id</th><th>run</th><th>status</th>\
             <th>ACC (%)</th><th>BWT (pp)</th><th>forgetting (pp)</th><th>seconds</th>\
             <th>device</th><th>host</th></tr>\n",
        );
        for r in &self.data.runs {
            let _ = writeln!(
                out,
                "<tr><td class=\"num\">{}</td><td>{}</td><td class=\"{}\">{}</td>{}{}{}{}\
                 <td>{}</td><td>{}</td></tr>",
                r.id,
                escape(&r.name),
                r.status,
                r.status,
                num_cell(r.acc, 2),
                num_cell(r.bwt, 2),
                num_cell(r.forgetting, 2),
                num_cell(r.wall_seconds, 1),
                escape(r.device.as_deref().unwrap_or("")),
                escape(r.host.as_deref().unwrap_or("")),
            );
        }
        out.push_str("</table>\n");
        for r in &self.data.runs {
            let _ = writeln!(
                out,
                "<details id=\"run-{}\"><summary>run {}: {} ({})</summary>",
                r.id,
                r.id,
                escape(&r.name),
                r.status
            );
            if let Some(result) = self.data.results.get(&r.id) {
                out.push_str(&matrix_table(result));
            }
            out.push_str("<table>\n");
            let mut path_row = |what: &str, value: &str| {
                let _ = writeln!(out, "<tr><th>{}</th><td>{}</td></tr>", what, code(value));
            };
            path_row(
                "run folder",
                r.run_dir.as_deref().unwrap_or("(not recorded)"),
            );
            if let Some(hash) = &r.base_hash {
                path_row("shared base", hash);
            }
            for a in self
                .data
                .results
                .get(&r.id)
                .map_or(&[][..], |x| &x.artifacts[..])
            {
                path_row(&a.kind, &a.path);
            }
            out.push_str("</table>\n");
            let _ = writeln!(out, "<pre>{}</pre></details>", escape(&pretty(&r.config)));
        }
    }

    fn failures(&self, out: &mut String) {
        let failed: Vec<_> = self
            .data
            .runs
            .iter()
            .filter(|r| r.status == crate::RunStatus::Failed)
            .collect();
        if failed.is_empty() {
            return;
        }
        out.push_str("<h2 id=\"failed\">Failed runs</h2>\n");
        for r in failed {
            let _ = writeln!(
                out,
                "<h3>run {}: {}</h3>\n<pre>{}</pre>\n<p class=\"note\">last lines of its log \
                 (attempts: {}):</p>\n<pre>{}</pre>",
                r.id,
                escape(&r.name),
                escape(r.error.as_deref().unwrap_or("(no error recorded)")),
                r.attempts,
                escape(r.log_tail.as_deref().unwrap_or("")),
            );
        }
    }
}

/// The accuracy matrix (rows: after training task i; columns: task j), percent, with the
/// task-agnostic matrix of the primary rule beside it when there is one.
fn matrix_table(result: &RunResult) -> String {
    let mut out = matrix_html("accuracy (%), task id given", &result.acc_matrix);
    if let Some(rule) = result
        .task_agnostic
        .as_ref()
        .and_then(|t| t.primary_result())
    {
        out.push_str(&matrix_html(
            &format!("accuracy (%), task inferred ({})", rule.rule),
            &rule.acc_matrix,
        ));
    }
    out
}

fn matrix_html(caption: &str, m: &TaskMatrix) -> String {
    let width = m.0.iter().map(Vec::len).max().unwrap_or(0);
    let mut out = format!(
        "<table class=\"matrix\">\n<caption>{}</caption>\n<tr><th>after \\ task</th>",
        escape(caption)
    );
    for j in 1..=width {
        let _ = write!(out, "<th>{j}</th>");
    }
    out.push_str("</tr>\n");
    for i in 0..m.rows() {
        let _ = write!(out, "<tr><th>{}</th>", i + 1);
        for j in 0..width {
            if j <= i {
                out.push_str(&num_cell(m.get(i, j), 2));
            } else {
                out.push_str("<td></td>");
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
    out
}

fn num_cell(v: Option<f64>, decimals: usize) -> String {
    match v {
        Some(x) if x.is_finite() => format!("<td class=\"num\">{x:.decimals$}</td>"),
        Some(_) => "<td class=\"num\">NaN</td>".to_string(),
        None => "<td class=\"num\">–</td>".to_string(),
    }
}

/// The `<svg>` element of an SVG document, without the XML prolog (not allowed mid-page).
fn svg_body(svg: &str) -> &str {
    svg.find("<svg").map_or(svg, |at| &svg[at..])
}

fn code(s: &str) -> String {
    format!("<code>{}</code>", escape(s))
}

fn compact(v: &Value) -> String {
    match v {
        Value::Array(items) => items
            .iter()
            .map(crate::sweep::value_text)
            .collect::<Vec<_>>()
            .join(", "),
        other => crate::sweep::value_text(other),
    }
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// Text made safe for HTML element content and double-quoted attributes.
pub fn escape(s: &str) -> String {
    html_escape::encode_double_quoted_attribute(s).into_owned()
}
