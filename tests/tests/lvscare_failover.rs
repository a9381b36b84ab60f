//! lvscare against the real IPVS kernel: traffic through the VIP spreads over three masters that
//! have no route to the VIP, and each kind of master failure (killed, blackholed, /healthz 500)
//! takes exactly that master out, with no failed client request after the removal, and back in
//! on recovery. ipvsadm and curl are the witnesses.

use seal_testbed::{kernel_or_skip, project_binary, Vm, VmSpec};
use std::collections::HashMap;
use std::fs;
use std::time::Duration;

const SCRIPT: &str = r#"
set -u
source /seal/lib.sh
VS=$VIP:6443
lan_init
add_host m1 192.168.0.2; add_host m2 192.168.0.3; add_host m3 192.168.0.4
start_apiservers m1 m2 m3
__LV__ care --vs $VS --rs 192.168.0.2:6443 --rs 192.168.0.3:6443 --rs 192.168.0.4:6443 \
  --ca-file $FAKE_DIR/ca.crt > /seal/results/lvscare.log 2>&1 &
LVPID=$!
wait_until 30 rs_in $VS 192.168.0.4:6443 || { cat /seal/results/lvscare.log; die "lvscare did not set up the service"; }
ipvsadm -Ln > /seal/results/table-start
for i in $(seq 1 9); do fetch "https://$VS/" >> /seal/results/spread || echo "spread request $i failed"; done

# trial KIND FAIL RECOVER: break m1 one way, time its removal from the moment the failure is in
# place, hammer the VIP, heal it, time its return from the moment it is healthy again.
trial() {
  local kind=$1 fail=$2 recover=$3 t0 bad=0
  $fail m1; t0=$(now)
  if wait_until 20 rs_out $VS 192.168.0.2:6443; then echo "$kind out $(elapsed $t0)"; else echo "$kind out never"; fi >> /seal/results/timings
  ipvsadm -Ln > /seal/results/table-$kind
  for i in $(seq 1 20); do fetch "https://$VS/" >> /seal/results/after-$kind || bad=$((bad + 1)); done
  echo "$kind failed-requests $bad" >> /seal/results/timings
  $recover m1; t0=$(now)
  if wait_until 30 rs_in $VS 192.168.0.2:6443; then echo "$kind back $(elapsed $t0)"; else echo "$kind back never"; fi >> /seal/results/timings
}
trial kill fake_kill fake_apiserver
trial blackhole fake_blackhole fake_unblackhole
trial unhealthy fake_unhealthy fake_healthy
ipvsadm -Ln > /seal/results/table-end
kill -TERM $LVPID; wait $LVPID; echo $? > /seal/results/lvscare-exit
ipvsadm -Ln > /seal/results/table-after-sigterm
"#;

/// `kind what value` lines of the timings file.
fn timings(text: &str) -> HashMap<(String, String), String> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some((
                (f.next()?.to_string(), f.next()?.to_string()),
                f.next()?.to_string(),
            ))
        })
        .collect()
}

/// Weight of a real server in an `ipvsadm -Ln` table, `None` when absent.
fn weight(table: &str, rs: &str) -> Option<u32> {
    table.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() >= 4 && f[0] == "->" && f[1] == rs)
            .then(|| f[3].parse().ok())
            .flatten()
    })
}

#[test]
fn failover_for_each_failure_kind() {
    let Some(kernel) = kernel_or_skip("failover_for_each_failure_kind") else {
        return;
    };
    let script = SCRIPT.replace("__LV__", &project_binary("lvscare").display().to_string());
    let out = Vm::run(
        &kernel,
        &VmSpec::new("lvscare-failover", &script, Duration::from_secs(600)),
    )
    .expect("VM");
    let read = |name: &str| fs::read_to_string(out.results.join(name)).unwrap_or_default();
    let log = read("lvscare.log");
    out.assert_success();

    let start = read("table-start");
    for rs in ["192.168.0.2:6443", "192.168.0.3:6443", "192.168.0.4:6443"] {
        assert_eq!(
            weight(&start, rs),
            Some(1),
            "{rs} not in at start:\n{start}\n{log}"
        );
    }
    let spread = read("spread");
    for m in ["m1", "m2", "m3"] {
        assert!(
            spread.lines().any(|l| l == m),
            "{m} never answered through the VIP: {spread:?}"
        );
    }

    let t = timings(&read("timings"));
    eprintln!("timings (s): {t:?}");
    for kind in ["kill", "blackhole", "unhealthy"] {
        let get = |what: &str| {
            t.get(&(kind.to_string(), what.to_string()))
                .cloned()
                .unwrap_or_default()
        };
        assert_ne!(get("out"), "never", "{kind}: m1 was never taken out\n{log}");
        assert!(
            get("out").parse::<f64>().is_ok(),
            "{kind}: no removal time recorded\n{log}"
        );
        assert_eq!(
            get("failed-requests"),
            "0",
            "{kind}: requests failed after removal\n{log}"
        );
        assert_ne!(get("back"), "never", "{kind}: m1 never came back\n{log}");
        let table = read(&format!("table-{kind}"));
        assert!(
            weight(&table, "192.168.0.2:6443").unwrap_or(0) == 0,
            "{kind}: m1 still takes connections:\n{table}"
        );
        for rs in ["192.168.0.3:6443", "192.168.0.4:6443"] {
            assert_eq!(
                weight(&table, rs),
                Some(1),
                "{kind}: healthy {rs} touched:\n{table}"
            );
        }
        let answers = read(&format!("after-{kind}"));
        assert!(
            !answers.lines().any(|l| l == "m1"),
            "{kind}: m1 still answered after removal"
        );
    }

    // SIGTERM leaves the rules in place, so traffic survives a restart.
    assert_eq!(read("lvscare-exit").trim(), "0");
    let after = read("table-after-sigterm");
    assert_eq!(
        weight(&after, "192.168.0.2:6443"),
        Some(1),
        "rules removed on SIGTERM:\n{after}"
    );

    // State changes are logged once each: three downs and three ups of m1, nothing per tick.
    assert_eq!(
        log.matches("master 192.168.0.2:6443 is down").count(),
        3,
        "{log}"
    );
    assert_eq!(
        log.matches("master 192.168.0.2:6443 is up again").count(),
        3,
        "{log}"
    );
    assert!(
        !log.contains("192.168.0.3:6443 is down") && !log.contains("192.168.0.4:6443 is down"),
        "{log}"
    );
    assert!(
        log.lines().count() < 60,
        "log too chatty ({} lines):\n{log}",
        log.lines().count()
    );
}
