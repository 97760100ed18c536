#!/usr/bin/env bash
# Prepares a fresh Debian machine (Rust, Python 3 and npm present) for ccll, and does nothing
# slow when everything is already there: system packages (fonts for charts, Slurm for the
# cluster executor, Chromium for the report page's test), PyTorch 2.13.0 and pandas in .venv
# (libtorch for tch; the README's pandas example), `just`, the binaries, and the
# datasets the quickstart needs (MNIST, Fashion-MNIST), plus CIFAR-10 from ../shared/data/
# where that folder has it.
set -euo pipefail
cd "$(dirname "$0")"

TORCH_VERSION=2.13.0
VENV=.venv
log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'setup.sh: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else die "need root (or sudo) to run: $*"; fi
}

# --- System packages -------------------------------------------------------------------
missing=()
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
command -v slurmctld >/dev/null || missing+=(slurmctld)
command -v slurmd >/dev/null || missing+=(slurmd)
command -v sbatch >/dev/null || missing+=(slurm-client)
command -v munged >/dev/null || [ -x /usr/sbin/munged ] || missing+=(munge)
command -v sqlite3 >/dev/null || missing+=(sqlite3)
# Headless Chromium renders each sweep's index.html in the test that screenshots it.
command -v chromium >/dev/null || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- PyTorch (libtorch) in a virtual environment ----------------------------------------
torch_ok() {
  "$VENV/bin/python" - <<PY 2>/dev/null
import torch
assert torch.__version__.split("+")[0] == "$TORCH_VERSION"
PY
}
install_torch() {
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q "torch==$TORCH_VERSION"
}
if ! torch_ok; then
  log "installing PyTorch $TORCH_VERSION into $VENV (about 3.6 GB, a few minutes)"
  # A half-finished earlier install can confuse pip: start from a clean environment.
  rm -rf "$VENV"
  install_torch || { log "retrying the PyTorch install once"; rm -rf "$VENV"; install_torch; }
  torch_ok || die "PyTorch $TORCH_VERSION did not install into $VENV"
fi
# torch-sys reads LIBTORCH (set in .cargo/config.toml) = this link to the torch package.
torch_dir=$("$VENV/bin/python" -W ignore -c 'import os, torch; print(os.path.dirname(torch.__file__))')
[ "$(readlink "$VENV/libtorch" 2>/dev/null)" = "$torch_dir" ] || ln -sfn "$torch_dir" "$VENV/libtorch"
# pandas runs the README's analysis example in the test suite.
if ! "$VENV/bin/python" -c 'import pandas' 2>/dev/null; then
  log "installing pandas into $VENV"
  "$VENV/bin/python" -m pip install -q pandas ||
    log "note: pandas did not install (no package registry?); its test will say so and skip"
fi

# --- A writable directory on PATH (for just and the two binaries) ---------------------------
bin_dir=""
for d in /usr/local/bin "$HOME/.cargo/bin" "$HOME/.local/bin"; do
  case ":$PATH:" in *":$d:"*) [ -w "$d" ] && { bin_dir=$d; break; } ;; esac
done

# --- just --------------------------------------------------------------------------------
if ! command -v just >/dev/null; then
  log "installing just (PyPI rust-just)"
  [ -x "$VENV/bin/just" ] || "$VENV/bin/python" -m pip install -q rust-just
  [ -n "$bin_dir" ] || die "no writable directory on PATH for just; add $PWD/$VENV/bin to PATH"
  install -m 0755 "$VENV/bin/just" "$bin_dir/just"
fi

# --- Build and data ------------------------------------------------------------------------
log "building ccll and ccll-report"
cargo build --quiet --workspace --bins
# `ccll` and `ccll-report` on PATH as links to this checkout's build, so the README's commands
# run as typed (and a rebuild is what they run). Another checkout's links are replaced.
for b in ccll ccll-report; do
  if [ -n "$bin_dir" ]; then
    [ "$(readlink "$bin_dir/$b" 2>/dev/null)" = "$PWD/target/debug/$b" ] ||
      ln -sfn "$PWD/target/debug/$b" "$bin_dir/$b"
  else
    log "note: no writable directory on PATH; run $PWD/target/debug/$b or add it to PATH"
  fi
done
log "fetching MNIST and Fashion-MNIST into ${CCLL_DATA:-data}"
./target/debug/ccll data fetch all
# CIFAR-10 is in no registry; where the project's shared data folder has the JPEG copy,
# import it (idempotent; results on it are labelled as derived from a JPEG copy).
shared_cifar=../shared/data/cifar10-jpeg-q75.tar.gz
if [ -f "$shared_cifar" ]; then
  log "importing CIFAR-10 from $shared_cifar"
  ./target/debug/ccll data fetch cifar10 --from "$shared_cifar"
fi
log "ready: try 'just sweep quickstart' or 'just test'"
