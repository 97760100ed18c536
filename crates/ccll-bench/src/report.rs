//! The figures a benchmark produces, their targets, and the two outputs: `bench.json` (every
//! figure with machine information) and `bench.md` (the table).

use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::Path;

/// What a figure's ratio must satisfy.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", content = "value", rename_all = "snake_case")]
pub enum Target {
    AtLeast(f64),
    AtMost(f64),
    /// |ratio - 1| <= tolerance (equivalence checks).
    Within(f64),
    /// Reported, no target.
    None,
}

impl Target {
    pub fn met(self, ratio: f64) -> Option<bool> {
        match self {
            Target::AtLeast(v) => Some(ratio >= v),
            Target::AtMost(v) => Some(ratio <= v),
            Target::Within(t) => Some((ratio - 1.0).abs() <= t),
            Target::None => None,
        }
    }

    pub fn text(self) -> String {
        match self {
            // Three decimals at most: targets derived from a measurement (1.062 = FLOPs + 0.05).
            Target::AtLeast(v) => format!(">= {}", short(v)),
            Target::AtMost(v) => format!("<= {}", short(v)),
            Target::Within(t) => format!("1 ± {t:.0e}"),
            Target::None => "-".into(),
        }
    }
}

/// `v` with at most three decimals, trailing zeros dropped (1.2, 1.062).
fn short(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// One row of the table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    /// Which part of the benchmark: throughput, overhead, epoch, scheduler, store.
    pub section: String,
    pub name: String,
    /// Unit of `ours` and `reference`.
    pub unit: String,
    pub ours: f64,
    /// What `ours` is compared with (PyTorch, the base alone, the lower bound, ...).
    pub reference: Option<f64>,
    /// The compared quantity (usually ours / reference; the note says when it is not).
    pub ratio: Option<f64>,
    pub target: Target,
    /// Whether the target is met; `None` when there is no target or no ratio.
    pub met: Option<bool>,
    /// Ours against the reference under torch.compile (training throughput only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compiled_ratio: Option<f64>,
    pub notes: String,
}

impl Figure {
    /// A figure compared with a reference: ratio = `ratio` (the caller says which way round).
    pub fn compared(
        section: &str,
        name: impl Into<String>,
        unit: &str,
        ours: f64,
        reference: f64,
        ratio: f64,
        target: Target,
    ) -> Self {
        Self {
            section: section.into(),
            name: name.into(),
            unit: unit.into(),
            ours,
            reference: Some(reference),
            ratio: Some(ratio),
            met: target.met(ratio),
            target,
            compiled_ratio: None,
            notes: String::new(),
        }
    }

    /// A plain measurement without comparison or target.
    pub fn plain(section: &str, name: impl Into<String>, unit: &str, ours: f64) -> Self {
        Self {
            section: section.into(),
            name: name.into(),
            unit: unit.into(),
            ours,
            reference: None,
            ratio: None,
            target: Target::None,
            met: None,
            compiled_ratio: None,
            notes: String::new(),
        }
    }

    /// A target on the measured value itself rather than on a ratio (e.g. a table built in
    /// at most 1 s).
    pub fn target_on_value(mut self, target: Target) -> Self {
        self.met = target.met(self.ours);
        self.target = target;
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Self {
        let note = note.into();
        if !note.is_empty() {
            if !self.notes.is_empty() {
                self.notes.push_str("; ");
            }
            self.notes.push_str(&note);
        }
        self
    }

    /// Adds ours / (the reference under torch.compile).
    pub fn compiled(mut self, ratio: f64) -> Self {
        self.compiled_ratio = Some(ratio);
        self
    }

    /// A figure that could not be measured: shown with the reason, target not met.
    pub fn failed(section: &str, name: impl Into<String>, target: Target, why: String) -> Self {
        Self {
            section: section.into(),
            name: name.into(),
            unit: String::new(),
            ours: f64::NAN,
            reference: None,
            ratio: None,
            met: match target {
                Target::None => None,
                _ => Some(false),
            },
            target,
            compiled_ratio: None,
            notes: why,
        }
    }
}

/// Where the figures were measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MachineInfo {
    pub cores: usize,
    /// Intra-op threads of libtorch on both sides.
    pub threads: usize,
    pub torch: String,
    pub devices: Vec<String>,
    pub cpu_model: String,
    /// 1-minute load average when the benchmark started: other work shares the cores.
    pub load_average: Option<f64>,
    pub quick: bool,
}

impl MachineInfo {
    pub fn detect(threads: usize, torch: String, devices: Vec<String>, quick: bool) -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
            .unwrap_or_default();
        let load_average = std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()));
        Self {
            cores: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            threads,
            torch,
            devices,
            cpu_model,
            load_average,
            quick,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    pub machine: MachineInfo,
    pub figures: Vec<Figure>,
    /// Unix time (seconds) when the report was written.
    pub written_at: u64,
}

impl BenchReport {
    pub fn targets_missed(&self) -> usize {
        self.figures.iter().filter(|f| f.met == Some(false)).count()
    }

    /// The Markdown table: figure, ours, reference, ratio, target, met, notes.
    pub fn to_markdown(&self) -> String {
        let m = &self.machine;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "Machine: {} cores ({}), {} libtorch threads on both sides, torch {}, devices: {}{}{}.\n",
            m.cores,
            if m.cpu_model.is_empty() {
                "unknown CPU"
            } else {
                &m.cpu_model
            },
            m.threads,
            m.torch,
            m.devices.join(", "),
            m.load_average
                .map(|l| format!(", load average {l:.1} at start"))
                .unwrap_or_default(),
            if m.quick { ", quick mode" } else { "" },
        );
        // The torch.compile column only where part 1 measured it.
        let compiled = self.figures.iter().any(|f| f.compiled_ratio.is_some());
        let (extra_head, extra_rule, extra_blank) = if compiled {
            (" ours / torch.compile |", "---:|", " |")
        } else {
            ("", "", "")
        };
        let _ = writeln!(
            s,
            "| figure | ours | reference | ratio | target | met |{extra_head} notes |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---|---|{extra_rule}---|");
        let mut section = "";
        for f in &self.figures {
            if f.section != section {
                section = &f.section;
                let _ = writeln!(s, "| **{section}** | | | | | |{extra_blank} |");
            }
            let compiled_cell = match (compiled, f.compiled_ratio) {
                (false, _) => String::new(),
                (true, Some(r)) => format!(" {} |", ratio(r)),
                (true, None) => " - |".to_string(),
            };
            let unit = if f.unit.is_empty() {
                String::new()
            } else {
                format!(" {}", f.unit)
            };
            let _ = writeln!(
                s,
                "| {} | {}{} | {} | {} | {} | {} |{} {} |",
                f.name,
                number(f.ours),
                unit,
                f.reference.map(number).unwrap_or_else(|| "-".into()),
                f.ratio.map(ratio).unwrap_or_else(|| "-".into()),
                f.target.text(),
                match f.met {
                    Some(true) => "yes",
                    Some(false) => "**no**",
                    None => "-",
                },
                compiled_cell,
                f.notes.replace('|', "/"),
            );
        }
        let _ = writeln!(
            s,
            "\n{} figures, {} targets missed.",
            self.figures.len(),
            self.targets_missed()
        );
        s
    }

    /// Writes `dir/STEM.json` and `dir/STEM.md`.
    pub fn write(&self, dir: &Path, stem: &str) -> anyhow::Result<()> {
        let named = |path: &Path, e: std::io::Error| anyhow::anyhow!("{}: {e}", path.display());
        std::fs::create_dir_all(dir).map_err(|e| named(dir, e))?;
        let json = dir.join(format!("{stem}.json"));
        std::fs::write(&json, serde_json::to_vec_pretty(self)?).map_err(|e| named(&json, e))?;
        let md = dir.join(format!("{stem}.md"));
        std::fs::write(&md, self.to_markdown()).map_err(|e| named(&md, e))
    }
}

/// A number with about four significant digits, without exponent for ordinary sizes.
pub fn number(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if !(1e-3..1e7).contains(&a) {
        format!("{v:.3e}")
    } else if a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

fn ratio(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    if v != 0.0 && (v.abs() < 1e-3 || v.abs() >= 1e5) {
        format!("{v:.2e}")
    } else {
        format!("{v:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_decide_met() {
        assert_eq!(Target::AtLeast(1.0).met(1.0), Some(true));
        assert_eq!(Target::AtLeast(1.2).met(1.1), Some(false));
        assert_eq!(Target::AtMost(1.05).met(1.06), Some(false));
        assert_eq!(Target::Within(1e-5).met(1.0 + 2e-6), Some(true));
        assert_eq!(Target::Within(1e-5).met(1.0 - 2e-5), Some(false));
        assert_eq!(Target::None.met(3.0), None);
    }

    #[test]
    fn table_lists_every_figure_with_its_target() {
        let report = BenchReport {
            machine: MachineInfo {
                cores: 2,
                threads: 2,
                torch: "2.13.0".into(),
                devices: vec!["cpu".into()],
                cpu_model: "x".into(),
                load_average: Some(1.0),
                quick: false,
            },
            figures: vec![
                Figure::compared(
                    "throughput",
                    "convnet",
                    "img/s",
                    1200.0,
                    1000.0,
                    1.2,
                    Target::AtLeast(1.2),
                ),
                Figure::compared("store", "table", "s", 2.0, 1.0, 2.0, Target::AtMost(1.0))
                    .note("a | b"),
                Figure::plain("store", "peak memory", "MiB", 300.0),
            ],
            written_at: 0,
        };
        let md = report.to_markdown();
        assert!(md.contains("| convnet | 1200 img/s | 1000 | 1.200 | >= 1.2 | yes |"));
        assert!(md.contains("| **no** | a / b |"), "{md}");
        assert!(md.contains("3 figures, 1 targets missed."));
        assert_eq!(report.targets_missed(), 1);
    }
}
