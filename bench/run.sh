#!/usr/bin/env bash
# Runs every podns benchmark and prints one Markdown table of the figures
# against their targets. Needs strace and /usr/bin/time for the syscall and
# memory rows (apt-get install strace time).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin podns
cargo bench -p podns-bench "$@" >&2
cargo run --release -q -p podns-bench --bin podns-bench-summary
