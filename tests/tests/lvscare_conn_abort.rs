//! lvscare against the real kernel: a node process holding one kept-alive HTTPS connection
//! through the VIP gets that connection aborted (SOCK_DESTROY) the moment its master is declared
//! Down, and its next request is answered by another master. One VM, four cases in a row:
//!
//! 1. the client's master blackholed: aborted, answered elsewhere within 1 s of the removal;
//! 2. the client's master killed: answered elsewhere within 1 s of the removal;
//! 3. without TCP socket diagnostics (inet_diag/tcp_diag unloaded and made unloadable): lvscare
//!    says so once and the client stalls for its own 5 s timeout — the control for case 1;
//! 4. planned removal (lvscare restarted without that master): nothing aborted.

use seal_testbed::{kernel_or_skip, openmetrics, project_binary, Vm, VmSpec};
use std::fs;
use std::time::Duration;

const SCRIPT: &str = r#"
set -u
source /seal/lib.sh
LV=__LV__
VS=$VIP:6443
R=/seal/results
# nft's module (the blackhole) loads over 9p in the background while the hosts are set up.
modprobe nf_tables &
lan_init
add_host m1 192.168.0.2; add_host m2 192.168.0.3; add_host m3 192.168.0.4
start_apiservers m1 m2 m3
log "masters up"
ip_of() { cat "$FAKE_DIR/$1/ip"; }

grep -q '^tcp_diag ' /proc/modules && die "tcp_diag loaded before lvscare ran"
start_lvscare() { $LV care --vs $VS "$@" --ca-file $FAKE_DIR/ca.crt >> $R/$LOG 2>&1 & LVPID=$!; }
LOG=lvscare.log start_lvscare --rs 192.168.0.2:6443 --rs 192.168.0.3:6443 --rs 192.168.0.4:6443 \
  --metrics-addr 127.0.0.1:9102
# The node process: one kept-alive connection, a request every 100 ms, 5 s request timeout.
# Started with lvscare (python's start-up is slow under emulation); it retries until the VIP works.
python3 /seal/keepalive-client.py $VIP 6443 $FAKE_DIR/ca.crt 0.1 5 /tmp/stop-client > $R/client.log 2>&1 &
wait_until 30 rs_in $VS 192.168.0.4:6443 || { cat $R/lvscare.log; die "lvscare did not set up the service"; }
attached() { tail -1 $R/client.log | awk '$2 == "ok" { print $3 }'; }
has_master() { [ -n "$(attached)" ]; }
wait_until 20 has_master || { cat $R/client.log; die "the client got no answer"; }
log "client answered"
# lvscare's start-up check had the kernel load the socket diagnostics (nothing else uses them).
grep -c '^tcp_diag ' /proc/modules > $R/tcp_diag-loaded

# case NAME BREAK: break the client's master with BREAK, wait until another master answers.
# A master broken in one case may still be Down (rise) in the next: two of three at most, so
# lvscare never fails open and the client always has somewhere to go.
case_() {
  local name=$1 break=$2 who
  who=$(attached)
  echo "$name master $who $(ip_of $who)" >> $R/cases
  echo "$name tb $(now)" >> $R/cases
  $break "$who"
  echo "$name t0 $(now)" >> $R/cases
  log "$name: $who broken"

  moved() { local a; a=$(attached); [ -n "$a" ] && [ "$a" != "$who" ]; }
  wait_until 15 moved || echo "$name never-moved" >> $R/cases
}
broken() { awk -v c="$1" '$1 == c && $2 == "master" { print $3 }' $R/cases; }

case_ blackhole fake_blackhole
fake_unblackhole "$(broken blackhole)"
case_ kill fake_kill
fake_launch "$(broken kill)"
curl -sS --max-time 3 http://127.0.0.1:9102/metrics > $R/metrics-after-kill

# A node without TCP socket diagnostics: the modules unloaded and made unloadable.
printf 'install inet_diag /bin/false\ninstall tcp_diag /bin/false\n' > /etc/modprobe.d/seal-no-diag.conf
rmmod tcp_diag inet_diag || die "cannot unload the socket diagnostics"
case_ fallback fake_blackhole
fake_unblackhole "$(broken fallback)"
rm /etc/modprobe.d/seal-no-diag.conf

# Planned removal: lvscare restarted without the client's master (SIGTERM leaves the rules).
planned() {
  kill -TERM $LVPID; wait $LVPID
  local keep="" m
  for m in m1 m2 m3; do [ "$m" = "$1" ] || keep="$keep --rs $(ip_of $m):6443"; done
  LOG=lvscare-planned.log start_lvscare $keep
}
case_ planned planned
ipvsadm -Ln > $R/table-end
touch /tmp/stop-client
kill -TERM $LVPID; wait $LVPID
"#;

/// Seconds since the epoch of a log line's RFC 3339 UTC timestamp (`2026-12-02T07:52:08.447200Z`).
fn log_time(line: &str) -> Option<f64> {
    let ts = line.split_whitespace().next()?.strip_suffix('Z')?;
    let (date, time) = ts.split_once('T')?;
    let d: Vec<i64> = date
        .split('-')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let t: Vec<f64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let (&[y, m, day], &[hh, mm, ss]) = (d.as_slice(), t.as_slice()) else {
        return None;
    };
    // Days from the civil date (H. Hinnant's algorithm), valid for the proleptic Gregorian calendar.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days as f64 * 86_400.0 + hh * 3600.0 + mm * 60.0 + ss)
}

/// One line of the client's log.
#[derive(Debug, Clone)]
struct Event {
    at: f64,
    kind: String,
    what: String,
}

fn client_events(text: &str) -> Vec<Event> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some(Event {
                at: f.first()?.parse().ok()?,
                kind: f.get(1)?.to_string(),
                what: f.get(2).unwrap_or(&"").to_string(),
            })
        })
        .collect()
}

/// What one case recorded: the master broken, and when (the break started at `tb` and was in
/// place at `t0`: nft or a process's exit take a moment under emulation).
struct Case {
    master: String,
    ip: String,
    tb: f64,
    t0: f64,
}

fn case(cases: &str, name: &str) -> Case {
    let field = |what: &str, i: usize| {
        cases
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|f| f.len() > i && f[0] == name && f[1] == what)
            .map(|f| f[i].to_string())
            .unwrap_or_else(|| panic!("case {name}: no {what} in\n{cases}"))
    };
    Case {
        master: field("master", 2),
        ip: field("master", 3),
        tb: field("tb", 2).parse().expect("tb"),
        t0: field("t0", 2).parse().expect("t0"),
    }
}

/// How the client fared in one case.
#[derive(Debug)]
struct Outcome {
    /// The last answer from the broken master before the break.
    last_ok: f64,
    /// The first error after the break.
    error: Option<f64>,
    /// The first answer from another master after the break.
    moved: f64,
}

fn outcome(events: &[Event], c: &Case) -> Outcome {
    let last_ok = events
        .iter()
        .filter(|e| e.at <= c.t0 && e.kind == "ok" && e.what == c.master)
        .map(|e| e.at)
        .fold(f64::NAN, f64::max);
    // A killed master's clients may see the end of their connection before `t0`.
    let after = || events.iter().filter(|e| e.at > c.tb);
    let error = after().find(|e| e.kind == "err").map(|e| e.at);
    let moved = after()
        .find(|e| e.kind == "ok" && e.what != c.master)
        .map(|e| e.at)
        .expect("the client never got an answer from another master");
    Outcome {
        last_ok,
        error,
        moved,
    }
}

/// The first line of lvscare's log after `t0` containing one of `needles`, and its time.
fn line_after<'a>(log: &'a str, needles: &[String], t0: f64) -> Option<(f64, &'a str)> {
    log.lines()
        .filter(|l| needles.iter().any(|n| l.contains(n.as_str())))
        .filter_map(|l| Some((log_time(l)?, l)))
        .find(|(t, _)| *t > t0)
}

/// When lvscare took `ip` out (weight 0 or deleted) after `t0`.
fn removal(log: &str, ip: &str, t0: f64) -> Option<f64> {
    let rs = format!("{ip}:6443");
    let needles = [
        format!("real server {rs} set to weight 0"),
        format!("removed real server {rs}"),
    ];
    line_after(log, &needles, t0).map(|(t, _)| t)
}

#[test]
fn established_connections_to_a_down_master_are_aborted() {
    let Some(kernel) = kernel_or_skip("established_connections_to_a_down_master_are_aborted")
    else {
        return;
    };
    let script = SCRIPT.replace("__LV__", &project_binary("lvscare").display().to_string());
    let mut spec = VmSpec::new("lvscare-conn-abort", &script, Duration::from_secs(300));
    spec.files.push((
        "keepalive-client.py".into(),
        include_bytes!("../vm/keepalive-client.py").to_vec(),
    ));
    let out = Vm::run(&kernel, &spec).expect("VM");
    let read = |name: &str| fs::read_to_string(out.results.join(name)).unwrap_or_default();
    let (log, planned_log) = (read("lvscare.log"), read("lvscare-planned.log"));
    let (cases, client) = (read("cases"), read("client.log"));
    let context = format!(
        "cases:\n{cases}\nlvscare:\n{log}\nlvscare (planned):\n{planned_log}\nclient (errors and connects):\n{}",
        client
            .lines()
            .filter(|l| !l.contains(" ok "))
            .collect::<Vec<_>>()
            .join("\n")
    );
    eprintln!("{context}\nscript output:\n{}", out.output);
    out.assert_success();
    assert!(!cases.contains("never-moved"), "{context}");
    assert_eq!(
        read("tcp_diag-loaded").trim(),
        "1",
        "lvscare's start-up check did not get tcp_diag loaded\n{context}"
    );
    let events = client_events(&client);
    eprintln!("VM wall time {:?}", out.wall_time);

    // 1 and 2. Blackholed and killed: aborted at the removal, answered elsewhere within 1 s.
    for name in ["blackhole", "kill"] {
        let c = case(&cases, name);
        let o = outcome(&events, &c);
        let removed = removal(&log, &c.ip, c.tb)
            .unwrap_or_else(|| panic!("{name}: master never removed\n{context}"));
        eprintln!(
            "{name}: removed {:.2} s after the break, client error {:.2} s and answer {:.2} s after the removal, stall {:.2} s",
            removed - c.t0,
            o.error.map_or(f64::NAN, |e| e - removed),
            o.moved - removed,
            o.moved - o.last_ok
        );
        assert!(
            o.moved - removed <= 1.0,
            "{name}: next answer {:.2} s after the removal: {o:?}\n{context}",
            o.moved - removed
        );
        let (aborted_at, abort_line) =
            line_after(&log, &[format!("{}:6443 down: aborted", c.ip)], c.tb)
                .unwrap_or_else(|| panic!("{name}: no abort logged\n{context}"));
        eprintln!(
            "{name}: {abort_line} ({:.3} s after the removal)",
            aborted_at - removed
        );
        if name == "blackhole" {
            // The client's one connection, and nothing else goes through the VIP.
            assert!(
                abort_line.contains("aborted 1 established connections"),
                "{abort_line}"
            );
            let e = o.error.expect("blackhole: the client saw no error");
            assert!(
                e >= removed && e - removed <= 1.0,
                "blackhole: the connection must fail at the abort, not at the client's timeout: {o:?}\n{context}"
            );
        }
    }

    // The metrics count what the log says was aborted (every abort happened before the scrape).
    let logged: f64 = log
        .lines()
        .filter_map(|l| {
            l.split_once("down: aborted ")?
                .1
                .split(' ')
                .next()?
                .parse::<f64>()
                .ok()
        })
        .sum();
    let samples = openmetrics::parse(&read("metrics-after-kill"));
    let counted: f64 = samples
        .iter()
        .filter(|(k, _)| k.starts_with("lvscare_connections_aborted_total{"))
        .map(|(_, v)| v)
        .sum();
    assert!(logged >= 1.0, "{context}");
    assert_eq!(counted, logged, "{}", read("metrics-after-kill"));

    // 3. No tcp_diag: said once, nothing aborted, the client waits for its own 5 s timeout.
    let c = case(&cases, "fallback");
    let o = outcome(&events, &c);
    let removed = removal(&log, &c.ip, c.tb).expect("fallback: master never removed");
    eprintln!(
        "fallback: removed {:.2} s after the break, client stalled {:.2} s",
        removed - c.t0,
        o.moved - o.last_ok
    );
    assert_eq!(
        log.matches("cannot abort connections to a down master")
            .count(),
        1,
        "the fallback must be logged exactly once\n{context}"
    );
    assert!(
        line_after(&log, &[format!("{}:6443 down: aborted", c.ip)], c.tb).is_none(),
        "{context}"
    );
    assert!(
        o.moved - o.last_ok >= 4.0,
        "fallback: without SOCK_DESTROY the client should wait for its timeout: {o:?}\n{context}"
    );

    // 4. Planned removal: the restarted lvscare aborts nothing.
    let c = case(&cases, "planned");
    let o = outcome(&events, &c);
    eprintln!(
        "planned: client error {:.2} s and answer {:.2} s after the restart",
        o.error.map_or(f64::NAN, |e| e - c.t0),
        o.moved - c.t0
    );
    assert!(
        planned_log.contains("lvscare:") && !planned_log.contains("aborted"),
        "{context}"
    );
    assert!(
        !read("table-end").contains(&format!("{}:6443", c.ip)),
        "the planned removal did not remove {}:\n{}",
        c.ip,
        read("table-end")
    );
    assert!(
        log.lines().count() < 60 && planned_log.lines().count() < 30,
        "log too chatty\n{context}"
    );
}
