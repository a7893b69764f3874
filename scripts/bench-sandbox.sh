#!/usr/bin/env bash
# Sandbox benchmarks side by side: the sandbox, bare dynoxide and moto's
# server (installed from PyPI into a cached venv). Prints Markdown tables.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${WILDRYDES_BENCH_VENV:-$HOME/.cache/wildrydes-bench-venv}"
if [ ! -x "$venv/bin/moto_server" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet 'moto[server]'
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >/tmp/wildrydes-bench-moto.log 2>&1 &
moto=$!
trap 'kill $moto 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$port/moto-api/" >/dev/null 2>&1 && break
  sleep 0.1
done
WILDRYDES_BENCH_MOTO_URL="http://127.0.0.1:$port" cargo bench --bench sandbox "$@"
