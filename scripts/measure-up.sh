#!/usr/bin/env bash
# Wall time of `up` on a fresh, empty sandbox (the Lambda already built),
# of a no-change re-run, and of `down`, over ROUNDS rounds (default 5),
# each round in a new directory with its own sandbox. Prints a Markdown
# table of medians and ranges. Release build, as the quick start runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-5}
cargo build --release --quiet -p wildrydes -p wildrydes-tickets
target=${CARGO_TARGET_DIR:-$PWD/target}
bin=$target/release/wildrydes
export WILDRYDES_LAMBDA_BINARY=$target/release/bootstrap
export WILDRYDES_SANDBOX_LOG=warn
now() { date +%s%N; }
results=$(mktemp)
for round in $(seq "$rounds"); do
  dir=$(mktemp -d)
  (
    cd "$dir"
    t0=$(now); "$bin" sandbox start --port 0 >/dev/null
    t1=$(now); "$bin" up -q >/dev/null
    t2=$(now); "$bin" up -q >/dev/null
    t3=$(now); "$bin" down -q >/dev/null
    t4=$(now)
    "$bin" sandbox reset >/dev/null
    echo "$round $(( (t1-t0)/1000000 )) $(( (t2-t1)/1000000 )) $(( (t3-t2)/1000000 )) $(( (t4-t3)/1000000 ))" >>"$results"
  )
  rm -rf "$dir"
done
python3 - "$results" <<'PY'
import statistics, sys
rows = [list(map(int, l.split()))[1:] for l in open(sys.argv[1]) if l.strip()]
names = ["sandbox start", "up (cold, empty sandbox)", "up (no change)", "down"]
print(f"| step | median | min | max | rounds |\n|---|---|---|---|---|")
for i, n in enumerate(names):
    col = [r[i] for r in rows]
    print(f"| {n} | {statistics.median(col)/1000:.2f} s | {min(col)/1000:.2f} s | {max(col)/1000:.2f} s | {len(col)} |")
PY
