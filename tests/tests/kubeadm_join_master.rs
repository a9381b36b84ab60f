//! The patched kubeadm (kubeadm-patch/) on the real IPVS kernel: `kubeadm join VIP:6443 --master
//! M1:6443 --master M2:6443 …` creates lvscare's IPVS service with both masters and writes the
//! lvscare static-pod manifest before it gets to discovery.

use seal_testbed::{kernel_or_skip, project_binary, Vm, VmSpec};
use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// Builds (or reuses the cached build of) the patched kubeadm with kubeadm-patch/build.sh.
fn patched_kubeadm() -> Option<PathBuf> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../kubeadm-patch/build.sh");
    let out = Command::new("bash")
        .arg(&script)
        .output()
        .expect("run kubeadm-patch/build.sh");
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        if seal_testbed::in_ci() {
            panic!("kubeadm-patch/build.sh failed:\n{err}");
        }
        eprintln!("SKIPPED kubeadm join test: kubeadm-patch/build.sh failed (see kubeadm-patch/README.md):\n{err}");
        return None;
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout.lines().last().map(|l| PathBuf::from(l.trim()))
}

const SCRIPT: &str = r#"
set -u
source /seal/lib.sh
lan_init
add_host m1 192.168.0.2; add_host m2 192.168.0.3
start_apiservers m1 m2
mkdir -p /usr/local/lvbin && ln -s __LV__ /usr/local/lvbin/lvscare
# Preflight is told to pass: there is no kubelet or container runtime in the test bed. No real
# API server answers discovery here, so join must fail after the balancer is in place.
PATH=/usr/local/lvbin:$PATH timeout 60 __KUBEADM__ join 10.103.97.2:6443 --master 192.168.0.2:6443 --master 192.168.0.3:6443 \
  --token abcdef.0123456789abcdef --discovery-token-unsafe-skip-ca-verification --ignore-preflight-errors=all \
  > /seal/results/join.log 2>&1
echo $? > /seal/results/join.code
ipvsadm -Ln > /seal/results/table
cp /etc/kubernetes/manifests/kube-lvscare.yaml /seal/results/manifest.yaml 2>/dev/null
fetch https://10.103.97.2:6443/ > /seal/results/through-vip
exit 0
"#;

#[test]
fn kubeadm_join_master_sets_up_the_local_balancer() {
    let Some(kernel) = kernel_or_skip("kubeadm_join_master_sets_up_the_local_balancer") else {
        return;
    };
    let Some(kubeadm) = patched_kubeadm() else {
        return;
    };
    let script = SCRIPT
        .replace("__LV__", &project_binary("lvscare").display().to_string())
        .replace("__KUBEADM__", &kubeadm.display().to_string());
    let out = Vm::run(
        &kernel,
        &VmSpec::new("kubeadm-join", &script, Duration::from_secs(300)),
    )
    .expect("VM");
    out.assert_success();
    let read = |name: &str| fs::read_to_string(out.results.join(name)).unwrap_or_default();
    let log = read("join.log");
    assert_ne!(
        read("join.code").trim(),
        "0",
        "join cannot succeed without an API server:\n{log}"
    );
    let table = read("table");
    assert!(
        table.contains("TCP  10.103.97.2:6443 rr"),
        "no IPVS service after join:\n{table}\n{log}"
    );
    for rs in ["192.168.0.2:6443", "192.168.0.3:6443"] {
        assert!(
            table.contains(&format!("-> {rs}")),
            "{rs} missing:\n{table}"
        );
    }
    let manifest = read("manifest.yaml");
    assert!(
        manifest.contains("kind: Pod") && manifest.contains("\"192.168.0.3:6443\""),
        "manifest:\n{manifest}\n{log}"
    );
    assert!(
        read("through-vip").starts_with('m'),
        "no answer through the VIP lvscare set up"
    );
}
