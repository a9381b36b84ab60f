//! A REAL Kubernetes v1.20.2 cluster built by `seal-install init` from the real offline package
//! (package/build.sh): kubeadm, kubelet, containerd, etcd and every control-plane component run
//! for real in VMs with systemd as PID 1. No double of any Kubernetes component is involved; the
//! witnesses are kubectl (on the master and, through lvscare's VIP, on the node), crictl,
//! ipvsadm and the system ssh client.
//!
//! Runs on request only (`./dev.sh test-real`, or SEAL_REAL_CLUSTER=1): it takes 35-60 minutes
//! on two emulated cores, which CI's time cannot carry beside the rest.
//!
//! One master (2 vCPUs, as kubeadm's preflight requires of a control plane) and one node
//! (1 vCPU): what two emulated cores carry. `init` builds m1 + n1 from the installer's
//! template with relaxed leader election (`--kubeadm-config`), then `backup` and `certs check`;
//! n1 is cleaned (drained, deleted, nothing left). With SEAL_REAL_CLUSTER_FULL=1 (about half an
//! hour more; or a comma list of the phases wanted), also `upgrade` re-applying a changed
//! package, `certs renew`, pods on n1 and m1 reaching each other, and `join` adding the
//! cleaned n1 back as a non-root user through sudo, killed during its kubeadm join and re-run,
//! with lvscare's manifest failing once after the join (the re-run must not join again).

use seal_testbed::install_bed::{stderr, Bed, HostShape, PASSWORD, SUDO_USER, VIP};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Polls `probe` on `host` until its output satisfies `ok`; returns the last output.
fn wait_for(
    bed: &Bed,
    host: &str,
    what: &str,
    limit: Duration,
    probe: &str,
    ok: impl Fn(&str) -> bool,
) -> String {
    let start = Instant::now();
    loop {
        let out = bed.on(host, probe);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() && ok(&text) {
            eprintln!("{what}: after {:.0}s", start.elapsed().as_secs_f64());
            return text;
        }
        if start.elapsed() > limit {
            let diag = bed.on(
                host,
                "kubectl --kubeconfig /etc/kubernetes/admin.conf get nodes,pods -A -o wide 2>&1; \
                 journalctl -u kubelet --no-pager -n 30 2>&1; crictl ps -a 2>&1",
            );
            panic!(
                "timed out after {limit:?} waiting for {what}; last output:\n{text}\n{}\n--- diagnostics on {host} ---\n{}",
                String::from_utf8_lossy(&out.stderr),
                String::from_utf8_lossy(&diag.stdout)
            );
        }
        std::thread::sleep(Duration::from_secs(3));
    }
}

const KUBECTL: &str = "kubectl --kubeconfig /etc/kubernetes/admin.conf";

/// Waits (up to 10 min) until m1 and n1 are both Ready, as m1's kubectl sees them.
fn both_nodes_ready(bed: &Bed, what: &str) {
    wait_for(
        bed,
        "m1",
        what,
        Duration::from_secs(600),
        &format!("{KUBECTL} get nodes --no-headers"),
        |t| {
            t.lines()
                .filter(|l| l.split_whitespace().nth(1) == Some("Ready"))
                .count()
                == 2
        },
    );
}

/// `name phase image nodeName` of every kube-system pod.
fn pods(bed: &Bed) -> String {
    bed.text(
        "m1",
        &format!(
            "{KUBECTL} get pods -n kube-system -o jsonpath='{{range .items[*]}}{{.metadata.name}} {{.status.phase}} {{.spec.containers[0].image}} {{.spec.nodeName}}{{\"\\n\"}}{{end}}'"
        ),
    )
}

#[test]
fn real_cluster_init_node_clean() {
    // Half an hour and more under TCG (kubeadm init alone takes 10-15 min on two emulated
    // cores): too long for CI beside everything else, so it runs on request (`./dev.sh
    // test-real`); CI's real-package test is package_smoke.rs.
    if std::env::var_os("SEAL_REAL_CLUSTER").is_none()
        && std::env::var_os("SEAL_REAL_CLUSTER_FULL").is_none()
    {
        eprintln!("real_cluster_init_node_clean skipped: run ./dev.sh test-real (or set SEAL_REAL_CLUSTER=1)");
        return;
    }
    let t0 = Instant::now();
    let shapes = [
        HostShape {
            name: "m1",
            cpus: 2,
            memory_mb: 3584,
        },
        // 3 GiB: a VM's root is RAM, so the package, its unpacked copy and the runtime's images
        // all sit in memory (2 GiB ran a node out of memory once pods started).
        HostShape {
            name: "n1",
            cpus: 1,
            memory_mb: 3072,
        },
    ];
    let Some(bed) = Bed::start_real("real_cluster_init_node_clean", &shapes) else {
        return;
    };
    eprintln!("VMs up in {:.1}s", t0.elapsed().as_secs_f64());
    let n1_hosts_before = bed.text("n1", "cat /etc/hosts");
    // Nothing of Kubernetes on the hosts beforehand (they are this machine's root underneath).
    for h in ["m1", "n1"] {
        let out = bed.on(
            h,
            "command -v kubeadm kubelet containerd crictl; systemctl is-active containerd kubelet",
        );
        assert!(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .all(|l| l != "active" && !l.starts_with('/')),
            "{h} is not clean"
        );
    }

    let key = bed.key.display().to_string();
    let template = relaxed_leader_election_template(&bed);
    let args = bed.init_args(
        &["m1"],
        &["n1"],
        &["--pk", &key, "--kubeadm-config", &template],
    );
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    // With the installer's debug log on: the secrets check below reads all of it.
    let (out, took) = run_debug(&bed, &argv);
    if !out.status.success() {
        let diag = bed.on(
            "m1",
            "crictl -r unix:///run/containerd/containerd.sock ps -a 2>&1; \
             for c in $(crictl -r unix:///run/containerd/containerd.sock ps -a -q 2>/dev/null | head -8); do \
             echo \"--- $c\"; crictl -r unix:///run/containerd/containerd.sock logs $c 2>&1 | tail -15; done; \
             journalctl -u kubelet --no-pager -n 40 2>&1; free -m; uptime",
        );
        panic!(
            "init failed: {}\n--- diagnostics on m1 ---\n{}",
            stderr(&out),
            String::from_utf8_lossy(&diag.stdout)
        );
    }
    let mut printed = vec![printed_by(&out)];
    eprintln!(
        "seal-install init (1 + 1, real package) took {:.0}s",
        took.as_secs_f64()
    );
    // n1 joined with the CA pinned: real kubeadm refuses a cluster-info CA that does not match.
    // The pin is master0's CA as openssl hashes it, kept in the cluster file for later joins,
    // and what a dry-run join shows.
    let pin = format!(
        "sha256:{}",
        bed.text(
            "m1",
            "openssl x509 -in /etc/kubernetes/pki/ca.crt -pubkey -noout | \
             openssl pkey -pubin -outform der | sha256sum | cut -d' ' -f1"
        )
        .trim()
    );
    let file = std::fs::read_to_string(bed.cluster_file()).expect("cluster file");
    assert!(file.contains(&format!("ca_cert_hash: {pin}")), "{file}");
    let (out, _) = bed.run(&["join", "--node", "10.77.0.99", "--pk", &key, "--dry-run"]);
    printed.push(printed_by(&out));
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        shown.contains(&format!("   |     - \"{pin}\"")) && !shown.contains("unsafeSkipCA"),
        "{shown}"
    );

    // Every Node Ready (the CNI config comes from containerd's template once the podCIDR is set).
    both_nodes_ready(&bed, "both nodes Ready");

    // The control plane, kube-proxy on both hosts, and lvscare's static pod on the node, all
    // Running; lvscare from the package's image.
    let listing = wait_for(
        &bed,
        "m1",
        "control plane, kube-proxy and lvscare Running",
        Duration::from_secs(600),
        &format!("{KUBECTL} get pods -n kube-system --no-headers"),
        |t| {
            let running = |prefix: &str| {
                t.lines()
                    .filter(|l| l.starts_with(prefix) && l.contains(" Running "))
                    .count()
            };
            running("etcd-m1") == 1
                && running("kube-apiserver-m1") == 1
                && running("kube-controller-manager-m1") == 1
                && running("kube-scheduler-m1") == 1
                && running("kube-proxy-") == 2
                && running("kube-lvscare-n1") == 1
        },
    );
    eprintln!("{listing}");
    let p = pods(&bed);
    let lv = p
        .lines()
        .find(|l| l.starts_with("kube-lvscare-n1 "))
        .expect("lvscare pod");
    assert!(lv.contains(" lvscare:v"), "{lv}");
    let lv_image = bed.text("n1", "crictl -r unix:///run/containerd/containerd.sock ps --no-trunc 2>/dev/null; crictl -r unix:///run/containerd/containerd.sock images");
    assert!(lv_image.contains("docker.io/library/lvscare"), "{lv_image}");

    // kube-proxy runs in IPVS mode, has synced (its own service for the apiserver is in the
    // table), and lvscare's virtual server with the master is still intact on the node.
    let mode = bed.text("n1", "curl -s http://127.0.0.1:10249/proxyMode");
    assert_eq!(mode.trim(), "ipvs");
    let table = wait_for(
        &bed,
        "n1",
        "kube-proxy's IPVS sync on the node",
        Duration::from_secs(300),
        "ipvsadm -Ln",
        |t| t.contains("10.96.0.1:443"),
    );
    let m1 = bed.ip("m1");
    assert!(table.contains(&format!("TCP  {VIP}:6443")), "{table}");
    assert!(table.contains(&format!("{m1}:6443")), "{table}");
    // A second look after more kube-proxy syncs (its period is 30 s).
    std::thread::sleep(Duration::from_secs(35));
    let table = bed.text("n1", "ipvsadm -Ln");
    assert!(
        table.contains(&format!("TCP  {VIP}:6443")) && table.contains(&format!("{m1}:6443")),
        "{table}"
    );

    // From the node, kubectl through apiserver.cluster.local (-> the VIP -> lvscare -> m1).
    let server = bed.text("n1", "grep server: /etc/kubernetes/kubelet.conf");
    assert!(
        server.contains("https://apiserver.cluster.local:6443"),
        "{server}"
    );
    let me = bed.text(
        "n1",
        "kubectl --kubeconfig /etc/kubernetes/kubelet.conf get node n1 --no-headers",
    );
    assert!(me.starts_with("n1 "), "{me}");

    // A pod scheduled on the node runs (from the package's pause image: nothing is pulled).
    bed.text(
        "m1",
        &format!(
            "{KUBECTL} run probe --image=k8s.gcr.io/pause:3.2 --image-pull-policy=Never \
         --overrides='{{\"spec\":{{\"nodeName\":\"n1\"}}}}' --restart=Never"
        ),
    );
    wait_for(
        &bed,
        "m1",
        "a pod on the node Running",
        Duration::from_secs(300),
        &format!("{KUBECTL} get pod probe -o jsonpath='{{.status.phase}} {{.status.podIP}}'"),
        |t| t.starts_with("Running 100."),
    );

    // backup: an etcd snapshot that etcdctl itself finds valid and that holds the pod just
    // made, private on this machine, and gone from the master.
    let snap = bed.dir.join("backups").join("etcd.db");
    std::fs::create_dir_all(snap.parent().expect("folder")).expect("mkdir");
    let snap_arg = snap.display().to_string();
    let (out, took) = bed.run(&[
        "backup",
        "--out",
        &snap_arg,
        "--pk",
        &key,
        "--connect-timeout",
        "60",
    ]);
    printed.push(printed_by(&out));
    assert!(out.status.success(), "backup failed: {}", stderr(&out));
    eprintln!("backup took {:.0}s", took.as_secs_f64());
    let status = std::process::Command::new("etcdctl")
        .args(["snapshot", "status", &snap_arg, "-w", "json"])
        .env("ETCDCTL_API", "3")
        .output()
        .expect("etcdctl (Debian's etcd-client, installed by dev.sh) is the backup's witness");
    let report = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success(), "{report}{}", stderr(&status));
    eprintln!("etcdctl snapshot status: {report}");
    let keys: u64 = report
        .split("\"totalKey\":")
        .nth(1)
        .and_then(|r| r.split([',', '}']).next())
        .and_then(|n| n.trim().parse().ok())
        .expect("totalKey");
    assert!(keys > 100, "{report}");
    let bytes = std::fs::read(&snap).expect("snapshot");
    let key_of_probe = b"/registry/pods/default/probe";
    assert!(bytes.windows(key_of_probe.len()).any(|w| w == key_of_probe));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&snap).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(bed
        .on("m1", "test ! -e /var/lib/seal/backup/snapshot.db")
        .status
        .success());

    if full("restore") {
        restore_brings_back_the_snapshot(&bed, &snap);
    }

    // certs check: every certificate on both hosts, etcd's and kubelet's included; what kubeadm
    // made lives 99 years (the patch); the apiserver's expiry is openssl's.
    let (out, _) = bed.run(&["certs", "check", "--pk", &key, "--connect-timeout", "60"]);
    printed.push(printed_by(&out));
    assert!(out.status.success(), "certs check failed: {}", stderr(&out));
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("{table}");
    let row = |host: &str, file: &str| {
        table
            .lines()
            .find(|l| l.starts_with(&format!("{host} ")) && l.contains(&format!(" {file} ")))
            .unwrap_or_else(|| panic!("no {file} of {host} in:\n{table}"))
            .to_string()
    };
    let days = |row: &str| -> i64 {
        row.split_whitespace()
            .find_map(|w| w.strip_suffix('d').and_then(|n| n.parse().ok()))
            .unwrap_or_else(|| panic!("no days left in {row}"))
    };
    let pki = "/etc/kubernetes/pki";
    for f in [
        "ca.crt",
        "apiserver.crt",
        "apiserver-kubelet-client.crt",
        "apiserver-etcd-client.crt",
        "front-proxy-ca.crt",
        "front-proxy-client.crt",
        "etcd/ca.crt",
        "etcd/server.crt",
        "etcd/peer.crt",
        "etcd/healthcheck-client.crt",
    ] {
        let r = row(&m1, &format!("{pki}/{f}"));
        assert!(days(&r) > 36_000, "{r}");
    }
    for f in [
        "/etc/kubernetes/admin.conf",
        "/etc/kubernetes/controller-manager.conf",
        "/etc/kubernetes/scheduler.conf",
        "/var/lib/kubelet/pki/kubelet-client-current.pem",
    ] {
        assert!(days(&row(&m1, f)) > 36_000, "{f}");
    }
    let n1_ip = bed.ip("n1");
    for f in [
        "/etc/kubernetes/pki/ca.crt",
        "/var/lib/kubelet/pki/kubelet-client-current.pem",
        "/var/lib/kubelet/pki/kubelet.crt",
    ] {
        row(&n1_ip, f);
    }
    let end = bed.text("m1", "date -u -d \"$(openssl x509 -in /etc/kubernetes/pki/apiserver.crt -noout -enddate | cut -d= -f2)\" '+%Y-%m-%d %H:%M'");
    assert!(
        row(&m1, &format!("{pki}/apiserver.crt")).contains(end.trim()),
        "{end}"
    );

    // The slow phases (about half an hour more on CI's two cores) run with
    // SEAL_REAL_CLUSTER_FULL only; the default run keeps CI within its time.
    if full("upgrade") {
        upgrade_reapplies_a_changed_package(&bed, &key, &mut printed);
    }
    if full("renew") {
        certs_renew_moves_expiry_and_restarts_the_control_plane(&bed, &key, &mut printed);
    }

    // Offline: the only pull (kubeadm's preflight asking for CoreDNS) went to the refusing
    // loopback mirror; no registry was reached.
    let pulls = bed.text(
        "m1",
        "journalctl -u containerd --no-pager | grep -i 'PullImage' || true",
    );
    assert!(
        pulls.lines().all(|l| !l.contains("PullImage")
            || l.contains("127.0.0.1:1")
            || l.contains("coredns")),
        "{pulls}"
    );

    // Not yet passed on this test bed (an etcdctl pod on m1 hung on the etcd pod on n1), so not
    // in the default run; the host-level witnesses it prints say where packets stop.
    if full("pods") {
        pods_reach_each_other_across_nodes(&bed);
    }

    // clean of the node: drained and deleted from the cluster, its hosts file as before,
    // nothing of the package, the runtime or lvscare left.
    let ip_n1 = bed.ip("n1");
    let (out, took) = bed.run(&[
        "clean",
        "--node",
        &ip_n1,
        "--pk",
        &key,
        "--connect-timeout",
        "60",
    ]);
    assert!(out.status.success(), "clean failed: {}", stderr(&out));
    printed.push(printed_by(&out));
    eprintln!("clean --node took {:.0}s", took.as_secs_f64());
    let nodes = bed.text("m1", &format!("{KUBECTL} get nodes --no-headers"));
    assert!(!nodes.lines().any(|l| l.starts_with("n1 ")), "{nodes}");
    assert_eq!(bed.text("n1", "cat /etc/hosts"), n1_hosts_before);
    let ip_vs = bed.text("n1", "cat /proc/net/ip_vs");
    let vip_hex = format!(
        "{:08X}",
        u32::from(VIP.parse::<std::net::Ipv4Addr>().unwrap())
    );
    assert!(
        !ip_vs.contains(&vip_hex),
        "lvscare's IPVS service left: {ip_vs}"
    );
    let left = bed.text(
        "n1",
        "ip -o link show lvscare 2>/dev/null; ip -o link show cni0 2>/dev/null; \
         ls -d /etc/kubernetes /var/lib/seal /var/lib/kubelet /etc/containerd /opt/cni/bin \
         /etc/systemd/system/kubelet.service /etc/systemd/system/containerd.service /usr/bin/kubeadm \
         /usr/bin/lvscare /usr/local/bin/containerd /usr/local/sbin/iptables /root/kube /root/kube.tar.gz 2>/dev/null; \
         find /var/lib/containerd -mindepth 1 | head -3; ip route show proto 199; \
         systemctl is-active kubelet containerd seal-pod-routes.timer 2>/dev/null; true",
    );
    eprintln!("left on n1 after clean:\n{left}\nIPVS:\n{ip_vs}");
    let leftover: Vec<&str> = left
        .lines()
        .filter(|l| !l.trim().is_empty() && *l != "inactive" && *l != "unknown")
        .collect();
    assert!(leftover.is_empty(), "left on n1 after clean: {leftover:?}");

    // The cleaned n1 joins again: a third VM would add a busy emulated host to the two host
    // cores (two busy nodes starved the master's controller-manager once).
    if full("rejoin") {
        printed.extend(rejoin_n1_killed_trapped_resumed(&bed, &key));
    }

    // The token and the certificate key: in no byte the installer printed (its debug log
    // included), and in no file on either host (the cluster's own etcd aside), though the
    // node's join (and with FULL, the re-join and a credential refresh) used them.
    let file = std::fs::read_to_string(bed.cluster_file()).expect("cluster file");
    let value = |k: &str| {
        file.lines()
            .find_map(|l| l.trim().strip_prefix(k))
            .map(|t| t.trim_matches('"').trim_matches('\'').to_string())
            .unwrap_or_else(|| panic!("no {k} in the cluster file"))
    };
    let (token, cert_key) = (value("token: "), value("certificate_key: "));
    let secret = token[7..].to_string();
    for text in &printed {
        assert!(
            !text.contains(&secret) && !text.contains(&cert_key),
            "a secret was printed:\n{text}"
        );
    }
    // A VM's root is this machine's: the test's own folder (the operator's cluster file) is left
    // out, and of /root and /tmp only what changed during the run is read (a recursive grep of
    // this machine's /root over 9p took more than 20 minutes).
    let own = bed
        .dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .expect("bed folder");
    for h in ["m1", "n1"] {
        let found = bed.text(
            h,
            &format!(
                "{{ find /etc /var/log /var/lib/kubelet /var/lib/seal -xdev -type f; \
                 find /root /tmp /var/tmp -xdev -maxdepth 2 -type f -mmin -240 -not -path '*/{own}/*' \
                 -not -name kube.tar.gz; }} 2>/dev/null | xargs -r -d '\\n' grep -lF -e {secret} -e {cert_key} \
                 2>/dev/null; true"
            ),
        );
        assert!(found.trim().is_empty(), "{h}: files with a secret: {found}");
    }
    eprintln!("total {:.0}s", t0.elapsed().as_secs_f64());
}

/// Whether the slow `phase` (restore, upgrade, renew, pods, rejoin) runs: SEAL_REAL_CLUSTER_FULL=1 runs
/// them all, a comma list only those named; unset, none (CI's time cannot carry them).
fn full(phase: &str) -> bool {
    let set = std::env::var("SEAL_REAL_CLUSTER_FULL").unwrap_or_default();
    let on = set == "1" || set.split(',').any(|p| p.trim() == phase);
    if !on {
        eprintln!("{phase} skipped: set SEAL_REAL_CLUSTER_FULL=1 (or ={phase}) to run it");
    }
    on
}

/// The installer's own kubeadm template (`config -t kubeadm`) with the controller-manager's and
/// scheduler's leader-election leases relaxed, as an operator on slow hosts would pass it with
/// `--kubeadm-config`: with the defaults (15 s lease) both restart every few minutes under TCG.
fn relaxed_leader_election_template(bed: &Bed) -> String {
    let out = bed
        .installer(&["config", "-t", "kubeadm", "--version", "v1.20.2"])
        .output()
        .expect("seal-install config");
    assert!(out.status.success(), "config -t kubeadm: {}", stderr(&out));
    let default = String::from_utf8_lossy(&out.stdout).into_owned();
    let lease = "    leader-elect-lease-duration: \"60s\"\n    leader-elect-renew-deadline: \"40s\"\n    leader-elect-retry-period: \"5s\"\n";
    let anchor = "controllerManager:\n  extraArgs:\n";
    assert!(default.contains(anchor), "{default}");
    let relaxed = default.replacen(
        anchor,
        &format!("scheduler:\n  extraArgs:\n{lease}{anchor}{lease}"),
        1,
    );
    let path = bed.dir.join("kubeadm-relaxed.yaml.tmpl");
    std::fs::write(&path, relaxed).expect("write template");
    path.display().to_string()
}

/// `join --node n1` again, after its clean, as the sudo user: SIGKILLed while n1's kubeadm join
/// runs, then re-run with lvscare's manifest write failing (a folder where its temp file goes),
/// then re-run again. A cleaned host must be joinable like a new one.
/// Everything a run printed.
fn printed_by(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `bed.run` with the installer's debug log on.
fn run_debug(bed: &Bed, args: &[&str]) -> (std::process::Output, Duration) {
    let started = Instant::now();
    let out = bed
        .installer(args)
        .env("SEAL_LOG", "installer=debug")
        .output()
        .expect("seal-install");
    eprintln!(
        "--- seal-install {} ({})\n{}",
        args.join(" "),
        out.status,
        stderr(&out)
    );
    (out, started.elapsed())
}

/// Returns what the runs printed.
fn rejoin_n1_killed_trapped_resumed(bed: &Bed, key: &str) -> Vec<String> {
    let n1 = bed.ip("n1");
    let join = [
        "join",
        "--node",
        &n1,
        "--pk",
        key,
        "--user",
        SUDO_USER,
        "--connect-timeout",
        "60",
    ];
    bed.text("n1", "mkdir -p /etc/kubernetes/kube-lvscare.yaml.tmp");
    // The killed run's progress goes to a file, printed if n1's kubeadm join is never seen.
    let log_path = bed.dir.join("join-n1-killed.log");
    let log = std::fs::File::create(&log_path).expect("join log");
    let mut child = bed
        .installer(&join)
        .env("SEAL_PASSWD", PASSWORD)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("seal-install join");
    let start = Instant::now();
    loop {
        // Anchored: the witness's own shell has "kubeadm join" in its command line too.
        let busy = bed.on("n1", "pgrep -f '^kubeadm join' >/dev/null");
        if busy.status.success() {
            break;
        }
        let ended = child.try_wait().expect("wait").is_some();
        if ended || start.elapsed() > Duration::from_secs(1800) {
            let _ = child.kill();
            let progress = std::fs::read_to_string(&log_path).unwrap_or_default();
            let ps = bed.text("n1", "ps -eo pid,etimes,args | grep -v ' \\[' | tail -40");
            panic!(
                "{} after {:.0}s\n--- the join's output:\n{progress}\n--- n1's processes:\n{ps}",
                if ended {
                    "join ended before n1's kubeadm join ran"
                } else {
                    "n1's kubeadm join never started"
                },
                start.elapsed().as_secs_f64()
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(Duration::from_secs(5));
    child.kill().expect("kill seal-install");
    let _ = child.wait();
    eprintln!(
        "join killed during n1's kubeadm join after {:.0}s",
        start.elapsed().as_secs_f64()
    );

    let mut printed = vec![std::fs::read_to_string(&log_path).unwrap_or_default()];
    let mut run = |what: &str| {
        let started = Instant::now();
        let out = bed
            .installer(&join)
            .env("SEAL_PASSWD", PASSWORD)
            .env("SEAL_LOG", "installer=debug")
            .output()
            .expect("seal-install");
        printed.push(printed_by(&out));
        let err = stderr(&out);
        eprintln!(
            "--- join n1 ({what}, {:.0}s, {})\n{err}",
            started.elapsed().as_secs_f64(),
            out.status
        );
        (out.status.success(), err)
    };
    // The re-run joins (or finds the join done), then fails on the manifest, naming host and step.
    let (ok, err) = run("re-run, manifest trap");
    assert!(!ok, "the manifest trap should have failed the run: {err}");
    assert!(
        err.contains(&n1) && err.contains("step \"lvscare\""),
        "{err}"
    );
    assert!(
        bed.on("n1", "test -f /etc/kubernetes/kubelet.conf")
            .status
            .success(),
        "n1 is not joined"
    );
    bed.text("n1", "rmdir /etc/kubernetes/kube-lvscare.yaml.tmp");
    // The last re-run must not join again (real kubeadm would refuse: kubelet.conf exists).
    let (ok, err) = run("re-run");
    assert!(ok, "join did not complete: {err}");
    assert!(
        err.lines()
            .any(|l| l.contains(&n1) && l.contains("join node: already done, skipped")),
        "{err}"
    );

    wait_for(
        bed,
        "m1",
        "n1 Ready with its lvscare pod Running",
        Duration::from_secs(600),
        &format!(
            "{KUBECTL} get nodes n1 --no-headers; {KUBECTL} get pods -n kube-system --no-headers"
        ),
        |t| {
            t.lines()
                .any(|l| l.starts_with("n1 ") && l.split_whitespace().nth(1) == Some("Ready"))
                && t.lines()
                    .any(|l| l.starts_with("kube-lvscare-n1 ") && l.contains(" Running "))
        },
    );
    let table = bed.text("n1", "ipvsadm -Ln");
    assert!(
        table.contains(&format!("TCP  {VIP}:6443"))
            && table.contains(&format!("{}:6443", bed.ip("m1"))),
        "{table}"
    );
    // The installer's own files on n1 are root's, not the sudo user's.
    let owner = bed.text(
        "n1",
        "stat -c %U /usr/bin/lvscare /etc/kubernetes/manifests/kube-lvscare.yaml /etc/hosts",
    );
    assert!(owner.lines().all(|l| l == "root"), "{owner}");
    printed
}

/// An etcd server in a pod on n1 answers an etcdctl in a pod on m1: pod subnets are routed
/// between hosts (the package's pod-routes timer) and the bridge forwards.
fn pods_reach_each_other_across_nodes(bed: &Bed) {
    bed.text("m1", &format!(
        "{KUBECTL} run echo-n1 --image=k8s.gcr.io/etcd:3.4.13-0 --image-pull-policy=Never --restart=Never \
         --overrides='{{\"spec\":{{\"nodeName\":\"n1\"}}}}' --command -- etcd --data-dir=/tmp/e \
         --listen-client-urls=http://0.0.0.0:2379 --advertise-client-urls=http://127.0.0.1:2379"));
    let ip = wait_for(
        bed,
        "m1",
        "the etcd pod on n1 Running",
        Duration::from_secs(300),
        &format!("{KUBECTL} get pod echo-n1 -o jsonpath='{{.status.phase}} {{.status.podIP}}'"),
        |t| t.starts_with("Running 100."),
    );
    let ip = ip.split_whitespace().nth(1).expect("pod IP").to_string();
    // Host-level witnesses first: m1's route to n1's pod subnet, and the pod from both hosts.
    for h in ["m1", "n1"] {
        let seen = bed.on(
            h,
            &format!(
                "ip route show proto 199; ip route get {ip}; sysctl net.ipv4.ip_forward; \
                 curl -s -m 10 http://{ip}:2379/version; echo \" (curl exit $?)\""
            ),
        );
        eprintln!(
            "{h} -> pod {ip}:\n{}",
            String::from_utf8_lossy(&seen.stdout)
        );
    }
    bed.text("m1", &format!(
        "{KUBECTL} run ask-m1 --image=k8s.gcr.io/etcd:3.4.13-0 --image-pull-policy=Never --restart=Never \
         --overrides='{{\"spec\":{{\"nodeName\":\"m1\",\"tolerations\":[{{\"operator\":\"Exists\"}}]}}}}' --command -- etcdctl --endpoints=http://{ip}:2379 \
         --dial-timeout=20s put reached m1"));
    let phase = wait_for(
        bed,
        "m1",
        "the etcdctl pod on m1 done",
        Duration::from_secs(300),
        &format!("{KUBECTL} get pod ask-m1 -o jsonpath='{{.status.phase}}'"),
        |t| t == "Succeeded" || t == "Failed",
    );
    let logs = bed.text("m1", &format!("{KUBECTL} logs ask-m1; true"));
    assert_eq!(
        phase, "Succeeded",
        "a pod on m1 could not reach the pod on n1 at {ip}: {logs}"
    );
    assert!(logs.contains("OK"), "{logs}");
}

/// certs renew: every certificate kubeadm made on m1 is a new one (etcd's and the kubeconfigs'
/// included) ending no earlier than before, each static pod was restarted during the run, the
/// apiserver and etcd serve the new certificates, and the cluster serves again, from the node
/// through lvscare too. (The patched kubeadm clamps a certificate to its CA's end: under the
/// 99-year CA made at init, renewed certificates end when the old ones did.)
fn certs_renew_moves_expiry_and_restarts_the_control_plane(
    bed: &Bed,
    key: &str,
    printed: &mut Vec<String>,
) {
    // `fingerprint expiry` of each certificate, in a fixed order.
    let certs = || -> Vec<(String, i64)> {
        bed.text(
            "m1",
            "cd /etc/kubernetes; { for f in pki/apiserver.crt pki/apiserver-etcd-client.crt pki/front-proxy-client.crt \
             pki/etcd/server.crt pki/etcd/peer.crt; do cat $f; done; \
             for f in admin.conf controller-manager.conf scheduler.conf; do \
             sed -n 's/^ *client-certificate-data: *//p' $f | base64 -d; done; } \
             | awk '/BEGIN CERT/{n++} {print > (\"/tmp/renew-cert-\" n)}'; \
             for i in 1 2 3 4 5 6 7 8; do f=/tmp/renew-cert-$i; \
             echo $(openssl x509 -in $f -noout -fingerprint -sha256 | cut -d= -f2) \
             $(date -u -d \"$(openssl x509 -in $f -noout -enddate | cut -d= -f2)\" +%s); rm -f $f; done",
        )
        .lines()
        .map(|l| {
            let (fp, end) = l.split_once(' ').expect("fingerprint expiry");
            (fp.to_string(), end.trim().parse().expect("an expiry"))
        })
        .collect()
    };
    let before = certs();
    assert_eq!(before.len(), 8, "{before:?}");

    let (dry, _) = bed.run(&["certs", "renew", "--dry-run", "--pk", key]);
    assert!(dry.status.success(), "{}", stderr(&dry));
    let plan = String::from_utf8_lossy(&dry.stdout).into_owned();
    let at = |s: &str| {
        plan.find(s)
            .unwrap_or_else(|| panic!("no {s} in the dry run:\n{plan}"))
    };
    // Renewal first, then each component's manifest parked in turn.
    let parked = |c: &str| {
        at(&format!(
            "mv /etc/kubernetes/manifests/{c}.yaml /etc/kubernetes/seal-restart/"
        ))
    };
    assert!(
        at("kubeadm certs renew all") < parked("etcd")
            && parked("etcd") < parked("kube-apiserver")
            && parked("kube-apiserver") < parked("kube-controller-manager")
            && parked("kube-controller-manager") < parked("kube-scheduler"),
        "{plan}"
    );

    let (out, took) = bed.run(&["certs", "renew", "--pk", key, "--connect-timeout", "60"]);
    printed.push(printed_by(&out));
    assert!(out.status.success(), "certs renew failed: {}", stderr(&out));
    eprintln!(
        "certs renew took {:.0}s\n{}",
        took.as_secs_f64(),
        String::from_utf8_lossy(&out.stdout)
    );
    let after = certs();
    for (b, a) in before.iter().zip(&after) {
        assert!(
            a.0 != b.0 && a.1 >= b.1,
            "not renewed: before {before:?}, after {after:?}"
        );
    }
    // What the apiserver and etcd present is the new certificate.
    let served = |port: u16| {
        bed.text(
            "m1",
            &format!("openssl s_client -connect 127.0.0.1:{port} </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256 | cut -d= -f2"),
        )
        .trim()
        .to_string()
    };
    assert_eq!(
        served(6443),
        after[0].0,
        "the apiserver serves an old certificate"
    );
    assert_eq!(served(2379), after[3].0, "etcd serves an old certificate");
    // Each component's process is younger than the renew run.
    let ages = bed.text(
        "m1",
        // By the program in each command line: a process name is cut at 15 characters, and
        // kube-controller-manager's is longer.
        "for p in etcd kube-apiserver kube-controller-manager kube-scheduler; do \
         echo $p $(ps -eo etimes=,args= | awk -v p=$p '$2 == p || $2 ~ (\"/\" p \"$\") {print $1}' | sort -n | head -1); done",
    );
    for line in ages.lines() {
        let age: f64 = line
            .split_whitespace()
            .nth(1)
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("not running: {line}"));
        assert!(
            age < took.as_secs_f64(),
            "not restarted by the renew: {line}"
        );
    }
    assert!(
        bed.on("m1", "test ! -e /etc/kubernetes/seal-restart")
            .status
            .success(),
        "a manifest is left parked"
    );
    both_nodes_ready(bed, "both nodes Ready after certs renew");
    let from_node = bed.text(
        "n1",
        "kubectl --kubeconfig /etc/kubernetes/kubelet.conf get node n1 -o name",
    );
    assert_eq!(from_node.trim(), "node/n1");
}

/// `upgrade` re-applies v1.20.2 from a package whose kubelet and kubectl differ (bytes appended:
/// an ELF binary still runs): the new binaries on both hosts, kubelet restarted on each, the node
/// drained and back, the cluster file moved on, and a re-run finds everything done. A client on
/// n1 asks the apiserver through the VIP every second meanwhile; with one master, the
/// apiserver's restart by kubeadm is an outage, whose length is printed.
fn upgrade_reapplies_a_changed_package(bed: &Bed, key: &str, printed: &mut Vec<String>) {
    let pkg = seal_testbed::install_bed::real_package();
    let work = bed.dir.join("upgrade-pkg");
    let new = bed.dir.join("kube-changed.tar.gz");
    let made = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -e; rm -rf {w}; mkdir -p {w}; tar -xzf {pkg} -C {w}; \
             for b in kubelet kubectl; do printf 'seal-upgrade-test' >> {w}/kube/bin/$b; done; \
             tar -C {w} -cf - kube | gzip -1 > {new}; rm -rf {w}; sha256sum {new} | cut -d' ' -f1",
            w = work.display(),
            pkg = pkg.display(),
            new = new.display()
        ))
        .output()
        .expect("bash");
    assert!(made.status.success(), "{}", stderr(&made));
    let sum = String::from_utf8_lossy(&made.stdout).trim().to_string();
    let want_kubelet = {
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!(
                "tar -xzOf {} kube/bin/kubelet | sha256sum | cut -d' ' -f1",
                new.display()
            ))
            .output()
            .expect("bash");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let new_arg = new.display().to_string();
    let args = |extra: &[&str]| {
        let mut a = vec![
            "upgrade",
            "--version",
            "v1.20.2",
            "--pkg-url",
            new_arg.as_str(),
            "--pkg-sha256",
            sum.as_str(),
            "--pk",
            key,
            "--connect-timeout",
            "60",
        ];
        a.extend_from_slice(extra);
        a.into_iter().map(String::from).collect::<Vec<_>>()
    };

    let dry = args(&["--dry-run"]);
    let (out, _) = bed.run(&dry.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(out.status.success(), "{}", stderr(&out));
    let plan = String::from_utf8_lossy(&out.stdout).into_owned();
    let at = |s: &str| {
        plan.find(s)
            .unwrap_or_else(|| panic!("no {s} in the dry run:\n{plan}"))
    };
    assert!(
        at("SEAL_ROLE=node bash /root/kube/shell/init.sh")
            < at("kubeadm upgrade apply v1.20.2 --yes")
            && at("kubeadm upgrade apply v1.20.2 --yes") < at(" drain \"$n\"")
            && at(" drain \"$n\"") < at("kubeadm upgrade node")
            && at("kubeadm upgrade node") < at(" uncordon \"$n\""),
        "{plan}"
    );

    // The client through the VIP: one line per second, `SECONDS ok|fail`.
    bed.text(
        "n1",
        "rm -f /tmp/upgrade-client.log; (while :; do \
         if timeout 5 kubectl --kubeconfig /etc/kubernetes/kubelet.conf get --raw /readyz >/dev/null 2>&1; \
         then echo \"$(date +%s) ok\"; else echo \"$(date +%s) fail\"; fi >> /tmp/upgrade-client.log; sleep 1; done) \
         >/dev/null 2>&1 </dev/null & echo $! > /tmp/upgrade-client.pid",
    );
    let real = args(&[]);
    let (out, took) = run_debug(bed, &real.iter().map(String::as_str).collect::<Vec<_>>());
    printed.push(printed_by(&out));
    let log = bed.text(
        "n1",
        "kill $(cat /tmp/upgrade-client.pid); cat /tmp/upgrade-client.log",
    );
    assert!(out.status.success(), "upgrade failed: {}", stderr(&out));
    // The longest run of failures the client saw.
    let (mut worst, mut since) = (0i64, None::<i64>);
    for l in log.lines() {
        let mut w = l.split_whitespace();
        let (Some(t), Some(r)) = (w.next().and_then(|t| t.parse::<i64>().ok()), w.next()) else {
            continue;
        };
        match (r, since) {
            ("fail", None) => since = Some(t),
            ("ok", Some(s)) => {
                worst = worst.max(t - s);
                since = None;
            }
            _ => {}
        }
    }
    let oks = log.lines().filter(|l| l.ends_with(" ok")).count();
    eprintln!(
        "upgrade took {:.0}s; the client through the VIP: {} answers, longest outage {worst}s (one master)",
        took.as_secs_f64(),
        oks
    );
    assert!(
        since.is_none(),
        "the apiserver did not come back for the client:\n{log}"
    );

    for h in ["m1", "n1"] {
        let got = bed.text(h, "sha256sum /usr/bin/kubelet | cut -d' ' -f1");
        assert_eq!(
            got.trim(),
            want_kubelet,
            "{h}: kubelet not from the new package"
        );
        let age: f64 = bed
            .text(h, "ps -o etimes= -C kubelet | sort -n | head -1")
            .trim()
            .parse()
            .expect("kubelet runs");
        assert!(age < took.as_secs_f64(), "{h}: kubelet not restarted");
        assert!(
            bed.on(h, "grep -q '^v1.20.2-' /var/lib/seal/upgraded")
                .status
                .success(),
            "{h}: no upgrade marker"
        );
    }
    let node = bed.text(
        "m1",
        &format!("{KUBECTL} get node n1 -o jsonpath='{{.spec.unschedulable}} {{.metadata.annotations.seal-install/upgraded}}'"),
    );
    assert!(
        node.starts_with(" v1.20.2-"),
        "n1 cordoned or not marked: {node:?}"
    );
    both_nodes_ready(bed, "both nodes Ready after the upgrade");
    let file = std::fs::read_to_string(bed.cluster_file()).expect("cluster file");
    assert!(file.contains(&format!("package_sha256: {sum}")), "{file}");

    // Again: every step already done, nothing drained.
    let (out, took) = bed.run(&real.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(out.status.success(), "{}", stderr(&out));
    let said = stderr(&out);
    assert!(
        said.contains("kubeadm upgrade apply: already done, skipped")
            && said.contains("kubeadm upgrade node: already done, skipped"),
        "{said}"
    );
    eprintln!("the re-run took {:.0}s", took.as_secs_f64());
    let _ = std::fs::remove_file(&new);
}

/// The README's restore: the package's `restore-etcd.sh` on the master with the snapshot just
/// taken. What was made after the backup is gone, what the snapshot holds is back, the old data
/// is kept aside, and the cluster serves again, the node's kubelet included.
fn restore_brings_back_the_snapshot(bed: &Bed, snap: &std::path::Path) {
    bed.text(
        "m1",
        &format!("{KUBECTL} create configmap after-backup -n default"),
    );
    bed.put("m1", snap, "/root/etcd-restore.db");
    let started = Instant::now();
    let out = bed.on(
        "m1",
        "bash /root/kube/shell/restore-etcd.sh /root/etcd-restore.db",
    );
    eprintln!(
        "restore-etcd.sh took {:.0}s:\n{}{}",
        started.elapsed().as_secs_f64(),
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
    assert!(out.status.success(), "restore failed");
    let gone = bed.on(
        "m1",
        &format!("{KUBECTL} get configmap after-backup -n default"),
    );
    assert!(
        !gone.status.success(),
        "made after the backup, still there after the restore"
    );
    bed.text("m1", &format!("{KUBECTL} get pod probe -n default"));
    let aside = bed.text("m1", "ls -d /var/lib/etcd.before-restore-* && test ! -e /etc/kubernetes/seal-restore && echo clean");
    assert!(aside.contains("clean"), "{aside}");
    both_nodes_ready(bed, "both nodes Ready after the restore");
    let from_node = bed.text(
        "n1",
        "kubectl --kubeconfig /etc/kubernetes/kubelet.conf get node n1 -o name",
    );
    assert_eq!(from_node.trim(), "node/n1");
    bed.text("m1", "rm -f /root/etcd-restore.db");
}
