#!/usr/bin/env bash
# Wall time of `status` on a healthy sandbox stack, and with the primary
# region frozen, over ROUNDS runs each (default 7). Prints a Markdown table
# of medians and ranges. Release build.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-7}
cargo build --release --quiet -p wildrydes -p wildrydes-tickets
target=${CARGO_TARGET_DIR:-$PWD/target}
bin=$target/release/wildrydes
export WILDRYDES_LAMBDA_BINARY=$target/release/bootstrap
export WILDRYDES_SANDBOX_LOG=warn
export WILDRYDES_SANDBOX_PORT=0
dir=$(mktemp -d)
cd "$dir"
trap '"$bin" sandbox thaw eu-west-1 >/dev/null 2>&1 || true; "$bin" sandbox reset >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
"$bin" up -q >/dev/null
# Until the health check has settled healthy.
for _ in $(seq 60); do "$bin" status -q >/dev/null 2>&1 && break; sleep 1; done
now() { date +%s%N; }
run() { local t0; t0=$(now); "$bin" status --json >/dev/null 2>&1 || true; echo $(( ($(now) - t0) / 1000000 )); }
healthy=(); frozen=()
for _ in $(seq "$rounds"); do healthy+=("$(run)"); done
"$bin" sandbox freeze eu-west-1 >/dev/null
for _ in $(seq "$rounds"); do frozen+=("$(run)"); done
"$bin" sandbox thaw eu-west-1 >/dev/null
python3 - "${healthy[*]}" "${frozen[*]}" <<'PY'
import statistics, sys
print("| status | median | min | max | runs |\n|---|---|---|---|---|")
for name, col in [("healthy stack", sys.argv[1]), ("primary region frozen", sys.argv[2])]:
    v = [int(x) for x in col.split()]
    print(f"| {name} | {statistics.median(v)/1000:.2f} s | {min(v)/1000:.2f} s | {max(v)/1000:.2f} s | {len(v)} |")
PY
