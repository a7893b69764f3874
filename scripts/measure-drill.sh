#!/usr/bin/env bash
# Runs three drills end to end, each on a fresh sandbox in a new directory,
# and prints what they measured against what the settings make ideal:
#   1. the default drill (health-endpoint-failure) with the sandbox's fast
#      settings: health checks every 1 s, threshold 3, DNS TTL 1 s;
#   2. the same drill with AWS's settings: every 10 s, threshold 3, TTL 60 s;
#   3. region-blackout (the primary frozen) with replication delay 2 s.
# Replication jitter is 0 throughout. Release build, as the quick start
# runs it (PROFILE=dev for a debug build). Prints a Markdown table; each
# drill's report stays in the directory printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${PROFILE:-release}
if [ "$profile" = release ]; then
  cargo build --release --quiet -p wildrydes -p wildrydes-tickets
  dir_name=release
else
  cargo build --quiet -p wildrydes -p wildrydes-tickets
  dir_name=debug
fi
target=${CARGO_TARGET_DIR:-$PWD/target}
bin=$target/$dir_name/wildrydes
export WILDRYDES_LAMBDA_BINARY=$target/$dir_name/bootstrap
export WILDRYDES_SANDBOX_LOG=warn
export WILDRYDES_SANDBOX_PORT=0
out=$(mktemp -d)
now() { date +%s%N; }

# scenario NAME PLAYBOOK DELAY_MS INTERVAL THRESHOLD TTL
scenario() {
  local name=$1 playbook=$2 delay=$3 interval=$4 threshold=$5 ttl=$6
  local dir=$out/$name
  mkdir -p "$dir"
  (
    cd "$dir"
    export WILDRYDES_HEALTH_CHECK_INTERVAL=$interval
    export WILDRYDES_HEALTH_CHECK_THRESHOLD=$threshold
    export WILDRYDES_DNS_TTL=$ttl
    "$bin" up -q >/dev/null
    for region in eu-west-1 ap-southeast-1; do
      "$bin" sandbox replication "$region" --delay-ms "$delay" --jitter-ms 0 >/dev/null
    done
    t0=$(now)
    code=0
    "$bin" failover-test -q --json --playbook "$playbook" >report.json || code=$?
    t1=$(now)
    echo "$name $(( (t1-t0)/1000000 )) $code $delay $interval $threshold $ttl" >wall.txt
    "$bin" down -q --stop >/dev/null
  )
}

scenario fast health-endpoint-failure 500 1 3 1
scenario aws-settings health-endpoint-failure 500 10 3 60
scenario blackout-2s region-blackout 2000 1 3 1

python3 - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
def f(ms):
    if ms is None:
        return "n/a"
    return f"{ms/1000:.2f} s"
print("| drill | wall | exit | detection (ideal) | DNS | client | RTO (ideal) | RPO (ideal) | at risk / late / lost | steady lag p50 |")
print("|---|---|---|---|---|---|---|---|---|---|")
for name in ["fast", "aws-settings", "blackout-2s"]:
    d = os.path.join(out, name)
    wall = open(os.path.join(d, "wall.txt")).read().split()
    _, wall_ms, code, delay, interval, threshold, ttl = wall
    delay, interval, threshold, ttl = int(delay), int(interval), int(threshold), int(ttl)
    r = json.load(open(os.path.join(d, "report.json")))
    rto = r.get("rto") or {}
    user = r["settings"]["userIntervalMs"]
    # Each checker's first failed probe lands 0-1 interval after the
    # fault (a frozen endpoint's only after the 2 s response timeout),
    # and the verdict turns at the threshold-th: (N-1)I .. NI.
    extra = 2000 if r["playbook"]["fault"] == "region-blackout" else 0
    lo = (threshold - 1) * interval * 1000 + extra
    hi = threshold * interval * 1000 + extra
    rto_hi = hi + ttl * 1000 + user
    rpo = r["rpo"]
    ideal_rpo = f"≤ {delay/1000:.2f} s" if r["playbook"]["fault"] == "region-blackout" else "0"
    print(
        f"| {name} ({r['playbook']['name']}, I={interval}s N={threshold} TTL={ttl}s D={delay}ms) "
        f"| {int(wall_ms)/1000:.1f} s | {code} "
        f"| {f(rto.get('detectionMs'))} ({lo/1000:.0f}-{hi/1000:.0f} s) | {f(rto.get('dnsMs'))} | {f(rto.get('clientMs'))} "
        f"| {f(rto.get('totalMs'))} ({lo/1000:.0f}-{rto_hi/1000:.1f} s) "
        f"| {f(rpo.get('rpoMs'))} ±{rpo['resolutionMs']:.0f} ms ({ideal_rpo}) "
        f"| {rpo['atRisk']} / {rpo['arrivedLate']} / {rpo['lost']} "
        f"| {f(r['baselineLag'].get('p50Ms'))} |"
    )
print(f"\nreports: {out}/<drill>/.wildrydes/drills/")
PY
