#!/usr/bin/env bash
# A real mlbridge cluster on one machine: 3 `mlbridge serve` hosts, each in its own network
# namespace (veth pairs to a Linux bridge), sharing sessions through redis-server, behind
# haproxy (deploy/haproxy/haproxy.cfg). Root only. Everything is torn down on exit, error or
# signal (processes killed and reaped, namespaces, veths and the bridge deleted), and a leftover
# of a crashed run is cleaned at start. docs/scale-out.md describes the deployment.
#
#   scripts/cluster.sh up                 start, print the frontend URL and token, stay up until
#                                         Ctrl-C (hosts' logs and YAML: the state dir it prints)
#   scripts/cluster.sh smoke              CI: ~100 sessions x 4 turns with a host SIGKILLed, check
#                                         that no session was lost and that teardown is complete
#   scripts/cluster.sh bench [OUT.json]   the full benchmark (tests/bench/cluster/cluster_bench.py;
#                                         default OUT: docs/bench/cluster.json)
#   scripts/cluster.sh kill-host N        SIGKILL host N's mlbridge (of the running cluster)
#   scripts/cluster.sh stop-host N        SIGTERM host N (it drains: /readyz 503, then stops)
#   scripts/cluster.sh start-host N [redis|memory]   start host N again (a new host id)
#   scripts/cluster.sh down               remove a leftover cluster (what every start does first)
#
# Environment: MLBRIDGE_BINARY (default build/ci/bin/mlbridge), MLBRIDGE_CLUSTER_ID (0-9, default
# 0: namespaces mlbh1..3, bridge mlbbr0, 10.77.0.0/24; ID n: mlbnh1.., mlbbrn, 10.77.n.0/24, so
# runs with different ids can run side by side), MLBRIDGE_CLUSTER_STORE (redis, the default, or
# memory), MLBRIDGE_CLUSTER_PORT (the frontend's port on 127.0.0.1; default: a free one),
# MLBRIDGE_CLUSTER_DRAIN_MS (the hosts' --drain-grace-ms, default 1500; empty: not passed).
# Where `ip netns` is not permitted (not root, a container without CAP_SYS_ADMIN) it says so and
# exits 0; with CI or MLBRIDGE_CLUSTER_REQUIRED=1 set, that is an error instead.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ID="${MLBRIDGE_CLUSTER_ID:-0}"
[[ "$ID" =~ ^[0-9]$ ]] || { echo "cluster.sh: MLBRIDGE_CLUSTER_ID must be 0-9 (got '$ID')" >&2; exit 2; }
HOSTS=3
NET="10.77.$ID"
BRIDGE="mlbbr$ID"
HOST_PORT=8787
GRACE_MS="${MLBRIDGE_CLUSTER_DRAIN_MS-1500}"
STATE="/run/mlbridge-cluster-$ID"
BIN="${MLBRIDGE_BINARY:-$ROOT/build/ci/bin/mlbridge}"
PYTHON="$ROOT/.venv/bin/python"
STORE="${MLBRIDGE_CLUSTER_STORE:-redis}"
REDIS_PORT=16379  # not 6379: a Redis of the machine may listen on 0.0.0.0:6379

ns_name() { if [ "$ID" = 0 ]; then echo "mlbh$1"; else echo "mlb${ID}h$1"; fi; }
veth_name() { echo "mlb${ID}v$1"; }   # the root namespace's end; the host's end is its eth0
host_ip() { echo "$NET.1$1"; }
log() { printf '[cluster] %s\n' "$*" >&2; }
die() { printf 'cluster.sh: %s\n' "$*" >&2; exit 1; }

# --- processes ---------------------------------------------------------------------------------

# True while the process exists and is not a zombie.
alive() { [ -r "/proc/$1/stat" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }

# Waits up to $2 tenths of a second for process $1 (a child of this shell) to end, then reaps it.
# Returns 1 if it is still running.
await_exit() {
  local pid=$1 tenths=$2 i
  for ((i = 0; i < tenths; i++)); do alive "$pid" || break; sleep 0.1; done
  alive "$pid" && return 1
  wait "$pid" 2>/dev/null || true
}

# Ends a child of this shell ($1) by SIGTERM to $2 (default: itself), SIGKILL to $1 after 10 s,
# then reaps it.
end_process() {
  local pid=$1 target=${2:-$1}
  alive "$pid" || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM "$target" 2>/dev/null || true
  await_exit "$pid" 100 && return 0
  kill -KILL "$pid" 2>/dev/null || true
  await_exit "$pid" 100 || log "process $pid did not end after SIGKILL"
}

# The mlbridge process of host N: the only child of its `unshare` (the pid in host-N.pid).
host_server_pid() {
  local wrapper
  wrapper=$(cat "$STATE/host-$1.pid" 2>/dev/null) || return 1
  alive "$wrapper" || return 1
  local child
  child=$(cat "/proc/$wrapper/task/$wrapper/children" 2>/dev/null | awk '{print $1}')
  [ -n "$child" ] && echo "$child"
}

# True if process $1 belongs to this cluster: its command line names the state dir (hosts,
# haproxy), or it runs in it (redis-server, which rewrites its command line).
of_this_cluster() {
  tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF "$STATE" && return 0
  case "$(readlink "/proc/$1/cwd" 2>/dev/null)" in "$STATE"/*) return 0 ;; esac
  return 1
}

# --- the network -------------------------------------------------------------------------------

# Removes whatever a previous run with this id left behind (its processes were started by a
# shell that is gone: they are killed by pid, and their namespaces' processes too).
clean_leftovers() {
  local n ns pid
  if [ -d "$STATE" ]; then
    for pidfile in "$STATE"/*.pid; do
      [ -e "$pidfile" ] || continue
      pid=$(cat "$pidfile")
      # Only a process of this cluster: a stale pid may belong to something else by now.
      if alive "$pid" && of_this_cluster "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
    done
  fi
  for ((n = 1; n <= HOSTS; n++)); do
    ns=$(ns_name "$n")
    if ip netns list | awk '{print $1}' | grep -qx "$ns"; then
      for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
      ip netns del "$ns" 2>/dev/null || log "could not delete namespace $ns"
    fi
    # (deleting the namespace removes the veth pair, a moment later)
    ip link del "$(veth_name "$n")" 2>/dev/null || true
  done
  ip link del "$BRIDGE" 2>/dev/null || true
  rm -rf "$STATE"
}

create_network() {
  ip link add "$BRIDGE" type bridge
  ip addr add "$NET.1/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  local n ns veth
  for ((n = 1; n <= HOSTS; n++)); do
    ns=$(ns_name "$n")
    veth=$(veth_name "$n")
    ip netns add "$ns"
    ip link add "$veth" type veth peer name "${veth}p"
    ip link set "${veth}p" netns "$ns"
    ip link set "$veth" master "$BRIDGE" up
    ip -n "$ns" link set "${veth}p" name eth0
    ip -n "$ns" addr add "$(host_ip "$n")/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
  done
}

# --- services ----------------------------------------------------------------------------------

# HTTP status of GET $2 at $1 (HOST:PORT) with the cluster's token (/readyz needs it), through
# bash's /dev/tcp (no curl needed); 000 when nothing answers.
http_status() {
  local status
  status=$(
    exec 2>/dev/null
    exec 7<>"/dev/tcp/${1%:*}/${1##*:}" || exit 0
    printf 'GET %s HTTP/1.0\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n' "$2" "$1" "$TOKEN" >&7
    timeout 5 head -c 12 <&7 | awk '{print $2}'
  )
  echo "${status:-000}"
}

# Waits (up to $3 tenths of a second) until GET $2 at $1 answers 200; gives up at once when the
# process $4 (if given) has ended.
await_ready() {
  local i
  for ((i = 0; i < $3; i++)); do
    [ "$(http_status "$1" "$2")" = 200 ] && return 0
    [ -n "${4:-}" ] && ! alive "$4" && return 1
    sleep 0.1
  done
  return 1
}

start_redis() {
  mkdir -p "$STATE/redis"
  redis-server --bind "$NET.1" --port "$REDIS_PORT" --dir "$STATE/redis" --appendonly yes \
    --appendfsync everysec --save "" --requirepass "$REDIS_PASSWORD" --daemonize no \
    --logfile "$STATE/redis.log" &
  echo $! >"$STATE/redis.pid"
  local i
  for ((i = 0; i < 100; i++)); do
    REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli -h "$NET.1" -p "$REDIS_PORT" ping 2>/dev/null |
      grep -q PONG && return 0
    sleep 0.1
  done
  die "redis-server did not answer PING on $NET.1:$REDIS_PORT (log: $STATE/redis.log)"
}

# The YAML of host N. The store: redis (with the password through ${REDIS_PASSWORD}) or memory.
write_host_config() {
  local n=$1 store=$2 file="$STATE/host-$1.yaml" store_line=""
  if [ "$store" = redis ]; then
    store_line="  session_store: redis://:\${REDIS_PASSWORD}@$NET.1:$REDIS_PORT/0"
  fi
  cat >"$file" <<YAML
host:
  root: $ROOT
  python: $PYTHON
  default_bridge: cluster
  auth_token_env: MLBRIDGE_CLUSTER_TOKEN
  allowed_hosts: ["127.0.0.1:$LB_PORT", "$(host_ip "$n"):$HOST_PORT"]
  log_level: warn
$store_line
bridges:
  cluster:
    script: tests/bench/cluster/cluster_bridge.py
    codec: msgpack
    pool: {size: 2, queue_limit: 5000, checkout_timeout_ms: 30000}
    env:
      set: {MLBRIDGE_CLUSTER_HOST: h$n}
    sessions:
      ttl_s: 3600
      replay:
        setup: [{command: put, object: "{key}"}]
YAML
  echo "$file"
}

# Starts host N in its namespace and waits until its /readyz is 200 (returns 1 if it does not
# become ready). Under `unshare --pid --fork --kill-child --mount-proc`: mlbridge is the first
# process of its own PID namespace (with its own /proc, so the pids it reads there are its
# workers'), so when it dies (SIGKILL included) the kernel kills and reaps its workers too, and
# killing the unshare kills mlbridge.
start_host() {
  local n=$1 store=${2:-$STORE} config ns
  ns=$(ns_name "$n")
  config=$(write_host_config "$n" "$store")
  MLBRIDGE_CLUSTER_TOKEN="$TOKEN" REDIS_PASSWORD="$REDIS_PASSWORD" \
    ip netns exec "$ns" unshare --pid --fork --kill-child --mount-proc \
    "$BIN" serve --config "$config" --listen "$(host_ip "$n"):$HOST_PORT" \
    ${GRACE_MS:+--drain-grace-ms "$GRACE_MS"} --threads 2 >>"$STATE/host-$n.log" 2>&1 &
  echo $! >"$STATE/host-$n.pid"
  if ! await_ready "$(host_ip "$n"):$HOST_PORT" /readyz 600 "$(cat "$STATE/host-$n.pid")"; then
    tail -n 20 "$STATE/host-$n.log" >&2 || true
    log "host $n ($(host_ip "$n"):$HOST_PORT in namespace $ns) did not become ready"
    return 1
  fi
  log "host $n ready at http://$(host_ip "$n"):$HOST_PORT (store: $store)"
}

start_haproxy() {
  local servers="" n
  for ((n = 1; n <= HOSTS; n++)); do
    servers+="    server h$n $(host_ip "$n"):$HOST_PORT\n"
  done
  sed "s|^    # @MLBRIDGE_SERVERS@.*|${servers%\\n}|" deploy/haproxy/haproxy.cfg >"$STATE/haproxy.cfg"
  MLBRIDGE_LB_BIND="127.0.0.1:$LB_PORT" MLBRIDGE_TOKEN="$TOKEN" \
    haproxy -c -q -f "$STATE/haproxy.cfg" || die "haproxy refused $STATE/haproxy.cfg"
  MLBRIDGE_LB_BIND="127.0.0.1:$LB_PORT" MLBRIDGE_TOKEN="$TOKEN" \
    haproxy -db -f "$STATE/haproxy.cfg" \
    >>"$STATE/haproxy.log" 2>&1 &
  echo $! >"$STATE/haproxy.pid"
  await_ready "127.0.0.1:$LB_PORT" /readyz 100 "$(cat "$STATE/haproxy.pid")" ||
    die "haproxy did not serve 127.0.0.1:$LB_PORT"
}

free_port() {
  "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# --- teardown ----------------------------------------------------------------------------------

DRIVER_PID=""
TOKEN=""
teardown() {
  local code=$?
  # Nothing may cut the cleanup short: a second Ctrl-C or SIGTERM is ignored (it is bounded:
  # every process gets 10 s after its SIGTERM, then SIGKILL).
  trap - EXIT
  trap '' INT TERM
  set +e
  [ -n "$DRIVER_PID" ] && end_process "$DRIVER_PID"
  local n server
  for ((n = 1; n <= HOSTS; n++)); do
    [ -e "$STATE/host-$n.pid" ] || continue
    server=$(host_server_pid "$n")
    end_process "$(cat "$STATE/host-$n.pid")" "${server:-$(cat "$STATE/host-$n.pid")}"
  done
  for service in haproxy redis; do
    [ -e "$STATE/$service.pid" ] && end_process "$(cat "$STATE/$service.pid")"
  done
  if [ $code -ne 0 ] && [ $code -ne 130 ] && [ $code -ne 143 ] && [ -d "$STATE" ]; then
    for file in "$STATE"/*.log; do
      [ -s "$file" ] || continue
      echo "---- last lines of $file" >&2
      tail -n 15 "$file" >&2
    done
  fi
  clean_leftovers
  check_clean || code=1
  log "torn down"
  exit $code
}

# Exit status 1 (and says what) if anything of this cluster is left.
check_clean() {
  local left=0 n ns
  for ((n = 1; n <= HOSTS; n++)); do
    ns=$(ns_name "$n")
    ip netns list | awk '{print $1}' | grep -qx "$ns" && { log "namespace $ns is left"; left=1; }
    ip link show "$(veth_name "$n")" >/dev/null 2>&1 && { log "veth $(veth_name "$n") is left"; left=1; }
  done
  ip link show "$BRIDGE" >/dev/null 2>&1 && { log "bridge $BRIDGE is left"; left=1; }
  [ -e "$STATE" ] && { log "$STATE is left"; left=1; }
  return $left
}

# --- the control channel -----------------------------------------------------------------------
# A running cluster takes commands through the FIFO $STATE/control, one line each:
# "kill N TOKEN", "stop N TOKEN" or "start N STORE TOKEN"; when done it writes $STATE/ack.TOKEN
# ("ok" or "error: ..."). Hosts stay children of the shell that started them, so it reaps them.

handle_command() {
  local verb=$1 n=$2 store token server
  if [ "$verb" = start ]; then store=$3; token=$4; else token=$3; fi
  if ! [[ "$n" =~ ^[1-9]$ ]] || [ "$n" -gt $HOSTS ]; then
    echo "error: no host $n (hosts 1-$HOSTS)" >"$STATE/ack.$token"
    return
  fi
  case "$verb" in
    kill)
      server=$(host_server_pid "$n") || { echo "error: host $n is not running" >"$STATE/ack.$token"; return; }
      kill -KILL "$server"
      await_exit "$(cat "$STATE/host-$n.pid")" 100 || true
      log "host $n killed (SIGKILL to mlbridge pid $server)"
      echo ok >"$STATE/ack.$token" ;;
    stop)
      server=$(host_server_pid "$n") || { echo "error: host $n is not running" >"$STATE/ack.$token"; return; }
      kill -TERM "$server"
      await_exit "$(cat "$STATE/host-$n.pid")" 600 || true
      log "host $n stopped (SIGTERM; drain grace: ${GRACE_MS:-0} ms)"
      echo ok >"$STATE/ack.$token" ;;
    start)
      if host_server_pid "$n" >/dev/null; then
        echo "error: host $n is running" >"$STATE/ack.$token"
        return
      fi
      # In this shell, not a subshell: the host must stay a child of the shell that reaps it.
      if start_host "$n" "$store"; then
        echo ok >"$STATE/ack.$token"
      else
        echo "error: host $n did not start (log: $STATE/host-$n.log)" >"$STATE/ack.$token"
      fi
      ;;
    *) echo "error: unknown command '$verb'" >"$STATE/ack.$token" ;;
  esac
}

# A signal ends the run (the EXIT trap tears down). Not from inside `read -t`, though: bash
# 5.2 crashes (SIGSEGV, no teardown) when a trap exits while `read -t` waits and the EXIT trap
# then runs a command substitution. There the trap only records the signal, and the loop exits.
STOP_STATUS=""
IN_READ=0
on_signal() {
  STOP_STATUS=$1
  [ "$IN_READ" = 1 ] || exit "$1"
}

# Serves the control FIFO until the process $1 ends (or forever with no argument).
serve_control() {
  local watched=${1:-} line got
  exec {control_fd}<>"$STATE/control"
  while :; do
    IN_READ=1
    got=0
    read -r -t 0.2 -u "$control_fd" line && got=1
    IN_READ=0
    [ -n "$STOP_STATUS" ] && exit "$STOP_STATUS"
    if [ $got = 1 ]; then
      # shellcheck disable=SC2086
      handle_command $line || log "command '$line' failed"
    fi
    if [ -n "$watched" ] && ! alive "$watched"; then break; fi
  done
}

# Sends one command to the running cluster and waits for its answer.
send_command() {
  [ -p "$STATE/control" ] || die "no cluster with id $ID is running (no $STATE/control)"
  local token="$$-$RANDOM" i
  echo "$* $token" >"$STATE/control"
  for ((i = 0; i < 1200; i++)); do
    if [ -e "$STATE/ack.$token" ]; then
      local answer
      answer=$(cat "$STATE/ack.$token")
      rm -f "$STATE/ack.$token"
      [ "$answer" = ok ] || die "$answer"
      return 0
    fi
    sleep 0.1
  done
  die "the cluster did not answer '$*' within 120 s"
}

# --- start -------------------------------------------------------------------------------------

require_namespaces() {
  local reason=""
  if [ "$(id -u)" -ne 0 ]; then
    reason="not root (network namespaces need root)"
  elif ! ip netns add "mlbprobe$ID" 2>/dev/null; then
    reason="'ip netns add' is not permitted here"
  else
    ip netns del "mlbprobe$ID"
  fi
  [ -z "$reason" ] && return 0
  if [ -n "${CI:-}" ] || [ "${MLBRIDGE_CLUSTER_REQUIRED:-0}" = 1 ]; then
    die "cannot run the cluster: $reason (CI or MLBRIDGE_CLUSTER_REQUIRED=1 is set, so this fails)"
  fi
  echo "cluster.sh: skipped: $reason"
  exit 0
}

require_tools() {
  local tool missing=()
  for tool in haproxy redis-server redis-cli unshare ip; do
    command -v "$tool" >/dev/null || missing+=("$tool")
  done
  [ ${#missing[@]} -eq 0 ] ||
    die "missing ${missing[*]}: apt-get install haproxy redis-server iproute2 util-linux"
  [ -x "$BIN" ] || die "$BIN is missing: build it (/tmp/ccache-build.sh . mlbridge or cmake --build --preset ci --target mlbridge)"
  [ "$STORE" = redis ] || [ "$STORE" = memory ] ||
    die "MLBRIDGE_CLUSTER_STORE must be redis or memory (got '$STORE')"
}

start_cluster() {
  require_tools
  clean_leftovers
  mkdir -p "$STATE"
  chmod 700 "$STATE"
  trap teardown EXIT
  trap 'on_signal 130' INT
  trap 'on_signal 143' TERM
  TOKEN=$("$PYTHON" -c 'import secrets; print(secrets.token_hex(16))')
  REDIS_PASSWORD=$("$PYTHON" -c 'import secrets; print(secrets.token_hex(16))')
  LB_PORT="${MLBRIDGE_CLUSTER_PORT:-$(free_port)}"
  mkfifo "$STATE/control"
  create_network
  start_redis
  local n
  for ((n = 1; n <= HOSTS; n++)); do
    start_host "$n" "$STORE" || die "host $n did not start: the cluster is torn down"
  done
  start_haproxy
  URL="http://127.0.0.1:$LB_PORT"
  printf '%s\n' "$URL" >"$STATE/url"
}

# Runs the benchmark driver against the running cluster, serving its kill/start commands.
run_driver() {
  MLBRIDGE_CLUSTER_TOKEN="$TOKEN" "$PYTHON" tests/bench/cluster/cluster_bench.py \
    --url "$URL" --direct "http://$(host_ip 1):$HOST_PORT" --control "$STATE/control" \
    --ack-dir "$STATE" --store "$STORE" "$@" &
  DRIVER_PID=$!
  serve_control "$DRIVER_PID"
  local code=0
  wait "$DRIVER_PID" || code=$?
  DRIVER_PID=""
  return $code
}

command=${1:-}
[ $# -gt 0 ] && shift
case "$command" in
  up)
    require_namespaces
    start_cluster
    echo "mlbridge cluster serving on $URL (3 hosts, store: $STORE)"
    echo "  token:  export MLBRIDGE_CLUSTER_TOKEN=$TOKEN"
    echo "  try:    curl -H \"Authorization: Bearer \$MLBRIDGE_CLUSTER_TOKEN\" -H 'Content-Type: application/json' -H 'X-Mlbridge-Session: s1' -d '{\"args\": {\"n\": 1}, \"session\": \"s1\"}' $URL/v1/bridges/cluster/commands/turn"
    echo "  hosts:  scripts/cluster.sh kill-host|stop-host|start-host N   logs: $STATE"
    echo "  Ctrl-C tears everything down."
    serve_control
    ;;
  smoke)
    require_namespaces
    start_cluster
    run_driver --smoke
    ;;
  bench)
    require_namespaces
    start_cluster
    run_driver --out "${1:-$ROOT/docs/bench/cluster.json}"
    ;;
  kill-host) send_command kill "${1:?host number}" ;;
  stop-host) send_command stop "${1:?host number}" ;;
  start-host) send_command start "${1:?host number}" "${2:-$STORE}" ;;
  down)
    require_namespaces
    clean_leftovers
    check_clean
    ;;
  *)
    sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
