use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

use super::*;
use crate::plan::tests::{commands, ip};

fn cluster(masters: &[&str], nodes: &[&str]) -> Cluster {
    let mut c = crate::cluster::tests::sample();
    c.masters = masters.iter().map(|m| ip(m)).collect();
    c.nodes = nodes.iter().map(|n| ip(n)).collect();
    c
}

fn target<'a>(version: &'a KubeVersion, batch: usize) -> Target<'a> {
    Target {
        version,
        package: Path::new("/pkgs/kube1.20.2.tar.gz"),
        sha256: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        node_batch: batch,
    }
}

/// Runs `script` under bash after `prelude` (functions standing in for kubeadm / kubectl).
fn bash(prelude: &str, script: &str) -> (bool, String, String) {
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("{prelude}\n{script}"))
        .output()
        .expect("bash");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn masters_one_at_a_time_then_nodes_in_batches() {
    let v: KubeVersion = "v1.20.2".parse().unwrap();
    let c = cluster(
        &["10.0.0.2", "10.0.0.3", "10.0.0.4"],
        &["10.0.0.5", "10.0.0.6", "10.0.0.7"],
    );
    let st = stages(&c, &target(&v, 2));
    let names: Vec<&str> = st.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "distribute",
            "upgrade master 10.0.0.2",
            "upgrade master 10.0.0.3",
            "upgrade master 10.0.0.4",
            "drain 10.0.0.5, 10.0.0.6",
            "upgrade nodes 10.0.0.5, 10.0.0.6",
            "uncordon 10.0.0.5, 10.0.0.6",
            "drain 10.0.0.7",
            "upgrade nodes 10.0.0.7",
            "uncordon 10.0.0.7",
        ]
    );
    // The new package everywhere, nodes as nodes.
    assert_eq!(st[0].steps.len(), 6);
    assert!(st[0].steps.iter().all(|s| s
        .done_if
        .as_deref()
        .is_some_and(|d| d.contains("0123456789abcdef"))));
    // The first master applies, the others follow; each waits for itself before the next.
    let first = commands(&st[1].steps[0]);
    assert!(first[1].starts_with(
        "kubeadm upgrade apply v1.20.2 --yes $(cat /root/kube/conf/kubeadm-upgrade.flags"
    ));
    for s in &st[2..4] {
        assert!(!s.parallel);
        let cmds = commands(&s.steps[0]);
        assert!(cmds[1].starts_with("kubeadm upgrade node"), "{cmds:?}");
        assert_eq!(cmds[2], RESTART_KUBELET);
        assert!(cmds[3].contains("https://127.0.0.1:6443/readyz"));
        assert!(cmds[4].contains("wait --for=condition=Ready node/\"$n\""));
    }
    // Drains and uncordons go through the first master; the nodes' own work runs on them.
    for i in [4, 6, 7, 9] {
        assert_eq!(st[i].steps.len(), 1);
        assert_eq!(st[i].steps[0].host, ip("10.0.0.2"));
    }
    assert!(st[5].parallel);
    let on: Vec<IpAddr> = st[5].steps.iter().map(|s| s.host).collect();
    assert_eq!(on, [ip("10.0.0.5"), ip("10.0.0.6")]);
    assert_eq!(
        st[5].steps[0].done_if.as_deref(),
        Some("grep -qx v1.20.2-0123456789ab /var/lib/seal/upgraded")
    );
    // A batch of 0 is taken as 1.
    assert_eq!(stages(&c, &target(&v, 0)).len(), 4 + 3 * 3);
}

#[test]
fn the_packages_kubeadm_must_be_the_version_asked_for() {
    let v: KubeVersion = "v1.20.2".parse().unwrap();
    let (ok, _, err) = bash("kubeadm() { echo v1.20.1; }", &kubeadm_is(&v));
    assert!(!ok);
    assert!(
        err.contains(
            "the package's kubeadm is v1.20.1, not v1.20.2: --version and the package disagree"
        ),
        "{err}"
    );
    let (ok, _, err) = bash("kubeadm() { echo v1.20.2; }", &kubeadm_is(&v));
    assert!(ok, "{err}");
}

/// kubectl as a function: the Node list, the annotation, and a log of what else it was asked.
const KUBECTL_DOUBLE: &str = r#"
kubectl() {
  case "$*" in
    *"get nodes"*) printf 'n5 10.0.0.5\nn6 10.0.0.6\n' ;;
    *"get node"*"annotations"*) cat "$ANNOTATION" 2>/dev/null ;;
    *) echo "kubectl $*" | sed 's/--kubeconfig [^ ]* //' >> "$LOG" ;;
  esac
}
"#;

#[test]
fn a_node_already_upgraded_is_neither_drained_nor_uncordoned_again() {
    let v: KubeVersion = "v1.20.2".parse().unwrap();
    let t = target(&v, 1);
    let c = cluster(&["10.0.0.2"], &["10.0.0.5"]);
    let st = stages(&c, &t);
    let drain = &commands(&st[2].steps[0])[0];
    let uncordon = &commands(&st[4].steps[0])[0];
    let dir = std::env::temp_dir().join(format!("seal-upgrade-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (log, note) = (dir.join("log"), dir.join("annotation"));
    let prelude = format!(
        "LOG={}; ANNOTATION={}; {KUBECTL_DOUBLE}",
        log.display(),
        note.display()
    );
    // Not yet upgraded: drained; then uncordoned, waited for and marked.
    let (ok, _, err) = bash(&prelude, drain);
    assert!(ok, "{err}");
    let (ok, _, err) = bash(&prelude, uncordon);
    assert!(ok, "{err}");
    let asked = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        asked,
        "kubectl drain n5 --ignore-daemonsets --delete-local-data --force --timeout=300s\n\
         kubectl uncordon n5\n\
         kubectl wait --for=condition=Ready node/n5 --timeout=300s\n\
         kubectl annotate --overwrite node n5 seal-install/upgraded='v1.20.2-0123456789ab'\n"
            .replace('\'', "")
    );
    // Marked with this upgrade: a re-run leaves it alone.
    std::fs::write(&note, "v1.20.2-0123456789ab").unwrap();
    std::fs::remove_file(&log).unwrap();
    for script in [drain, uncordon] {
        let (ok, _, err) = bash(&prelude, script);
        assert!(ok, "{err}");
    }
    assert!(
        !log.exists(),
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    // A node the cluster does not know is an error, not a silent skip.
    let c = cluster(&["10.0.0.2"], &["10.0.0.9"]);
    let drain = &commands(&stages(&c, &t)[2].steps[0])[0];
    let (ok, _, err) = bash(&prelude, drain);
    assert!(
        !ok && err.contains("no Node has the address 10.0.0.9"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
