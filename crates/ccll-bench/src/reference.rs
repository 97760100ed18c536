//! The PyTorch reference (`reference/ccll_ref.py`) driven as a child process: an equivalence
//! check (`--check`) and a step server (`--serve`) that times training steps on request, so
//! that ours and the reference can be measured in alternation, back to back.

use anyhow::{bail, Context};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// The reference script, embedded so that the binary always runs the copy it was built with.
pub const SCRIPT: &str = include_str!("../reference/ccll_ref.py");

/// Environment variable naming the Python interpreter (default: the workspace's `.venv`).
pub const PYTHON_ENV: &str = "CCLL_PYTHON";

/// The interpreter that runs the reference: `$CCLL_PYTHON`, else `.venv/bin/python` in the
/// current directory or one above it, or in the workspace this crate was built from.
pub fn find_python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(PYTHON_ENV).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        roots.extend(cwd.ancestors().map(Path::to_path_buf));
    }
    let built_in = Path::new(env!("CARGO_MANIFEST_DIR"));
    roots.extend(built_in.ancestors().map(Path::to_path_buf));
    roots
        .into_iter()
        .map(|r| r.join(".venv/bin/python"))
        .find(|p| p.is_file())
}

/// What `--check` prints.
#[derive(Debug, Clone, Deserialize)]
pub struct CheckOutput {
    pub loss: f64,
    pub grad_norms: BTreeMap<String, f64>,
    /// L2 norm of every trained tensor after the step.
    pub param_norms_after_step: BTreeMap<String, f64>,
    pub loss_after_step: f64,
    /// The same loss at inference (eval mode, no gradients).
    pub eval_loss_after_step: f64,
}

/// One timed block of the step server.
#[derive(Debug, Clone, Deserialize)]
pub struct Timing {
    pub steps: usize,
    pub seconds: f64,
    /// CPU time of the reference process (all threads) during the block.
    pub cpu_seconds: f64,
    pub images_per_s: f64,
}

#[derive(Debug, Deserialize)]
struct Ready {
    torch: String,
    threads: usize,
}

/// A Python interpreter with torch and the reference script written to a temporary folder.
pub struct Reference {
    python: PathBuf,
    script: PathBuf,
    dir: tempfile::TempDir,
    torch: String,
}

impl Reference {
    /// Finds the interpreter and checks that it imports torch; the error says what is missing.
    pub fn locate() -> anyhow::Result<Self> {
        let python = find_python().context(
            "no Python for the PyTorch reference: run ./setup.sh (it installs torch into .venv) \
             or set CCLL_PYTHON",
        )?;
        let out = Command::new(&python)
            .args(["-c", "import torch; print(torch.__version__)"])
            .env("PYTHONWARNINGS", "ignore")
            .output()
            .with_context(|| format!("running {}", python.display()))?;
        if !out.status.success() {
            bail!(
                "{} cannot import torch: {}",
                python.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let torch = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let mut dir = tempfile::tempdir()?;
        if std::env::var_os("CCLL_BENCH_KEEP").is_some() {
            dir.disable_cleanup(true);
            eprintln!("keeping {}", dir.path().display());
        }
        let script = dir.path().join("ccll_ref.py");
        std::fs::write(&script, SCRIPT).with_context(|| format!("writing {}", script.display()))?;
        Ok(Self {
            python,
            script,
            dir,
            torch,
        })
    }

    pub fn python(&self) -> &Path {
        &self.python
    }

    /// torch version the reference runs with, e.g. `2.13.0+cu130`.
    pub fn torch_version(&self) -> &str {
        &self.torch
    }

    /// A scratch folder that lives as long as this value (weights and batches for the child).
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }

    fn command(&self, mode: &str, spec: &str, weights: &Path, batch: &Path) -> Command {
        let mut c = Command::new(&self.python);
        c.arg(&self.script)
            .arg(mode)
            .arg("--spec")
            .arg(spec)
            .arg("--weights")
            .arg(weights)
            .arg("--batch")
            .arg(batch)
            .env("PYTHONWARNINGS", "ignore");
        c
    }

    /// Loss, gradient norms and loss after one SGD step of the reference on these weights and
    /// this batch.
    pub fn check(&self, spec: &str, weights: &Path, batch: &Path) -> anyhow::Result<CheckOutput> {
        let out = self
            .command("--check", spec, weights, batch)
            .output()
            .context("running the PyTorch reference")?;
        if !out.status.success() {
            bail!(
                "the PyTorch reference failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text.lines().last().unwrap_or_default();
        serde_json::from_str(line)
            .with_context(|| format!("unreadable answer of the reference: {line}"))
    }

    /// Starts a step server for this model; it answers `run N` with a [`Timing`].
    pub fn serve(&self, spec: &str, weights: &Path, batch: &Path) -> anyhow::Result<Server> {
        let log = self
            .dir
            .path()
            .join(format!("serve-{}.log", std::process::id()));
        let mut child = self
            .command("--serve", spec, weights, batch)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(
                std::fs::File::create(&log)
                    .with_context(|| format!("creating {}", log.display()))?,
            )
            .spawn()
            .context("starting the PyTorch reference")?;
        let stdin = child.stdin.take().context("reference stdin")?;
        let stdout = BufReader::new(child.stdout.take().context("reference stdout")?);
        let mut server = Server {
            child,
            stdin,
            stdout,
            log,
            threads: 0,
        };
        let ready: Ready = server.read()?;
        server.threads = ready.threads;
        let _ = ready.torch;
        Ok(server)
    }
}

/// A running `--serve` child.
pub struct Server {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    log: PathBuf,
    /// Intra-op threads the reference reports.
    pub threads: usize,
}

impl Server {
    fn read<T: for<'de> Deserialize<'de>>(&mut self) -> anyhow::Result<T> {
        let mut line = String::new();
        let n = self.stdout.read_line(&mut line)?;
        if n == 0 {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            bail!("the PyTorch reference stopped: {}", log.trim());
        }
        serde_json::from_str(line.trim())
            .with_context(|| format!("unreadable answer of the reference: {}", line.trim()))
    }

    fn ask(&mut self, command: &str, steps: usize) -> anyhow::Result<Timing> {
        writeln!(self.stdin, "{command} {steps}")?;
        self.stdin.flush()?;
        self.read()
    }

    /// `steps` training steps (forward, backward, SGD step), timed inside the reference.
    pub fn run(&mut self, steps: usize) -> anyhow::Result<Timing> {
        self.ask("run", steps)
    }

    /// `steps` inference passes (eval mode, no gradients).
    pub fn eval(&mut self, steps: usize) -> anyhow::Result<Timing> {
        self.ask("eval", steps)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.stdin.flush();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
