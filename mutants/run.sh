#!/usr/bin/env bash
# Mutation testing of the protocol modules (see .cargo/mutants.toml for the
# files and the test command). Prints caught / missed / unviable / timeout
# counts; the list of missed mutants is in mutants.out/missed.txt.
#
#   mutants/run.sh              every mutant (about 300; an hour or more on 2 cores)
#   mutants/run.sh --iterate    only those not caught by the previous run
#   mutants/run.sh -f core/src/userns/ops/release.rs   one file
#
# Needs cargo-mutants: cargo install cargo-mutants --locked
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo-mutants >/dev/null; then
    echo "mutants/run.sh: cargo-mutants is not installed; run: cargo install cargo-mutants --locked" >&2
    exit 2
fi
status=0
cargo mutants --output mutants "$@" || status=$?
# cargo-mutants exits 2 when some mutant was missed, 3 on a timeout: both are
# results, not failures of the run.
if [ "$status" -ne 0 ] && [ "$status" -ne 2 ] && [ "$status" -ne 3 ]; then
    exit "$status"
fi
out=mutants/mutants.out
# With --iterate, previously_caught.txt holds what earlier runs caught or
# found unviable; the other counts are this run's.
for kind in previously_caught caught missed unviable timeout; do
    [ "$kind" = previously_caught ] && [ ! -e "$out/$kind.txt" ] && continue
    printf '%-17s %s\n' "$kind" "$(wc -l < "$out/$kind.txt" 2>/dev/null || echo 0)"
done
