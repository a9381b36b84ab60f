# Helpers for scripts running inside a test-bed VM (source /seal/lib.sh).
# The VM's root namespace is "the node"; masters are network namespaces on a bridge, like hosts on
# a LAN. Masters can reach the node's address but have no route to the VIP (no default route),
# like real masters whose gateway knows nothing of a node-local VIP.

LAN_BRIDGE=lan0
NODE_IP=${NODE_IP:-192.168.0.10}
NODE_IP6=${NODE_IP6:-fd00:10::10}
FAKE_DIR=/run/fake
VIP=${VIP:-10.103.97.2}

log() { echo "[$(cut -d' ' -f1 /proc/uptime)] $*"; }
die() { echo "FAIL: $*"; exit 1; }

# lan_init: the bridge in the node's namespace, carrying NODE_IP (and NODE_IP6).
lan_init() {
  ip link add "$LAN_BRIDGE" type bridge
  ip addr add "$NODE_IP/24" dev "$LAN_BRIDGE"
  ip addr add "$NODE_IP6/64" dev "$LAN_BRIDGE" nodad
  ip link set "$LAN_BRIDGE" up
  mkdir -p "$FAKE_DIR"
}

# add_host NAME IP [IP6]: a host (network namespace) on the LAN; no default route.
add_host() {
  local name=$1 ip4=$2 ip6=${3:-}
  ip netns add "$name"
  ip link add "v-$name" type veth peer name eth0 netns "$name"
  ip link set "v-$name" master "$LAN_BRIDGE" up
  ip -n "$name" link set lo up
  ip -n "$name" addr add "$ip4/24" dev eth0
  [ -n "$ip6" ] && ip -n "$name" addr add "$ip6/64" dev eth0 nodad
  ip -n "$name" link set eth0 up
  mkdir -p "$FAKE_DIR/$name"
  echo "$ip4" > "$FAKE_DIR/$name/ip"
  [ -n "$ip6" ] && echo "$ip6" > "$FAKE_DIR/$name/ip6"
  return 0
}

# make_ca: a CA for the fake apiservers, made at test time (EC keys: fast under emulation).
make_ca() {
  [ -f "$FAKE_DIR/ca.crt" ] && return 0
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=seal-test-ca -keyout "$FAKE_DIR/ca.key" -out "$FAKE_DIR/ca.crt" 2>/dev/null
}

# fake_cert NAME: a serving certificate for the host's addresses, signed by the test CA.
fake_cert() {
  local name=$1 d="$FAKE_DIR/$1" san
  make_ca
  # Like real apiserver certificates (kubeadm certSANs), valid for the VIP too.
  san="IP:$(cat "$d/ip"),IP:$VIP"
  [ -f "$d/ip6" ] && san="$san,IP:$(cat "$d/ip6")"
  [ -n "${VIP6:-}" ] && san="$san,IP:$VIP6"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$name" \
    -keyout "$d/tls.key" -out "$d/tls.csr" 2>/dev/null
  printf 'subjectAltName=%s\n' "$san" > "$d/ext"
  openssl x509 -req -in "$d/tls.csr" -CA "$FAKE_DIR/ca.crt" -CAkey "$FAKE_DIR/ca.key" \
    -set_serial "0x$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" -days 2 -extfile "$d/ext" -out "$d/tls.crt" 2>/dev/null
}

# fake_apiserver NAME [ADDR] [PORT]: start the apiserver double in host NAME (default: its v4
# address, port 6443) and wait until it listens.
fake_apiserver() {
  fake_launch "$@"
  fake_wait "$1"
}

# start_apiservers NAME...: start several doubles at once (certificates made one after the other).
start_apiservers() {
  local m
  for m in "$@"; do fake_launch "$m"; done
  for m in "$@"; do fake_wait "$m"; done
}

fake_launch() {
  local name=$1 d="$FAKE_DIR/$1"
  local addr=${2:-$(cat "$d/ip")} port=${3:-6443}
  [ -f "$d/tls.crt" ] || fake_cert "$name"
  rm -f "$d/listening"
  ip netns exec "$name" /usr/bin/python3 /seal/fake-apiserver.py "$name" "$addr" "$port" \
    "$d/tls.crt" "$d/tls.key" "$d" > "$d/server.log" 2>&1 &
  echo $! > "$d/pid"
}

fake_wait() {
  local d="$FAKE_DIR/$1" i=0
  while [ ! -f "$d/listening" ]; do
    i=$((i + 1)); [ $i -gt 300 ] && die "fake apiserver $1 did not start: $(cat "$d/server.log")"
    kill -0 "$(cat "$d/pid")" 2>/dev/null || die "fake apiserver $1 exited: $(cat "$d/server.log")"
    sleep 0.1
  done
}

# fake_kill NAME: the apiserver process dies; new connections get a TCP RST.
fake_kill() { kill -9 "$(cat "$FAKE_DIR/$1/pid")"; wait "$(cat "$FAKE_DIR/$1/pid")" 2>/dev/null; return 0; }

# fake_blackhole NAME / fake_unblackhole NAME: packets to its port 6443 are silently dropped.
# One nft transaction, so the drop starts at a known instant.
fake_blackhole() {
  printf 'table inet seal_blackhole {\n chain in {\n  type filter hook input priority 0;\n  tcp dport 6443 drop\n }\n}\n' \
    | ip netns exec "$1" nft -f -
}
fake_unblackhole() { ip netns exec "$1" nft delete table inet seal_blackhole; }

# fake_unhealthy NAME / fake_healthy NAME: /healthz answers 500 / 200.
fake_unhealthy() { touch "$FAKE_DIR/$1/unhealthy"; }
fake_healthy() { rm -f "$FAKE_DIR/$1/unhealthy"; }

# vip_source_fix IFACE VIP SRC: the verified fix (DESIGN.md §2) by hand: the VIP's local route
# gets the node's own address as preferred source, so masters answer an address they can reach.
vip_source_fix() {
  ip route replace local "$2" dev "$1" table local proto kernel scope host src "$3"
}

# wait_for_stop: block until the host asks the VM to stop (Vm::stop creates /seal/stop).
wait_for_stop() { while [ ! -e /seal/stop ]; do sleep 0.2; done; }

# ready NAME: tell the host a phase is reached (Vm::wait_for_result NAME).
ready() { : > "/seal/results/$1"; }

# now: seconds since the epoch with sub-second precision (the VM's clock, for durations).
now() { date +%s.%N; }
# elapsed START: seconds since START (from now), with millisecond precision.
elapsed() { awk -v s="$1" -v e="$(now)" 'BEGIN { printf "%.3f", e - s }'; }

# wait_until SECONDS CMD...: poll CMD every 0.1 s until it succeeds; fails after SECONDS.
wait_until() {
  local limit=$1; shift
  local start; start=$(now)
  until "$@"; do
    [ "$(awk -v s="$start" -v e="$(now)" -v l="$limit" 'BEGIN { print (e - s > l) }')" = 1 ] && return 1
    sleep 0.1
  done
}

# rs_weight VS RS: the weight of real server RS in virtual server VS per ipvsadm, empty if absent.
rs_weight() {
  ipvsadm -Ln -t "$1" 2>/dev/null | awk -v rs="$2" '$1 == "->" && $2 == rs { print $4 }'
}
# rs_out VS RS: true when RS takes no new connections (weight 0 or gone).
rs_out() { local w; w=$(rs_weight "$1" "$2"); [ -z "$w" ] || [ "$w" = 0 ]; }
# rs_in VS RS: true when RS is in with a positive weight.
rs_in() { local w; w=$(rs_weight "$1" "$2"); [ -n "$w" ] && [ "$w" -gt 0 ]; }

# fetch URL: one HTTPS GET through the VIP checked against the test CA; prints the answer.
fetch() { curl -sS --max-time 3 --cacert "$FAKE_DIR/ca.crt" "$1"; }
