# The lvscare demo (./dev.sh demo): three apiserver doubles behind a VIP on a real IPVS kernel.
set -u
source /seal/lib.sh
LV=__LV__
VS=$VIP:6443
say() { printf '\n== %s\n' "$*"; }
requests() { local n=$1 out=""; for i in $(seq 1 "$n"); do out="$out $(fetch "https://$VS/" 2>/dev/null || echo FAIL)"; done; echo "  answers:$out"; }

say "three masters (apiserver doubles, HTTPS /healthz) at 192.168.0.2-4; the node is 192.168.0.10; masters have no route to the VIP $VIP"
lan_init
add_host m1 192.168.0.2; add_host m2 192.168.0.3; add_host m3 192.168.0.4
start_apiservers m1 m2 m3
say "lvscare care --vs $VS --rs 192.168.0.2:6443 --rs 192.168.0.3:6443 --rs 192.168.0.4:6443 --ca-file ca.crt"
$LV care --vs $VS --rs 192.168.0.2:6443 --rs 192.168.0.3:6443 --rs 192.168.0.4:6443 --ca-file $FAKE_DIR/ca.crt > /tmp/lvscare.log 2>&1 &
LVPID=$!
wait_until 30 rs_in $VS 192.168.0.4:6443 || { cat /tmp/lvscare.log; die "lvscare did not set up the service"; }
ipvsadm -Ln | sed 's/^/  /'
say "9 requests through the VIP (curl, certificate checked)"
requests 9

say "steady state for 20 s: lvscare's memory and CPU (under QEMU emulation, so CPU is inflated)"
ticks() { awk '{ print $14 + $15 }' /proc/$LVPID/stat; }
c0=$(ticks); t0=$(now); sleep 20; c1=$(ticks); dt=$(elapsed "$t0")
rss=$(awk '/VmRSS/ { print $2 }' /proc/$LVPID/status)
cpu=$(awk -v c="$((c1 - c0))" -v t="$dt" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", 100 * c / hz / t }')
echo "  resident memory ${rss} KiB, CPU ${cpu}% of one core"

declare -A OUT BACK
for kind in kill blackhole unhealthy; do
  case $kind in
    kill) fail=fake_kill; heal=fake_apiserver; what="m1's apiserver process killed (new connections get a reset)";;
    blackhole) fail=fake_blackhole; heal=fake_unblackhole; what="m1 blackholed (its packets silently dropped)";;
    unhealthy) fail=fake_unhealthy; heal=fake_healthy; what="m1's /healthz answers 500";;
  esac
  say "failure: $what"
  $fail m1; t0=$(now)
  wait_until 20 rs_out $VS 192.168.0.2:6443 && OUT[$kind]=$(elapsed "$t0") || OUT[$kind]=never
  echo "  m1 taken out after ${OUT[$kind]} s"
  ipvsadm -Ln | sed 's/^/  /'
  requests 6
  $heal m1; t0=$(now)
  wait_until 30 rs_in $VS 192.168.0.2:6443 && BACK[$kind]=$(elapsed "$t0") || BACK[$kind]=never
  echo "  m1 healthy again: back in after ${BACK[$kind]} s"
done

say "lvscare's log (state changes only)"
sed 's/^/  /' /tmp/lvscare.log
say "summary (seconds, measured with ipvsadm polled every 0.1 s)"
printf '  | failure | taken out after | back in after |\n  |---|---|---|\n'
for kind in kill blackhole unhealthy; do printf '  | %s | %s | %s |\n' "$kind" "${OUT[$kind]}" "${BACK[$kind]}"; done
echo "  resident memory ${rss} KiB; CPU ${cpu}% of one core at steady state with 3 masters"
kill -TERM $LVPID; wait $LVPID
[ "${OUT[kill]}" != never ] && [ "${OUT[blackhole]}" != never ] && [ "${OUT[unhealthy]}" != never ]
