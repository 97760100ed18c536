//! `ccll-report table`: one row per configuration group of a sweep, mean ± std over seeds.
//!
//! Metrics come from finished runs only; runs/finished/failed count every run of the group.
//! The spread is the sample standard deviation; with one finished run it is shown as "–"
//! (an empty `_std` field in CSV). Parameters per task average tasks 2..n, the tasks that add
//! something on top of the base. When the sweep's runs recorded task-agnostic results, two
//! columns follow forgetting: the TAg ACC of each run's primary rule and its mean task-id
//! accuracy after the last task (the rules are named under the table).

use crate::stats::{human_count, mean_std};
use crate::sweep::{short_key, value_text, Group, SweepData};
use crate::{ReportError, RunStatus, Store};
use std::collections::HashMap;
use std::fmt::Write as _;

/// Output format of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TableFormat {
    /// GitHub pipe table.
    Md,
    Csv,
    /// booktabs `tabular`.
    Latex,
    /// An HTML `<table>` (what the sweep's `index.html` shows).
    Html,
}

type Stat = Option<(f64, Option<f64>)>;

/// One configuration group.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryRow {
    pub group: Group,
    pub runs: usize,
    pub finished: usize,
    pub failed: usize,
    pub acc: Stat,
    pub bwt: Stat,
    pub forgetting: Stat,
    /// TAg ACC of the runs' primary rule.
    pub tag_acc: Stat,
    /// Mean task-id accuracy after the last task, of the primary rule.
    pub task_id: Stat,
    /// Mean calibration parameters a task adds (tasks 2..n), averaged over finished runs.
    pub calibration_params: Option<f64>,
    /// Mean growth per task in percent of the base (tasks 2..n).
    pub growth_pct: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SummaryTable {
    pub sweep: String,
    /// Swept keys other than the seed: one column each.
    pub keys: Vec<String>,
    pub rows: Vec<SummaryRow>,
    /// The distinct data sources of the finished runs (files found, provenance notes such as
    /// "derived from a JPEG copy"), printed under the Markdown table.
    pub data_sources: Vec<String>,
    /// The primary task-inference rules of the finished runs; empty when none recorded
    /// task-agnostic results (the TAg columns are then left out).
    pub tag_rules: Vec<String>,
}

/// What the table takes from one finished run: its metrics, its primary task-inference
/// rule's TAg ACC and last task-id row, and its per-task counts for tasks 2..n. Built from a
/// full result ([`RunFigures::of`]) or read with SQL from the store without decoding any
/// result ([`Store::sweep_figures`]); both give the same numbers bit for bit.
#[derive(Debug, Clone, PartialEq)]
pub struct RunFigures {
    pub acc: f64,
    pub bwt: f64,
    pub forgetting: f64,
    /// The primary task-inference rule, when the run has task-agnostic results.
    pub primary_rule: Option<String>,
    /// That rule's TAg ACC.
    pub tag_acc: Option<f64>,
    /// The primary rule's task-id accuracies after the last task, in task order.
    pub last_task_id: Option<Vec<f64>>,
    /// (calibration parameters, growth %) of tasks 2..n, in task order.
    pub later: Vec<(f64, f64)>,
    pub data_source: String,
}

impl RunFigures {
    pub fn of(r: &ccll_results::RunResult) -> Self {
        let primary = r.task_agnostic.as_ref().and_then(|t| t.primary_result());
        Self {
            acc: r.metrics.acc,
            bwt: r.metrics.bwt,
            forgetting: r.metrics.forgetting,
            primary_rule: r.task_agnostic.as_ref().map(|t| t.primary.clone()),
            tag_acc: primary.map(|p| p.metrics.acc),
            last_task_id: primary.and_then(|p| {
                let last = p.task_id_matrix.rows().checked_sub(1)?;
                Some(p.task_id_matrix.seen(last))
            }),
            later: r
                .params
                .per_task
                .iter()
                .filter(|t| t.task > 1)
                .map(|t| (t.calibration_params as f64, t.growth_pct))
                .collect(),
            data_source: r.data_source.clone(),
        }
    }
}

/// Summarises every group of the sweep from its loaded results.
pub fn summarize(data: &SweepData) -> SummaryTable {
    let figures: HashMap<i64, RunFigures> = data
        .results
        .iter()
        .map(|(id, r)| (*id, RunFigures::of(r)))
        .collect();
    summarize_figures(data, &figures)
}

/// The table of sweep `name` with SQL reads only: runs and their figures, no result decoded
/// (what `ccll-report table` does; a 10,000-run sweep in well under a second).
pub async fn sweep_table(store: &Store, name: &str) -> Result<SummaryTable, ReportError> {
    let data = SweepData {
        name: name.to_string(),
        runs: store.runs(Some(name)).await?,
        results: HashMap::new(),
    };
    let mut figures = store.sweep_figures(name).await?;
    let finished: std::collections::HashSet<i64> = data
        .runs
        .iter()
        .filter(|r| r.status == RunStatus::Finished)
        .map(|r| r.id)
        .collect();
    figures.retain(|id, _| finished.contains(id));
    Ok(summarize_figures(&data, &figures))
}

/// Summarises every group of the runs of `data` with the figures of its finished runs.
fn summarize_figures(data: &SweepData, figures: &HashMap<i64, RunFigures>) -> SummaryTable {
    let keys: Vec<String> = data
        .swept_keys()
        .into_iter()
        .filter(|k| !crate::sweep::is_seed_key(k))
        .collect();
    let rows = data
        .groups()
        .into_iter()
        .map(|group| {
            let runs: Vec<_> = group
                .run_ids
                .iter()
                .filter_map(|&id| data.run(id))
                .collect();
            let of: Vec<&RunFigures> = group
                .run_ids
                .iter()
                .filter_map(|id| figures.get(id))
                .collect();
            let stat = |f: fn(&RunFigures) -> Option<f64>| {
                mean_std(&of.iter().filter_map(|r| f(r)).collect::<Vec<_>>())
            };
            let later = |f: fn(&(f64, f64)) -> f64| {
                let per_run: Vec<f64> = of
                    .iter()
                    .filter_map(|r| {
                        let v: Vec<f64> = r.later.iter().map(f).collect();
                        mean_std(&v).map(|(m, _)| m)
                    })
                    .collect();
                mean_std(&per_run).map(|(m, _)| m)
            };
            SummaryRow {
                runs: runs.len(),
                finished: runs
                    .iter()
                    .filter(|r| r.status == RunStatus::Finished)
                    .count(),
                failed: runs
                    .iter()
                    .filter(|r| r.status == RunStatus::Failed)
                    .count(),
                acc: stat(|r| Some(r.acc)),
                bwt: stat(|r| Some(r.bwt)),
                forgetting: stat(|r| Some(r.forgetting)),
                tag_acc: stat(|r| r.tag_acc),
                task_id: stat(|r| {
                    let row = r.last_task_id.as_ref()?;
                    Some(row.iter().sum::<f64>() / row.len().max(1) as f64)
                }),
                calibration_params: later(|t| t.0),
                growth_pct: later(|t| t.1),
                group,
            }
        })
        .collect();
    let mut data_sources: Vec<String> = Vec::new();
    let mut tag_rules: Vec<String> = Vec::new();
    for r in data.runs.iter().filter_map(|r| figures.get(&r.id)) {
        if !r.data_source.is_empty() && !data_sources.contains(&r.data_source) {
            data_sources.push(r.data_source.clone());
        }
        if let Some(rule) = &r.primary_rule {
            if !tag_rules.contains(rule) {
                tag_rules.push(rule.clone());
            }
        }
    }
    SummaryTable {
        sweep: data.name.clone(),
        keys,
        rows,
        data_sources,
        tag_rules,
    }
}

impl SummaryTable {
    pub fn render(&self, format: TableFormat) -> String {
        match format {
            TableFormat::Md => self.to_markdown(),
            TableFormat::Csv => self.to_csv(),
            TableFormat::Latex => self.to_latex(),
            TableFormat::Html => self.to_html(),
        }
    }

    /// The group cells: one per swept key, or the group label when nothing but the seed is
    /// swept.
    fn group_cells(&self, row: &SummaryRow) -> Vec<String> {
        if self.keys.is_empty() {
            return vec![row.group.label.clone()];
        }
        self.keys
            .iter()
            .map(|k| {
                row.group
                    .values
                    .iter()
                    .find(|(key, _)| key == k)
                    .map(|(_, v)| value_text(v))
                    .unwrap_or_default()
            })
            .collect()
    }

    fn group_headers(&self) -> Vec<String> {
        if self.keys.is_empty() {
            vec!["group".to_string()]
        } else {
            self.keys.iter().map(|k| short_key(k).to_string()).collect()
        }
    }

    fn text_cells(&self, row: &SummaryRow, pm: &str) -> Vec<String> {
        let mut cells = self.group_cells(row);
        cells.push(row.runs.to_string());
        for s in [row.acc, row.bwt, row.forgetting] {
            cells.push(pm_text(s, pm));
        }
        if self.has_tag() {
            cells.push(pm_text(row.tag_acc, pm));
            cells.push(pm_text(row.task_id, pm));
        }
        cells.push(row.calibration_params.map_or("–".into(), human_count));
        cells.push(row.growth_pct.map_or("–".into(), |g| format!("{g:.2}")));
        cells.push(row.finished.to_string());
        cells.push(row.failed.to_string());
        cells
    }

    const STAT_HEADERS: [&'static str; 8] = [
        "runs",
        "ACC (%)",
        "BWT (pp)",
        "forgetting (pp)",
        "params/task",
        "growth/task (%)",
        "finished",
        "failed",
    ];

    /// What the TAg and task-id columns mean, the line under a table that has them.
    fn tag_note(&self) -> String {
        format!(
            "TAg: without the task id, by each run's primary rule ({}); task-id: share of test \
             images whose task it inferred right, after the last task.",
            self.tag_rules.join(", ")
        )
    }

    /// Whether any finished run recorded task-agnostic results.
    pub fn has_tag(&self) -> bool {
        !self.tag_rules.is_empty()
    }

    /// The headers after the group columns.
    fn stat_headers(&self) -> Vec<String> {
        let mut h: Vec<String> = Self::STAT_HEADERS.iter().map(|s| s.to_string()).collect();
        if self.has_tag() {
            h.splice(4..4, ["TAg ACC (%)".to_string(), "task-id (%)".to_string()]);
        }
        h
    }

    pub fn to_markdown(&self) -> String {
        let mut header = self.group_headers();
        header.extend(self.stat_headers());
        let groups = self.group_headers().len();
        let mut out = String::new();
        let _ = writeln!(out, "| {} |", header.join(" | "));
        let align: Vec<&str> = (0..header.len())
            .map(|i| if i < groups { "---" } else { "---:" })
            .collect();
        let _ = writeln!(out, "| {} |", align.join(" | "));
        for row in &self.rows {
            let cells: Vec<String> = self
                .text_cells(row, "±")
                .into_iter()
                .map(|c| c.replace('|', "\\|"))
                .collect();
            let _ = writeln!(out, "| {} |", cells.join(" | "));
        }
        if self.has_tag() {
            let _ = writeln!(out, "\n{}", self.tag_note());
        }
        for source in &self.data_sources {
            let _ = writeln!(out, "\nData: {source}");
        }
        out
    }

    pub fn to_csv(&self) -> String {
        use crate::query::csv_field;
        let mut header: Vec<String> = if self.keys.is_empty() {
            vec!["group".to_string()]
        } else {
            self.keys.clone()
        };
        header.extend(
            [
                "runs",
                "acc_mean",
                "acc_std",
                "bwt_mean",
                "bwt_std",
                "forgetting_mean",
                "forgetting_std",
                "tag_acc_mean",
                "tag_acc_std",
                "task_id_mean",
                "task_id_std",
                "calibration_params_per_task",
                "growth_pct_per_task",
                "finished",
                "failed",
            ]
            .map(String::from),
        );
        if !self.has_tag() {
            header.retain(|h| !h.starts_with("tag_acc") && !h.starts_with("task_id"));
        }
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{}",
            header
                .iter()
                .map(|h| csv_field(h))
                .collect::<Vec<_>>()
                .join(",")
        );
        let num = |v: Option<f64>| v.map_or(String::new(), |x| x.to_string());
        for row in &self.rows {
            let mut cells = self.group_cells(row);
            cells.push(row.runs.to_string());
            let stats = [row.acc, row.bwt, row.forgetting, row.tag_acc, row.task_id];
            for s in &stats[..if self.has_tag() { 5 } else { 3 }] {
                cells.push(num(s.map(|(m, _)| m)));
                cells.push(num(s.and_then(|(_, sd)| sd)));
            }
            cells.push(num(row.calibration_params));
            cells.push(num(row.growth_pct));
            cells.push(row.finished.to_string());
            cells.push(row.failed.to_string());
            let _ = writeln!(
                out,
                "{}",
                cells
                    .iter()
                    .map(|c| csv_field(c))
                    .collect::<Vec<_>>()
                    .join(",")
            );
        }
        out
    }

    pub fn to_latex(&self) -> String {
        let groups = self.group_headers();
        let cols = format!(
            "{}{}",
            "l".repeat(groups.len()),
            "r".repeat(self.stat_headers().len())
        );
        let mut header: Vec<String> = groups.iter().map(|h| latex_escape(h)).collect();
        header.extend(self.stat_headers().iter().map(|s| latex_escape(s)));
        let mut out = String::new();
        let _ = writeln!(out, "% ccll-report table --sweep {}", self.sweep);
        let _ = writeln!(out, "\\begin{{tabular}}{{{cols}}}");
        let _ = writeln!(out, "\\toprule");
        let _ = writeln!(out, "{} \\\\", header.join(" & "));
        let _ = writeln!(out, "\\midrule");
        for row in &self.rows {
            let cells: Vec<String> = self
                .text_cells(row, "\u{0}")
                .iter()
                // Escape first, then put the math-mode ± in place of its marker.
                .map(|c| {
                    latex_escape(c)
                        .replace('\u{0}', "$\\pm$")
                        .replace('–', "--")
                })
                .collect();
            let _ = writeln!(out, "{} \\\\", cells.join(" & "));
        }
        let _ = writeln!(out, "\\bottomrule");
        let _ = writeln!(out, "\\end{{tabular}}");
        out
    }
}

impl SummaryTable {
    /// The table as an HTML `<table id="summary">`, the notes under it as paragraphs.
    pub fn to_html(&self) -> String {
        use crate::html::escape;
        let groups = self.group_headers().len();
        let mut out = String::from("<table id=\"summary\">\n<tr>");
        for h in self.group_headers().iter().chain(&self.stat_headers()) {
            let _ = write!(out, "<th>{}</th>", escape(h));
        }
        out.push_str("</tr>\n");
        for row in &self.rows {
            out.push_str("<tr>");
            for (i, c) in self.text_cells(row, "±").iter().enumerate() {
                let class = if i < groups { "" } else { " class=\"num\"" };
                let _ = write!(out, "<td{class}>{}</td>", escape(c));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</table>\n");
        if self.has_tag() {
            let _ = writeln!(out, "<p class=\"note\">{}</p>", escape(&self.tag_note()));
        }
        for source in &self.data_sources {
            let _ = writeln!(out, "<p class=\"note\">Data: {}</p>", escape(source));
        }
        out
    }
}

/// "85.20 ± 0.31", "85.20 ± –" for a single run, "–" for none.
fn pm_text(s: Stat, pm: &str) -> String {
    match s {
        None => "–".to_string(),
        Some((m, Some(sd))) => format!("{m:.2} {pm} {sd:.2}"),
        Some((m, None)) => format!("{m:.2} {pm} –"),
    }
}

fn latex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\textbackslash{}"),
            '&' | '%' | '$' | '#' | '_' | '{' | '}' => {
                out.push('\\');
                out.push(c);
            }
            '~' => out.push_str("\\textasciitilde{}"),
            '^' => out.push_str("\\textasciicircum{}"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plus_minus_cells() {
        assert_eq!(pm_text(Some((85.0, Some(0.3149))), "±"), "85.00 ± 0.31");
        assert_eq!(pm_text(Some((85.0, None)), "±"), "85.00 ± –");
        assert_eq!(pm_text(None, "±"), "–");
    }

    #[test]
    fn latex_specials_are_escaped() {
        assert_eq!(latex_escape("a_b & 5%"), "a\\_b \\& 5\\%");
    }
}
