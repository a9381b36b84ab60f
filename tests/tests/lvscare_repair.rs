//! lvscare against the real IPVS kernel: bad input touches nothing; whatever else removes or
//! changes (ipvsadm -C, the interface, the VIP address, a real server, a weight) is repaired; an
//! IPVS service created by hand survives lvscare's whole life, `--clean` included.

use seal_testbed::{kernel_or_skip, openmetrics, project_binary, Vm, VmSpec};
use std::collections::HashMap;
use std::fs;
use std::time::Duration;

const SCRIPT: &str = r#"
set -u
source /seal/lib.sh
LV=__LV__
VS=$VIP:6443
RS="--rs 192.168.0.2:6443 --rs 192.168.0.3:6443"
lan_init
add_host m1 192.168.0.2; add_host m2 192.168.0.3
start_apiservers m1 m2

# Bad input: exit 2, a message, and nothing created.
bad() { local name=$1; shift; $LV "$@" > /seal/results/bad-$name.out 2>&1; echo $? > /seal/results/bad-$name.code; }
bad malformed care --vs 10.103.97.2 $RS
bad port-zero care --vs 10.103.97.2:0 $RS
bad port-too-big care --vs 10.103.97.2:6443 --rs 192.168.0.2:70000
bad vip-is-rs care --vs 192.168.0.2:6443 $RS
bad scheduler care --vs $VS $RS --scheduler fastest
bad no-rs care --vs $VS
bad mixed-family care --vs '[fd00:97::2]:6443' $RS
bad timeout care --vs $VS $RS --interval 1s --health-timeout 2s
ipvsadm -Ln > /seal/results/table-after-bad
ip link show lvscare > /seal/results/link-after-bad 2>&1

# A service that is not lvscare's, created before it starts.
ipvsadm -A -t 10.0.0.9:80 -s wlc
ipvsadm -a -t 10.0.0.9:80 -r 192.168.0.3:80 -m -w 7
ipvsadm -Ln -t 10.0.0.9:80 > /seal/results/foreign-before

start_lvscare() { $LV care --vs $VS $RS --ca-file $FAKE_DIR/ca.crt "$@" >> /seal/results/lvscare.log 2>&1 & LVPID=$!; }
start_lvscare --metrics-addr 127.0.0.1:9102
wait_until 30 rs_in $VS 192.168.0.3:6443 || { cat /seal/results/lvscare.log; die "lvscare did not set up the service"; }
healthy() { rs_in $VS 192.168.0.2:6443 && rs_in $VS 192.168.0.3:6443 && ip -o addr show lvscare 2>/dev/null | grep -q "$VIP/32" \
  && ip route show table local | grep -q "local $VIP dev lvscare .*src $NODE_IP"; }
wait_until 10 healthy || die "not fully set up"

# repair NAME CMD...: break something, time the repair.
repair() {
  local name=$1 t0; shift
  t0=$(now); "$@"
  if wait_until 15 healthy; then echo "$name $(elapsed $t0)"; else echo "$name never"; fi >> /seal/results/repairs
  ipvsadm -Ln -t 10.0.0.9:80 > /seal/results/foreign-after-$name 2>&1
}
repair service-deleted ipvsadm -D -t $VS
repair rs-deleted ipvsadm -d -t $VS -r 192.168.0.2:6443
repair weight-changed ipvsadm -e -t $VS -r 192.168.0.3:6443 -m -w 0
repair link-deleted ip link del lvscare
repair link-down ip link set lvscare down
repair address-deleted ip addr del $VIP/32 dev lvscare
repair route-source-reset ip route replace local $VIP dev lvscare table local proto kernel scope host src $VIP
fetch "https://$VS/" > /seal/results/fetch-after-repairs || { ipvsadm -Ln; ip route show table local; ip addr show lvscare; ip route get $VIP; tail -20 /seal/results/lvscare.log; }

# A master that goes down and comes back, for the metrics' transitions.
fake_unhealthy m1; wait_until 10 rs_out $VS 192.168.0.2:6443 || die "m1 not taken out"
fake_healthy m1; wait_until 15 rs_in $VS 192.168.0.2:6443 || die "m1 not back"
curl -sS --max-time 3 -D /seal/results/metrics-headers http://127.0.0.1:9102/metrics > /seal/results/metrics
curl -s --max-time 3 -o /seal/results/healthz -w '%{http_code}' http://127.0.0.1:9102/healthz > /seal/results/healthz-code

kill -TERM $LVPID; wait $LVPID
ipvsadm -Ln > /seal/results/table-after-sigterm
$LV care --vs $VS $RS --clean > /seal/results/clean.out 2>&1; echo $? > /seal/results/clean.code
ipvsadm -Ln > /seal/results/table-after-clean
ip link show lvscare > /seal/results/link-after-clean 2>&1
ipvsadm -Ln -t 10.0.0.9:80 > /seal/results/foreign-after-clean 2>&1

# ipvsadm -C (a flush, as a kube-proxy cleanup does) takes everything; lvscare puts its own back.
start_lvscare
wait_until 30 healthy || die "restart did not set up"
repair flush ipvsadm -C
kill -TERM $LVPID; wait $LVPID
"#;

#[test]
fn repairs_what_others_remove_and_never_touches_what_is_not_its_own() {
    let Some(kernel) =
        kernel_or_skip("repairs_what_others_remove_and_never_touches_what_is_not_its_own")
    else {
        return;
    };
    let script = SCRIPT.replace("__LV__", &project_binary("lvscare").display().to_string());
    let out = Vm::run(
        &kernel,
        &VmSpec::new("lvscare-repair", &script, Duration::from_secs(600)),
    )
    .expect("VM");
    let read = |name: &str| fs::read_to_string(out.results.join(name)).unwrap_or_default();
    let log = read("lvscare.log");
    out.assert_success();

    let cases: &[(&str, &str)] = &[
        ("malformed", "10.103.97.2"),
        ("port-zero", "port"),
        ("port-too-big", "70000"),
        ("vip-is-rs", "192.168.0.2"),
        ("scheduler", "fastest"),
        ("no-rs", "--rs"),
        ("mixed-family", "IPv"),
        ("timeout", "interval"),
    ];
    for (name, needle) in cases {
        let msg = read(&format!("bad-{name}.out"));
        assert_eq!(
            read(&format!("bad-{name}.code")).trim(),
            "2",
            "{name}: exit code, message: {msg}"
        );
        assert!(
            msg.contains(needle),
            "{name}: message should name {needle:?}: {msg}"
        );
        eprintln!("bad input {name}: {}", msg.trim());
    }
    let table = read("table-after-bad");
    assert!(
        !table.contains("TCP"),
        "bad input created a service:\n{table}"
    );
    assert!(
        read("link-after-bad").contains("does not exist"),
        "bad input created the interface"
    );

    let repairs: HashMap<String, String> = read("repairs")
        .lines()
        .filter_map(|l| {
            l.split_once(' ')
                .map(|(a, b)| (a.to_string(), b.to_string()))
        })
        .collect();
    eprintln!("repair times (s): {repairs:?}");
    for name in [
        "service-deleted",
        "rs-deleted",
        "weight-changed",
        "link-deleted",
        "link-down",
        "address-deleted",
        "route-source-reset",
        "flush",
    ] {
        let t = repairs.get(name).map(String::as_str).unwrap_or("missing");
        assert!(
            t.parse::<f64>().is_ok(),
            "{name}: not repaired ({t})\n{log}"
        );
    }
    // /metrics as Prometheus's reference parser reads it, with the repairs and the flap counted.
    assert!(
        read("metrics-headers").contains("application/openmetrics-text"),
        "{}",
        read("metrics-headers")
    );
    let samples = openmetrics::parse(&read("metrics"));
    let get = |series: &str| samples.get(series).copied();
    for object in ["service", "real_server", "interface", "address", "route"] {
        let n = get(&format!("lvscare_repairs_total{{object={object}}}")).unwrap_or(0.0);
        assert!(n >= 1.0, "repairs of {object}: {n}\n{}", read("metrics"));
    }
    let m1 = "master=192.168.0.2:6443";
    assert_eq!(
        get(&format!("lvscare_master_transitions_total{{{m1},to=down}}")),
        Some(1.0)
    );
    assert_eq!(
        get(&format!("lvscare_master_transitions_total{{{m1},to=up}}")),
        Some(1.0)
    );
    assert_eq!(get(&format!("lvscare_master_up{{{m1}}}")), Some(1.0));
    assert!(get(&format!("lvscare_probe_duration_seconds_count{{{m1}}}")).unwrap_or(0.0) >= 10.0);
    assert_eq!(read("healthz-code"), "200", "{}", read("healthz"));
    assert!(
        read("fetch-after-repairs").starts_with('m'),
        "no answer through the VIP after the repairs:\n{}",
        out.output
    );

    let foreign = read("foreign-before");
    assert!(
        foreign.contains("10.0.0.9:80 wlc") && foreign.contains("192.168.0.3:80"),
        "{foreign}"
    );
    for name in [
        "service-deleted",
        "rs-deleted",
        "weight-changed",
        "link-deleted",
        "address-deleted",
    ] {
        assert_eq!(
            read(&format!("foreign-after-{name}")),
            foreign,
            "foreign service changed after {name}"
        );
    }
    assert_eq!(
        read("foreign-after-clean"),
        foreign,
        "--clean touched the foreign service"
    );

    assert!(
        read("table-after-sigterm").contains("10.103.97.2:6443"),
        "SIGTERM removed the rules"
    );
    assert_eq!(read("clean.code").trim(), "0", "{}", read("clean.out"));
    let after_clean = read("table-after-clean");
    assert!(
        !after_clean.contains("10.103.97.2:6443"),
        "--clean left the service:\n{after_clean}"
    );
    assert!(
        read("link-after-clean").contains("does not exist"),
        "--clean left the interface"
    );
}
