//! `seal-install` against VMs with real sshd: init 3 masters + 1 node (killed mid-way, then
//! resumed), an idempotent re-run with key auth, join of a master and a node, failover through
//! the node's lvscare with a master VM stopped, clean (bad inputs: install_bad_inputs.rs).
//!
//! TEST DOUBLES: the package's kubeadm/kubelet/kubectl (tests/package/kube/bin) record their calls
//! and fake the control plane (an HTTPS /healthz listener on :6443). The test also plays kubelet
//! for the lvscare static pod: it starts the manifest's command on the node. Everything else is
//! real: SSH, uploads, init.sh, /etc/hosts, lvscare and IPVS on the nodes, curl as the witness.

use seal_testbed::install_bed::{stderr, with_block, Bed, PASSWORD, VIP};
use std::collections::BTreeSet;
use std::fs;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The cluster CA's public-key hash on a host, as openssl computes it (the witness of the pin).
const CA_HASH: &str = "openssl x509 -in /etc/kubernetes/pki/ca.crt -pubkey -noout | \
    openssl pkey -pubin -outform der | sha256sum | cut -d' ' -f1";

// No single quote: the test bed hands the password to the VM inside single quotes.
/// kubelet's part for the lvscare static pod (TEST DOUBLE): start the manifest's command.
const RUN_STATIC_POD: &str = r#"set -e
m=/etc/kubernetes/manifests/kube-lvscare.yaml
args=$(awk '/^    args:/{f=1; next} f && /^    - /{sub(/^    - "/, ""); sub(/"$/, ""); print; next} f{exit}' $m)
cmd=$(awk '/^    command:/{getline; sub(/^    - /, ""); print; exit}' $m)
setsid $cmd $args > /var/log/lvscare.log 2>&1 < /dev/null &
sleep 0.5; pgrep -f "^$cmd care" >/dev/null"#;

/// Names of the masters that answered `n` requests through the node's apiserver name, and the
/// failed requests (curl's exit status), with the node's IPVS table when any failed.
fn answers(bed: &Bed, node: &str, n: usize) -> (BTreeSet<String>, Vec<String>) {
    // 10 s: a TLS handshake with a python double on a busy emulated VM can take seconds.
    let out = bed.text(
        node,
        &format!(
            "for i in $(seq {n}); do r=$(curl -sSk --max-time 10 https://apiserver.cluster.local:6443/ 2>&1) \
             && echo \"$r\" || echo \"FAIL curl exit $?: $r\"; done"
        ),
    );
    let names: BTreeSet<String> = out
        .lines()
        .filter(|l| !l.starts_with("FAIL"))
        .map(str::to_string)
        .collect();
    let mut failed: Vec<String> = out
        .lines()
        .filter(|l| l.starts_with("FAIL"))
        .map(str::to_string)
        .collect();
    if !failed.is_empty() {
        failed.push(bed.text(
            node,
            "ipvsadm -Ln --stats; ipvsadm -Lnc | head -40; tail -20 /var/log/lvscare.log 2>/dev/null; true",
        ));
    }
    (names, failed)
}

fn wait_until(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn init_resume_rerun_join_failover_clean() {
    let names = ["m1", "m2", "m3", "n1", "m4", "n2"];
    let t0 = Instant::now();
    let Some(mut bed) = Bed::start("init_resume_rerun_join_failover_clean", &names) else {
        return;
    };
    eprintln!("six VMs up in {:.1}s", t0.elapsed().as_secs_f64());
    let before: Vec<String> = names
        .iter()
        .map(|n| bed.text(n, "cat /etc/hosts"))
        .collect();
    eprintln!("hosts files read at {:.1}s", t0.elapsed().as_secs_f64());
    let lvscare = bed.lvscare();
    let (m1, m2, m3, m4, n2) = (
        bed.ip("m1"),
        bed.ip("m2"),
        bed.ip("m3"),
        bed.ip("m4"),
        bed.ip("n2"),
    );
    // Every node's lvscare serves metrics on its loopback (and the static pod gets a liveness probe).
    let with = |extra: &[&str]| {
        let mut e = vec!["--lvscare-metrics-addr", "127.0.0.1:9102"];
        e.extend_from_slice(extra);
        bed.init_args(&["m1", "m2", "m3"], &["n1"], &e)
    };

    // 1. init with the password, killed as soon as master0 is initialised.
    let args = with(&["--passwd", PASSWORD]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut child = bed
        .installer(&argv)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn seal-install");
    let mut seen = String::new();
    let mut killed = false;
    for line in BufReader::new(child.stderr.take().expect("stderr")).lines() {
        let line = line.expect("line");
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("kubeadm init: done") {
            child.kill().expect("kill");
            killed = true;
            break;
        }
    }
    let _ = child.wait();
    assert!(killed, "init never reached master0's kubeadm init:\n{seen}");
    assert!(
        bed.text("m1", "test -f /etc/kubernetes/admin.conf && echo yes")
            .trim()
            == "yes",
        "{seen}"
    );

    // 2. The same command again completes the cluster.
    let (out, first_init) = bed.run(&argv);
    assert!(out.status.success(), "resumed init failed");
    let log = stderr(&out);
    assert!(
        log.contains(&format!("{m1:<15} kubeadm init: already done, skipped")),
        "{log}"
    );
    assert!(
        log.contains("refresh token and certificate key: done"),
        "{log}"
    );

    // The recorded kubeadm calls, per host.
    let calls = |n: &str| bed.text(n, "cat /var/lib/seal-doubles/kubeadm.log");
    let m1_calls = calls("m1");
    let m1_lines: Vec<&str> = m1_calls.lines().collect();
    assert_eq!(
        m1_lines.first().copied(),
        Some("init --config /root/kubeadm-config.yaml --upload-certs"),
        "{m1_calls}"
    );
    assert_eq!(
        m1_lines
            .iter()
            .filter(|l| l.starts_with("init --config"))
            .count(),
        1
    );
    assert!(
        m1_lines.contains(
            &"init phase upload-certs --upload-certs --config /root/seal-join-credentials.yaml"
        ),
        "{m1_calls}"
    );
    for n in ["m2", "m3", "n1"] {
        let c = calls(n);
        assert!(
            c.lines()
                .all(|l| l == "join --config /root/kubeadm-config.yaml"),
            "{n}: {c}"
        );
        assert!(!c.is_empty(), "{n} never joined");
    }
    // The configurations kubeadm was given.
    let cluster = fs::read_to_string(bed.cluster_file()).expect("cluster file");
    let token = cluster
        .lines()
        .find_map(|l| l.trim().strip_prefix("token: "))
        .map(|t| t.trim_matches('"').trim_matches('\'').to_string())
        .expect("token in the cluster file");
    let init_cfg = bed.text("m1", "cat /var/lib/seal-doubles/kubeadm-init-*.yaml");
    for want in [
        "controlPlaneEndpoint: \"apiserver.cluster.local:6443\"",
        &format!("- \"{VIP}/32\""),
        &format!("token: \"{token}\""),
        &format!("advertiseAddress: \"{m1}\""),
    ] {
        assert!(
            init_cfg.contains(want),
            "init config lacks {want}:\n{init_cfg}"
        );
    }
    let m2_cfg = bed.text(
        "m2",
        "cat $(ls /var/lib/seal-doubles/kubeadm-join-*.yaml | tail -1)",
    );
    assert!(
        m2_cfg.contains(&format!("apiServerEndpoint: \"{m1}:6443\"")),
        "{m2_cfg}"
    );
    assert!(
        m2_cfg.contains(&format!("advertiseAddress: \"{m2}\"")),
        "{m2_cfg}"
    );
    let n1_cfg = bed.text(
        "n1",
        "cat $(ls /var/lib/seal-doubles/kubeadm-join-*.yaml | tail -1)",
    );
    assert!(
        n1_cfg.contains(&format!("apiServerEndpoint: \"{VIP}:6443\"")),
        "{n1_cfg}"
    );
    assert!(!n1_cfg.contains("controlPlane"), "{n1_cfg}");
    // Both joins pin master0's CA, as openssl hashes its public key there; so does the file.
    let pin = format!("sha256:{}", bed.text("m1", CA_HASH).trim());
    for cfg in [&m2_cfg, &n1_cfg] {
        assert!(
            cfg.contains(&format!("caCertHashes:\n    - \"{pin}\"")),
            "{cfg}"
        );
        assert!(!cfg.contains("unsafeSkipCAVerification"), "{cfg}");
    }
    assert!(
        cluster.contains(&format!("ca_cert_hash: {pin}")),
        "{cluster}"
    );
    // The secrets reached kubeadm only in files, none of which is left; the doubles' call logs
    // are the command lines kubeadm got.
    let cert_key = cluster
        .lines()
        .find_map(|l| l.trim().strip_prefix("certificate_key: "))
        .map(|t| t.trim_matches('"').trim_matches('\'').to_string())
        .expect("certificate key in the cluster file");
    let secret = &token[7..];
    for n in ["m1", "m2", "m3", "n1"] {
        let c = calls(n);
        assert!(!c.contains(secret) && !c.contains(&cert_key), "{n}: {c}");
        let left = bed.text(
            n,
            "ls /root/kubeadm-config.yaml /root/seal-join-credentials.yaml 2>/dev/null; true",
        );
        assert!(left.is_empty(), "{n}: {left}");
    }
    // The cluster file: private, no password.
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(bed.cluster_file())
        .expect("meta")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    assert!(!cluster.contains("s3cret"), "{cluster}");
    // Hosts blocks: masters to themselves (m1 to itself too), the node to the VIP; user lines kept.
    for (i, (n, target)) in [
        ("m1", &m1),
        ("m2", &m2),
        ("m3", &m3),
        ("n1", &VIP.to_string()),
    ]
    .into_iter()
    .enumerate()
    {
        assert_eq!(
            bed.text(n, "cat /etc/hosts"),
            with_block(&before[i], target),
            "{n}"
        );
    }
    // The node reaches every master through lvscare's IPVS service.
    let table = bed.text("n1", "ipvsadm -Ln");
    for m in [&m1, &m2, &m3] {
        assert!(table.contains(&format!("{m}:6443")), "{table}");
    }
    let (who, failed) = answers(&bed, "n1", 9);
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(
        who,
        ["m1", "m2", "m3"].iter().map(|s| s.to_string()).collect()
    );
    assert!(bed
        .text("n1", "cat /etc/kubernetes/manifests/kube-lvscare.yaml")
        .contains(&format!("{m3}:6443")));

    // 3. Re-running with key auth changes nothing and duplicates nothing.
    let snap = bed.snapshot(&["m1", "m2", "m3", "n1"]);
    let key = bed.key.display().to_string();
    let args = with(&["--pk", &key]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let (out, rerun) = bed.run(&argv);
    assert!(out.status.success());
    assert_eq!(
        stderr(&out).matches("already done, skipped").count(),
        4 + 1 + 2 + 1
    );
    let after = bed.snapshot(&["m1", "m2", "m3", "n1"]);
    // Only master0's credential refresh is new in its log.
    for (i, ((h0, k0), (h1, k1))) in snap.iter().zip(&after).enumerate() {
        assert_eq!(h0, h1, "hosts file of host {i} changed on re-run");
        if i == 0 {
            assert!(k1.starts_with(k0.as_str()) && !k1[k0.len()..].contains("init --config"));
        } else {
            assert_eq!(k0, k1, "host {i} got new kubeadm calls on re-run");
        }
    }

    // 4. join a master and a node; every node then balances to the new master too.
    let join_args = [
        "join",
        "--master",
        &m4,
        "--node",
        &n2,
        "--pk",
        &key,
        "--lvscare-bin",
        &lvscare,
        "--connect-timeout",
        "60",
    ];
    // First with master0 presenting another CA: refused before any host changes.
    bed.text(
        "m1",
        "cd /etc/kubernetes/pki && mv ca.crt ca.crt.seal-test && openssl req -x509 -newkey ec \
         -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=impostor -keyout /dev/null \
         -out ca.crt 2>/dev/null",
    );
    let impostor = format!("sha256:{}", bed.text("m1", CA_HASH).trim());
    let file_before = fs::read_to_string(bed.cluster_file()).expect("cluster file");
    let (out, _) = bed.run(&join_args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("master {m1} presents the cluster CA {impostor}"))
            && err.contains(&format!("pins {pin}")),
        "{err}"
    );
    for n in ["m4", "n2"] {
        let log = bed.text(n, "cat /var/lib/seal-doubles/kubeadm.log 2>/dev/null; true");
        assert!(log.is_empty(), "{n} ran kubeadm: {log}");
    }
    assert_eq!(
        fs::read_to_string(bed.cluster_file()).expect("cluster file"),
        file_before
    );
    bed.text(
        "m1",
        "mv /etc/kubernetes/pki/ca.crt.seal-test /etc/kubernetes/pki/ca.crt",
    );
    let (out, join_time) = bed.run(&join_args);
    assert!(out.status.success());
    assert!(calls("m4")
        .lines()
        .all(|l| l == "join --config /root/kubeadm-config.yaml"));
    assert!(bed
        .text("m4", "cat /var/lib/seal-doubles/kubeadm-join-*.yaml")
        .contains(&format!("advertiseAddress: \"{m4}\"")));
    assert_eq!(
        bed.text("m4", "cat /etc/hosts"),
        with_block(&before[4], &m4)
    );
    assert_eq!(
        bed.text("n2", "cat /etc/hosts"),
        with_block(&before[5], VIP)
    );
    for n in ["n1", "n2"] {
        let table = bed.text(n, "ipvsadm -Ln");
        for m in [&m1, &m2, &m3, &m4] {
            assert!(table.contains(&format!("{m}:6443")), "{n}: {table}");
        }
        assert!(
            bed.text(n, "cat /etc/kubernetes/manifests/kube-lvscare.yaml")
                .contains(&format!("{m4}:6443")),
            "{n}"
        );
    }
    let (who, failed) = answers(&bed, "n2", 12);
    assert!(failed.is_empty(), "{failed:?}");
    assert!(who.contains("m4"), "{who:?}");
    let cluster = fs::read_to_string(bed.cluster_file()).expect("cluster file");
    assert!(cluster.contains(&m4) && cluster.contains(&n2), "{cluster}");

    // 5. lvscare as the static pod (test plays kubelet); a master VM stops; the node keeps working.
    for n in ["n1", "n2"] {
        let manifest = bed.text(n, "cat /etc/kubernetes/manifests/kube-lvscare.yaml");
        assert!(
            manifest.contains("livenessProbe") && manifest.contains("127.0.0.1:9102"),
            "{n}: {manifest}"
        );
    }
    bed.text("n1", RUN_STATIC_POD);
    let metrics = bed.text(
        "n1",
        "for i in $(seq 20); do curl -sf http://127.0.0.1:9102/metrics && break; sleep 0.5; done; \
         curl -sf -o /dev/null -w '%{http_code}' http://127.0.0.1:9102/healthz",
    );
    assert!(
        metrics.contains(&format!("lvscare_master_up{{master=\"{m3}:6443\"}}"))
            && metrics.ends_with("200"),
        "{metrics}"
    );
    let m3_vm = bed.hosts[2].vm.take().expect("m3");
    let stopped = Instant::now();
    drop(m3_vm.stop());
    wait_until("lvscare to take m3 out", Duration::from_secs(30), || {
        let t = bed.text("n1", "ipvsadm -Ln");
        !t.lines()
            .any(|l| l.contains(&format!("{m3}:6443")) && l.split_whitespace().nth(3) != Some("0"))
    });
    eprintln!(
        "m3 out of n1's table {:.1}s after its VM stopped",
        stopped.elapsed().as_secs_f64()
    );
    let (who, failed) = answers(&bed, "n1", 12);
    if !failed.is_empty() {
        // What the live masters' apiserver doubles said (a failed TLS handshake is logged there).
        let logs: Vec<String> = ["m1", "m2", "m4"]
            .iter()
            .map(|m| {
                format!(
                    "{m}: {}",
                    bed.text(m, "tail -20 /var/lib/seal-doubles/apiserver/log; true")
                )
            })
            .collect();
        panic!(
            "requests failed with m3 down: {failed:?}\n{}",
            logs.join("\n")
        );
    }
    assert!(!who.contains("m3"));

    // 5b. master0's VM stops too: clean and join go through a master that answers (m2).
    let m1_vm = bed.hosts[0].vm.take().expect("m1");
    drop(m1_vm.stop());
    let kubectl = |n: &str| bed.text(n, "cat /var/lib/seal-doubles/kubectl.log 2>/dev/null; true");
    let m2_lookups = kubectl("m2").matches(" get nodes ").count();
    let (out, _) = bed.run(&[
        "clean",
        "--node",
        &n2,
        "--pk",
        &key,
        "--connect-timeout",
        "30",
    ]);
    let log = stderr(&out);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains(&format!("master {m1} is unreachable")),
        "{log}"
    );
    // The node's Node object was looked up (to drain and delete it) on m2.
    assert_eq!(
        kubectl("m2").matches(" get nodes ").count(),
        m2_lookups + 1,
        "n2 did not leave the cluster through m2: {}",
        kubectl("m2")
    );
    assert_eq!(bed.text("n2", "cat /etc/hosts"), before[5]);
    let m2_refreshes = bed
        .text("m2", "cat /var/lib/seal-doubles/kubeadm.log")
        .matches("token create")
        .count();
    let (out, _) = bed.run(&[
        "join",
        "--node",
        &n2,
        "--pk",
        &key,
        "--lvscare-bin",
        &lvscare,
        "--connect-timeout",
        "30",
    ]);
    let log = stderr(&out);
    assert!(out.status.success(), "join with master0 down: {log}");
    assert!(
        log.contains(&format!("master {m1} is unreachable"))
            && log.contains(&format!("master {m3} is unreachable")),
        "{log}"
    );
    // The credentials were refreshed on m2; n2's first rules hold the masters that answered.
    assert_eq!(
        bed.text("m2", "cat /var/lib/seal-doubles/kubeadm.log")
            .matches("token create")
            .count(),
        m2_refreshes + 1
    );
    let table = bed.text("n2", "ipvsadm -Ln");
    assert!(
        table.contains(&format!("{m2}:6443"))
            && table.contains(&format!("{m4}:6443"))
            && !table.contains(&format!("{m1}:6443"))
            && !table.contains(&format!("{m3}:6443")),
        "{table}"
    );
    assert!(bed
        .text("n2", "cat /etc/kubernetes/manifests/kube-lvscare.yaml")
        .contains(&format!("{m1}:6443")));
    let (who, failed) = answers(&bed, "n2", 6);
    assert!(failed.is_empty(), "{failed:?}");
    assert!(who.iter().all(|w| w == "m2" || w == "m4"), "{who:?}");

    // 5c. clean --master m1, still powered off: it leaves through m2 (the doubles' control
    // plane has no etcd pod, which the run reports, leaving etcd alone), its Node object is looked
    // up there, the nodes stop balancing to it, and the cluster file no longer lists it.
    let m2_lookups = kubectl("m2").matches(" get nodes ").count();
    let (out, _) = bed.run(&[
        "clean",
        "--master",
        &m1,
        "--pk",
        &key,
        "--connect-timeout",
        "30",
    ]);
    let log = stderr(&out);
    assert!(
        out.status.success(),
        "clean --master of a powered-off master0: {log}"
    );
    assert!(
        log.contains(&format!("master {m1} is unreachable")) && log.contains("not reset"),
        "{log}"
    );
    assert!(log.contains("etcd is not stacked"), "{log}");
    assert_eq!(kubectl("m2").matches(" get nodes ").count(), m2_lookups + 1);
    for n in ["n1", "n2"] {
        let manifest = bed.text(n, "cat /etc/kubernetes/manifests/kube-lvscare.yaml");
        assert!(
            !manifest.contains(&format!("{m1}:6443")) && manifest.contains(&format!("{m2}:6443")),
            "{n}: {manifest}"
        );
    }
    let cluster = fs::read_to_string(bed.cluster_file()).expect("cluster file");
    assert!(
        !cluster.lines().any(|l| l
            .trim()
            .trim_start_matches("- ")
            .trim_matches(|c| c == '\'' || c == '"')
            == m1),
        "{cluster}"
    );

    // 6. clean --all: m3 cannot be reached and is reported; every other host is restored.
    let (out, _) = bed.run(&["clean", "--all", "--pk", &key, "--connect-timeout", "30"]);
    assert_eq!(out.status.code(), Some(1));
    let log = stderr(&out);
    assert!(
        log.contains(&format!("{m3}: step \"connect\" failed")),
        "{log}"
    );
    assert!(log.contains("cluster file is unchanged"), "{log}");
    assert!(bed.cluster_file().exists());
    for (i, n) in names.iter().enumerate() {
        if *n == "m3" || *n == "m1" {
            continue;
        }
        assert_eq!(
            bed.text(n, "cat /etc/hosts"),
            before[i],
            "{n}: /etc/hosts not restored"
        );
        let left = bed.text(
            n,
            "for f in /root/kube /root/kube.tar.gz /root/kubeadm-config.yaml /usr/bin/kubeadm /usr/bin/kubelet \
             /usr/bin/lvscare /etc/kubernetes/manifests/kube-lvscare.yaml /usr/local/lib/seal-doubles; do \
             [ -e $f ] && echo $f; done; ip link show lvscare 2>/dev/null; ipvsadm -Ln | grep -F 10.103.97.2; true",
        );
        assert_eq!(left, "", "{n}: left behind");
    }
    bed.run(&["config", "-t", "kubeadm"]);

    eprintln!(
        "TIMES: init 3+1 (resumed part) {:.1}s, re-run {:.1}s, join 1+1 {:.1}s",
        first_init.as_secs_f64(),
        rerun.as_secs_f64(),
        join_time.as_secs_f64()
    );
}
