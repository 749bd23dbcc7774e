#!/usr/bin/env bash
# Installs every Debian package that selgw's build, tests, benchmarks and demo need.
# Safe to run again: apt-get skips what is already there. Needs root (or sudo).
set -euo pipefail

PACKAGES=(
  # build
  build-essential cmake pkg-config
  # libraries the gateway links
  libmodbus-dev libmosquitto-dev libcurl4-openssl-dev libfyaml-dev libsodium-dev zlib1g-dev libjansson-dev
  libmicrohttpd-dev libsystemd-dev
  # a lot's QR code in the evidence report (docs/REPORT.md)
  libqrencode-dev
  # the central archive (selgw archive, docs/ARCHIVE.md): libpq, and the PostgreSQL server
  # that its integration tests start
  libpq-dev postgresql
  # the dashboard's charting library, compiled into the binary (docs/DASHBOARD.md)
  libjs-dygraphs
  # the service: systemd-analyze verifies the unit; cpack -G DEB computes the .deb's
  # dependencies with dpkg-shlibdeps (dpkg-dev)
  systemd dpkg-dev
  # unit tests
  libcmocka-dev
  # integration tests: independent Modbus server, RS-485 lines as pty pairs, real servers
  python3 python3-pymodbus python3-serial-asyncio python3-cryptography python3-prometheus-client socat mosquitto mosquitto-clients influxdb curl openssl faketime
  # the dashboard's page tests: headless Chromium driven by Selenium; CJK fonts, or the
  # Chinese pages render as boxes in the screenshots
  chromium chromium-driver fonts-noto-cjk python3-selenium
  # the report test decodes the lot's QR code from a screenshot
  zbar-tools
  # benchmarks: collectd 5.12 with its modbus and mqtt plugins, the reference that
  # tests/bench/bench_vs_collectd.py runs side by side with the gateway (docs/BENCHMARKS.md)
  collectd-core
  # memory checks; fuzzing (libFuzzer comes with clang's runtime)
  valgrind clang libclang-rt-14-dev
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Debian starts mosquitto, influxd and collectd as services on install; the tests run their own
# instances on free ports, so the policy-rc.d guard keeps the system ones from starting.
if [ -z "$SUDO" ] && [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: done"
