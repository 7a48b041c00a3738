#!/usr/bin/env bash
# Installs everything mlbridge needs on a fresh Debian 12 machine: the system packages (apt-get)
# and the Python packages (pip, into the project's .venv). Idempotent and quiet: a second run
# does nothing but check.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

APT_PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libboost-dev libyaml-cpp-dev nlohmann-json3-dev libsimdjson-dev libspdlog-dev libfmt-dev libcli11-dev
  libcpp-httplib-dev libgtest-dev libgmock-dev libbenchmark-dev clang-format
  pybind11-dev python3-pybind11
  clang libclang-rt-14-dev lld
  libhiredis-dev redis-server haproxy iproute2
)

log() { printf '[setup] %s\n' "$*"; }

install_system_packages() {
  local missing=()
  for package in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
      missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  log "installing system packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}

# redis-server and haproxy come with system services that Debian may start at install. mlbridge
# never uses them (tests and scripts/cluster.sh start their own, on their own ports): stop and
# disable them, with systemd or with plain init scripts, and do nothing where neither exists.
stop_system_services() {
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  local service
  for service in redis-server haproxy; do
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
      if systemctl is-active --quiet "$service" || systemctl is-enabled --quiet "$service" 2>/dev/null; then
        log "stopping and disabling the system service $service"
        $sudo systemctl disable --now "$service" >/dev/null 2>&1 || true
      fi
    elif [ -x "/etc/init.d/$service" ] && command -v service >/dev/null 2>&1; then
      if service "$service" status >/dev/null 2>&1; then
        log "stopping the system service $service"
        $sudo service "$service" stop >/dev/null 2>&1 || true
      fi
      if compgen -G "/etc/rc[2-5].d/S*$service" >/dev/null && command -v update-rc.d >/dev/null 2>&1; then
        $sudo update-rc.d "$service" disable >/dev/null 2>&1 || true
      fi
    fi
  done
}

install_python_packages() {
  local python="${PYTHON:-python3}"
  if [ ! -x .venv/bin/python ]; then
    log "creating .venv with $($python --version 2>&1)"
    "$python" -m venv .venv
  fi
  # Reinstall only when the pinned requirements or the package metadata changed.
  local stamp=.venv/.mlbridge-setup-stamp
  local wanted
  wanted="$(cat requirements.txt python_bridges/pyproject.toml | sha256sum | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then return 0; fi
  log "installing Python packages into .venv"
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -e python_bridges
  echo "$wanted" >"$stamp"
}

# The tiny local models of the Transformers bridge's tests and demo: built from the repository's
# own corpus with random weights (nothing is downloaded); skipped when already up to date.
build_tiny_models() {
  .venv/bin/python scripts/build_tiny_models.py --out build/models --quiet
}

install_system_packages
stop_system_services
install_python_packages
build_tiny_models
