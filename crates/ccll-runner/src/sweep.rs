//! `ccll sweep`, start to end: study -> runs -> plan -> (dry run: print) -> lock -> store
//! registration -> resume -> execution -> summary -> report.

use crate::executor::local::{make_slots, parse_devices, LocalExecutor};
use crate::executor::slurm::{cancel_leftovers, SlurmExecutor, SlurmOptions};
use crate::executor::Executor;
use crate::grid::{expand, varying_keys, Expanded};
use crate::identity::value_label;
use crate::layout::Layout;
use crate::lock::{holder, FileLock};
use crate::plan::Plan;
use crate::progress::SweepProgress;
use crate::resume::{reconcile, Resume};
use crate::scheduler::{Scheduler, SweepOutcome};
use crate::study::{Problems, Study};
use ccll_report::{NewRun, NewSweep, RunStatus, Store};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Exit status when some run failed.
pub const EXIT_FAILED: u8 = 1;
/// Exit status of an invalid study or command line.
pub const EXIT_INVALID: u8 = 2;
/// Exit status after Ctrl-C / SIGTERM.
pub const EXIT_INTERRUPTED: u8 = 130;

#[derive(Debug, Clone)]
pub enum ExecutorChoice {
    Local {
        /// `auto`, `cpu`, `cuda:0,cuda:1`.
        devices: String,
        jobs_per_device: usize,
        threads: Option<usize>,
    },
    Slurm(SlurmOptions),
}

#[derive(Debug, Clone)]
pub struct SweepOptions {
    pub study: PathBuf,
    pub profile: Option<String>,
    pub overrides: Vec<String>,
    /// The sweep's name in the store and under the runs folder; default: the study's name,
    /// with `-PROFILE` appended under a profile.
    pub name: Option<String>,
    pub dry_run: bool,
    pub executor: ExecutorChoice,
    pub retries: u32,
    pub force: bool,
    pub db: PathBuf,
    pub layout: Layout,
    pub data_root: Option<PathBuf>,
    /// Where to render the report; `None` = no report.
    pub reports: Option<PathBuf>,
    /// Plain lines even on a terminal.
    pub plain: bool,
}

/// Runs a sweep and returns the process exit status.
pub async fn sweep(opts: &SweepOptions) -> anyhow::Result<u8> {
    let study = match Study::load(&opts.study) {
        Ok(s) => s,
        Err(p) => return Ok(invalid(&p)),
    };
    let expanded = match expand(&study, opts.profile.as_deref(), &opts.overrides) {
        Ok(x) => x,
        Err(p) => return Ok(invalid(&p)),
    };
    let name = match &opts.name {
        Some(n) => {
            anyhow::ensure!(
                crate::study::valid_name(n),
                "--name `{n}`: use letters, digits, `_`, `-` or `.`"
            );
            n.clone()
        }
        None => match &opts.profile {
            Some(p) => format!("{}-{p}", expanded.study),
            None => expanded.study.clone(),
        },
    };
    for note in &expanded.notes {
        eprintln!("note: {note}");
    }
    let plan = Plan::build(&expanded, &name, &opts.layout);
    if opts.dry_run {
        print!("{}", dry_run_text(&expanded, &plan, &opts.db).await);
        return Ok(0);
    }

    // One runner per sweep.
    let lock_path = opts.layout.sweep_lock(&name);
    let Some(_lock) = FileLock::try_acquire(&lock_path)? else {
        anyhow::bail!(
            "another `ccll sweep` (pid {}) is running sweep `{name}` (lock {}); wait for it or stop it first",
            holder(&lock_path).map_or("?".into(), |p| p.to_string()),
            lock_path.display()
        );
    };
    let leftovers = cancel_leftovers(&opts.layout.slurm_dir(&name)).await;
    if leftovers > 0 {
        eprintln!("cancelled {leftovers} Slurm array(s) left by an earlier runner of `{name}`");
    }

    let mut executor = make_executor(opts, &name)?;
    let store = Store::open(&opts.db).await?;
    let sweep_id = store
        .upsert_sweep(&NewSweep {
            name: name.clone(),
            study_file: Some(opts.study.display().to_string()),
            profile: opts.profile.clone(),
            spec: expanded.spec_json(),
        })
        .await?;
    let (git_commit, git_dirty) = crate::git::describe();
    let mut run_ids = Vec::with_capacity(plan.runs.len());
    for run in &plan.runs {
        run_ids.push(
            store
                .register_run(&new_run(run, sweep_id, &git_commit, git_dirty))
                .await?,
        );
    }
    let rows = store.runs(Some(&name)).await?;
    let stale = rows.iter().filter(|r| !run_ids.contains(&r.id)).count();
    if stale > 0 {
        eprintln!(
            "note: the store holds {stale} other run(s) of sweep `{name}` from another expansion \
             (different values or overrides); they stay, and its report includes them. Use --name to keep sweeps apart."
        );
    }
    let resume = reconcile(&plan, &run_ids, &rows, &store, opts.force).await?;
    let count = |k: Resume| resume.iter().filter(|r| **r == k).count();
    let (cached, recovered, pending) = (
        count(Resume::Cached),
        count(Resume::Recovered),
        count(Resume::Pending),
    );
    let pending_runs: Vec<usize> = (0..plan.runs.len())
        .filter(|&i| resume[i] == Resume::Pending)
        .collect();
    let base_jobs = plan.base_jobs_for(&pending_runs).len();
    eprintln!(
        "sweep `{name}`: {} runs ({cached} finished before, {recovered} recovered from disk, {pending} to run), {base_jobs} base job(s); {}",
        plan.runs.len(),
        executor.describe()
    );
    eprintln!(
        "store {}, runs in {}",
        opts.db.display(),
        opts.layout.sweep_dir(&name).display()
    );

    let mut progress = SweepProgress::new(pending, opts.plain);
    let scheduler = Scheduler {
        plan: &plan,
        run_ids: &run_ids,
        store: &store,
        data_root: opts.data_root.clone(),
        host: crate::git::hostname(),
        retries: opts.retries,
        layout: &opts.layout,
    };
    let outcome = scheduler
        .execute(&resume, &mut executor, &mut progress)
        .await;
    progress.finish();
    let outcome = outcome?;
    print!(
        "{}",
        summary_text(&plan, &outcome, cached, recovered, &name)
    );

    let mut code = if outcome.stopped_by.is_some() {
        EXIT_INTERRUPTED
    } else if outcome.failed.is_empty() {
        0
    } else {
        EXIT_FAILED
    };
    if outcome.stopped_by.is_none() {
        if let Some(dir) = &opts.reports {
            match ccll_report::render_sweep_report(&store, &name, dir).await {
                Ok(files) => {
                    println!(
                        "report: {} file(s) in {}",
                        files.len(),
                        dir.join(&name).display()
                    );
                    for f in &files {
                        println!("  {}", f.display());
                    }
                }
                Err(e) => {
                    eprintln!("error: rendering the report of `{name}` failed: {e}");
                    code = code.max(EXIT_FAILED);
                }
            }
        }
        print_claim_checks(&store, &name).await;
    }
    store.close().await;
    Ok(code)
}

/// The study's claims checked over the finished runs. A failing claim is a finding, not a
/// failure of the sweep: the exit status stays the sweep's (`ccll-report check` exits 1).
async fn print_claim_checks(store: &Store, name: &str) {
    match ccll_report::claims::check_sweep(store, name).await {
        Ok(v) if v.is_empty() => {}
        Ok(v) => print!(
            "claims of the study (ccll-report check --sweep {name}):\n{}",
            ccll_report::claims::to_text(&v)
        ),
        Err(e) => eprintln!("error: checking the claims of `{name}` failed: {e}"),
    }
}

fn invalid(p: &Problems) -> u8 {
    eprint!("{p}");
    EXIT_INVALID
}

fn make_executor(opts: &SweepOptions, sweep: &str) -> anyhow::Result<Executor> {
    let exe = std::env::current_exe()?;
    Ok(match &opts.executor {
        ExecutorChoice::Local {
            devices,
            jobs_per_device,
            threads,
        } => {
            let devs = parse_devices(devices, || tch::Cuda::device_count().max(0) as usize)
                .map_err(anyhow::Error::msg)?;
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            Executor::Local(LocalExecutor::new(
                exe,
                make_slots(&devs, *jobs_per_device, *threads, cores),
            ))
        }
        ExecutorChoice::Slurm(o) => {
            o.validate().map_err(anyhow::Error::msg)?;
            anyhow::ensure!(
                crate::executor::slurm::which("sbatch"),
                "--executor slurm: sbatch is not on PATH (install slurm-client, or use the local executor)"
            );
            Executor::Slurm(SlurmExecutor::new(
                exe,
                opts.layout.slurm_dir(sweep),
                sweep,
                o.clone(),
            ))
        }
    })
}

fn new_run(
    run: &crate::plan::PlannedRun,
    sweep_id: i64,
    git_commit: &Option<String>,
    git_dirty: bool,
) -> NewRun {
    new_run_row(
        &run.spec.config,
        &run.spec.label,
        run.spec.swept_json(),
        Some(sweep_id),
        git_commit.clone(),
        git_dirty,
    )
}

/// The store row of a run about to be registered (`sweep_id` `None` for `ccll train`).
pub fn new_run_row(
    cfg: &ccll_core::RunConfig,
    label: &str,
    swept: serde_json::Value,
    sweep_id: Option<i64>,
    git_commit: Option<String>,
    git_dirty: bool,
) -> NewRun {
    let id = crate::identity::identity(cfg);
    let info = ccll_core::strategy::method_info(&cfg.method.name);
    let used = |on: bool, v: Option<i64>| if on { Some(v.unwrap_or(1)) } else { None };
    NewRun {
        sweep_id,
        name: label.to_string(),
        config: cfg.to_json(),
        config_hash: id.config_hash,
        group_key: id.group_key,
        swept,
        method: cfg.method.name.clone(),
        benchmark: cfg.benchmark.name.clone(),
        arch: cfg.model.arch.clone(),
        alpha: used(info.is_some_and(|i| i.uses_alpha), cfg.method.alpha),
        beta: used(info.is_some_and(|i| i.uses_beta), cfg.method.beta),
        seed: i64::try_from(cfg.train.seed).unwrap_or(i64::MAX),
        base_source: base_source_label(cfg),
        git_commit,
        git_dirty,
    }
}

/// `task1`, `cifar10`, or `cifar10+finetune`.
pub fn base_source_label(cfg: &ccll_core::RunConfig) -> String {
    let mut s = cfg.base.source.label();
    if cfg.base.finetune {
        s.push_str("+finetune");
    }
    s
}

fn summary_text(
    plan: &Plan,
    o: &SweepOutcome,
    cached: usize,
    recovered: usize,
    name: &str,
) -> String {
    let mut s = format!(
        "\nsweep `{name}`: {} runs: {} finished now, {} finished before, {} recovered from disk, {} failed{}\n",
        plan.runs.len(),
        o.finished.len(),
        cached,
        recovered,
        o.failed.len(),
        if o.interrupted.is_empty() {
            String::new()
        } else {
            format!(", {} interrupted", o.interrupted.len())
        }
    );
    s += &format!(
        "base jobs: {} trained, {} failed, {} cached\n",
        o.bases_trained,
        o.bases_failed,
        plan.bases.iter().filter(|b| b.cached).count()
    );
    if !o.failed.is_empty() {
        s += "failures:\n";
        for (i, e) in &o.failed {
            s += &format!("  {}: {}\n", plan.runs[*i].spec.label, first_line(e));
            s += &format!(
                "    log: {}\n",
                plan.runs[*i].dir.join(crate::job::LOG_FILE).display()
            );
        }
    }
    if let Some(sig) = o.stopped_by {
        s += &format!(
            "stopped by {sig}; run the same command again to finish the {} remaining run(s)\n",
            o.interrupted.len()
        );
    }
    s
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// The expanded runs and base jobs, with what the store says about them.
async fn dry_run_text(x: &Expanded, plan: &Plan, db: &Path) -> String {
    let mut status: HashMap<String, RunStatus> = HashMap::new();
    if let Ok(store) = Store::open_read_only(db).await {
        if let Ok(rows) = store.runs(Some(&plan.sweep)).await {
            for r in rows {
                status.insert(r.config_hash, r.status);
            }
        }
        store.close().await;
    }
    let keys = varying_keys(&x.runs);
    let mut s = format!(
        "sweep `{}`{}: {} runs, {} base jobs{}\n\n",
        plan.sweep,
        x.profile
            .as_ref()
            .map_or(String::new(), |p| format!(" (profile {p})")),
        plan.runs.len(),
        plan.bases.len(),
        x.description
            .as_ref()
            .map_or(String::new(), |d| format!(" — {d}"))
    );
    let mut rows: Vec<Vec<String>> = vec![{
        let mut h = vec!["run".to_string(), "hash".into()];
        h.extend(keys.iter().cloned());
        h.extend(["base job".into(), "status".into()]);
        h
    }];
    for r in &plan.runs {
        let mut row = vec![r.spec.label.clone(), r.spec.identity.short().to_string()];
        for k in &keys {
            row.push(
                r.spec
                    .swept
                    .iter()
                    .find(|(sk, _)| sk == k)
                    .map_or("-".into(), |(_, v)| value_label(v)),
            );
        }
        row.push(match r.base {
            Some(b) => plan.bases[b].key[..8].to_string(),
            None => "-".into(),
        });
        row.push(
            status
                .get(&r.spec.identity.config_hash)
                .map_or("new".into(), |st| st.to_string()),
        );
        rows.push(row);
    }
    s += &table(&rows);
    if !plan.bases.is_empty() {
        s += "\n";
        let mut rows = vec![vec![
            "base job".to_string(),
            "source".into(),
            "seed".into(),
            "runs".into(),
            "state".into(),
        ]];
        for b in &plan.bases {
            rows.push(vec![
                b.key[..8].to_string(),
                base_source_label(&b.config),
                b.config.train.seed.to_string(),
                b.runs.len().to_string(),
                if b.cached { "cached" } else { "to train" }.into(),
            ]);
        }
        s += &table(&rows);
    }
    s
}

/// Left-aligned columns separated by two spaces.
pub fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(c, v)| format!("{v:<w$}", w = widths[c]))
            .collect();
        out += line.join("  ").trim_end();
        out.push('\n');
    }
    out
}
