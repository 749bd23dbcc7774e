#!/usr/bin/env bash
# Installs the .deb on a fresh Debian (bookworm, minbase) booted with systemd as PID 1 in a
# systemd-nspawn container, and checks the service as systemd runs it: Type=notify start,
# reload (good and broken config), the watchdog killing a hung gateway, a clean stop, and
# the hardening score. Not part of CI: it downloads Debian (debootstrap, ~150 MB) and waits
# out WatchdogSec (2 min; --quick skips that). Needs root. docs/SERVICE.md shows a run.
#   usage: scripts/service-boot-test.sh [--quick] [WORKDIR]   (default WORKDIR build/service-boot)
#
# Never boot systemd on the host's own root (unshare + /lib/systemd/systemd): its boot runs
# systemd-tmpfiles, which empties the host's /tmp. nspawn gives it a root of its own.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
if [ "${1:-}" = "--quick" ]; then quick=1; shift; fi
work=$(realpath -m "${1:-build/service-boot}")
root="$work/root"
mkdir -p "$work"

step() { printf '\n== %s\n' "$*"; }
fail() { echo "service-boot-test: FAILED: $*" >&2; exit 1; }

step "tools: debootstrap, systemd-nspawn"
command -v debootstrap >/dev/null && command -v systemd-nspawn >/dev/null ||
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap systemd-container >/dev/null

step "the .deb (cmake + cpack)"
cmake -S . -B "$work/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$work/build" -j"$(nproc)" >/dev/null
(cd "$work/build" && cpack -G DEB >/dev/null)
deb=$(ls "$work"/build/selgw_*_amd64.deb | head -1)
echo "$deb"

if [ ! -x "$root/lib/systemd/systemd" ]; then
  step "a fresh Debian bookworm (minbase + systemd) in $root"
  debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus bookworm "$root" \
    http://deb.debian.org/debian >"$work/debootstrap.log"
fi

# Without systemd as the host's PID 1, nspawn's propagation directory must be on a tmpfs.
mounted_run=0
if [ ! -d /run/systemd/system ] && ! mountpoint -q /run/systemd/nspawn; then
  mkdir -p /run/systemd/nspawn && mount -t tmpfs tmpfs /run/systemd/nspawn && mounted_run=1
fi
nspawn_pid=""
cleanup() {
  if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
    kill -TERM "$nspawn_pid" 2>/dev/null || true # nspawn asks the container to power off
    for _ in $(seq 50); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$nspawn_pid" 2>/dev/null || true
  fi
  [ "$mounted_run" = 1 ] && umount /run/systemd/nspawn 2>/dev/null || true
}
trap cleanup EXIT

step "install: the package and what it depends on (apt in the root, with the host's network)"
cp "$deb" "$root/root/selgw.deb"
cp "$work/build/selgw-sim" "$root/usr/local/bin/"
chroot "$root" sh -c 'DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ./root/selgw.deb' \
  >"$work/apt.log" 2>&1 || { cat "$work/apt.log"; fail "apt-get install ./selgw.deb"; }
grep -E "^Setting up selgw" "$work/apt.log" || true

step "boot (systemd as PID 1, private network)"
systemd-nspawn --register=no --keep-unit --private-network -D "$root" -b --console=passive \
  >"$work/boot.log" 2>&1 &
nspawn_pid=$!
init=""
for _ in $(seq 100); do
  init=$(pgrep -P "$nspawn_pid" -x systemd || true)
  [ -n "$init" ] && break
  sleep 0.2
done
[ -n "$init" ] || { cat "$work/boot.log"; fail "no systemd in the container"; }
C() { nsenter -t "$init" -m -u -i -n -p -- "$@"; }
for _ in $(seq 100); do
  state=$(C systemctl is-system-running 2>/dev/null || true)
  case "$state" in running|degraded) break ;; esac
  sleep 0.2
done
echo "system: $state; $(C systemctl --version | head -1)"

step "config: the demo's TCP devices, the journal in the StateDirectory; simulator as a unit"
sed -e 's|dir: selgw-journal|dir: /var/lib/selgw/journal|' config/demo.yaml |
  python3 -c '
import re, sys
text = sys.stdin.read()
head, devices = text.split("\ndevices:\n")
head = re.sub(r"  # RS-485 line.*?(?=\n\S|\Z)", "", head, flags=re.S)
blocks = re.split(r"\n(?=  - id: )", devices)
print(head.rstrip() + "\n\ndevices:\n" + "\n".join(b for b in blocks if "bus: demo-tcp" in b))
' >"$root/etc/selgw/selgw.yaml"
C selgw check -c /etc/selgw/selgw.yaml | head -1
C systemd-run --unit=selgw-sim /usr/local/bin/selgw-sim -c /etc/selgw/selgw.yaml --time-scale 60 >/dev/null
sleep 1

step "systemctl enable --now selgw (Type=notify: returns once READY=1)"
C systemctl enable --now selgw
C systemctl is-active selgw >/dev/null || { C journalctl -u selgw --no-pager | tail; fail "start"; }
echo "active; status: $(C systemctl show selgw -p StatusText --value)"
sleep 3
C selgw status | sed -n '3,8p'

step "systemctl reload selgw (SIGHUP: RELOADING=1 ... READY=1)"
C systemctl reload selgw || fail "reload"
C journalctl -u selgw --no-pager -o cat -n 3

step "reload with a broken config: refused with its position, the running one kept"
cp "$root/etc/selgw/selgw.yaml" "$work/good.yaml"
sed -i '0,/interval: 5s/s//interval: 5 parsecs/' "$root/etc/selgw/selgw.yaml"
C systemctl reload selgw
sleep 1
C journalctl -u selgw --no-pager -o cat -p err --since -10s
C systemctl is-active selgw >/dev/null || fail "a broken config stopped the service"
C journalctl -u selgw --no-pager -o cat -p err --since -10s | grep -q 'selgw.yaml:[0-9]*:[0-9]*: interval' ||
  fail "the broken config's position is not at priority err"
cp "$work/good.yaml" "$root/etc/selgw/selgw.yaml"

if [ "$quick" = 0 ]; then
  step "watchdog: a hung gateway (SIGSTOP) is killed and restarted after WatchdogSec"
  pid=$(C systemctl show selgw -p ExecMainPID --value)
  C kill -STOP "$pid"
  timeout=$(( $(C systemctl show selgw -p WatchdogUSec --value | sed 's/min/*60/;s/s$//' | bc) + 30 ))
  for _ in $(seq "$timeout"); do
    [ "$(C systemctl show selgw -p NRestarts --value)" -ge 1 ] && break
    sleep 1
  done
  C journalctl -u selgw --no-pager -o cat | grep -E "watchdog|SIGABRT|restart counter" | tail -4
  [ "$(C systemctl show selgw -p NRestarts --value)" -ge 1 ] || fail "no watchdog restart"
  C systemctl is-active selgw >/dev/null || fail "not active after the watchdog restart"
fi

step "systemctl stop selgw: STOPPING=1, a STOP record, exit 0"
C systemctl stop selgw
C journalctl -u selgw --no-pager -o cat -n 4
C selgw journal -c /etc/selgw/selgw.yaml --dump 2>/dev/null | tail -1 | grep -q '"type":"stop"' ||
  fail "no STOP record last in the journal"
echo "last record: STOP"
C systemctl show selgw -p Result --value | grep -qx success || fail "stop result"

step "hardening"
C systemd-analyze security selgw --no-pager | tail -1
echo
echo "service-boot-test: PASSED"
