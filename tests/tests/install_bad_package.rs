//! `seal-install init` with a bad offline package: one cut short, or with an entry escaping
//! `kube/`, or without `kube/shell/init.sh`, is refused before any host is touched (exit 2,
//! nothing on the host); one whose init.sh fails stops naming host, step and cause, and the
//! re-run with a fixed package completes. One VM with real sshd; the package's kubeadm/kubelet
//! are TEST DOUBLES.

use seal_testbed::install_bed::{stderr, Bed, PASSWORD};
use std::fs;
use std::process::{Command, Output};
use std::time::Duration;

/// Where the escaping entries of the crafted packages point.
const ESCAPED: &str = "/tmp/seal-escaped";

/// What a refused run must leave: nothing of the installer's, nothing where an entry pointed.
const UNTOUCHED: &str = "cat /etc/hosts; for f in /root/kube /root/kube.tar.gz /root/kubeadm-config.yaml \
    /usr/bin/kubeadm /var/lib/seal-doubles /tmp/seal-escaped /etc/seal-escaped; do [ ! -e $f ] || echo \"present: $f\"; done";

/// The crafted packages beside the bed's good one, made from its own `kube/` with GNU tar.
fn make_bad_packages(bed: &Bed) {
    let script = format!(
        r#"set -eu
cd {dir}
mkdir src
tar -xzf {good} -C src
pack() {{ tar -C src "$@" kube; }}
echo evil > src/kube/evil
pack -P --transform 's,^kube/evil$,kube/../..{ESCAPED},' -czf dotdot.tar.gz
pack -P --transform 's,^kube/evil$,{ESCAPED},' -czf absolute.tar.gz
rm src/kube/evil
ln -s /etc src/kube/etc
pack -czf link.tar.gz
rm src/kube/etc
mv src/kube/shell/init.sh init.sh.good
pack -czf noinit.tar.gz
printf '#!/bin/bash\necho "init.sh: containerd did not start" >&2\nexit 1\n' > src/kube/shell/init.sh
# Owned by a builder's uid: the hosts must unpack it as root's all the same.
pack --owner=1234 --group=1234 -czf failing.tar.gz
mv init.sh.good src/kube/shell/init.sh
head -c $(( $(stat -c %s {good}) / 2 )) {good} > cut.tar.gz
"#,
        dir = bed.dir.display(),
        good = bed.package.display(),
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .output()
        .expect("bash");
    assert!(out.status.success(), "{}", stderr(&out));
}

/// `seal-install ARGS`.
fn run(bed: &Bed, args: &[String]) -> (Output, Duration) {
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    bed.run(&argv)
}

#[test]
fn bad_packages_are_refused_and_a_failing_init_sh_is_named() {
    // A short name: the witness's ssh control socket path lives under it.
    let Some(bed) = Bed::start("bad_package", &["p1"]) else {
        return;
    };
    let p1 = bed.ip("p1");
    let before = bed.text("p1", UNTOUCHED);
    assert!(!before.contains("present:"), "{before}");
    make_bad_packages(&bed);
    let with_package = |name: &str| {
        let path = bed.dir.join(name).display().to_string();
        let mut a = bed.init_args(&["p1"], &[], &["--passwd", PASSWORD]);
        let good = bed.package.display().to_string();
        let i = a.iter().position(|x| x == &good).expect("--pkg-url");
        a[i] = path;
        a
    };

    // (package, words the message must contain)
    let cases = [
        (
            "dotdot.tar.gz",
            vec!["entry \"kube/../../tmp/seal-escaped\" has a `..` component"],
        ),
        (
            "absolute.tar.gz",
            vec!["entry \"/tmp/seal-escaped\" is an absolute path"],
        ),
        (
            "link.tar.gz",
            vec!["entry \"kube/etc\" is a symbolic link to \"/etc\", which leads out of kube/"],
        ),
        ("noinit.tar.gz", vec!["no kube/shell/init.sh file in it"]),
        (
            "cut.tar.gz",
            vec![
                "the package is truncated or corrupt",
                "download or copy it again",
            ],
        ),
    ];
    for (name, words) in &cases {
        let args = with_package(name);
        let (out, took) = run(&bed, &args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{name}:\n{err}");
        assert!(
            err.contains(&format!("{name}: ")),
            "{name}: not named:\n{err}"
        );
        assert!(
            err.contains("nothing was sent to any host"),
            "{name}:\n{err}"
        );
        for w in words {
            assert!(err.contains(w), "{name}: message lacks {w:?}:\n{err}");
        }
        // Refused before connecting: no login, no cluster file.
        assert!(!err.contains("connect"), "{name}:\n{err}");
        assert!(
            !bed.cluster_file().exists(),
            "{name} wrote the cluster file"
        );
        eprintln!("{name}: refused in {:.1}s", took.as_secs_f64());
    }
    assert_eq!(
        bed.text("p1", UNTOUCHED),
        before,
        "a refused package changed p1"
    );

    // init.sh exits 1: the run names the host, the step, the command and init.sh's own words,
    // and records nothing that would make a re-run skip the step.
    let args = with_package("failing.tar.gz");
    let (out, _) = run(&bed, &args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    for w in [
        format!("{p1}: step \"distribute package\" failed"),
        "command: SEAL_ROLE=master bash /root/kube/shell/init.sh".into(),
        "exit status 1".into(),
        "init.sh: containerd did not start".into(),
        "Fix the problem and run the same command again".into(),
    ] {
        assert!(err.contains(&w), "message lacks {w:?}:\n{err}");
    }
    let left = bed.text(
        "p1",
        "for f in /root/kube/.seal-package-sha256 /root/kube.tar.gz /usr/bin/kubeadm /tmp/seal-escaped; \
         do [ ! -e $f ] || echo \"present: $f\"; done; ls /root/kube/shell; \
         stat -c %u:%g /root/kube/shell/init.sh",
    );
    assert_eq!(left, "clean.sh\ninit.sh\n0:0\n", "after the failed init.sh");

    // The package fixed: the same command with it completes, init.sh run and recorded.
    let args = bed.init_args(&["p1"], &[], &["--passwd", PASSWORD]);
    let (out, _) = run(&bed, &args);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.lines()
            .any(|l| l.contains(&p1) && l.contains("distribute package: done")),
        "{err}"
    );
    let sum = fs::read_to_string(bed.package.with_extension("gz.sha256")).expect("sum");
    assert_eq!(
        bed.text("p1", "cat /root/kube/.seal-package-sha256"),
        format!("{} master\n", sum.trim())
    );
    assert_eq!(
        bed.text(
            "p1",
            "[ -x /usr/bin/kubeadm ] && echo ok; [ ! -e /tmp/seal-escaped ] && echo ok"
        ),
        "ok\nok\n"
    );
}
