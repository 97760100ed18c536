//! The name a run (or a group of runs) goes by, one rule for the runner's run labels and
//! directory names and the report's tables and legends: `ccll alpha=4 seed=1`.

use serde_json::Value;

/// The label of a run from its swept values in grid order: the method name bare and first
/// (`method` when it is not swept), every other key as `key=value`, the key by its
/// [`short_key`] (in full where two swept keys would read the same). The report passes the
/// values without the seed to name a group of seeds (`ccll alpha=4`).
pub fn run_label(swept: &[(String, Value)], method: &str) -> String {
    let shorts: Vec<&str> = swept.iter().map(|(k, _)| short_key(k)).collect();
    let mut parts = Vec::new();
    for ((key, value), short) in swept.iter().zip(&shorts) {
        let v = value_label(value);
        if key == "method.name" {
            parts.push(v);
            continue;
        }
        let clash = shorts.iter().filter(|s| *s == short).count() > 1;
        let k = if clash { key.as_str() } else { short };
        parts.push(format!("{k}={v}"));
    }
    if !swept.iter().any(|(k, _)| k == "method.name") {
        parts.insert(0, method.to_string());
    }
    parts.join(" ")
}

/// The last dotted segment, or the one before it for `.name` (`benchmark.name` ->
/// `benchmark`, `method.alpha` -> `alpha`).
pub fn short_key(key: &str) -> &str {
    let mut parts = key.rsplit('.');
    let last = parts.next().unwrap_or(key);
    match (last, parts.next()) {
        ("name", Some(prev)) => prev,
        _ => last,
    }
}

/// A short text for a swept value: scalars as written, a mapping by its `name` (a benchmark
/// as base source, whatever its other keys), anything else as compact JSON.
pub fn value_label(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(m) => match m.get("name") {
            Some(Value::String(name)) => name.clone(),
            _ => v.to_string(),
        },
        v => v.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn swept(pairs: &[(&str, Value)]) -> Vec<(String, Value)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn the_method_comes_first_and_bare() {
        let s = swept(&[
            ("method.name", json!("ccll")),
            ("method.alpha", json!(4)),
            ("train.seed", json!(1)),
        ]);
        assert_eq!(run_label(&s, "x"), "ccll alpha=4 seed=1");
        assert_eq!(run_label(&s[..2], "x"), "ccll alpha=4");
        assert_eq!(run_label(&[], "pnn"), "pnn");
        let s = swept(&[("method.alpha", json!(0.5))]);
        assert_eq!(run_label(&s, "ccll"), "ccll alpha=0.5");
    }

    #[test]
    fn keys_read_short_unless_two_would_read_the_same() {
        let s = swept(&[(
            "base.source",
            json!({"name": "cifar10", "per_class_cap": 500}),
        )]);
        assert_eq!(run_label(&s, "ccll"), "ccll source=cifar10");
        let s = swept(&[("benchmark.name", json!("split_mnist"))]);
        assert_eq!(run_label(&s, "ccll"), "ccll benchmark=split_mnist");
        let s = swept(&[("train.lr", json!(0.1)), ("base.lr", json!(0.2))]);
        assert_eq!(run_label(&s, "ccll"), "ccll train.lr=0.1 base.lr=0.2");
        assert_eq!(short_key("seed"), "seed");
    }
}
