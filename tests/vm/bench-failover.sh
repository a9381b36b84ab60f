# testbed bench-failover: how long a dead master keeps receiving new connections, over many
# trials, on lvscare's defaults. Each trial waits a random 0-1 s (so the failure falls anywhere
# between two probes), breaks m1, and polls the kernel's table every 10 ms until m1 is out.
set -u
source /seal/lib.sh
LV=__LV__
TRIALS=__TRIALS__
VS=$VIP:6443
lan_init
add_host m1 192.168.0.2; add_host m2 192.168.0.3; add_host m3 192.168.0.4
start_apiservers m1 m2 m3
$LV care --vs $VS --rs 192.168.0.2:6443 --rs 192.168.0.3:6443 --rs 192.168.0.4:6443 \
  --ca-file $FAKE_DIR/ca.crt > /tmp/lvscare.log 2>&1 &
wait_until 30 rs_in $VS 192.168.0.4:6443 || { cat /tmp/lvscare.log; die "lvscare did not set up the service"; }
grep -m1 "probing" /tmp/lvscare.log

# out_after T0: seconds from T0 until m1 takes no new connections (polled every 10 ms).
out_after() {
  until rs_out $VS 192.168.0.2:6443; do sleep 0.01; done
  elapsed "$1"
}

for kind in kill blackhole; do
  case $kind in
    kill) fail=fake_kill; heal=fake_apiserver;;
    blackhole) fail=fake_blackhole; heal=fake_unblackhole;;
  esac
  : > "/tmp/$kind"
  for i in $(seq 1 "$TRIALS"); do
    wait_until 30 rs_in $VS 192.168.0.2:6443 || die "m1 did not come back"
    sleep "0.$(printf '%03d' $((RANDOM % 1000)))"
    $fail m1; t0=$(now)
    out_after "$t0" >> "/tmp/$kind"; echo >> "/tmp/$kind"
    $heal m1
  done
done

printf '\n%-10s %6s %8s %8s %8s %8s\n' failure trials mean p50 p90 max
for kind in kill blackhole; do
  sort -n "/tmp/$kind" | awk -v k="$kind" '
    { v[NR] = $1; s += $1 }
    END { printf "%-10s %6d %7.2fs %7.2fs %7.2fs %7.2fs\n", k, NR, s / NR, v[int((NR + 1) / 2)], v[int(NR * 0.9 + 0.5)], v[NR] }'
done
echo "(seconds from the failure until m1 is at weight 0 or gone; the ~10 ms poll and ipvsadm add to each)"
