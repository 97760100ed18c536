//! What a run is: the content hash of its config (`config_hash`), the hash of the same without
//! the seed (`group_key`: the runs that differ only by seed), and the names it goes by.
//!
//! The hash covers the canonical JSON of the whole run config (keys sorted, defaults filled in
//! by parsing). Where a run executes (device, threads: [`ccll_core::Placement`]) is not part of
//! the config, so it cannot change the hash; how often it saves its state
//! (`train.checkpoint_every`) is left out of the hash. The method section is
//! as the method table reads it: `alpha` / `beta` are kept (filled with their default 1) by the
//! methods that calibrate and dropped by the others, so `{name: head_only, alpha: 4}` is the
//! same run as `{name: head_only}` and `{name: ccll}` the same as `{name: ccll, alpha: 1,
//! beta: 1}`.

use ccll_core::RunConfig;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Bumped when the meaning of the hash changes, so old and new hashes never collide.
const HASH_VERSION: &str = "ccll-run-v1";

/// A run's identity in the store and on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Hex sha256 of the canonical config.
    pub config_hash: String,
    /// Hex sha256 of the canonical config without `train.seed`.
    pub group_key: String,
}

impl Identity {
    /// The first 8 hex digits, as used in directory names.
    pub fn short(&self) -> &str {
        &self.config_hash[..8]
    }
}

/// The identity of a (validated) run config.
pub fn identity(cfg: &RunConfig) -> Identity {
    let mut v = canonical_value(cfg);
    let config_hash = digest(&v);
    if let Some(train) = v.get_mut("train").and_then(Value::as_object_mut) {
        train.remove("seed");
    }
    let group_key = digest(&v);
    Identity {
        config_hash,
        group_key,
    }
}

/// The config as JSON, as hashed: without `train.checkpoint_every`, which only says how
/// often the run saves its state ([`RunConfig::computation`]).
pub fn canonical_value(cfg: &RunConfig) -> Value {
    cfg.computation().to_json()
}

fn digest(v: &Value) -> String {
    let mut text = String::from(HASH_VERSION);
    text.push('\n');
    write_canonical(v, &mut text);
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Compact JSON with object keys sorted, independent of serde_json's map ordering.
pub fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(&m[k], out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The label of a run from its swept values, e.g. `ccll alpha=4 seed=1`
/// ([`ccll_results::labels::run_label`], the rule the report uses too).
pub fn run_label(swept: &[(String, serde_yaml::Value)], method: &str) -> String {
    let swept: Vec<(String, Value)> = swept
        .iter()
        .map(|(k, v)| (k.clone(), yaml_to_json(v)))
        .collect();
    ccll_results::labels::run_label(&swept, method)
}

/// A short text for a swept value ([`ccll_results::labels::value_label`]).
pub fn value_label(v: &serde_yaml::Value) -> String {
    ccll_results::labels::value_label(&yaml_to_json(v))
}

fn yaml_to_json(v: &serde_yaml::Value) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// The directory name of a run: its label made path-safe, then the short hash.
pub fn dir_name(label: &str, id: &Identity) -> String {
    let mut s: String = label
        .chars()
        .map(|c| match c {
            ' ' => '_',
            '=' => '-',
            c if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '+') => c,
            _ => '_',
        })
        .collect();
    s.truncate(80);
    let s = s.trim_start_matches('.');
    format!("{s}-{}", id.short())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> RunConfig {
        RunConfig::from_yaml(text, "t").unwrap()
    }

    const BASE: &str = "benchmark: {name: synthetic}\nmodel: {arch: convnet, width: 8}\n";

    #[test]
    fn unused_alpha_does_not_change_the_hash() {
        let a = cfg(&format!("{BASE}method: {{name: head_only}}\n"));
        let b = cfg(&format!("{BASE}method: {{name: head_only, alpha: 4}}\n"));
        assert_eq!(identity(&a), identity(&b));
        let c = cfg(&format!("{BASE}method: {{name: ccll}}\n"));
        let d = cfg(&format!(
            "{BASE}method: {{name: ccll, alpha: 1, beta: 1}}\n"
        ));
        let e = cfg(&format!("{BASE}method: {{name: ccll, alpha: 2}}\n"));
        assert_eq!(identity(&c), identity(&d));
        assert_ne!(identity(&c).config_hash, identity(&e).config_hash);
    }

    #[test]
    fn a_recorded_config_with_device_and_threads_keeps_its_identity() {
        // Run directories of earlier versions recorded `train.device` and `train.threads`.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        let old = format!("{BASE}method: {{name: ccll}}\ntrain: {{device: cpu, threads: 2}}\n");
        std::fs::write(&path, &old).unwrap();
        let recorded = RunConfig::from_recorded_file(&path).unwrap();
        assert_eq!(
            identity(&recorded),
            identity(&cfg(&format!("{BASE}method: {{name: ccll}}\n")))
        );
        let e = RunConfig::from_yaml(&old, "run.yaml")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("run.yaml:4: train.device: is no longer part"),
            "{e}"
        );
        assert!(e.contains("ccll sweep --devices"), "{e}");
    }

    #[test]
    fn checkpoint_every_does_not_change_the_identity() {
        let a = cfg(&format!("{BASE}method: {{name: ccll}}\n"));
        let b = cfg(&format!(
            "{BASE}method: {{name: ccll}}\ntrain: {{checkpoint_every: 2}}\n"
        ));
        assert_eq!(identity(&a), identity(&b));
        let e = RunConfig::from_yaml(
            &format!("{BASE}method: {{name: ccll}}\ntrain: {{checkpoint_every: 0}}\n"),
            "run.yaml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("train.checkpoint_every") && e.contains("at least 1"),
            "{e}"
        );
    }

    #[test]
    fn group_key_ignores_only_the_seed() {
        let a = cfg(&format!(
            "{BASE}method: {{name: ccll}}\ntrain: {{seed: 0}}\n"
        ));
        let b = cfg(&format!(
            "{BASE}method: {{name: ccll}}\ntrain: {{seed: 1}}\n"
        ));
        let c = cfg(&format!(
            "{BASE}method: {{name: ccll}}\ntrain: {{seed: 1, lr: 0.1}}\n"
        ));
        let (ia, ib, ic) = (identity(&a), identity(&b), identity(&c));
        assert_ne!(ia.config_hash, ib.config_hash);
        assert_eq!(ia.group_key, ib.group_key);
        assert_ne!(ib.group_key, ic.group_key);
        assert_eq!(ia.config_hash.len(), 64);
    }

    #[test]
    fn canonical_json_sorts_keys() {
        let v: Value =
            serde_json::from_str(r#"{"b":1,"a":{"d":[1,{"z":1,"y":2}],"c":null}}"#).unwrap();
        let mut s = String::new();
        write_canonical(&v, &mut s);
        assert_eq!(s, r#"{"a":{"c":null,"d":[1,{"y":2,"z":1}]},"b":1}"#);
    }

    #[test]
    fn labels_and_dirs() {
        use serde_yaml::Value as Y;
        let swept = vec![
            ("method.name".to_string(), Y::from("ccll")),
            ("method.alpha".to_string(), Y::from(4)),
            ("train.seed".to_string(), Y::from(1)),
        ];
        let label = run_label(&swept, "ccll");
        assert_eq!(label, "ccll alpha=4 seed=1");
        let src: Y = serde_yaml::from_str("{name: cifar10}").unwrap();
        let swept = vec![("base.source".to_string(), src)];
        assert_eq!(run_label(&swept, "ccll"), "ccll source=cifar10");
        let id = Identity {
            config_hash: "0123456789abcdef".repeat(4),
            group_key: String::new(),
        };
        assert_eq!(dir_name(&label, &id), "ccll_alpha-4_seed-1-01234567");
        assert_eq!(dir_name("../a/b c", &id), "_a_b_c-01234567");
    }
}
