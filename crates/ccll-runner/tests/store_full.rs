//! A store whose disk fills up in the middle of a sweep: the runner starts no new job, lets the
//! running one finish with its result kept on disk, prints the summary and exits 3; the same
//! command run again once there is room records the kept results without training them again
//! and runs the rest.
//!
//! The store lives on a 4 MiB tmpfs mounted in a user and mount namespace of its own
//! (`unshare`), filled with a file as soon as the first run has written its result. Without
//! user namespaces the test says so and passes: it needs no privilege, but some containers
//! forbid them.

mod common;

use ccll_report::RunStatus;
use common::{test_study, Sandbox};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Everything that happens inside the namespace: the tmpfs, the first sweep with the disk
/// filled after the first result, the second sweep with room again, and copies out (the
/// store, each sweep's output, the result files as the first sweep left them).
const SCRIPT: &str = r#"
set -u
mkdir -p "$STORE" "$OUT/before"
mount -t tmpfs -o size=4m tmpfs "$STORE"
sweep() { "$CCLL" sweep "$STUDY" --db "$STORE/ccll.sqlite" --runs-dir "$RUNS" --no-report --plain; }
sweep > "$OUT/out1" 2> "$OUT/err1" &
pid=$!
until ls "$RUNS"/kill/*/result.json > /dev/null 2>&1; do sleep 0.02; done
dd if=/dev/zero of="$STORE/fill" bs=4k 2> /dev/null
wait $pid
echo $? > "$OUT/rc1"
for f in "$RUNS"/kill/*/result.json; do cp "$f" "$OUT/before/$(basename "$(dirname "$f")").json"; done
rm "$STORE/fill"
sweep > "$OUT/out2" 2> "$OUT/err2"
echo $? > "$OUT/rc2"
cp "$STORE/ccll.sqlite" "$OUT/ccll.sqlite"
"#;

fn namespaces_available() -> bool {
    Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "true"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The number written before `label` in the summary line (`... 2 recovered from disk ...`).
fn count_before(summary: &str, label: &str) -> usize {
    let line = summary
        .lines()
        .find(|l| l.starts_with("sweep `kill`: 6 runs:"))
        .unwrap_or_else(|| panic!("no summary line in\n{summary}"));
    let at = line
        .find(label)
        .unwrap_or_else(|| panic!("no `{label}` in {line}"));
    let number = line[..at].trim_end().rsplit([' ', ',']).next().unwrap();
    number
        .parse()
        .unwrap_or_else(|_| panic!("`{number}` in {line}"))
}

#[test]
fn a_full_store_disk_stops_new_jobs_keeps_results_and_the_rerun_records_them() {
    if !namespaces_available() {
        eprintln!(
            "SKIPPED: `unshare --user --map-root-user --mount` is not allowed here (user \
             namespaces off), so no small file system can be mounted for the store"
        );
        return;
    }
    let sb = Sandbox::new();
    let out_dir = sb.dir.path().join("out");
    let status = Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "sh", "-c", SCRIPT])
        .env("CCLL", env!("CARGO_BIN_EXE_ccll"))
        .env("STUDY", test_study("kill"))
        .env("STORE", sb.dir.path().join("store"))
        .env("RUNS", sb.runs())
        .env("OUT", &out_dir)
        .env_remove("CCLL_DB")
        .env_remove("CCLL_RUNS")
        .status()
        .unwrap();
    assert!(status.success(), "the namespace script failed: {status}");
    let (out1, out2) = (read(&out_dir, "out1"), read(&out_dir, "out2"));
    eprintln!("--- first sweep\n{out1}{}", read(&out_dir, "err1"));
    eprintln!("--- second sweep\n{out2}{}", read(&out_dir, "err2"));

    // First sweep: stopped scheduling, said why and where, exit status 3.
    assert_eq!(read(&out_dir, "rc1").trim(), "3");
    let err1 = read(&out_dir, "err1");
    assert!(
        err1.contains("cannot be written") && err1.contains("database or disk is full"),
        "{err1}"
    );
    assert!(out1.contains("the store could not be written"), "{out1}");
    let kept = count_before(&out1, "finished but not recorded");
    let not_started = count_before(&out1, "not started");
    let recorded_first = count_before(&out1, "finished now");
    assert!(
        kept >= 1,
        "the run that was running keeps its result: {out1}"
    );
    assert!(not_started >= 1, "nothing new starts: {out1}");
    assert_eq!(kept + not_started + recorded_first, 6, "{out1}");
    assert_eq!(out1.matches("kept on disk: ").count(), kept, "{out1}");

    // Second sweep: the kept results are recorded, not trained again; the rest runs.
    assert_eq!(read(&out_dir, "rc2").trim(), "0", "{out2}");
    assert_eq!(count_before(&out2, "recovered from disk"), kept, "{out2}");
    assert_eq!(count_before(&out2, "finished now"), not_started, "{out2}");
    assert_eq!(
        count_before(&out2, "finished before"),
        recorded_first,
        "{out2}"
    );

    std::fs::copy(out_dir.join("ccll.sqlite"), sb.db()).unwrap();
    let rows = sb.rows("kill");
    assert_eq!(rows.len(), 6);
    assert!(
        // A run whose start could not be recorded (the store was already full) shows 0.
        rows.iter()
            .all(|r| r.status == RunStatus::Finished && r.attempts <= 1),
        "every run finished, started at most once: {rows:?}"
    );
    // Every result the first sweep left is the one in its folder now (not trained again)
    // and the one in the store.
    let before: BTreeMap<String, String> = std::fs::read_dir(out_dir.join("before"))
        .unwrap()
        .flatten()
        .map(|e| {
            let name = e
                .file_name()
                .to_string_lossy()
                .trim_end_matches(".json")
                .to_string();
            (name, std::fs::read_to_string(e.path()).unwrap())
        })
        .collect();
    assert_eq!(before.len(), kept + recorded_first);
    for (dir, text) in &before {
        let now =
            std::fs::read_to_string(sb.runs().join("kill").join(dir).join("result.json")).unwrap();
        assert_eq!(
            &now, text,
            "{dir}: result.json changed, so it was trained again"
        );
        let row = rows
            .iter()
            .find(|r| {
                r.run_dir
                    .as_deref()
                    .is_some_and(|d| d.ends_with(dir.as_str()))
            })
            .unwrap_or_else(|| panic!("no store row for {dir}"));
        let stored: ccll_results::RunResult =
            serde_json::from_str(&sb.result_json(row.id)).unwrap();
        let on_disk: ccll_results::RunResult = serde_json::from_str(text).unwrap();
        assert_eq!(stored.acc_matrix, on_disk.acc_matrix, "{dir}");
    }
}
