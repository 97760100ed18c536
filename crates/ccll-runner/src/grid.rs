//! Expansion of a study into runs: profile, command-line overrides, the cartesian product of
//! the grid, exclude and include rules; then every run is checked as a run config (parsing,
//! `RunConfig::validate`, image shapes, base-source compatibility, and building the model once
//! per distinct architecture/method, which catches an alpha that does not divide a layer's
//! channels). Every problem is reported with the file and line it comes from: the grid key's
//! line for swept values, the rule's line for include values, the `-o` argument for
//! overrides, the defaults' line otherwise.

use crate::identity::{dir_name, identity, run_label, Identity};
use crate::study::{valid_dotted_key, Axis, Problem, Problems, Rule, Source, Study};
use ccll_core::strategy::build_strategy;
use ccll_core::yaml_locate::{with_dotted, Seg};
use ccll_core::{BaseSource, RunConfig};
use serde_yaml::{Mapping, Value};
use std::collections::{BTreeMap, HashMap, HashSet};

/// One run of the expanded study.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// Human label, e.g. `ccll alpha=4 seed=1`.
    pub label: String,
    /// Directory name under the sweep's folder: `<label>-<hash8>`.
    pub dir_name: String,
    pub config: RunConfig,
    pub identity: Identity,
    /// The values this run was given by the grid or its include rule, in key order.
    pub swept: Vec<(String, Value)>,
    /// The shared base this run starts from (see `ccll_core::run::base_key`).
    pub base_key: Option<String>,
}

impl RunSpec {
    /// A checked config at a grid point: its identity, label, directory and base.
    fn new(config: RunConfig, point: &Point) -> Self {
        let swept: Vec<(String, Value)> = point
            .values
            .iter()
            .map(|(k, v, _)| (k.clone(), v.clone()))
            .collect();
        let identity = identity(&config);
        let label = run_label(&swept, config.method.name());
        Self {
            dir_name: dir_name(&label, &identity),
            base_key: ccll_core::run::base_key(&config),
            label,
            config,
            identity,
            swept,
        }
    }

    /// The swept values as a JSON object, as stored with the run.
    pub fn swept_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        for (k, v) in &self.swept {
            m.insert(
                k.clone(),
                serde_json::to_value(v).unwrap_or(serde_json::Value::Null),
            );
        }
        serde_json::Value::Object(m)
    }
}

/// A study expanded under a profile and overrides.
#[derive(Debug, Clone)]
pub struct Expanded {
    pub study: String,
    pub profile: Option<String>,
    pub description: Option<String>,
    /// The defaults after the profile and the overrides.
    pub defaults: Value,
    pub axes: Vec<Axis>,
    pub exclude: Vec<Rule>,
    pub include: Vec<Rule>,
    pub overrides: Vec<String>,
    pub runs: Vec<RunSpec>,
    /// The study's claims (the same under every profile).
    pub claims: Vec<ccll_report::claims::Claim>,
    /// Things worth saying that are not errors (a rule that matches nothing, duplicates).
    pub notes: Vec<String>,
}

impl Expanded {
    /// The expanded spec as stored with the sweep.
    pub fn spec_json(&self) -> serde_json::Value {
        let grid: serde_json::Map<String, serde_json::Value> = self
            .axes
            .iter()
            .map(|a| {
                (
                    a.key.clone(),
                    serde_json::to_value(&a.values).unwrap_or_default(),
                )
            })
            .collect();
        let rules = |rs: &[Rule]| -> serde_json::Value {
            rs.iter()
                .map(|r| {
                    r.entries
                        .iter()
                        .map(|(k, v)| (k.clone(), serde_json::to_value(v).unwrap_or_default()))
                        .collect::<serde_json::Map<_, _>>()
                })
                .collect::<Vec<_>>()
                .into()
        };
        serde_json::json!({
            "study": self.study,
            "profile": self.profile,
            "description": self.description,
            "defaults": serde_json::to_value(&self.defaults).unwrap_or_default(),
            "grid": grid,
            "exclude": rules(&self.exclude),
            "include": rules(&self.include),
            "overrides": self.overrides,
            "claims": serde_json::to_value(&self.claims).unwrap_or_default(),
            "runs": self.runs.len(),
        })
    }
}

/// Where a swept value came from.
#[derive(Debug, Clone)]
struct Point {
    values: Vec<(String, Value, Source)>,
}

/// Most grid points a study may expand to unless `--max-runs` says otherwise: a dry run of a
/// million points took 79 s and 6.6 GB before this guard.
pub const DEFAULT_MAX_RUNS: usize = 10_000;

/// [`expand_limited`] with [`DEFAULT_MAX_RUNS`].
pub fn expand(
    study: &Study,
    profile: Option<&str>,
    overrides: &[String],
) -> Result<Expanded, Problems> {
    expand_limited(study, profile, overrides, DEFAULT_MAX_RUNS)
}

/// Expands `study` under `profile` with `-o KEY=VALUE` overrides, validating every run: the
/// profile merged in, the overrides applied, the grid's size checked against `max_runs`, the
/// grid's product, the exclude and include rules, every point checked as a run config, then
/// the claims checked against the runs.
pub fn expand_limited(
    study: &Study,
    profile: Option<&str>,
    overrides: &[String],
    max_runs: usize,
) -> Result<Expanded, Problems> {
    let prof = match profile {
        Some(name) => Some(study.profile(name).map_err(|e| Problems(vec![e]))?),
        None => None,
    };
    let mut problems = Vec::new();
    let mut layers = Layers::of(study, prof);
    let default_overrides = layers.apply_overrides(overrides, &mut problems);
    let points = layers.point_count();
    if points > max_runs {
        return Err(Problems(vec![Problem {
            place: study.file.clone(),
            line: None,
            message: format!(
                "the study expands to {points} grid points, more than the limit of {max_runs}; \
                 narrow the grid (or a profile, or -o KEY=VALUE), or raise the limit with --max-runs"
            ),
        }]));
    }
    let (merged_points, mut notes) = layers.points(study, &mut problems);
    let locator = Locator {
        study,
        profile: prof.map(|p| (p.name.as_str(), p.defaults.as_ref())),
        default_overrides: &default_overrides,
    };
    let runs = check_runs(&locator, merged_points, &mut problems, &mut notes);
    if problems.is_empty() && runs.is_empty() {
        problems.push(Problem {
            place: study.file.clone(),
            line: None,
            message: "the study expands to no runs (every grid point is excluded)".into(),
        });
    }
    if problems.is_empty() {
        let (claim_errors, claim_notes) = claim_problems(study, &runs);
        problems.extend(claim_errors);
        notes.extend(claim_notes);
    }
    if !problems.is_empty() {
        return Err(Problems(problems));
    }
    Ok(Expanded {
        study: study.name.clone(),
        profile: profile.map(str::to_string),
        description: prof
            .and_then(|p| p.description.clone())
            .or_else(|| study.description.clone()),
        defaults: layers.defaults,
        axes: layers.axes,
        exclude: layers.exclude,
        include: layers.include,
        overrides: overrides.to_vec(),
        runs,
        claims: study.claims.iter().map(|c| c.claim.clone()).collect(),
        notes,
    })
}

/// The study's defaults, grid and rules with the profile merged in.
struct Layers {
    defaults: Value,
    axes: Vec<Axis>,
    exclude: Vec<Rule>,
    include: Vec<Rule>,
}

impl Layers {
    /// The study's parts, the profile's defaults merged into its defaults, its axes replacing
    /// or extending the grid, its rules (where given) replacing the study's.
    fn of(study: &Study, profile: Option<&crate::study::Profile>) -> Self {
        let mut l = Layers {
            defaults: study.defaults.clone(),
            axes: study.grid.clone(),
            exclude: study.exclude.clone(),
            include: study.include.clone(),
        };
        let Some(p) = profile else {
            return l;
        };
        if let Some(d) = &p.defaults {
            deep_merge(&mut l.defaults, d);
        }
        for axis in &p.grid {
            match l.axes.iter_mut().find(|a| a.key == axis.key) {
                Some(a) => *a = axis.clone(),
                None => l.axes.push(axis.clone()),
            }
        }
        if let Some(r) = &p.exclude {
            l.exclude = r.clone();
        }
        if let Some(r) = &p.include {
            l.include = r.clone();
        }
        l
    }

    /// Points before exclusion: the grid's product plus the include rules (saturating).
    fn point_count(&self) -> usize {
        self.axes
            .iter()
            .fold(1usize, |n, a| n.saturating_mul(a.values.len()))
            .saturating_add(self.include.len())
    }

    /// Applies `-o KEY=VALUE` overrides: a grid key is pinned to the one value; a key below a
    /// grid key is set in each mapping value of that axis (and of include rules); anything
    /// else goes into defaults. Returns the defaults it set, with the override that set them.
    fn apply_overrides(
        &mut self,
        overrides: &[String],
        problems: &mut Vec<Problem>,
    ) -> Vec<(String, String)> {
        let mut default_overrides = Vec::new();
        for kv in overrides {
            match parse_override(kv) {
                Ok((key, value)) => {
                    if let Some(key) = self.apply_override(kv, key, value, problems) {
                        default_overrides.push((key, kv.clone()));
                    }
                }
                Err(p) => problems.push(p),
            }
        }
        default_overrides
    }

    /// One override; returns the key when it was set in the defaults.
    fn apply_override(
        &mut self,
        kv: &str,
        key: &str,
        value: Value,
        problems: &mut Vec<Problem>,
    ) -> Option<String> {
        if let Some(axis) = self.axes.iter_mut().find(|a| a.key == key) {
            axis.values = vec![value];
            axis.source = Source::Override(kv.to_string());
            return None;
        }
        let mut below_axis = false;
        for axis in self.axes.iter_mut() {
            if let Some(rest) = key.strip_prefix(&format!("{}.", axis.key)) {
                below_axis = true;
                for v in axis.values.iter_mut().filter(|v| v.is_mapping()) {
                    let _ = set_path(v, rest, value.clone());
                }
            }
        }
        for rule in self.include.iter_mut() {
            for (k, v) in rule.entries.iter_mut() {
                if let Some(rest) = key.strip_prefix(&format!("{k}.")) {
                    if v.is_mapping() {
                        let _ = set_path(v, rest, value.clone());
                    }
                }
            }
        }
        if below_axis && get_path(&self.defaults, key).is_none() {
            return None;
        }
        match set_path(&mut self.defaults, key, value) {
            Ok(()) => Some(key.to_string()),
            Err(m) => {
                problems.push(override_problem(kv, m));
                None
            }
        }
    }

    /// The grid's cartesian product without the excluded points, then the include points,
    /// each with the defaults merged in; notes for exclude rules that match nothing.
    fn points(
        &self,
        study: &Study,
        problems: &mut Vec<Problem>,
    ) -> (Vec<(Point, Value)>, Vec<String>) {
        let mut notes = Vec::new();
        let mut merged_points = Vec::new();
        let mut rule_hits = vec![0usize; self.exclude.len()];
        for p in grid_product(&self.axes) {
            let merged = match merge_point(&self.defaults, &p) {
                Ok(m) => m,
                Err((src, msg)) => {
                    problems.push(study.problem_at(&src, msg));
                    continue;
                }
            };
            let mut dropped = false;
            for (i, rule) in self.exclude.iter().enumerate() {
                if rule
                    .entries
                    .iter()
                    .all(|(k, v)| get_path(&merged, k) == Some(v))
                {
                    rule_hits[i] += 1;
                    dropped = true;
                }
            }
            if !dropped {
                merged_points.push((p, merged));
            }
        }
        for (rule, _) in self
            .exclude
            .iter()
            .zip(&rule_hits)
            .filter(|(_, h)| **h == 0)
        {
            let pr = study.problem_at(&Source::Yaml(rule.at.clone()), "");
            notes.push(format!(
                "{}: this exclude rule matches no run of the grid",
                pr.place
            ));
        }
        for rule in &self.include {
            let p = Point {
                values: rule
                    .entries
                    .iter()
                    .map(|(k, v)| {
                        let mut at = rule.at.clone();
                        at.push(Seg::key(k.clone()));
                        (k.clone(), v.clone(), Source::Yaml(at))
                    })
                    .collect(),
            };
            match merge_point(&self.defaults, &p) {
                Ok(m) => merged_points.push((p, m)),
                Err((src, msg)) => problems.push(study.problem_at(&src, msg)),
            }
        }
        (merged_points, notes)
    }
}

/// `KEY=VALUE` as a dotted key and a YAML value.
fn parse_override(kv: &str) -> Result<(&str, Value), Problem> {
    let Some((key, text)) = kv.split_once('=') else {
        return Err(override_problem(
            kv,
            "expected KEY=VALUE, e.g. train.epochs=1",
        ));
    };
    let key = key.trim();
    if !valid_dotted_key(key) {
        return Err(override_problem(
            kv,
            format!("`{key}` is not a dotted config key like train.epochs"),
        ));
    }
    let value = serde_yaml::from_str(text)
        .map_err(|e| override_problem(kv, format!("the value is not YAML: {e}")))?;
    Ok((key, value))
}

/// Every combination of the axes' values, the last axis turning fastest.
fn grid_product(axes: &[Axis]) -> Vec<Point> {
    let total: usize = axes.iter().map(|a| a.values.len()).product();
    (0..total)
        .map(|n| {
            let mut rest = n;
            let mut idx = vec![0usize; axes.len()];
            for d in (0..axes.len()).rev() {
                idx[d] = rest % axes[d].values.len();
                rest /= axes[d].values.len();
            }
            Point {
                values: axes
                    .iter()
                    .zip(&idx)
                    .map(|(a, &i)| (a.key.clone(), a.values[i].clone(), a.source.clone()))
                    .collect(),
            }
        })
        .collect()
}

/// Every point as a checked run config: problems collected across all runs (each reported
/// once, with the number of runs it affects), duplicates of a run dropped with a note, and
/// labels made unique.
fn check_runs(
    locator: &Locator,
    merged_points: Vec<(Point, Value)>,
    problems: &mut Vec<Problem>,
    notes: &mut Vec<String>,
) -> Vec<RunSpec> {
    let mut checker = Checker::default();
    let mut runs: Vec<RunSpec> = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut found = ProblemCounter::default();
    for (point, merged) in merged_points {
        let cfg = match checker.check(&merged) {
            Ok(cfg) => cfg,
            Err(all) => {
                for (key, message) in all {
                    let src = locator.source_of(&key, &point);
                    found.add(locator.study.problem_at(&src, message));
                }
                continue;
            }
        };
        let run = RunSpec::new(cfg, &point);
        if let Some(&first) = seen.get(&run.identity.config_hash) {
            notes.push(format!(
                "`{}` is the same run as `{}` (a method ignores a swept key, or a rule repeats a grid point); it runs once",
                run.label, runs[first].label
            ));
            continue;
        }
        seen.insert(run.identity.config_hash.clone(), runs.len());
        runs.push(run);
    }
    disambiguate_labels(&mut runs);
    problems.extend(found.into_problems());
    runs
}

/// Two runs with one label would be hard to tell apart in tables: add the hash.
fn disambiguate_labels(runs: &mut [RunSpec]) {
    let mut label_count: HashMap<String, usize> = HashMap::new();
    for r in runs.iter() {
        *label_count.entry(r.label.clone()).or_default() += 1;
    }
    for r in runs.iter_mut() {
        if label_count[&r.label] > 1 {
            r.label = format!("{} #{}", r.label, r.identity.short());
        }
    }
}

/// Problems in the order first found, each once, counting the runs that hit it.
#[derive(Default)]
struct ProblemCounter {
    order: Vec<Problem>,
    count: BTreeMap<(Option<usize>, String, String), usize>,
}

impl ProblemCounter {
    fn add(&mut self, pr: Problem) {
        let n = self
            .count
            .entry((pr.line, pr.place.clone(), pr.message.clone()))
            .or_insert(0);
        if *n == 0 {
            self.order.push(pr);
        }
        *n += 1;
    }

    fn into_problems(self) -> Vec<Problem> {
        let count = self.count;
        self.order
            .into_iter()
            .map(
                |pr| match count.get(&(pr.line, pr.place.clone(), pr.message.clone())) {
                    Some(&n) if n > 1 => Problem {
                        message: format!("{} ({n} runs)", pr.message),
                        ..pr
                    },
                    _ => pr,
                },
            )
            .collect()
    }
}

/// A claim must name keys some run has (else: a problem, a mistake in the study file). Claims
/// hold for every profile, and a profile may change the grid so that a side selects no run:
/// that is a note, and the claim's check is inconclusive under that profile.
fn claim_problems(study: &Study, runs: &[RunSpec]) -> (Vec<Problem>, Vec<String>) {
    let configs: Vec<serde_json::Value> = runs
        .iter()
        .map(|r| serde_json::to_value(&r.config).unwrap_or_default())
        .collect();
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    for sc in &study.claims {
        let c = &sc.claim;
        let here = Source::Yaml(sc.at.clone());
        let unknown: Vec<&str> = c
            .keys()
            .into_iter()
            .filter(|k| {
                configs
                    .iter()
                    .all(|cfg| ccll_report::claims::lookup(cfg, k).is_null())
            })
            .collect();
        if !unknown.is_empty() {
            problems.push(study.problem_at(
                &here,
                format!(
                    "claim `{}`: no run of this study has a value for {}",
                    c.name,
                    unknown.join(", ")
                ),
            ));
            continue;
        }
        for (side, sel) in c.selectors() {
            let mut with_filter = sel.clone();
            with_filter.extend(c.filter.clone());
            if !configs
                .iter()
                .any(|cfg| ccll_report::claims::matches(cfg, &with_filter))
            {
                notes.push(format!(
                    "claim `{}`: `{side}` matches none of the {} runs (its check will be inconclusive)",
                    c.name,
                    runs.len()
                ));
            }
        }
    }
    (problems, notes)
}

fn override_problem(kv: &str, message: impl Into<String>) -> Problem {
    Problem {
        place: format!("-o {kv}"),
        line: None,
        message: message.into(),
    }
}

fn merge_point(defaults: &Value, p: &Point) -> Result<Value, (Source, String)> {
    let mut merged = defaults.clone();
    for (k, v, src) in &p.values {
        set_path(&mut merged, k, v.clone()).map_err(|m| (src.clone(), m))?;
    }
    Ok(merged)
}

/// Finds where a config key of a run got its value.
struct Locator<'a> {
    study: &'a Study,
    profile: Option<(&'a str, Option<&'a Value>)>,
    default_overrides: &'a [(String, String)],
}

impl Locator<'_> {
    fn source_of(&self, key: &str, point: &Point) -> Source {
        let related = |k: &str| {
            key.is_empty()
                || key == k
                || key.starts_with(&format!("{k}."))
                || k.starts_with(&format!("{key}."))
        };
        for (k, _, src) in &point.values {
            if !key.is_empty() && related(k) {
                return src.clone();
            }
        }
        for (k, kv) in self.default_overrides {
            if !key.is_empty() && related(k) {
                return Source::Override(kv.clone());
            }
        }
        if let Some((name, Some(d))) = self.profile {
            if let Some(prefix) = longest_present(d, key) {
                let base = [Seg::key("profiles"), Seg::key(name), Seg::key("defaults")];
                return Source::Yaml(with_dotted(&base, &prefix));
            }
        }
        match longest_present(&self.study.defaults, key) {
            Some(prefix) => Source::Yaml(with_dotted(&[Seg::key("defaults")], &prefix)),
            None => Source::Yaml(vec![Seg::key("defaults")]),
        }
    }
}

/// The longest prefix of the dotted `key` present in `v`.
fn longest_present(v: &Value, key: &str) -> Option<String> {
    if key.is_empty() {
        return None;
    }
    let parts: Vec<&str> = key.split('.').collect();
    (1..=parts.len())
        .rev()
        .map(|n| parts[..n].join("."))
        .find(|p| get_path(v, p).is_some())
}

/// Turns a merged YAML value into a checked run config, or (key, message).
#[derive(Default)]
struct Checker {
    built: HashMap<String, Result<(), (String, String)>>,
}

impl Checker {
    /// The run config, or every problem found in it as (key, message).
    fn check(&mut self, merged: &Value) -> Result<RunConfig, Vec<(String, String)>> {
        if let Some(k) = ccll_core::config::placement_key_problem(merged) {
            return Err(vec![(k.key.clone(), k.to_string())]);
        }
        let cfg: RunConfig = serde_path_to_error::deserialize(merged.clone()).map_err(|e| {
            // serde stops at the method section as a whole; the method table names the key.
            if let Some(k) = ccll_core::config::method_problem(merged) {
                return vec![(k.key.clone(), k.to_string())];
            }
            let path = e.path().to_string();
            let key = if path == "." { String::new() } else { path };
            let message = crate::study::strip_location(&e.inner().to_string());
            let message = if key.is_empty() {
                message
            } else {
                format!("{key}: {message}")
            };
            vec![(key, message)]
        })?;
        let problems = cfg.problems();
        if !problems.is_empty() {
            return Err(problems
                .into_iter()
                .map(|e| (e.key.clone(), e.to_string()))
                .collect());
        }
        self.check_data_and_model(cfg).map_err(|p| vec![p])
    }

    fn check_data_and_model(&mut self, cfg: RunConfig) -> Result<RunConfig, (String, String)> {
        let shape = ccll_data::benchmark_image_shape(&cfg.benchmark)
            .map_err(|e| ("benchmark".to_string(), format!("benchmark: {e}")))?;
        if let BaseSource::Benchmark(src) = &cfg.base.source {
            ccll_data::check_compatible_configs(src, &cfg.benchmark)
                .map_err(|e| ("base.source".to_string(), format!("base.source: {e}")))?;
        }
        // Build the model once per distinct (model, method, image shape): this is where an
        // alpha or beta that does not divide a layer's channels is caught.
        let key = serde_json::json!([cfg.model, cfg.method, shape]).to_string();
        if let Some(r) = self.built.get(&key) {
            return r.clone().map(|()| cfg);
        }
        let r = build_check(&cfg, shape);
        self.built.insert(key, r.clone());
        r.map(|()| cfg)
    }
}

fn build_check(cfg: &RunConfig, shape: [i64; 3]) -> Result<(), (String, String)> {
    let ctx = cfg.strategy_context(tch::Device::Cpu, shape, vec![2, 2]);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        tch::no_grad(|| build_strategy(&ctx).map(|_| ()))
    }));
    match outcome {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err((e.key.clone(), e.to_string())),
        Err(_) => Err((
            "model".to_string(),
            "model: building this model failed (see the message above)".to_string(),
        )),
    }
}

/// Sets a dotted key in a YAML mapping, creating intermediate mappings.
pub fn set_path(root: &mut Value, key: &str, value: Value) -> Result<(), String> {
    let parts: Vec<&str> = key.split('.').collect();
    let mut cur = root;
    for (i, part) in parts.iter().enumerate() {
        if cur.is_null() {
            *cur = Value::Mapping(Mapping::new());
        }
        let Value::Mapping(m) = cur else {
            return Err(format!(
                "cannot set `{key}`: `{}` is {}, not a mapping",
                parts[..i].join("."),
                describe(cur)
            ));
        };
        if i + 1 == parts.len() {
            m.insert(Value::from(*part), value);
            return Ok(());
        }
        cur = m
            .entry(Value::from(*part))
            .or_insert(Value::Mapping(Mapping::new()));
    }
    Ok(())
}

/// The value at a dotted key, if present.
pub fn get_path<'v>(root: &'v Value, key: &str) -> Option<&'v Value> {
    let mut cur = root;
    for part in key.split('.') {
        cur = cur.as_mapping()?.get(part)?;
    }
    Some(cur)
}

/// Merges `over` into `base`: mappings key by key, anything else replaced.
pub fn deep_merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Mapping(b), Value::Mapping(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(existing) if existing.is_mapping() && v.is_mapping() => {
                        deep_merge(existing, v)
                    }
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => format!("`{s}`"),
        Value::Sequence(_) => "a list".into(),
        other => format!(
            "`{}`",
            serde_yaml::to_string(other).unwrap_or_default().trim()
        ),
    }
}

/// Distinct base keys in first-use order with the runs sharing each.
pub fn base_groups(runs: &[RunSpec]) -> Vec<(String, Vec<usize>)> {
    let mut order: Vec<(String, Vec<usize>)> = Vec::new();
    let mut at: HashMap<&str, usize> = HashMap::new();
    for (i, r) in runs.iter().enumerate() {
        if let Some(k) = &r.base_key {
            match at.get(k.as_str()) {
                Some(&j) => order[j].1.push(i),
                None => {
                    at.insert(k, order.len());
                    order.push((k.clone(), vec![i]));
                }
            }
        }
    }
    order
}

/// Keys swept with more than one value, for display.
pub fn varying_keys(runs: &[RunSpec]) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    let mut values: HashMap<&str, HashSet<String>> = HashMap::new();
    for r in runs {
        for (k, v) in &r.swept {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
            values
                .entry(k)
                .or_default()
                .insert(serde_json::to_string(v).unwrap_or_default());
        }
    }
    keys.into_iter()
        .filter(|k| values.get(k.as_str()).is_some_and(|s| s.len() > 1))
        .collect()
}
