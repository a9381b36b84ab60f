//! lvscare on a real kernel that lacks what it needs: IPVS that cannot load, no CAP_NET_ADMIN,
//! no dummy link driver, a read-only /proc/sys; and restarts under client load. Each fault gives
//! a clear message once, a retry only where retrying can help, and never a busy loop; a restart
//! (SIGTERM, start again) loses no client request.

use seal_testbed::{kernel_or_skip, project_binary, Vm, VmSpec};
use std::fs;
use std::time::Duration;

const SCRIPT: &str = r#"
set -u
source /seal/lib.sh
LV=__LV__
VS=$VIP:6443
R=/seal/results
lan_init
add_host m1 192.168.0.2; add_host m2 192.168.0.3
start_apiservers m1 m2
ARGS="care --vs $VS --rs 192.168.0.2:6443 --rs 192.168.0.3:6443 --ca-file $FAKE_DIR/ca.crt"
blocked() { printf "install $1 /bin/false\n" > /etc/modprobe.d/seal-fault.conf; rmmod "$@" 2>/dev/null; true; }
unblocked() { rm -f /etc/modprobe.d/seal-fault.conf; }
# fault NAME SECS CMD...: run CMD for up to SECS; its exit code (124: still running when
# stopped), its log, and the CPU it used (ticks of user + system time).
fault() {
  local name=$1 secs=$2 pid end; shift 2
  "$@" > $R/$name.log 2>&1 & pid=$!
  end=$(( $(date +%s) + secs ))
  while kill -0 $pid 2>/dev/null && [ "$(date +%s)" -lt $end ]; do sleep 0.2; done
  if kill -0 $pid 2>/dev/null; then
    awk '{ print $14 + $15 }' /proc/$pid/stat > $R/$name.cpu
    ipvsadm -Ln > $R/$name.table 2>&1
    [ -n "${PROBE:-}" ] && { fetch "https://$VS/" > $R/$name.fetch 2>&1 || true; }
    kill -TERM $pid; wait $pid; echo 124 > $R/$name.code
  else
    wait $pid; echo $? > $R/$name.code
  fi
}

# The CPU a healthy lvscare uses in the same time, for comparison.
fault healthy 10 $LV $ARGS
$LV care --vs $VS --clean > /dev/null 2>&1
rmmod ip_vs_rr ip_vs 2>/dev/null

# IPVS that cannot be loaded.
blocked ip_vs ip_vs_rr
grep '^ip_vs ' /proc/modules > $R/ipvs-loaded-before
fault no-ipvs 10 $LV $ARGS
unblocked

# No CAP_NET_ADMIN (root with the capability out of its bounding set).
fault no-cap 10 setpriv --bounding-set=-net_admin -- $LV $ARGS
ipvsadm -Ln > $R/no-cap.after

# No dummy link driver.
blocked dummy
fault no-dummy 10 $LV $ARGS
unblocked
$LV care --vs $VS --clean > /dev/null 2>&1

# /proc/sys read-only, as in some containers.
PROBE=1 fault ro-sysctl 10 unshare -m sh -c "mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys && exec $LV $ARGS"
$LV care --vs $VS --clean > /dev/null 2>&1

# Restarts under load: a request every 50 ms through the VIP while lvscare is restarted 3 times.
$LV $ARGS > $R/restart.log 2>&1 & LVPID=$!
wait_until 30 rs_in $VS 192.168.0.3:6443 || die "lvscare did not set up the service"
( ok=0; bad=0; while [ ! -e /tmp/stop-client ]; do
    if curl -sS --max-time 2 --cacert $FAKE_DIR/ca.crt "https://$VS/" > /dev/null 2>> $R/client-errors; then ok=$((ok + 1)); else bad=$((bad + 1)); fi
    sleep 0.05
  done; echo "$ok $bad" > $R/client ) &
CLIENT=$!
sleep 2
for i in 1 2 3 4 5; do
  kill -TERM $LVPID; wait $LVPID
  $LV $ARGS >> $R/restart.log 2>&1 & LVPID=$!
  sleep 3
done
touch /tmp/stop-client; wait $CLIENT
kill -TERM $LVPID; wait $LVPID
"#;

#[test]
fn kernel_faults_are_explained_once_and_restarts_lose_no_request() {
    let Some(kernel) =
        kernel_or_skip("kernel_faults_are_explained_once_and_restarts_lose_no_request")
    else {
        return;
    };
    let script = SCRIPT.replace("__LV__", &project_binary("lvscare").display().to_string());
    let out = Vm::run(
        &kernel,
        &VmSpec::new("lvscare-faults", &script, Duration::from_secs(400)),
    )
    .expect("VM");
    let read = |name: &str| fs::read_to_string(out.results.join(name)).unwrap_or_default();
    for name in ["healthy", "no-ipvs", "no-cap", "no-dummy", "ro-sysctl"] {
        eprintln!(
            "--- {name}: exit {} cpu {} ticks\n{}",
            read(&format!("{name}.code")).trim(),
            read(&format!("{name}.cpu")).trim(),
            read(&format!("{name}.log"))
        );
    }
    eprintln!(
        "client (ok failed): {}\n{}",
        read("client"),
        read("client-errors")
    );
    out.assert_success();

    // A fault may cost no more CPU than health does (no busy retry loop).
    let cpu = |name: &str| -> u64 {
        read(&format!("{name}.cpu"))
            .trim()
            .parse()
            .unwrap_or(u64::MAX)
    };
    let healthy = cpu("healthy");
    assert!(healthy < u64::MAX, "no CPU reading of the healthy run");

    // IPVS missing: exit at once, saying what to load.
    assert!(read("ipvs-loaded-before").is_empty(), "ip_vs still loaded");
    let log = read("no-ipvs.log");
    assert_eq!(read("no-ipvs.code").trim(), "1", "{log}");
    assert!(log.contains("modprobe ip_vs"), "{log}");

    // No CAP_NET_ADMIN: retrying cannot help; exit with the fix, nothing created.
    let log = read("no-cap.log");
    assert_eq!(read("no-cap.code").trim(), "1", "{log}");
    assert!(log.contains("CAP_NET_ADMIN"), "{log}");
    assert!(
        !read("no-cap.after").contains("TCP"),
        "{}",
        read("no-cap.after")
    );

    // No dummy driver: keeps retrying (the module may be loaded later), says so once, and idles.
    let log = read("no-dummy.log");
    assert_eq!(read("no-dummy.code").trim(), "124", "{log}");
    assert!(log.contains("modprobe dummy"), "{log}");
    assert_eq!(log.matches("modprobe dummy").count(), 1, "{log}");
    assert!(
        cpu("no-dummy") <= healthy * 2,
        "no-dummy: {} CPU ticks, healthy {healthy}",
        cpu("no-dummy")
    );

    // Read-only /proc/sys: said once, and balancing still works.
    let log = read("ro-sysctl.log");
    assert_eq!(read("ro-sysctl.code").trim(), "124", "{log}");
    assert!(
        log.contains("net.ipv4.vs.expire_nodest_conn") && log.contains("read-only"),
        "{log}"
    );
    assert_eq!(log.matches("read-only").count(), 1, "{log}");
    assert!(
        read("ro-sysctl.table").contains("192.168.0.3:6443"),
        "{}",
        read("ro-sysctl.table")
    );
    assert!(
        read("ro-sysctl.fetch").starts_with('m'),
        "{}",
        read("ro-sysctl.fetch")
    );
    assert!(
        cpu("ro-sysctl") <= healthy * 2,
        "ro-sysctl: {} CPU ticks, healthy {healthy}",
        cpu("ro-sysctl")
    );

    // Restarts: every request answered.
    let client = read("client");
    let (ok, bad) = client.trim().split_once(' ').expect("client counts");
    assert!(ok.parse::<u32>().unwrap_or(0) >= 10, "{client}");
    assert_eq!(
        bad,
        "0",
        "requests failed across restarts:\n{}",
        read("client-errors")
    );
}
