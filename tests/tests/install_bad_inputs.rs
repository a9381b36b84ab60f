//! `seal-install` refuses bad input with a message that names the problem, the right exit status
//! (2 for bad arguments, 1 for what only the hosts can tell), and no change on any host. Two VMs
//! with real sshd; the package's kubeadm/kubelet are TEST DOUBLES and must never even be installed.

use seal_testbed::install_bed::{keypair, stderr, Bed, PASSWORD};
use std::fs;

/// What must hold on every host after a refused run: nothing of the installer's anywhere.
const UNTOUCHED: &str = "cat /etc/hosts; for f in /root/kube /root/kube.tar.gz /root/kubeadm-config.yaml \
    /usr/bin/kubeadm /usr/bin/lvscare /var/lib/seal-doubles; do [ ! -e $f ] || echo \"present: $f\"; done";

#[test]
fn bad_inputs_are_refused_and_change_nothing() {
    let Some(bed) = Bed::start("bad_inputs_are_refused_and_change_nothing", &["a1", "a2"]) else {
        return;
    };
    let (a1, a2) = (bed.ip("a1"), bed.ip("a2"));
    let before: Vec<String> = ["a1", "a2"]
        .iter()
        .map(|h| bed.text(h, UNTOUCHED))
        .collect();
    for b in &before {
        assert!(!b.contains("present:"), "{b}");
    }
    let pkg = bed.package.display().to_string();
    let base = |extra: &[&str]| bed.init_args(&["a1"], &["a2"], extra);
    let zeros = "0".repeat(64);
    let bad_template = bed.dir.join("bad.tmpl");
    fs::write(
        &bad_template,
        "apiVersion: kubeadm.k8s.io/v1beta2\nkind: ClusterConfiguration\nkubernetesVersion: {{.Version\n",
    )
    .expect("template");
    let template = bad_template.display().to_string();
    let wrong_beside = bed.dir.join("other.tar.gz");
    fs::copy(&bed.package, &wrong_beside).expect("copy package");
    fs::write(
        bed.dir.join("other.tar.gz.sha256"),
        format!("{zeros}  other.tar.gz\n"),
    )
    .expect("sha file");
    let other = wrong_beside.display().to_string();

    // (arguments, exit status, words the message must contain)
    let twice = format!("{a1} is given twice");
    let cases: Vec<(Vec<String>, i32, Vec<&str>)> = vec![
        (
            base(&["--passwd", "wrong password"]),
            1,
            vec![
                "authentication failed for user root (password)",
                "nothing was changed",
            ],
        ),
        (
            {
                let mut a = base(&["--passwd", PASSWORD]);
                a.extend(["--node".into(), "10.77.0.99".into()]);
                a
            },
            1,
            vec![
                "10.77.0.99: cannot connect",
                "a1): ok",
                "nothing was changed",
            ],
        ),
        (
            base(&["--master", &a1, "--passwd", PASSWORD]),
            2,
            vec![&twice],
        ),
        (
            base(&["--vip", &a2, "--passwd", PASSWORD]),
            2,
            vec!["is also a host's address"],
        ),
        (
            {
                let mut a = base(&["--passwd", PASSWORD]);
                let i = a.iter().position(|x| x == &pkg).expect("pkg");
                a[i] = "/nonexistent/kube.tar.gz".into();
                a
            },
            2,
            vec!["/nonexistent/kube.tar.gz: no such file"],
        ),
        (
            base(&["--pkg-sha256", &zeros, "--passwd", PASSWORD]),
            2,
            vec!["SHA-256 is", "but --pkg-sha256 says"],
        ),
        (
            {
                let mut a = base(&["--passwd", PASSWORD]);
                let i = a.iter().position(|x| x == &pkg).expect("pkg");
                a[i] = other.clone();
                a
            },
            2,
            vec!["other.tar.gz.sha256 says"],
        ),
        (
            base(&["--kubeadm-config", &template, "--passwd", PASSWORD]),
            2,
            vec!["bad.tmpl:3:", "unclosed action"],
        ),
    ];
    for (args, code, words) in &cases {
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let (out, _) = bed.run(&argv);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(*code), "{args:?}\n{err}");
        for w in words {
            assert!(err.contains(w), "{args:?}: message lacks {w:?}:\n{err}");
        }
        assert!(
            !bed.cluster_file().exists(),
            "{args:?} wrote the cluster file"
        );
    }

    // A changed host key: the recorded one for a1 is another key.
    let known = bed.dir.join("home/.seal/known_hosts");
    let (_, other_key) = keypair(&bed.dir, "impostor");
    let line = format!(
        "{a1} {}",
        other_key
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    );
    fs::write(&known, format!("{line}\n")).expect("known_hosts");
    let args = base(&["--passwd", PASSWORD]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let (out, _) = bed.run(&argv);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains(&format!("{a1}: HOST KEY CHANGED")), "{err}");
    assert!(err.contains("remove line 1 from"), "{err}");
    fs::remove_file(&known).expect("reset known_hosts");

    // Preflight: something already listens on 6443 on a2.
    bed.text(
        "a2",
        "setsid python3 -m http.server 6443 >/dev/null 2>&1 < /dev/null & \
         for i in $(seq 100); do awk 'NR>1 && $4==\"0A\"' /proc/net/tcp /proc/net/tcp6 | grep -q ':192B ' && exit 0; \
         sleep 0.2; done; exit 1",
    );
    let (out, _) = bed.run(&argv);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains(&format!("{a2} (a2): FAILED")), "{err}");
    assert!(err.contains("port 6443 is already in use"), "{err}");
    bed.text("a2", "pkill -f '^python3 -m http[.]server'; true");

    // --dry-run prints each host's commands and files, and changes nothing.
    let args = base(&["--passwd", PASSWORD, "--dry-run"]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let (out, _) = bed.run(&argv);
    assert!(out.status.success());
    let plan = String::from_utf8_lossy(&out.stdout);
    for want in [
        format!("-- {a1}: kubeadm init"),
        format!("-- {a2}: join node"),
        // Resumes past preflight when an earlier init got half-way (see plan::init_master0).
        "run (1500s limit): if [ -e /etc/kubernetes/admin.conf ]".into(),
        "else kubeadm init --config /root/kubeadm-config.yaml --upload-certs".into(),
        "write /root/kubeadm-config.yaml (mode 600):".into(),
        "(dry run: nothing was changed)".into(),
    ] {
        assert!(plan.contains(&want), "dry run lacks {want:?}:\n{plan}");
    }
    assert!(!plan.contains(PASSWORD));
    // The secrets are masked; the joins pin a CA that a dry run cannot know yet, and say so.
    for want in [
        "token: \"<bootstrap token>\"",
        "certificateKey: \"<certificate key>\"",
        "- \"sha256:<master0's CA, read after its kubeadm init>\"",
    ] {
        assert!(plan.contains(want), "dry run lacks {want:?}:\n{plan}");
    }
    let tokens = plan.lines().filter(|l| l.contains("token: \"")).count();
    let masked = plan
        .lines()
        .filter(|l| l.contains("token: \"<bootstrap token>\""))
        .count();
    assert!(tokens >= 2 && tokens == masked, "{plan}");
    assert!(!bed.cluster_file().exists());

    // After all of it: both hosts exactly as before.
    for (i, h) in ["a1", "a2"].iter().enumerate() {
        assert_eq!(bed.text(h, UNTOUCHED), before[i], "{h} was changed");
    }
}
