#!/usr/bin/env bash
# GPU figures for a session that is lent a GPU: about 5 minutes on one GPU after the build, no
# datasets (generated images). Run it after ./setup.sh, on the machine with the GPU:
#
#   scripts/gpu-check.sh              needs CUDA; exits 2 saying what is missing
#   scripts/gpu-check.sh --cpu        the same steps on the CPU with tiny sizes: checks the
#                                     script itself (the test suite runs this), no GPU figures
#   options: --out DIR (default reports/gpu-check), --debug (debug build, for --cpu)
#   CCLL_BIN / CCLL_BENCH_BIN: binaries to use instead of building
#
# Steps (each prints its result; the summary at the end gives the ratios):
#   1. build ccll and ccll-bench (release);
#   2. device: a 2-task run on cuda:0 must report cuda:0 in its result.json;
#   3. training: ours against the PyTorch reference, resnet18_cifar w64 with calibration
#      (task 2, alpha 1), the equivalence check first (`ccll-bench throughput --only`);
#   4. a sweep of 4 jobs (ccll at alpha 1, 2, 4, 8 from one base) with --jobs-per-device 4 on
#      the one device: every run on it, and the jobs' summed time against the sweep's wall
#      time (the concurrency four jobs on one device get).
set -euo pipefail

cd "$(dirname "$0")/.."
out=reports/gpu-check
device=cuda
profile=release
while [ $# -gt 0 ]; do
  case "$1" in
    --cpu) device=cpu ;;
    --debug) profile=debug ;;
    --out) out="$2"; shift ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "gpu-check: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
say() { echo "gpu-check: $*"; }
step_started=$SECONDS
step() { say "[$((SECONDS - step_started)) s] $*"; }

# 1. Build.
if [ -z "${CCLL_BIN:-}" ] || [ -z "${CCLL_BENCH_BIN:-}" ]; then
  step "1/4 building ($profile)"
  flags=(--quiet -p ccll-bench -p ccll-runner --bins)
  [ "$profile" = release ] && flags+=(--release)
  cargo build "${flags[@]}"
  CCLL_BIN=${CCLL_BIN:-target/$profile/ccll}
  CCLL_BENCH_BIN=${CCLL_BENCH_BIN:-target/$profile/ccll-bench}
else
  step "1/4 using $CCLL_BIN and $CCLL_BENCH_BIN"
fi
export CCLL_BIN

# Sizes: the paper's network on the GPU, a small one for the CPU plumbing check.
if [ "$device" = cuda ]; then
  run_device=cuda:0
  arch=resnet18_cifar; width=64; image=32; per_class=256; epochs=3
  only="resnet18_cifar w64 32px task2 α1"
  bench_flags=(--quick)
else
  run_device=cpu
  arch=convnet; width=8; image=16; per_class=16; epochs=1
  only="convnet w32 28px task2 α1"
  bench_flags=(--quick --rounds 1 --threads 1 --no-compile)
fi
benchmark="{name: synthetic, tasks: 3, classes_per_task: 2, image_size: $image, channels: 3,
             train_per_class: $per_class, test_per_class: $per_class}"

# 2. The device is used.
step "2/4 a run on $run_device"
cat > "$out/probe.yaml" <<EOF
benchmark: $benchmark
model: {arch: $arch, width: $width}
method: {name: ccll, alpha: 1, beta: 1}
train: {epochs: 1, batch_size: 32}
EOF
rm -rf "$out/probe"
if ! "$CCLL_BIN" train --config "$out/probe.yaml" --out "$out/probe" --no-store \
  --device "$run_device" > "$out/probe.log" 2>&1; then
  tail -n 3 "$out/probe.log" >&2
  say "no run on $run_device (above); on a machine without a GPU use --cpu" >&2
  exit 2
fi
used=$(sed -n 's/.*"device": *"\([^"]*\)".*/\1/p' "$out/probe/result.json" | head -n 1)
if [ "$used" != "$run_device" ]; then
  say "the run asked for $run_device but ran on '$used'" >&2
  exit 1
fi
step "   result.json says device $used"

# 3. Training throughput against the PyTorch reference (equivalence checked first).
step "3/4 training: ours vs PyTorch, $only"
"$CCLL_BENCH_BIN" throughput --device "$device" --only "$only" --out "$out" \
  "${bench_flags[@]}" > "$out/throughput.log" 2>&1 || {
  tail -n 20 "$out/throughput.log" >&2
  say "the throughput benchmark failed (log: $out/throughput.log)" >&2
  exit 1
}
if [ "$(grep -c '^|' "$out/bench-throughput.md")" -le 2 ]; then
  say "the throughput benchmark has no figure for '$only' (log: $out/throughput.log)" >&2
  exit 1
fi

# 4. Four jobs on one device.
step "4/4 a 4-job sweep with --jobs-per-device 4 on $run_device"
cat > "$out/sweep.yaml" <<EOF
# Written by scripts/gpu-check.sh: four ccll runs from one shared base.
name: gpu_check
defaults:
  benchmark: $benchmark
  model: {arch: $arch, width: $width}
  method: {name: ccll, alpha: 1, beta: 1}
  train: {epochs: $epochs, batch_size: 32, seed: 0}
grid:
  method.alpha: [1, 2, 4, 8]
EOF
rm -rf "$out/sweep-runs" "$out/sweep.sqlite"*
sweep_started=$(date +%s.%N)
"$CCLL_BIN" sweep "$out/sweep.yaml" --db "$out/sweep.sqlite" --runs-dir "$out/sweep-runs" \
  --devices "$run_device" --jobs-per-device 4 --no-report --plain --force \
  > "$out/sweep.log" 2>&1 || {
  tail -n 20 "$out/sweep.log" >&2
  say "the sweep failed (log: $out/sweep.log)" >&2
  exit 1
}
sweep_seconds=$(awk -v a="$sweep_started" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
ccll_report=$(dirname "$CCLL_BIN")/ccll-report
query() { "$ccll_report" query --db "$out/sweep.sqlite" --format csv "$1" | tail -n +2; }
finished=$(query "SELECT count(*) FROM runs WHERE status = 'finished'")
devices=$(query "SELECT group_concat(DISTINCT device) FROM runs")
job_seconds=$(query "SELECT sum(wall_seconds) FROM runs")

summary="$out/summary.txt"
{
  echo "gpu-check on $run_device ($(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'))"
  echo "training, ours / PyTorch ($only):"
  grep -E '^\|' "$out/bench-throughput.md" | sed 's/^/  /'
  echo "sweep: $finished of 4 runs finished at --jobs-per-device 4; devices used: $devices"
  awk -v j="$job_seconds" -v s="$sweep_seconds" 'BEGIN {
    printf "  the runs summed %.1f s in %.1f s of sweep wall time: concurrency %.2f (ideal 4; the wall time includes the base job and start-up)\n", j, s, j / s }'
  if [ "$device" = cpu ]; then
    echo "(--cpu: a check of this script on the CPU with tiny sizes, not GPU figures)"
  fi
} | tee "$summary"
if [ "$finished" != 4 ] || [ "$devices" != "$run_device" ]; then
  say "expected 4 finished runs on $run_device, got $finished on '$devices'" >&2
  exit 1
fi
step "done; summary in $summary"
