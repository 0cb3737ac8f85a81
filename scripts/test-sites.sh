#!/usr/bin/env bash
# End-to-end test of scripts/sites against real brokers, in a temporary --dir on a free base port:
# up (2 sites) -> verify -> idle CPU -> up again (no-op) -> kill a node, up repairs it -> status ->
# down -> down again (no-op) -> on a fresh port block: up (4 sites) -> verify -> up (3 sites:
# shrinks, the first three untouched) -> verify -> down -> nothing left behind -> up --tls with
# 5-day certificates -> TLS listeners verify against the CA, through the WAN proxy too -> certs
# reissues one site's certificate in place -> down.
#
#   scripts/test-sites.sh            (as root; CROSSDOCK_TEST_SITES_BASE_PORT=P to pin the port)
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
SITES="$SCRIPT_DIR/sites"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/crossdock-sites-test.XXXXXX")
DIR="$TMP/sites"
OUT="$TMP/out"
BASE=""
PASSED=0
FAILED=0
TIMINGS=()

say() { printf '[test-sites] %s\n' "$*"; }
pass() { PASSED=$((PASSED + 1)); printf '  ok    %s\n' "$1"; }
fail() { FAILED=$((FAILED + 1)); printf '  FAIL  %s\n' "$1"; }
check() {
  local desc=$1
  shift
  if "$@"; then pass "$desc"; else fail "$desc"; fi
}
port_listening() { [[ -n $(ss -Hltn "sport = :$1" 2>/dev/null) ]]; }

cleanup() {
  local rc=$?
  if [[ -d $DIR ]]; then
    say "cleaning up $DIR"
    "$SITES" down --dir "$DIR" >/dev/null 2>&1 || true
  fi
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT

# No socket at all (listening, connected or closing) holds a port of the block one instance may
# use (4 sites: P..P+399): an outgoing connection given one of them as its local port would keep
# a node from binding it later.
block_free() {
  local p=$1
  if ss -Htan | awk -v lo="$p" -v hi=$((p + 399)) '
    { n = split($4, a, ":"); port = a[n] + 0; if (port >= lo && port <= hi) found = 1 }
    END { exit !found }'; then
    return 1
  fi
  [[ -z $(pgrep -f -- "-crossdock_node cd${p}_" || true) ]]
}

pick_base() {
  local p
  if [[ -n ${CROSSDOCK_TEST_SITES_BASE_PORT:-} ]]; then
    BASE=$CROSSDOCK_TEST_SITES_BASE_PORT
    block_free "$BASE" || { say "base port $BASE is not free"; exit 1; }
    return
  fi
  for ((p = 46000; p <= 59000; p += 1000)); do
    if block_free "$p"; then BASE=$p; return; fi
  done
  say "no free base port between 46000 and 59000"
  exit 1
}

# run_timed <label> <args...>: runs scripts/sites, records wall time, keeps its output in $OUT.
LAST_MS=0
run_timed() {
  local label=$1 start rc=0
  shift
  start=$(date +%s%3N)
  "$SITES" "$@" >"$OUT" 2>&1 || rc=$?
  LAST_MS=$(($(date +%s%3N) - start))
  TIMINGS+=("$(printf '%-28s %6d.%03ds' "$label" $((LAST_MS / 1000)) $((LAST_MS % 1000)))")
  if ((rc != 0)); then
    say "'scripts/sites $*' failed with exit code $rc; its output:"
    cat "$OUT"
  else
    grep '^\[sites\]' "$OUT" | sed 's/^/    | /' || true
  fi
  return "$rc"
}

admin_curl() {
  # Credentials go through stdin, never the command line.
  local port=$1 path=$2
  jq -r '"user = \"\(.admin.username):\(.admin.password)\""' "$DIR/sites.json" |
    curl -sS --max-time 10 -K - "http://127.0.0.1:$port/api$path"
}

amqp_answers() {
  # The broker answers a protocol header with a Connection.Start method frame (type 1).
  local port=$1 first
  first=$(timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; printf 'AMQP\\0\\0\\11\\1' >&3; head -c 1 <&3 | od -An -tu1" 2>/dev/null | tr -d ' ') || return 1
  [[ $first == 1 ]]
}

password_not_printed() {
  local pw
  pw=$(jq -r .admin.password "$DIR/sites.json")
  ! grep -qF -- "$pw" "$OUT"
}

state_shape_ok() {
  local n=$1
  jq -e --argjson base "$BASE" --arg dir "$DIR" --argjson n "$n" '
    .basePort == $base and .dir == $dir
    and .admin.username == "crossdock-admin" and (.admin.password | length) >= 16
    and .wanProxy.controlPort == $base + 99
    and (.sites | length) == $n
    and ([.sites[] | .nodes | length] == ([2, 2, 1, 1] | .[0:$n]))
    and all(.sites | to_entries[]; .key as $i | .value as $s
      | $s.name == "dc\($i + 1)"
      and $s.clusterName == "crossdock-\($base)-dc\($i + 1)"
      and $s.link == {host: "127.0.0.1", port: ($base + $i * 100 + 50)}
      and all($s.nodes | to_entries[]; .key as $j | (.value | del(.amqpsPort, .managementTlsPort)) == {
        name: "cd\($base)_dc\($i + 1)_\($j + 1)@localhost", host: "127.0.0.1",
        amqpPort: ($base + $i * 100 + $j * 10), managementPort: ($base + $i * 100 + $j * 10 + 1),
        distPort: ($base + $i * 100 + $j * 10 + 2), type: "disc"}))
    and ([.sites[].clusterName] | unique | length) == $n' "$DIR/sites.json" >/dev/null
}

# Every node of every site answers the admin user, sees all of its cluster running and reports
# the site's cluster name; guest is gone; listeners are on loopback only.
verify_instance() {
  local n=$1 i j names expected cname port mgmt reported=()
  check "state file exists with mode 600" test "$(stat -c %a "$DIR/sites.json" 2>/dev/null)" = 600
  check "state file has the documented shape and port scheme ($n sites)" state_shape_ok "$n"
  check "password does not appear in the command output" password_not_printed
  for ((i = 0; i < n; i++)); do
    cname=$(jq -r ".sites[$i].clusterName" "$DIR/sites.json")
    expected=$(jq -r ".sites[$i].nodes[].name" "$DIR/sites.json" | sort | paste -sd' ')
    while read -r mgmt port; do
      names=$(admin_curl "$mgmt" '/nodes' | jq -r '[.[] | select(.running) | .name] | sort | join(" ")' 2>/dev/null || true)
      check "dc$((i + 1)) via :$mgmt: all nodes running ($expected)" test "$names" = "$expected"
      check "dc$((i + 1)) via :$mgmt: cluster name $cname" \
        test "$(admin_curl "$mgmt" /cluster-name | jq -r .name 2>/dev/null)" = "$cname"
      check "dc$((i + 1)) :$port answers AMQP" amqp_answers "$port"
      check "dc$((i + 1)) :$mgmt rejects guest" \
        test "$(curl -s -o /dev/null -w '%{http_code}' -u guest:guest "http://127.0.0.1:$mgmt/api/whoami")" = 401
    done < <(jq -r ".sites[$i].nodes[] | \"\(.managementPort) \(.amqpPort)\"" "$DIR/sites.json")
    reported+=("$(admin_curl "$(jq -r ".sites[$i].nodes[0].managementPort" "$DIR/sites.json")" /cluster-name | jq -r .name)")
  done
  check "cluster names reported by the brokers are distinct" \
    test "$(printf '%s\n' "${reported[@]}" | sort -u | wc -l)" = "$n"
  local nonlocal
  nonlocal=$(ss -Hltn | awk -v b="$BASE" '{split($4, a, ":"); p = a[length(a)]; if (p >= b && p < b + 400 && $4 !~ /^127\.0\.0\.1:/) print $4}')
  check "every listener of the instance is bound to 127.0.0.1" test -z "$nonlocal"
  if [[ -f $SCRIPT_DIR/../test/fixtures/wan-proxy/cli.ts ]]; then
    for ((i = 0; i < n; i++)); do
      check "WAN proxy listens on dc$((i + 1)) link port" port_listening $((BASE + i * 100 + 50))
    done
    check "WAN proxy control port listens" port_listening $((BASE + 99))
  fi
}

node_pids() { jq -r '.sites[].nodes[].name' "$DIR/sites.json" | while read -r name; do pgrep -f -- "-crossdock_node $name( |\$)" || echo none; done | paste -sd' '; }

idle_cpu_ok() {
  local pids pid before after total=0 worst=0 ticks hz
  hz=$(getconf CLK_TCK)
  pids=$(pgrep -f -- "-crossdock_node cd${BASE}_" | paste -sd' ')
  declare -A start
  for pid in $pids; do start[$pid]=$(awk '{print $14 + $15}' "/proc/$pid/stat"); done
  sleep 5
  for pid in $pids; do
    after=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    before=${start[$pid]}
    ticks=$((after - before))
    total=$((total + ticks))
    ((ticks > worst)) && worst=$ticks
  done
  # Percent of one CPU over 5 s = ticks * 100 / (5 * hz).
  say "idle beam CPU over 5 s: busiest node $((worst * 100 / (5 * hz)))%, all nodes together $((total * 100 / (5 * hz)))% of one core ($(ps -o rss= -p "${pids// /,}" | awk '{s += $1} END {printf "%d MB RSS total", s / 1024}'))"
  ((worst * 100 / (5 * hz) < 10))
}

nothing_left() {
  local ok=0 i j port
  if pgrep -af -- "cd${BASE}_|$DIR" >/dev/null; then
    say "leftover processes:"; pgrep -af -- "cd${BASE}_|$DIR" | cut -c1-160; ok=1
  fi
  for ((i = 0; i < 4; i++)); do
    for j in 0 1 2 3 4 10 11 12 13 14 50 51; do
      port=$((BASE + i * 100 + j))
      if port_listening "$port"; then say "port $port still listening"; ok=1; fi
    done
  done
  port_listening $((BASE + 99)) && { say "port $((BASE + 99)) still listening"; ok=1; }
  [[ -e $DIR ]] && { say "$DIR still exists"; ok=1; }
  return "$ok"
}

status_exits() {
  local rc=0
  "$SITES" status --dir "$DIR" >/dev/null 2>&1 || rc=$?
  [[ $rc == "$1" ]]
}

status_json_up() {
  "$SITES" status --dir "$DIR" --json 2>/dev/null | jq -e --argjson n "$1" '.up == true and (.sites | length) == $n and all(.sites[]; .nodesRunning == (.nodes | length))' >/dev/null
}

# tls_verifies <port> <server name> <ca>: a TLS handshake verifies the peer and its host name.
tls_verifies() {
  echo | timeout 10 openssl s_client -connect "127.0.0.1:$1" -servername "$2" -verify_hostname "$2" \
    -CAfile "$3" -verify_return_error 2>/dev/null | grep -q 'Verify return code: 0 (ok)'
}

# cert_days_left <port>: whole days until the certificate presented on the port expires.
cert_days_left() {
  local end
  end=$(echo | timeout 10 openssl s_client -connect "127.0.0.1:$1" 2>/dev/null | openssl x509 -noout -enddate | cut -d= -f2)
  echo $((($(date -d "$end" +%s) - $(date +%s)) / 86400))
}

verify_tls() {
  local i ca sn mgmt amqps link
  ca=$(jq -r .tls.caFile "$DIR/sites.json")
  check "state file names the CA" test -s "$ca"
  for ((i = 0; i < 2; i++)); do
    sn=$(jq -r ".sites[$i].tls.serverName" "$DIR/sites.json")
    link=$(jq -r ".sites[$i].tlsLink.port" "$DIR/sites.json")
    check "dc$((i + 1)) state file: TLS ports, link and files" jq -e ".sites[$i] | .tls.certFile != null and .tls.keyFile != null
      and .tlsLink.port == $BASE + $i * 100 + 51
      and all(.nodes[]; .amqpsPort == .amqpPort + 3 and .managementTlsPort == .amqpPort + 4)" "$DIR/sites.json"
    while read -r amqps mgmt; do
      check "dc$((i + 1)) AMQPS :$amqps verifies ($sn)" tls_verifies "$amqps" "$sn" "$ca"
      check "dc$((i + 1)) management https :$mgmt answers with the CA" test "$(jq -r '"user = \"\(.admin.username):\(.admin.password)\""' "$DIR/sites.json" |
        curl -sS --max-time 10 -K - --cacert "$ca" --connect-to "$sn:$mgmt:127.0.0.1:$mgmt" "https://$sn:$mgmt/api/whoami" | jq -r .name)" = crossdock-admin
    done < <(jq -r ".sites[$i].nodes[] | \"\(.amqpsPort) \(.managementTlsPort)\"" "$DIR/sites.json")
    check "dc$((i + 1)) TLS through the WAN proxy (:$link) verifies" tls_verifies "$link" "$sn" "$ca"
    check "dc$((i + 1)) plain AMQP still answers" amqp_answers "$(jq -r ".sites[$i].nodes[0].amqpPort" "$DIR/sites.json")"
  done
  check "certificates made with --cert-days 5 expire in 4-5 days" test "$(cert_days_left "$(jq -r '.sites[0].nodes[0].amqpsPort' "$DIR/sites.json")")" -ge 4
}

system_broker_pid() { ss -Hltnp 'sport = :5672' 2>/dev/null | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -1; }

main() {
  [[ $EUID -eq 0 ]] || { say "run as root"; exit 1; }
  pick_base
  local sys_pid pids_before pids_after victim victim_pid
  sys_pid=$(system_broker_pid)
  say "base port $BASE, dir $DIR"

  say "1. up (2 sites)"
  run_timed "up (2 sites, cold)" up --base-port "$BASE" --dir "$DIR" || exit 1
  verify_instance 2
  check "idle brokers use little CPU" idle_cpu_ok

  say "2. up again is a fast no-op"
  pids_before=$(node_pids)
  run_timed "up (already up)" up --base-port "$BASE" --dir "$DIR" || exit 1
  check "second up took under 5 s" test "$LAST_MS" -lt 5000
  pids_after=$(node_pids)
  check "second up restarted nothing" test "$pids_before" = "$pids_after"
  check "second up reported the sites healthy" grep -q 'dc2: healthy' "$OUT"

  say "3. a dead node is repaired"
  victim=$(jq -r '.sites[0].nodes[1].name' "$DIR/sites.json")
  victim_pid=$(pgrep -f -- "-crossdock_node $victim( |\$)")
  kill -KILL "$victim_pid"
  while kill -0 "$victim_pid" 2>/dev/null; do sleep 0.1; done
  check "status reports the site degraded (exit 1)" status_exits 1
  run_timed "up (repair one dead node)" up --base-port "$BASE" --dir "$DIR" || exit 1
  verify_instance 2
  check "repair left the other nodes alone" test \
    "$(cut -d' ' -f1,3,4 <<<"$pids_before")" = "$(node_pids | cut -d' ' -f1,3,4)"

  say "4. status"
  check "status exits 0 when healthy" status_exits 0
  check "status --json reports up" status_json_up 2
  check "env prints the state file path" test "$("$SITES" env --dir "$DIR")" = "$DIR/sites.json"

  say "5. down"
  run_timed "down (2 sites)" down --dir "$DIR" || exit 1
  check "nothing left after down" nothing_left
  run_timed "down (already down)" down --dir "$DIR" || exit 1
  check "second down is a no-op" test "$LAST_MS" -lt 2000
  check "status of a stopped instance exits 3" status_exits 3

  say "6. up (4 sites), shrink to 3 sites, down"
  # A fresh block, checked just before use: the fourth site's ports were not reserved so far.
  if [[ -z ${CROSSDOCK_TEST_SITES_BASE_PORT:-} ]]; then pick_base; fi
  say "base port $BASE"
  run_timed "up (4 sites, cold)" up --sites 4 --base-port "$BASE" --dir "$DIR" || exit 1
  verify_instance 4
  pids_before=$(node_pids)
  run_timed "up (shrink to 3 sites)" up --sites 3 --base-port "$BASE" --dir "$DIR" || exit 1
  verify_instance 3
  check "shrinking to 3 sites left the first three alone" test \
    "$(cut -d' ' -f1-5 <<<"$pids_before")" = "$(node_pids)"
  check "dc4 is gone" test -z "$(pgrep -f -- "-crossdock_node cd${BASE}_dc4_" || true)"
  run_timed "down (3 sites)" down --dir "$DIR" || exit 1
  check "nothing left after the final down" nothing_left
  check "the system broker on 5672 was not touched" test "$(system_broker_pid)" = "$sys_pid"

  say "7. up --tls (2 sites, 5-day certificates), reissue one certificate, down"
  if [[ -z ${CROSSDOCK_TEST_SITES_BASE_PORT:-} ]]; then pick_base; fi
  run_timed "up --tls (2 sites, cold)" up --tls --cert-days 5 --base-port "$BASE" --dir "$DIR" || exit 1
  verify_instance 2
  verify_tls
  check "the CA key is not readable by others" test "$(stat -c %a "$DIR/tls/ca.key")" = 600
  run_timed "certs (reissue dc2, 90 days)" certs --site dc2 --cert-days 90 --dir "$DIR" || exit 1
  check "dc2 presents the reissued certificate without a restart" \
    test "$(cert_days_left "$(jq -r '.sites[1].nodes[0].amqpsPort' "$DIR/sites.json")")" -ge 89
  check "dc1 kept its certificate" test "$(cert_days_left "$(jq -r '.sites[0].nodes[0].amqpsPort' "$DIR/sites.json")")" -le 5
  run_timed "down (TLS)" down --dir "$DIR" || exit 1
  check "nothing left after the TLS down" nothing_left

  say "timings:"
  printf '  %s\n' "${TIMINGS[@]}"
  printf '%d passed, %d failed\n' "$PASSED" "$FAILED"
  ((FAILED == 0))
}

main "$@"
