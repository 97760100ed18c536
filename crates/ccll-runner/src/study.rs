//! A study file (`experiments/NAME.yaml`): a name, the defaults of a run config, a grid of
//! values to sweep, exclude/include rules and named profiles. Parsing checks the shape of the
//! file and collects every problem with its file and line; whether the expanded runs make
//! sense is checked by [`crate::grid`].
//!
//! ```yaml
//! name: ablation_alpha
//! description: one line
//! defaults: {benchmark: {...}, model: {...}, method: {...}, train: {...}, base: {...}}
//! grid: {method.alpha: [1, 2, 4, 8, 16], train.seed: [0, 1, 2]}
//! exclude: [{method.name: head_only, method.alpha: 2}]
//! include: [{method.name: finetune}]
//! profiles:
//!   cpu: {description: ..., defaults: {...}, grid: {...}}
//! claims:   # the paper's findings, checked by `ccll-report check` (see ccll_report::claims)
//!   - {name: "CCLL beats scratch calibration", better: {method.name: ccll}, than: {method.name: ccll_sc}}
//! ```

use ccll_core::yaml_locate::{locate, locate_nearest, Seg, YamlPath};
use serde_yaml::{Mapping, Value};
use std::fmt;
use std::path::Path;

const TOP_KEYS: [&str; 8] = [
    "name",
    "description",
    "defaults",
    "grid",
    "exclude",
    "include",
    "profiles",
    "claims",
];
const PROFILE_KEYS: [&str; 5] = ["description", "defaults", "grid", "exclude", "include"];

/// Where a value or a problem comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A place in the study file.
    Yaml(YamlPath),
    /// A command-line override, as typed (`train.epochs=1`).
    Override(String),
}

/// One problem, with where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// `file:line`, `file`, or `-o KEY=VALUE`.
    pub place: String,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.place, self.message)
    }
}

/// Every problem found in a study, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        writeln!(
            f,
            "the study has {n} problem{}:",
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.0 {
            writeln!(f, "  {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

/// A parsed study: shape checked, values not yet validated as run configs.
#[derive(Debug, Clone)]
pub struct Study {
    /// The file name used in messages.
    pub file: String,
    /// The file's text, for line lookups.
    pub text: String,
    pub name: String,
    pub description: Option<String>,
    /// The defaults of every run: a (partial) run config as a YAML mapping.
    pub defaults: Value,
    pub grid: Vec<Axis>,
    pub exclude: Vec<Rule>,
    pub include: Vec<Rule>,
    pub profiles: Vec<Profile>,
    /// The findings the study expects, with where each is written.
    pub claims: Vec<StudyClaim>,
}

/// A claim of the study file and its place.
#[derive(Debug, Clone, PartialEq)]
pub struct StudyClaim {
    pub claim: ccll_report::claims::Claim,
    pub at: YamlPath,
}

/// One swept key and its values.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// Dotted config key, e.g. `method.alpha`.
    pub key: String,
    pub values: Vec<Value>,
    pub source: Source,
}

/// An exclude or include rule: dotted keys and values.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub entries: Vec<(String, Value)>,
    pub at: YamlPath,
}

#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    pub description: Option<String>,
    /// Deep-merged over the study's defaults.
    pub defaults: Option<Value>,
    /// Each key replaces the study's axis of that key (or adds one).
    pub grid: Vec<Axis>,
    /// Replace the study's rules when given.
    pub exclude: Option<Vec<Rule>>,
    pub include: Option<Vec<Rule>>,
}

impl Study {
    /// Reads and parses a study file.
    pub fn load(path: &Path) -> Result<Study, Problems> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Problems(vec![Problem {
                place: file.clone(),
                line: None,
                message: format!("cannot read the study: {e}"),
            }])
        })?;
        Study::parse(&text, &file)
    }

    /// Parses study text; `file` names it in messages.
    pub fn parse(text: &str, file: &str) -> Result<Study, Problems> {
        let mut p = Parser {
            text,
            file,
            problems: Vec::new(),
        };
        let study = p.study();
        match study {
            Some(s) if p.problems.is_empty() => Ok(s),
            _ => Err(Problems(p.problems)),
        }
    }

    /// A problem at a place of this study.
    pub fn problem_at(&self, source: &Source, message: impl Into<String>) -> Problem {
        match source {
            Source::Yaml(path) => {
                let line = locate_nearest(&self.text, path, 1);
                Problem {
                    place: place(&self.file, line),
                    line,
                    message: message.into(),
                }
            }
            Source::Override(kv) => Problem {
                place: format!("-o {kv}"),
                line: None,
                message: message.into(),
            },
        }
    }

    /// The profile called `name`, or a problem listing the profiles there are.
    pub fn profile(&self, name: &str) -> Result<&Profile, Problem> {
        self.profiles
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| {
                let known: Vec<&str> = self.profiles.iter().map(|p| p.name.as_str()).collect();
                Problem {
                    place: self.file.clone(),
                    line: None,
                    message: format!(
                        "no profile `{name}`; {}",
                        if known.is_empty() {
                            "this study has no profiles".to_string()
                        } else {
                            format!("its profiles: {}", known.join(", "))
                        }
                    ),
                }
            })
    }
}

pub(crate) fn place(file: &str, line: Option<usize>) -> String {
    match line {
        Some(l) => format!("{file}:{l}"),
        None => file.to_string(),
    }
}

/// Whether `s` is usable as a sweep or profile name (it becomes part of paths and Slurm job
/// names).
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Whether `s` is a dotted key: identifiers joined by dots.
pub fn valid_dotted_key(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|part| {
            !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

struct Parser<'a> {
    text: &'a str,
    file: &'a str,
    problems: Vec<Problem>,
}

impl Parser<'_> {
    fn problem(&mut self, path: &[Seg], message: impl Into<String>) {
        let line = locate_nearest(self.text, path, 1).or_else(|| locate(self.text, &[]));
        self.problems.push(Problem {
            place: place(self.file, line),
            line,
            message: message.into(),
        });
    }

    /// The top-level keys in file order, every problem collected with its line.
    ///
    /// Kept whole (about 85 lines): one arm per top-level key of a study file, so the
    /// accepted keys are listed in one place.
    fn study(&mut self) -> Option<Study> {
        let doc: Value = match serde_yaml::from_str(self.text) {
            Ok(v) => v,
            Err(e) => {
                let line = e.location().map(|l| l.line());
                self.problems.push(Problem {
                    place: place(self.file, line),
                    line,
                    message: format!("not valid YAML: {}", strip_location(&e.to_string())),
                });
                return None;
            }
        };
        let Value::Mapping(top) = doc else {
            self.problem(
                &[],
                "a study is a mapping with keys name, defaults, grid, ...",
            );
            return None;
        };
        for (k, _) in &top {
            let key = key_text(k);
            if !TOP_KEYS.contains(&key.as_str()) {
                self.problem(
                    &[Seg::key(key.clone())],
                    format!("unknown key `{key}`; a study has: {}", TOP_KEYS.join(", ")),
                );
            }
        }
        let name = match top.get("name") {
            Some(Value::String(s)) if valid_name(s) => s.clone(),
            Some(Value::String(s)) => {
                self.problem(
                    &[Seg::key("name")],
                    format!("name `{s}` must be letters, digits, `_`, `-` or `.` (at most 64, starting with a letter or digit)"),
                );
                String::new()
            }
            Some(_) => {
                self.problem(&[Seg::key("name")], "name must be a string");
                String::new()
            }
            None => {
                self.problem(&[], "missing `name`");
                String::new()
            }
        };
        let description = self.description(top.get("description"), &[Seg::key("description")]);
        let defaults = match top.get("defaults") {
            Some(v @ Value::Mapping(_)) => v.clone(),
            Some(_) => {
                self.problem(
                    &[Seg::key("defaults")],
                    "defaults must be a mapping (a run config: benchmark, model, method, train, base)",
                );
                Value::Mapping(Mapping::new())
            }
            None => {
                self.problem(
                    &[],
                    "missing `defaults` (the run config every run starts from)",
                );
                Value::Mapping(Mapping::new())
            }
        };
        let grid = self.grid(top.get("grid"), vec![Seg::key("grid")]);
        let exclude = self
            .rules(top.get("exclude"), vec![Seg::key("exclude")])
            .unwrap_or_default();
        let include = self
            .rules(top.get("include"), vec![Seg::key("include")])
            .unwrap_or_default();
        let profiles = self.profiles(top.get("profiles"));
        let claims = self.claims(top.get("claims"));
        Some(Study {
            file: self.file.to_string(),
            text: self.text.to_string(),
            name,
            description,
            defaults,
            grid,
            exclude,
            include,
            profiles,
            claims,
        })
    }

    fn claims(&mut self, v: Option<&Value>) -> Vec<StudyClaim> {
        let list = match v {
            None | Some(Value::Null) => return Vec::new(),
            Some(Value::Sequence(s)) => s,
            Some(_) => {
                self.problem(
                    &[Seg::key("claims")],
                    "claims must be a list, e.g. [{name: ..., better: {method.name: ccll}, than: {method.name: ccll_sc}}]",
                );
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for (i, c) in list.iter().enumerate() {
            let at = vec![Seg::key("claims"), Seg::Index(i)];
            let claim: ccll_report::claims::Claim = match serde_yaml::from_value(c.clone()) {
                Ok(c) => c,
                Err(e) => {
                    self.problem(
                        &at,
                        format!("claim {}: {}", i + 1, strip_location(&e.to_string())),
                    );
                    continue;
                }
            };
            if let Err(e) = claim.kind() {
                self.problem(&at, format!("claim `{}`: {e}", claim.name));
                continue;
            }
            for key in claim.keys() {
                if !valid_dotted_key(key) {
                    self.problem(
                        &at,
                        format!(
                            "claim `{}`: `{key}` is not a dotted config key like method.alpha",
                            claim.name
                        ),
                    );
                }
            }
            out.push(StudyClaim { claim, at });
        }
        out
    }

    fn description(&mut self, v: Option<&Value>, at: &[Seg]) -> Option<String> {
        match v {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                self.problem(at, "description must be a string");
                None
            }
        }
    }

    fn grid(&mut self, v: Option<&Value>, at: YamlPath) -> Vec<Axis> {
        let map = match v {
            None | Some(Value::Null) => return Vec::new(),
            Some(Value::Mapping(m)) => m,
            Some(_) => {
                self.problem(
                    &at,
                    "grid must be a mapping of config keys to lists of values, e.g. {method.alpha: [1, 2, 4]}",
                );
                return Vec::new();
            }
        };
        let mut axes = Vec::new();
        for (k, values) in map {
            let key = key_text(k);
            let mut path = at.clone();
            path.push(Seg::key(key.clone()));
            if !valid_dotted_key(&key) {
                self.problem(
                    &path,
                    format!("grid key `{key}` is not a dotted config key like method.alpha"),
                );
                continue;
            }
            match values {
                Value::Sequence(vs) if !vs.is_empty() => axes.push(Axis {
                    key,
                    values: vs.clone(),
                    source: Source::Yaml(path),
                }),
                Value::Sequence(_) => self.problem(
                    &path,
                    format!("grid key `{key}` has no values; give at least one"),
                ),
                _ => self.problem(
                    &path,
                    format!("grid key `{key}` must have a list of values, e.g. [1, 2]"),
                ),
            }
        }
        axes
    }

    fn rules(&mut self, v: Option<&Value>, at: YamlPath) -> Option<Vec<Rule>> {
        let list = match v {
            None | Some(Value::Null) => return None,
            Some(Value::Sequence(s)) => s,
            Some(_) => {
                self.problem(
                    &at,
                    "must be a list of rules, each a mapping of config keys to values",
                );
                return Some(Vec::new());
            }
        };
        let mut rules = Vec::new();
        for (i, r) in list.iter().enumerate() {
            let mut path = at.clone();
            path.push(Seg::Index(i));
            let Value::Mapping(m) = r else {
                self.problem(
                    &path,
                    "a rule must be a mapping of config keys to values, e.g. {method.name: ccll}",
                );
                continue;
            };
            if m.is_empty() {
                self.problem(&path, "an empty rule matches every run; remove it");
                continue;
            }
            let mut entries = Vec::new();
            for (k, value) in m {
                let key = key_text(k);
                if !valid_dotted_key(&key) {
                    let mut kp = path.clone();
                    kp.push(Seg::key(key.clone()));
                    self.problem(
                        &kp,
                        format!("`{key}` is not a dotted config key like method.alpha"),
                    );
                    continue;
                }
                entries.push((key, value.clone()));
            }
            rules.push(Rule { entries, at: path });
        }
        Some(rules)
    }

    fn profiles(&mut self, v: Option<&Value>) -> Vec<Profile> {
        let map = match v {
            None | Some(Value::Null) => return Vec::new(),
            Some(Value::Mapping(m)) => m,
            Some(_) => {
                self.problem(
                    &[Seg::key("profiles")],
                    "profiles must be a mapping of profile names to {description, defaults, grid}",
                );
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for (k, body) in map {
            let name = key_text(k);
            let at = vec![Seg::key("profiles"), Seg::key(name.clone())];
            if !valid_name(&name) {
                self.problem(
                    &at,
                    format!("profile name `{name}` must be letters, digits, `_`, `-` or `.`"),
                );
                continue;
            }
            let Value::Mapping(m) = body else {
                self.problem(
                    &at,
                    "a profile is a mapping with keys description, defaults, grid, exclude, include",
                );
                continue;
            };
            for (pk, _) in m {
                let pk = key_text(pk);
                if !PROFILE_KEYS.contains(&pk.as_str()) {
                    let mut kp = at.clone();
                    kp.push(Seg::key(pk.clone()));
                    self.problem(
                        &kp,
                        format!(
                            "unknown key `{pk}` in profile `{name}`; a profile has: {}",
                            PROFILE_KEYS.join(", ")
                        ),
                    );
                }
            }
            let sub = |k: &str| {
                let mut p = at.clone();
                p.push(Seg::key(k));
                p
            };
            let description = self.description(m.get("description"), &sub("description"));
            let defaults = match m.get("defaults") {
                None | Some(Value::Null) => None,
                Some(v @ Value::Mapping(_)) => Some(v.clone()),
                Some(_) => {
                    self.problem(&sub("defaults"), "profile defaults must be a mapping");
                    None
                }
            };
            let grid = self.grid(m.get("grid"), sub("grid"));
            let exclude = self.rules(m.get("exclude"), sub("exclude"));
            let include = self.rules(m.get("include"), sub("include"));
            out.push(Profile {
                name,
                description,
                defaults,
                grid,
                exclude,
                include,
            });
        }
        out
    }
}

pub(crate) use ccll_core::config::{key_text, strip_location};

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
name: demo
description: a demo
defaults:
  benchmark: {name: synthetic}
  model: {arch: convnet, width: 8}
  method: {name: ccll}
grid:
  method.alpha: [1, 2]
  train.seed: [0, 1, 2]
exclude:
  - {method.alpha: 2, train.seed: 2}
include:
  - {method.name: head_only}
profiles:
  cpu:
    description: small
    defaults: {train: {epochs: 1}}
    grid: {train.seed: [0]}
";

    #[test]
    fn a_good_study_parses() {
        let s = Study::parse(GOOD, "demo.yaml").unwrap();
        assert_eq!(s.name, "demo");
        assert_eq!(s.grid.len(), 2);
        assert_eq!(s.grid[1].key, "train.seed");
        assert_eq!(s.grid[1].values.len(), 3);
        assert_eq!(s.exclude.len(), 1);
        assert_eq!(s.include[0].entries[0].0, "method.name");
        assert_eq!(s.profiles[0].name, "cpu");
        assert_eq!(s.profiles[0].grid[0].values.len(), 1);
        assert!(s.profile("gpu").is_err());
    }

    #[test]
    fn every_problem_is_reported_with_its_line() {
        let text = GOOD
            .replace("description: a demo", "descripton: a demo")
            .replace("train.seed: [0, 1, 2]", "train.seed: []")
            .replace("method.alpha: [1, 2]", "method.alpha: 4")
            .replace("    description: small", "    descr: small");
        let e = Study::parse(&text, "demo.yaml").unwrap_err();
        let lines: Vec<(Option<usize>, &str)> =
            e.0.iter().map(|p| (p.line, p.message.as_str())).collect();
        assert_eq!(e.0.len(), 4, "{e}");
        assert_eq!(lines[0].0, Some(2), "{e}");
        assert!(lines[0].1.contains("unknown key `descripton`"), "{e}");
        assert_eq!(lines[1].0, Some(8), "{e}");
        assert!(lines[1].1.contains("list of values"), "{e}");
        assert_eq!(lines[2].0, Some(9), "{e}");
        assert!(lines[2].1.contains("no values"), "{e}");
        assert_eq!(lines[3].0, Some(16), "{e}");
        assert!(e.0[3].place.starts_with("demo.yaml:16"), "{e}");
    }

    #[test]
    fn yaml_errors_have_a_line() {
        let e = Study::parse("name: x\ngrid: [\n", "s.yaml").unwrap_err();
        assert_eq!(e.0.len(), 1);
        assert!(e.0[0].line.is_some(), "{e}");
    }

    #[test]
    fn names_must_be_path_safe() {
        assert!(valid_name("ablation_alpha"));
        assert!(valid_name("a.b-c"));
        assert!(!valid_name("../x"));
        assert!(!valid_name("a b"));
        assert!(!valid_name(""));
        let e = Study::parse("name: ../evil\ndefaults: {}\n", "s.yaml").unwrap_err();
        assert_eq!(e.0[0].line, Some(1));
    }
}
