#!/usr/bin/env bash
# The ticket API on the sandbox under load, with oha (crates.io): GET
# /health through the primary's own API domain (API Gateway, the ticket
# Lambda and a DynamoDB read in its region; oha cannot SigV4-sign, so the
# signed routes are left to tests/soak.rs) at increasing concurrency, 10 s
# a step. Prints a Markdown table: requests/s, p50 and p99 latency,
# success rate, and the CPU each sandbox process and each region's
# function instances used (% of one core; oha itself shares the machine).
# Release builds of the CLI and the Lambda; oha is installed under
# ~/.cache/oha if it is not on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
target=$(cd "${CARGO_TARGET_DIR:-target}" 2>/dev/null && pwd || echo "$root/target")
oha=$(command -v oha || echo "$HOME/.cache/oha/bin/oha")
if [ ! -x "$oha" ]; then
  cargo install oha --locked --root "$HOME/.cache/oha"
  oha="$HOME/.cache/oha/bin/oha"
fi
cargo build --release --locked -p wildrydes --bin wildrydes
cargo build --release --locked -p wildrydes-tickets --bin bootstrap
bin="$target/release/wildrydes"
dir=$(mktemp -d)
trap '(cd "$dir" && "$bin" down --stop -q >/dev/null 2>&1 || true); rm -rf "$dir"' EXIT
cd "$dir"
WILDRYDES_LAMBDA_BINARY="$target/release/bootstrap" "$bin" up -q > up.log
state=.wildrydes/sandbox/state.json
url=$(python3 -c "import json; t = json.load(open('$state'))['topology']; r = [r for r in t['regions'] if r['name'] == 'eu-west-1'][0]; print('http://%s:%s' % (r['address'], r['port']))")
ticks() { # CPU ticks so far of each sandbox process, and of the function
  # instances each region process started: those still running (its
  # children) plus those it has reaped (its cutime and cstime)
  python3 - <<'PY'
import os, json
state = json.load(open(".wildrydes/sandbox/state.json"))
pids = {str(p): n for n, p in state["pids"].items()}
out = {}
for n in state["pids"]:
    out[n] = 0
    out[n + " functions"] = 0
for pid in os.listdir("/proc"):
    if not pid.isdigit():
        continue
    try:
        stat = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        continue
    own, reaped, parent = int(stat[11]) + int(stat[12]), int(stat[13]) + int(stat[14]), stat[1]
    if pid in pids:
        out[pids[pid]] += own
        out[pids[pid] + " functions"] += reaped
    elif parent in pids:
        out[pids[parent] + " functions"] += own + reaped
print(json.dumps(out))
PY
}
hz=$(getconf CLK_TCK)
echo "| concurrency | requests/s | p50 ms | p99 ms | success | eu-west-1 CPU | its functions | ap-southeast-1 CPU | its functions | global CPU |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for c in 1 4 16 64; do
  before=$(ticks)
  "$oha" -z 10s -c "$c" --no-tui --output-format json -H "Host: eu-west-1.api.wildrydes.test" "$url/health" > oha.json
  after=$(ticks)
  python3 - "$c" "$before" "$after" "$hz" <<'PY'
import json, sys
c, before, after, hz = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]), int(sys.argv[4])
r = json.load(open("oha.json"))
s, p = r["summary"], r["latencyPercentiles"]
cpu = lambda k: f"{(after[k] - before[k]) / hz / 10 * 100:.0f}%"
print(f"| {c} | {s['requestsPerSec']:.0f} | {p['p50'] * 1000:.1f} | {p['p99'] * 1000:.1f} | {s['successRate'] * 100:.1f}% | "
      f"{cpu('eu-west-1')} | {cpu('eu-west-1 functions')} | {cpu('ap-southeast-1')} | "
      f"{cpu('ap-southeast-1 functions')} | {cpu('global')} |")
PY
done
