//! Claims a study makes about its results (a paper's findings), checked over the seeds.
//!
//! A study file lists them under `claims:`; the runner stores them in the sweep's spec and
//! `ccll-report check --sweep S` evaluates each one:
//!
//! - `better: A, than: B` — A's metric exceeds B's. The difference A - B is paired by seed
//!   where both have runs of the same seeds (they then share a base), else unpaired (Welch);
//!   its 95 % t-interval decides: above 0 holds, below 0 fails, straddling 0 inconclusive.
//! - `not_worse: A, than: B, by: m` — A is at most `m` points below B: the interval's lower
//!   end above -m holds, its upper end below -m fails. With `per_task: true` the final
//!   accuracy of every task is compared separately (tasks both groups have); all must hold.
//! - `increasing: KEY` — the metric rises with KEY: Spearman's rank correlation over the runs,
//!   with a one-sided permutation test that permutes KEY within each seed (runs of one seed
//!   share a base). Positive at p < 0.05 holds, negative at p < 0.05 fails, else inconclusive.
//! - `flat: KEY, within: w` — no two values of KEY differ by more than w: every pairwise
//!   interval inside [-w, w] holds, one entirely outside fails, else inconclusive.
//!
//! Every kind needs at least two runs on each side; with fewer it is inconclusive. `where:`
//! restricts the runs a claim looks at. Metrics: `acc` (final average accuracy, default),
//! `bwt`, `forgetting`, `task_acc` (the final accuracy of each task, with `per_task`).

use crate::sweep::SweepData;
use crate::RunRow;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// Dotted config keys and the values a run must have there.
pub type Selector = BTreeMap<String, Value>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    #[default]
    Acc,
    Bwt,
    Forgetting,
}

/// One claim as written in a study file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    pub name: String,
    /// What the paper reports, for the report (free text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paper: Option<String>,
    #[serde(default)]
    pub metric: Metric,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub better: Option<Selector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_worse: Option<Selector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub than: Option<Selector>,
    /// `not_worse`: the allowed shortfall in points.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub increasing: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flat: Option<String>,
    /// `flat`: the largest difference in points that still counts as flat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<f64>,
    /// Compare every task's final accuracy instead of `metric` (better / not_worse).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub per_task: bool,
    /// Only runs matching this selector.
    #[serde(default, rename = "where", skip_serializing_if = "BTreeMap::is_empty")]
    pub filter: Selector,
}

/// What a claim asks, once its fields are checked.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind<'a> {
    Better {
        a: &'a Selector,
        b: &'a Selector,
        margin: f64,
    },
    Increasing(&'a str),
    Flat {
        key: &'a str,
        within: f64,
    },
}

impl Claim {
    /// The kind of comparison, or what is wrong with the combination of fields.
    pub fn kind(&self) -> Result<Kind<'_>, String> {
        let given = [
            self.better.is_some(),
            self.not_worse.is_some(),
            self.increasing.is_some(),
            self.flat.is_some(),
        ];
        if given.iter().filter(|g| **g).count() != 1 {
            return Err(
                "give exactly one of better (with than), not_worse (with than, by), increasing, flat (with within)"
                    .into(),
            );
        }
        let need_than = || {
            self.than
                .as_ref()
                .ok_or_else(|| "`than:` (the runs to compare with) is missing".to_string())
        };
        if let Some(a) = &self.better {
            return Ok(Kind::Better {
                a,
                b: need_than()?,
                margin: 0.0,
            });
        }
        if let Some(a) = &self.not_worse {
            let by = self.by.ok_or("not_worse needs `by:` (points)")?;
            if !(by >= 0.0 && by.is_finite()) {
                return Err(format!("by must be >= 0, got {by}"));
            }
            return Ok(Kind::Better {
                a,
                b: need_than()?,
                margin: by,
            });
        }
        if self.per_task {
            return Err("per_task applies to better / not_worse".into());
        }
        if let Some(k) = &self.increasing {
            return Ok(Kind::Increasing(k));
        }
        let key = self.flat.as_deref().unwrap_or_default();
        let within = self.within.ok_or("flat needs `within:` (points)")?;
        if !(within > 0.0 && within.is_finite()) {
            return Err(format!("within must be > 0, got {within}"));
        }
        Ok(Kind::Flat { key, within })
    }

    /// Every dotted config key the claim names (for validation against the runs).
    pub fn keys(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = Vec::new();
        for sel in [&self.better, &self.not_worse, &self.than]
            .into_iter()
            .flatten()
            .chain(std::iter::once(&self.filter))
        {
            keys.extend(sel.keys().map(String::as_str));
        }
        keys.extend(self.increasing.as_deref());
        keys.extend(self.flat.as_deref());
        keys
    }

    /// The selectors of the claim with where they are (`better`, `than`, ...).
    pub fn selectors(&self) -> Vec<(&'static str, &Selector)> {
        let mut out = Vec::new();
        for (name, sel) in [
            ("better", &self.better),
            ("not_worse", &self.not_worse),
            ("than", &self.than),
        ] {
            if let Some(s) = sel {
                out.push((name, s));
            }
        }
        out
    }
}

/// The value at a dotted key of a JSON config (`method.alpha`), `Null` when absent.
pub fn lookup<'a>(config: &'a Value, dotted: &str) -> &'a Value {
    let mut v = config;
    for part in dotted.split('.') {
        match v.get(part) {
            Some(next) => v = next,
            None => return &Value::Null,
        }
    }
    v
}

fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// Whether a run config matches every key of `sel` (and of `filter`).
pub fn matches(config: &Value, sel: &Selector) -> bool {
    sel.iter().all(|(k, v)| same(lookup(config, k), v))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Holds,
    Fails,
    Inconclusive,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Holds => "holds",
            Self::Fails => "fails",
            Self::Inconclusive => "inconclusive",
        }
    }
}

/// A checked claim: the verdict and the numbers behind it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub name: String,
    pub status: Status,
    /// The measured numbers, one line.
    pub detail: String,
    pub paper: Option<String>,
}

/// One finished run's numbers: its seed and the metric (or every task's final accuracy).
struct Sample {
    seed: i64,
    config: Value,
    value: f64,
    tasks: Vec<Option<f64>>,
}

fn samples(data: &SweepData, metric: Metric, filter: &Selector) -> Vec<Sample> {
    data.finished()
        .filter(|(row, _)| matches(&row.config, filter))
        .filter_map(|(row, result): (&RunRow, _)| {
            let value = match metric {
                Metric::Acc => row.acc,
                Metric::Bwt => row.bwt,
                Metric::Forgetting => row.forgetting,
            }?;
            let last = result.acc_matrix.rows().checked_sub(1);
            let tasks = match last {
                Some(r) => result.acc_matrix.0[r].clone(),
                None => Vec::new(),
            };
            Some(Sample {
                seed: row.seed,
                config: row.config.clone(),
                value,
                tasks,
            })
        })
        .collect()
}

/// Two-sided 95 % quantile of Student's t with `df` degrees of freedom.
pub fn t95(df: usize) -> f64 {
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::INFINITY,
        1..=30 => T[df - 1],
        31..=60 => 2.000,
        61..=120 => 1.980,
        _ => 1.960,
    }
}

/// A difference of means with its 95 % interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub mean: f64,
    pub low: f64,
    pub high: f64,
    /// Seeds paired, or `None` when unpaired (Welch).
    pub paired: Option<usize>,
}

fn mean_var(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = if v.len() > 1 {
        v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        f64::NAN
    };
    (m, var)
}

/// The 95 % interval of mean(a) - mean(b) over `(seed, value)` pairs: paired by seed when the
/// two sides have the same two or more distinct seeds, else Welch. `None` with fewer than two
/// values on a side.
pub fn difference(a: &[(i64, f64)], b: &[(i64, f64)]) -> Option<Interval> {
    if a.len() < 2 || b.len() < 2 {
        return None;
    }
    let seeds = |s: &[(i64, f64)]| s.iter().map(|(k, _)| *k).collect::<BTreeSet<_>>();
    let (sa, sb) = (seeds(a), seeds(b));
    if sa == sb && sa.len() == a.len() && sb.len() == b.len() {
        let bmap: BTreeMap<i64, f64> = b.iter().copied().collect();
        let d: Vec<f64> = a.iter().map(|(k, v)| v - bmap[k]).collect();
        let (m, var) = mean_var(&d);
        let half = t95(d.len() - 1) * (var / d.len() as f64).sqrt();
        return Some(Interval {
            mean: m,
            low: m - half,
            high: m + half,
            paired: Some(d.len()),
        });
    }
    let va: Vec<f64> = a.iter().map(|x| x.1).collect();
    let vb: Vec<f64> = b.iter().map(|x| x.1).collect();
    let (ma, wa) = mean_var(&va);
    let (mb, wb) = mean_var(&vb);
    let (qa, qb) = (wa / va.len() as f64, wb / vb.len() as f64);
    let se = (qa + qb).sqrt();
    let df = if se > 0.0 {
        (qa + qb).powi(2)
            / (qa.powi(2) / (va.len() as f64 - 1.0) + qb.powi(2) / (vb.len() as f64 - 1.0))
    } else {
        (va.len() + vb.len() - 2) as f64
    };
    let half = t95(df.floor().max(1.0) as usize) * se;
    Some(Interval {
        mean: ma - mb,
        low: ma - mb - half,
        high: ma - mb + half,
        paired: None,
    })
}

fn describe(iv: &Interval) -> String {
    let how = match iv.paired {
        Some(n) => format!("paired over {n} seeds"),
        None => "unpaired".to_string(),
    };
    format!(
        "{:+.2} [95 % CI {:+.2}, {:+.2}], {how}",
        iv.mean, iv.low, iv.high
    )
}

fn selector_text(sel: &Selector) -> String {
    sel.iter()
        .map(|(k, v)| {
            let v = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            format!("{}={v}", k.rsplit('.').next().unwrap_or(k))
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Checks every claim against the sweep's finished runs.
pub fn check(data: &SweepData, claims: &[Claim]) -> Vec<Verdict> {
    claims.iter().map(|c| check_one(data, c)).collect()
}

/// The verdict of a claim made of parts: one failing part fails it, all holding holds it.
fn all_of(statuses: &[Status]) -> Status {
    if statuses.contains(&Status::Fails) {
        Status::Fails
    } else if statuses.iter().all(|s| *s == Status::Holds) {
        Status::Holds
    } else {
        Status::Inconclusive
    }
}

fn verdict(c: &Claim, status: Status, detail: String) -> Verdict {
    Verdict {
        name: c.name.clone(),
        status,
        detail,
        paper: c.paper.clone(),
    }
}

fn check_one(data: &SweepData, c: &Claim) -> Verdict {
    let kind = match c.kind() {
        Ok(k) => k,
        Err(e) => return verdict(c, Status::Inconclusive, format!("malformed claim: {e}")),
    };
    let runs = samples(data, c.metric, &c.filter);
    match kind {
        Kind::Better { a, b, margin } => compare(c, &runs, a, b, margin),
        Kind::Increasing(key) => trend(c, &runs, key),
        Kind::Flat { key, within } => flat(c, &runs, key, within),
    }
}

fn compare(c: &Claim, runs: &[Sample], a: &Selector, b: &Selector, margin: f64) -> Verdict {
    let side = |sel: &Selector| -> Vec<&Sample> {
        runs.iter().filter(|s| matches(&s.config, sel)).collect()
    };
    let (ra, rb) = (side(a), side(b));
    let label = format!("{} - {}", selector_text(a), selector_text(b));
    let status_of = |iv: &Interval| {
        if iv.low > -margin {
            Status::Holds
        } else if iv.high < -margin {
            Status::Fails
        } else {
            Status::Inconclusive
        }
    };
    let few = || {
        format!(
            "too few finished runs: {} and {} (at least 2 seeds a side)",
            ra.len(),
            rb.len()
        )
    };
    if !c.per_task {
        let pick = |v: &[&Sample]| v.iter().map(|s| (s.seed, s.value)).collect::<Vec<_>>();
        return match difference(&pick(&ra), &pick(&rb)) {
            None => verdict(c, Status::Inconclusive, few()),
            Some(iv) => verdict(c, status_of(&iv), format!("{label}: {}", describe(&iv))),
        };
    }
    let tasks = ra
        .iter()
        .chain(rb.iter())
        .map(|s| s.tasks.len())
        .min()
        .unwrap_or(0);
    let mut worst: Option<(usize, Interval, Status)> = None;
    let mut statuses = Vec::new();
    for t in 0..tasks {
        let pick = |v: &[&Sample]| {
            v.iter()
                .filter_map(|s| s.tasks[t].map(|x| (s.seed, x)))
                .collect::<Vec<_>>()
        };
        let Some(iv) = difference(&pick(&ra), &pick(&rb)) else {
            return verdict(c, Status::Inconclusive, few());
        };
        let st = status_of(&iv);
        statuses.push(st);
        if worst.as_ref().is_none_or(|w| iv.low < w.1.low) {
            worst = Some((t, iv, st));
        }
    }
    let Some((t, iv, _)) = worst else {
        return verdict(c, Status::Inconclusive, few());
    };
    let status = all_of(&statuses);
    verdict(
        c,
        status,
        format!(
            "{label}, per task: {} of {tasks} hold; weakest task {}: {}",
            statuses.iter().filter(|s| **s == Status::Holds).count(),
            t + 1,
            describe(&iv)
        ),
    )
}

/// Ranks with ties averaged (1-based).
fn ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for k in &idx[i..=j] {
            r[*k] = avg;
        }
        i = j + 1;
    }
    r
}

/// Spearman's rank correlation of `x` and `y`.
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    let (rx, ry) = (ranks(x), ranks(y));
    let (mx, _) = mean_var(&rx);
    let (my, _) = mean_var(&ry);
    let cov: f64 = rx.iter().zip(&ry).map(|(a, b)| (a - mx) * (b - my)).sum();
    let sx: f64 = rx.iter().map(|a| (a - mx).powi(2)).sum::<f64>().sqrt();
    let sy: f64 = ry.iter().map(|b| (b - my).powi(2)).sum::<f64>().sqrt();
    if sx == 0.0 || sy == 0.0 {
        0.0
    } else {
        cov / (sx * sy)
    }
}

/// SplitMix64: a fixed, seedable generator so that a check gives the same p-value twice.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const PERMUTATIONS: usize = 20_000;

/// One-sided permutation p-values (rising, falling) of Spearman's rho, permuting `x` within
/// each block (runs of one seed).
pub fn trend_test(x: &[f64], y: &[f64], blocks: &[i64]) -> (f64, f64, f64) {
    let rho = spearman(x, y);
    let mut groups: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for (i, b) in blocks.iter().enumerate() {
        groups.entry(*b).or_default().push(i);
    }
    let mut rng = SplitMix(0x00cc_11c1_a1e5);
    let mut perm = x.to_vec();
    let (mut up, mut down) = (0usize, 0usize);
    for _ in 0..PERMUTATIONS {
        for members in groups.values() {
            for k in (1..members.len()).rev() {
                let j = rng.below(k + 1);
                perm.swap(members[k], members[j]);
            }
        }
        let r = spearman(&perm, y);
        if r >= rho - 1e-12 {
            up += 1;
        }
        if r <= rho + 1e-12 {
            down += 1;
        }
    }
    let p = |k: usize| (k + 1) as f64 / (PERMUTATIONS + 1) as f64;
    (rho, p(up), p(down))
}

/// Mean metric by value of `key`, in key order, for the detail line.
fn means_by(runs: &[(f64, f64)]) -> Vec<(f64, f64, usize)> {
    let mut by: BTreeMap<u64, (f64, Vec<f64>)> = BTreeMap::new();
    for (x, y) in runs {
        by.entry(x.to_bits() ^ (1 << 63))
            .or_insert((*x, Vec::new()))
            .1
            .push(*y);
    }
    let mut out: Vec<(f64, f64, usize)> = by
        .into_values()
        .map(|(x, ys)| (x, mean_var(&ys).0, ys.len()))
        .collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

fn trend(c: &Claim, runs: &[Sample], key: &str) -> Verdict {
    let points: Vec<(f64, f64, i64)> = runs
        .iter()
        .filter_map(|s| {
            lookup(&s.config, key)
                .as_f64()
                .map(|x| (x, s.value, s.seed))
        })
        .collect();
    let xy: Vec<(f64, f64)> = points.iter().map(|p| (p.0, p.1)).collect();
    let by = means_by(&xy);
    let summary = by
        .iter()
        .map(|(x, m, n)| format!("{x}: {m:.2} (n={n})"))
        .collect::<Vec<_>>()
        .join(", ");
    if by.len() < 2 || by.iter().any(|b| b.2 < 2) {
        return verdict(
            c,
            Status::Inconclusive,
            format!("too few finished runs (at least 2 values of {key}, 2 seeds each): {summary}"),
        );
    }
    let x: Vec<f64> = points.iter().map(|p| p.0).collect();
    let y: Vec<f64> = points.iter().map(|p| p.1).collect();
    let blocks: Vec<i64> = points.iter().map(|p| p.2).collect();
    let (rho, p_up, p_down) = trend_test(&x, &y, &blocks);
    let status = if rho > 0.0 && p_up < 0.05 {
        Status::Holds
    } else if rho < 0.0 && p_down < 0.05 {
        Status::Fails
    } else {
        Status::Inconclusive
    };
    verdict(
        c,
        status,
        format!(
            "Spearman rho {rho:+.2} over {} runs (permutation p = {:.3} rising, {:.3} falling); means by {key}: {summary}",
            x.len(),
            p_up,
            p_down
        ),
    )
}

fn flat(c: &Claim, runs: &[Sample], key: &str, within: f64) -> Verdict {
    let mut by: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
    for s in runs {
        let v = lookup(&s.config, key);
        if !v.is_null() {
            by.entry(v.to_string()).or_default().push((s.seed, s.value));
        }
    }
    let values: Vec<&String> = by.keys().collect();
    if values.len() < 2 {
        return verdict(
            c,
            Status::Inconclusive,
            format!("fewer than 2 values of {key} among the finished runs"),
        );
    }
    let mut widest: Option<(String, Interval)> = None;
    let mut statuses = Vec::new();
    for i in 0..values.len() {
        for j in i + 1..values.len() {
            let Some(iv) = difference(&by[values[i]], &by[values[j]]) else {
                return verdict(
                    c,
                    Status::Inconclusive,
                    format!(
                        "too few finished runs for {key} = {} or {}",
                        values[i], values[j]
                    ),
                );
            };
            let extreme = iv.low.abs().max(iv.high.abs());
            statuses.push(if extreme < within {
                Status::Holds
            } else if iv.low > within || iv.high < -within {
                Status::Fails
            } else {
                Status::Inconclusive
            });
            if widest
                .as_ref()
                .is_none_or(|w| extreme > w.1.low.abs().max(w.1.high.abs()))
            {
                widest = Some((format!("{key}={} - {key}={}", values[i], values[j]), iv));
            }
        }
    }
    let status = all_of(&statuses);
    let mut detail = format!("pairs of values within ±{within}; ");
    if let Some((label, iv)) = widest {
        let _ = write!(detail, "widest: {label}: {}", describe(&iv));
    }
    verdict(c, status, detail)
}

/// The verdicts as a Markdown table.
pub fn to_markdown(verdicts: &[Verdict]) -> String {
    let mut s = String::from("| claim | paper | verdict | measured |\n|---|---|---|---|\n");
    for v in verdicts {
        let _ = writeln!(
            s,
            "| {} | {} | **{}** | {} |",
            v.name,
            v.paper.as_deref().unwrap_or(""),
            v.status.as_str(),
            v.detail
        );
    }
    s
}

/// The verdicts as plain lines for a terminal.
pub fn to_text(verdicts: &[Verdict]) -> String {
    let mut s = String::new();
    for v in verdicts {
        let _ = writeln!(
            s,
            "{:<12} {}\n             {}",
            v.status.as_str(),
            v.name,
            v.detail
        );
    }
    s
}

/// Loads a sweep and checks the claims its study listed. `Ok` with no verdicts when the study
/// lists none.
pub async fn check_sweep(
    store: &crate::Store,
    sweep: &str,
) -> Result<Vec<Verdict>, crate::ReportError> {
    let row = store.sweep(sweep).await?;
    let claims = from_spec(&row.spec).map_err(|e| {
        crate::ReportError::Invalid(format!(
            "sweep `{sweep}`: its stored claims are unreadable: {e}"
        ))
    })?;
    if claims.is_empty() {
        return Ok(Vec::new());
    }
    let data = SweepData::load(store, sweep).await?;
    Ok(check(&data, &claims))
}

/// The claims stored in a sweep's spec (`spec.claims`), if any.
pub fn from_spec(spec: &Value) -> Result<Vec<Claim>, String> {
    match spec.get("claims") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| e.to_string()),
    }
}
