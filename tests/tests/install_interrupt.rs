//! `seal-install init` of a master and a node while things go wrong in the middle of the node's
//! join: its SSH connection is cut (the host's sshd session process killed) during the upload of
//! lvscare's binary, then during `kubeadm join`, then the operator presses Ctrl-C during
//! `kubeadm join`. Each time the run says what happened and
//! the join stops on the host (no orphaned remote command runs on behind a re-run); the third run
//! completes the cluster and no half-written file is left anywhere.
//!
//! TEST DOUBLES: the package's kubeadm/kubelet/kubectl (tests/package/kube/bin); the kubeadm
//! double holds a join while `/var/lib/seal-doubles/hold-join` exists, so the faults land inside
//! it. Everything else is real: sshd, the installer's SSH client, signals, IPVS on the node.

use seal_testbed::install_bed::{stderr, Bed};
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const D: &str = "/var/lib/seal-doubles";

/// A shell function: kills the nearest sshd ancestor of process $1, the sshd session process
/// of one of the installer's connections, which cuts that connection and leaves the witness's
/// alone.
const CUT_ABOVE: &str = r#"cut_above() {
  p=$1
  while [ "$p" -gt 1 ]; do
    case "$(cat /proc/$p/comm)" in sshd*) kill -9 "$p"; return 0 ;; esac
    p=$(sed 's/.*) //' /proc/$p/stat | cut -d' ' -f2)
  done
  return 1
}"#;

/// Cuts the connection that runs the held join.
const CUT: &str = r#"cut_above "$(cat /var/lib/seal-doubles/join-held)" && { echo "cut during the join"; exit 0; }
echo "no sshd above the join"; exit 1"#;

/// Waits (up to 5 min) for the upload of lvscare's binary to /usr/bin (its temp file open for
/// writing), then cuts the connection above the writer in the middle of the transfer. Prints how
/// many bytes had arrived.
const CUT_UPLOAD: &str = r#"end=$(( $(date +%s) + 300 ))
while [ "$(date +%s)" -lt "$end" ]; do
  for t in /usr/bin/.seal-tmp.*; do
    [ -e "$t" ] || continue
    for w in $(pgrep -x cat); do
      [ "$(readlink /proc/$w/fd/1 2>/dev/null)" = "$t" ] || continue
      size=$(stat -c %s "$t")
      cut_above "$w" && { echo "cut at $size bytes"; exit 0; }
    done
  done
  sleep 0.05
done
echo "no upload seen"; exit 1"#;

/// Temp files of atomic writes (made next to their destination) left where the installer writes:
/// the package, kubeadm's config, lvscare's binary, manifest and unit, the hosts file. (Not a
/// recursive find: /root holds this machine's toolchains, slow to walk over 9p.)
const HALF_WRITTEN: &str = "find /root /root/kube /etc /etc/default /etc/kubernetes \
    /etc/kubernetes/manifests /etc/systemd/system /usr/bin -maxdepth 1 -name '.seal-tmp.*' \
    2>/dev/null; true";

fn wait_until(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Whether a `kubeadm join` process runs on `host` (anchored: the witness's own shell and the
/// installer's wrapper name it in their command lines too).
fn joining(bed: &Bed, host: &str) -> bool {
    !bed.text(host, "pgrep -f '^[^ ]*bash [^ ]*kubeadm join' || true")
        .trim()
        .is_empty()
}

#[test]
fn cut_connection_and_ctrl_c_mid_join_then_rerun_completes() {
    let Some(bed) = Bed::start("interrupt", &["m1", "n1"]) else {
        return;
    };
    let (m1, n1) = (bed.ip("m1"), bed.ip("n1"));
    let key = bed.key.display().to_string();
    let lvscare = bed.lvscare();
    let args = bed.init_args(&["m1"], &["n1"], &["--pk", &key]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let hold = |on: bool| {
        bed.text(
            "n1",
            &format!(
                "mkdir -p {D}; rm -f {D}/join-held; {}",
                if on {
                    format!("touch {D}/hold-join")
                } else {
                    format!("rm -f {D}/hold-join")
                }
            ),
        )
    };
    let spawn = || {
        bed.installer(&argv)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn seal-install")
    };
    let start_held = || {
        let child = spawn();
        wait_until("n1's join to start", Duration::from_secs(600), || {
            bed.text("n1", &format!("test -s {D}/join-held && echo yes; true"))
                .trim()
                == "yes"
        });
        child
    };
    let finish = |mut child: std::process::Child, limit: Duration| {
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
                panic!("seal-install still runs {limit:?} after the fault");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    };

    // Runs a cut script on n1 while `child` runs: the run fails naming host, step and cause.
    let cut_off = |child: std::process::Child, script: &str| {
        let cut = bed.text("n1", &format!("{CUT_ABOVE}\n{script}"));
        assert!(cut.starts_with("cut "), "{cut}");
        let (status, err) = finish(child, Duration::from_secs(180));
        assert_eq!(status.code(), Some(1), "{err}");
        assert!(
            err.contains(&format!("{n1}: step \"join node\" failed"))
                && err.contains("SSH session lost"),
            "the run does not name the host, step and cause: {err}"
        );
        cut
    };

    // 1. The installer's connection to n1 is cut while lvscare's binary is uploaded to it.
    let local_sum = |path: &str| {
        let out = Command::new("sha256sum")
            .arg(path)
            .output()
            .expect("sha256sum");
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string()
    };
    let lvscare_sum = local_sum(&lvscare);
    let cut = cut_off(spawn(), CUT_UPLOAD);
    eprintln!("upload {cut}");
    // No temp file; the binary is absent or whole (the cut may land after the last byte).
    assert_eq!(bed.text("n1", HALF_WRITTEN), "");
    let there = bed.text(
        "n1",
        "sha256sum /usr/bin/lvscare 2>/dev/null | cut -c1-64; true",
    );
    assert!(
        there.trim().is_empty() || there.trim() == lvscare_sum,
        "a partial /usr/bin/lvscare: {there}"
    );
    assert!(!joining(&bed, "n1"));

    // 2. The re-run reaches kubeadm join; the connection is cut while it runs there.
    hold(true);
    let child = start_held();
    assert!(joining(&bed, "n1"));
    cut_off(child, CUT);
    // The join stopped with its connection (the hold file is still there: it would wait for ever).
    wait_until(
        "the cut join to stop on n1",
        Duration::from_secs(20),
        || !joining(&bed, "n1"),
    );

    // 3. The next re-run reaches the join again; the operator presses Ctrl-C.
    hold(true);
    let child = start_held();
    let pid = child.id().to_string();
    let sent = Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill");
    assert!(sent.success());
    let (status, err) = finish(child, Duration::from_secs(30));
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(
        err.contains("interrupted") && err.contains("run the same command again"),
        "{err}"
    );
    wait_until(
        "the interrupted join to stop on n1",
        Duration::from_secs(20),
        || !joining(&bed, "n1"),
    );

    // 4. Nothing half-written anywhere; the same command completes the cluster.
    for h in ["m1", "n1"] {
        assert_eq!(bed.text(h, HALF_WRITTEN), "", "{h}");
    }
    hold(false);
    let (out, _) = bed.run(&argv);
    assert!(out.status.success(), "{}", stderr(&out));
    let log = stderr(&out);
    assert!(
        log.contains(&format!("{m1:<15} kubeadm init: already done, skipped")),
        "{log}"
    );
    let joins = bed.text("n1", &format!("grep -c '^join ' {D}/kubeadm.log"));
    // Once cut, once interrupted, once done: the first run never got to the join.
    assert_eq!(joins.trim(), "3", "n1 joined {joins} times");
    assert!(
        bed.text("n1", "test -f /etc/kubernetes/kubelet.conf && echo yes")
            .trim()
            == "yes"
    );
    let table = bed.text("n1", "ipvsadm -Ln");
    assert!(table.contains(&format!("{m1}:6443")), "{table}");
    for h in ["m1", "n1"] {
        assert_eq!(bed.text(h, HALF_WRITTEN), "", "{h}");
    }
}
