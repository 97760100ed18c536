//! Run identities are a store's keys: a finished run is found again only if its config hashes
//! to the same value. This pins the identity (config hash, group key, base key) of every run
//! of every shipped study under every profile, as recorded in `fixtures/identities.txt`, so a
//! refactoring that changes one fails here instead of silently retraining users' sweeps.
//! After an intended change of the hash, rerun with `CCLL_BLESS=1` and say so in the commit
//! (and migrate stored runs).

mod common;

use ccll_runner::grid::expand;
use ccll_runner::study::Study;
use std::fmt::Write;

fn profiles(text: &str) -> Vec<Option<String>> {
    let v: serde_yaml::Value = serde_yaml::from_str(text).unwrap();
    let mut out = vec![None];
    if let Some(m) = v.get("profiles").and_then(|p| p.as_mapping()) {
        out.extend(
            m.keys()
                .filter_map(|k| k.as_str())
                .map(|k| Some(k.to_string())),
        );
    }
    out
}

fn current_identities() -> String {
    let dir = common::repo_root().join("experiments");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let mut out = String::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let study = Study::load(&file).unwrap_or_else(|e| panic!("{e}"));
        for profile in profiles(&text) {
            let x = expand(&study, profile.as_deref(), &[]).unwrap_or_else(|e| panic!("{e}"));
            for r in &x.runs {
                writeln!(
                    out,
                    "{} {} | {} | {} {} {}",
                    x.study,
                    profile.as_deref().unwrap_or("-"),
                    r.label,
                    r.identity.config_hash,
                    r.identity.group_key,
                    r.base_key.as_deref().unwrap_or("-"),
                )
                .unwrap();
            }
        }
    }
    out
}

#[test]
fn every_shipped_run_keeps_its_identity() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/identities.txt");
    let now = current_identities();
    if std::env::var_os("CCLL_BLESS").is_some() {
        std::fs::write(&path, &now).unwrap();
        return;
    }
    let pinned = std::fs::read_to_string(&path).unwrap();
    let changed: Vec<String> = pinned
        .lines()
        .zip(now.lines())
        .filter(|(a, b)| a != b)
        .map(|(a, b)| format!("  pinned {a}\n  now    {b}"))
        .take(5)
        .collect();
    assert!(
        changed.is_empty() && pinned.lines().count() == now.lines().count(),
        "run identities changed ({} pinned, {} now); first differences:\n{}",
        pinned.lines().count(),
        now.lines().count(),
        changed.join("\n")
    );
}
