//! The lvscare binary's edges that need no IPVS kernel: usage errors and the message when the
//! kernel has no IPVS at all (this machine's own kernel is built without it).

use std::path::Path;
use std::process::Command;

fn lvscare(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lvscare"))
        .args(args)
        .output()
        .expect("run lvscare");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn usage_errors_exit_2_and_name_the_flag() {
    let (code, err) = lvscare(&[
        "care",
        "--vs",
        "10.103.97.2:6443",
        "--rs",
        "192.168.0.2:6443",
        "--interval",
        "soon",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--interval") && err.contains("soon"), "{err}");
    let (code, err) = lvscare(&["care", "--rs", "192.168.0.2:6443"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--vs"), "{err}");
}

#[test]
fn missing_ipvs_is_explained() {
    // Only meaningful on a kernel without IPVS, like this project's build machines.
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let module = Path::new("/lib/modules")
        .join(release.trim())
        .join("kernel/net/netfilter/ipvs/ip_vs.ko");
    if Path::new("/proc/net/ip_vs").exists() || module.exists() {
        eprintln!("SKIPPED missing_ipvs_is_explained: this kernel has IPVS");
        return;
    }
    let (code, err) = lvscare(&[
        "care",
        "--run-once",
        "--vs",
        "10.103.97.2:6443",
        "--rs",
        "192.168.0.2:6443",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("modprobe ip_vs") && err.contains("/lib/modules"),
        "{err}"
    );
}
