# testbed soak: lvscare for __SECS__ s on the real kernel while masters flap at random (killed,
# blackholed, /healthz 500, then healed), others flush IPVS (ipvsadm -C) or delete its link, and
# a client requests through the VIP all along. Reports RSS, open fds, threads and log lines at
# the start and the end, and client failures outside the 5 s after each break or removal; fails
# when memory or fds grow, logging exceeds a bound per event, or a request fails outside a window.
set -u
source /seal/lib.sh
LV=__LV__
SECS=__SECS__
VS=$VIP:6443
R=/seal/results
modprobe nf_tables
lan_init
add_host m1 192.168.0.2; add_host m2 192.168.0.3; add_host m3 192.168.0.4
start_apiservers m1 m2 m3
$LV care --vs $VS --rs 192.168.0.2:6443 --rs 192.168.0.3:6443 --rs 192.168.0.4:6443 \
  --ca-file $FAKE_DIR/ca.crt --metrics-addr 127.0.0.1:9102 > $R/lvscare.log 2>&1 &
LVPID=$!
wait_until 30 rs_in $VS 192.168.0.4:6443 || { cat $R/lvscare.log; die "lvscare did not set up the service"; }

# sample: RSS (kB), open fds, threads, log lines of lvscare.
sample() {
  echo "$(awk '/^VmRSS/ { print $2 }' /proc/$LVPID/status) $(ls /proc/$LVPID/fd | wc -l)" \
    "$(awk '/^Threads/ { print $2 }' /proc/$LVPID/status) $(wc -l < $R/lvscare.log)"
}

# The client: one request at a time through the VIP, each a new connection; "time ok|fail".
( while [ ! -e /tmp/stop-client ]; do
    if curl -s --max-time 2 --cacert $FAKE_DIR/ca.crt -o /dev/null "https://$VS/"; then r=ok; else r=fail; fi
    echo "$(now) $r"
    sleep 0.1
  done > $R/client ) &
CLIENT=$!
sleep 10
START=$(sample)
END_AT=$(( $(date +%s) + SECS ))
: > $R/events
event() { echo "$(now) $*" >> $R/events; }
n=0
while [ "$(date +%s)" -lt $END_AT ]; do
  m=m$(( RANDOM % 3 + 1 ))
  case $(( RANDOM % 5 )) in
    0) event break kill $m; fake_kill $m; sleep $(( RANDOM % 4 + 3 )); event heal $m; fake_apiserver $m;;
    1) event break blackhole $m; fake_blackhole $m; sleep $(( RANDOM % 4 + 3 )); event heal $m; fake_unblackhole $m;;
    2) event break unhealthy $m; fake_unhealthy $m; sleep $(( RANDOM % 4 + 3 )); event heal $m; fake_healthy $m;;
    3) event break flush; ipvsadm -C;;
    4) event break link-del; ip link del lvscare;;
  esac
  n=$((n + 1))
  # Every master back in before the next event, so the client always has somewhere to go.
  for i in 2 3 4; do wait_until 30 rs_in $VS 192.168.0.$i:6443 || die "192.168.0.$i not back after event $n"; done
  if [ $((n % 10)) = 0 ]; then curl -s --max-time 3 http://127.0.0.1:9102/metrics > /dev/null || die "no /metrics"; fi
  sleep 1
done
sleep 5
END=$(sample)
touch /tmp/stop-client; wait $CLIENT
kill -TERM $LVPID; wait $LVPID

# Failures more than 5 s after the last break (a new connection may go to a master for up to
# ~2 s before it is out, and then wait out curl's 2 s limit).
awk 'NR == FNR { if ($2 == "break") b[++nb] = $1; next }
     { t = $1; if ($2 == "ok") { ok++; next }
       last = 0; for (i = 1; i <= nb; i++) if (b[i] <= t) last = b[i];
       if (last > 0 && t - last <= 5) inwin++; else { out++; print "failure outside a window at " t > "/dev/stderr" } }
     END { printf "%d %d %d\n", ok, inwin, out }' $R/events $R/client > $R/client-summary
read -r OK INWIN OUT < $R/client-summary
read -r RSS0 FD0 TH0 LOG0 <<< "$START"
read -r RSS1 FD1 TH1 LOG1 <<< "$END"
EVENTS=$(grep -c ' break ' $R/events)
printf '\n| soak %s s, %s events | RSS (kB) | fds | threads | log lines |\n|---|---|---|---|---|\n' "$SECS" "$EVENTS"
printf '| start | %s | %s | %s | %s |\n| end | %s | %s | %s | %s |\n' $RSS0 $FD0 $TH0 $LOG0 $RSS1 $FD1 $TH1 $LOG1
printf '\nclient: %s answered, %s failed within 5 s of a break, %s failed outside\n' $OK $INWIN $OUT
echo "$RSS0 $FD0 $TH0 $LOG0 $RSS1 $FD1 $TH1 $LOG1 $EVENTS $OK $INWIN $OUT" > $R/soak
fails=0
[ "$RSS1" -le $(( RSS0 + RSS0 / 4 + 1024 )) ] || { echo "FAIL: RSS grew from $RSS0 to $RSS1 kB"; fails=1; }
[ "$FD1" -le $(( FD0 + 3 )) ] || { echo "FAIL: fds grew from $FD0 to $FD1"; fails=1; }
[ "$TH1" -le 8 ] || { echo "FAIL: $TH1 threads"; fails=1; }
[ $(( LOG1 - LOG0 )) -le $(( EVENTS * 8 + 10 )) ] || { echo "FAIL: $(( LOG1 - LOG0 )) log lines for $EVENTS events"; fails=1; }
[ "$OUT" = 0 ] || { echo "FAIL: $OUT client failures outside the removal windows"; fails=1; }
[ "$EVENTS" -ge 3 ] || { echo "FAIL: only $EVENTS events"; fails=1; }
[ $fails = 0 ] || { tail -40 $R/lvscare.log; exit 1; }
