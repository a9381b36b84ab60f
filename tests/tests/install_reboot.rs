//! `seal-install init` of a master and a node while the node loses power and boots again in the
//! middle of its join: once while lvscare's binary is being uploaded to it, once during
//! `kubeadm join`. The node keeps what its disk had (as a host does across a reboot) and loses
//! everything else: processes, IPVS rules, its lvscare link, its connections (cut without FIN or
//! RST). Each run names the host and step that failed; the third run completes the cluster, and
//! no temp file, half-written file or duplicated hosts block is left on the node.
//!
//! TEST DOUBLES: the package's kubeadm/kubelet/kubectl (tests/package/kube/bin); the kubeadm
//! double holds a join while `/var/lib/seal-doubles/hold-join` exists, so the power cut lands
//! inside it. Everything else is real: sshd, the installer's SSH client, the node's disk (an
//! ext4 image under the VM's overlay root), IPVS on the node.

use seal_testbed::install_bed::{stderr, with_block, Bed, VIP};
use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const D: &str = "/var/lib/seal-doubles";

/// Waits (up to 5 min) for the upload of lvscare's binary to /usr/bin (its temp file open for
/// writing), flushes the node's disk so the half-written temp file is on it, and prints how many
/// bytes had arrived; the test then cuts the power.
const IN_UPLOAD: &str = r#"end=$(( $(date +%s) + 300 ))
while [ "$(date +%s)" -lt "$end" ]; do
  for t in /usr/bin/.seal-tmp.*; do
    [ -e "$t" ] || continue
    for w in $(pgrep -x cat); do
      [ "$(readlink /proc/$w/fd/1 2>/dev/null)" = "$t" ] || continue
      sync; echo "uploading: $(stat -c %s "$t") bytes on disk"; exit 0
    done
  done
  sleep 0.05
done
echo "no upload seen"; exit 1"#;

/// Temp files of the installer's atomic writes where it writes on a node (not a recursive find:
/// /root holds this machine's toolchains, slow to walk over 9p).
const LEFT_OVER: &str = "find /root /root/kube /etc /etc/default /etc/kubernetes \
    /etc/kubernetes/manifests /etc/systemd/system /usr/bin -maxdepth 1 \
    \\( -name '.seal-tmp.*' -o -name '.hosts.seal-install.*' \\) 2>/dev/null; true";

fn wait_until(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Waits for the installer to end (within `limit`) and returns its status and stderr.
fn finish(mut child: Child, limit: Duration) -> (ExitStatus, String) {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let mut err = String::new();
            child
                .stderr
                .take()
                .expect("stderr")
                .read_to_string(&mut err)
                .expect("read");
            eprintln!("--- seal-install ({status})\n{err}");
            return (status, err);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("seal-install still runs {limit:?} after the power cut");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// sha256 of a local file.
fn local_sum(path: &str) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn node_power_cycled_mid_join_then_rerun_completes() {
    let Some(mut bed) = Bed::start_with_disks("reboot", &["m1", "n1"], &["n1"]) else {
        return;
    };
    let (m1, n1) = (bed.ip("m1"), bed.ip("n1"));
    let hosts_before = bed.text("n1", "cat /etc/hosts");
    let key = bed.key.display().to_string();
    let lvscare = bed.lvscare();
    let lvscare_sum = local_sum(&lvscare);
    let args = bed.init_args(&["m1"], &["n1"], &["--pk", &key]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let spawn = |bed: &Bed| {
        bed.installer(&argv)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn seal-install")
    };
    // The run fails naming the node and its step; the cause depends on when the installer
    // notices (its keepalives, or the rebooted node's kernel resetting the old connection).
    let failed_on_n1 = |(status, err): (ExitStatus, String)| {
        assert_eq!(status.code(), Some(1), "{err}");
        assert!(
            err.contains(&format!("{n1}: step \"join node\" failed")),
            "the run does not name the host and step: {err}"
        );
    };

    // 1. The node loses power while lvscare's binary is uploaded to it, and boots again.
    let child = spawn(&bed);
    let seen = bed.text("n1", IN_UPLOAD);
    assert!(seen.starts_with("uploading: "), "{seen}");
    let cut = Instant::now();
    bed.power_cycle("n1");
    eprintln!(
        "n1 {seen}; power cut, back {:.1}s later",
        cut.elapsed().as_secs_f64()
    );
    failed_on_n1(finish(child, Duration::from_secs(240)));
    // The disk has the half-written temp file (flushed before the cut); the binary is absent or
    // whole, never partial.
    let left = bed.text("n1", LEFT_OVER);
    assert!(left.contains("/usr/bin/.seal-tmp.lvscare."), "{left}");
    let there = bed.text(
        "n1",
        "sha256sum /usr/bin/lvscare 2>/dev/null | cut -c1-64; true",
    );
    assert!(
        there.trim().is_empty() || there.trim() == lvscare_sum,
        "a partial /usr/bin/lvscare: {there}"
    );

    // 2. The re-run reaches kubeadm join (held on the node); the node loses power again.
    bed.text(
        "n1",
        &format!("mkdir -p {D} && rm -f {D}/join-held && touch {D}/hold-join"),
    );
    let child = spawn(&bed);
    wait_until("n1's join to start", Duration::from_secs(600), || {
        bed.text("n1", &format!("test -s {D}/join-held && echo yes; true"))
            .trim()
            == "yes"
    });
    // What the node wrote so far reaches its disk, as it would within seconds on a real host.
    bed.text("n1", "sync");
    bed.power_cycle("n1");
    failed_on_n1(finish(child, Duration::from_secs(240)));
    // The reboot took the node's processes and kernel state: no join runs, no rules are left.
    let after = bed.text(
        "n1",
        "pgrep -f '^[^ ]*bash [^ ]*kubeadm join'; ipvsadm -Ln | grep -F 10.103.97.2; \
         ip link show lvscare 2>/dev/null; true",
    );
    assert_eq!(after, "", "{after}");

    // 3. The same command completes the cluster.
    bed.text("n1", &format!("rm -f {D}/hold-join {D}/join-held"));
    let (out, _) = bed.run(&argv);
    let log = stderr(&out);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains(&format!("{m1:<15} kubeadm init: already done, skipped")),
        "{log}"
    );
    let joins = bed.text("n1", &format!("grep -c '^join ' {D}/kubeadm.log"));
    // Cut once by the power loss, done once: the first run never got to the join.
    assert_eq!(joins.trim(), "2", "n1 joined {joins} times");
    assert_eq!(
        bed.text("n1", "sha256sum /usr/bin/lvscare | cut -c1-64").trim(),
        lvscare_sum
    );
    assert_eq!(bed.text("n1", LEFT_OVER), "");
    // One hosts block (the node's name to the VIP), the host's own lines kept.
    assert_eq!(
        bed.text("n1", "cat /etc/hosts"),
        with_block(&hosts_before, VIP)
    );
    let table = bed.text("n1", "ipvsadm -Ln");
    assert!(table.contains(&format!("{m1}:6443")), "{table}");
    let answer = bed.text(
        "n1",
        "curl -sSk --max-time 10 --retry 3 https://apiserver.cluster.local:6443/",
    );
    assert_eq!(answer.trim(), "m1");
}
