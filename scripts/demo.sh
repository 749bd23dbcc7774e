#!/usr/bin/env bash
# The demo: installs what is missing, builds, then runs the simulator and the gateway on the
# demo config compiled into both (config/demo.yaml): simulated soil and air sensors on a
# Modbus TCP port and on a pseudo-terminal RS-485 line, polled by the gateway, which prints
# every reading as a JSON line. Runs until Ctrl-C, or for SECONDS if given.
#   usage: scripts/demo.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-}

./scripts/setup.sh >/dev/null
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" >/dev/null

workdir=$(mktemp -d)
sim_pid=""
gw_pid=""
cleanup() {
  [ -n "$gw_pid" ] && kill "$gw_pid" 2>/dev/null && wait "$gw_pid" 2>/dev/null
  [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
  rm -rf "$workdir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A day of simulated weather passes in 4 minutes, so the values move visibly; it starts at
# 21:00 Beijing time on a frost night (--scenario cold-night: below 2 degC from about 22:10
# to 05:50), so the tea frost alert of config/demo.yaml is raised within a minute and
# cleared about two minutes after the start (docs/ALERTS.md).
./build/selgw-sim --time-scale 360 --scenario cold-night \
  --start-time "$(TZ=Asia/Shanghai date +%F)T21:00:00+08:00" \
  >"$workdir/sim.out" 2>"$workdir/sim.err" &
sim_pid=$!
for _ in $(seq 100); do
  grep -qx ready "$workdir/sim.out" 2>/dev/null && break
  if ! kill -0 "$sim_pid" 2>/dev/null; then cat "$workdir/sim.err" >&2; exit 1; fi
  sleep 0.1
done
grep -qx ready "$workdir/sim.out" || { echo "demo: the simulator did not start" >&2; exit 1; }
sed 's/^/simulator: /' "$workdir/sim.out" >&2
echo "demo: gateway polling the demo devices; readings follow (Ctrl-C to stop)" >&2
# The demo config has no http section: the API and the dashboard are on the default address.
echo "demo: the dashboard: http://127.0.0.1:9108/ (Chinese; English: http://127.0.0.1:9108/?lang=en)" >&2

./build/selgw run &
gw_pid=$!
if [ -n "$seconds" ]; then
  sleep "$seconds"
  kill -TERM "$gw_pid"
fi
wait "$gw_pid"
gw_pid=""
