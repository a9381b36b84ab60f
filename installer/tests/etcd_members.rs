//! The member scripts of `installer::etcd` against a real etcd: three members on loopback
//! addresses, one stopped. The container runtime is the one piece played here (TEST DOUBLE of
//! `ctr run <etcd image>`: it runs this machine's etcdctl, over plain HTTP, with the arguments the
//! script gave); the etcd servers, etcdctl and its output are real.

use std::net::IpAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use installer::etcd;

/// Plays `ctr -n k8s.io run … IMAGE NAME /usr/local/bin/etcdctl ARGS`: the host's etcdctl with
/// ARGS, minus the TLS and endpoint flags (these members speak HTTP on 127.0.0.2).
const CTR_DOUBLE: &str = r#"ctr() {
  while [ "$#" -gt 0 ] && [ "$1" != /usr/local/bin/etcdctl ]; do shift; done; shift
  local a=(); for x in "$@"; do case $x in --endpoints=*|--cacert=*|--cert=*|--key=*) ;; *) a+=("$x") ;; esac; done
  etcdctl --endpoints=http://127.0.0.2:2379 "${a[@]}"
}
"#;

struct Members(Vec<Child>, std::path::PathBuf);

impl Drop for Members {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

fn start_members(dir: &std::path::Path) -> Members {
    let cluster = (2..=4)
        .map(|i| format!("e{i}=http://127.0.0.{i}:2380"))
        .collect::<Vec<_>>()
        .join(",");
    let children = (2..=4)
        .map(|i| {
            Command::new("etcd")
                .args([
                    &format!("--name=e{i}"),
                    &format!("--data-dir={}/e{i}", dir.display()),
                    &format!("--listen-peer-urls=http://127.0.0.{i}:2380"),
                    &format!("--initial-advertise-peer-urls=http://127.0.0.{i}:2380"),
                    &format!("--listen-client-urls=http://127.0.0.{i}:2379"),
                    &format!("--advertise-client-urls=http://127.0.0.{i}:2379"),
                    &format!("--initial-cluster={cluster}"),
                    "--initial-cluster-state=new",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("etcd not found: ./dev.sh test installs Debian's etcd-server")
        })
        .collect();
    Members(children, dir.to_path_buf())
}

/// Runs `script` under bash with the runtime double and the manifest it looks for.
fn run(script: &str, manifest: &std::path::Path) -> std::process::Output {
    let script = script.replace(
        "/etc/kubernetes/manifests/etcd.yaml",
        &manifest.display().to_string(),
    );
    Command::new("bash")
        .arg("-c")
        .arg(format!("{CTR_DOUBLE}{script}"))
        .output()
        .expect("bash")
}

fn etcdctl(args: &[&str]) -> std::process::Output {
    Command::new("etcdctl")
        .arg("--endpoints=http://127.0.0.2:2379,http://127.0.0.3:2379")
        .args(args)
        .output()
        .expect("etcdctl")
}

#[test]
fn a_down_member_is_removed_and_a_removal_that_costs_quorum_is_refused() {
    let dir = std::env::temp_dir().join(format!("seal-etcd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let manifest = dir.join("etcd.yaml");
    std::fs::write(&manifest, "    image: k8s.gcr.io/etcd:3.4.13-0\n").expect("manifest");
    let mut members = start_members(&dir);
    let start = Instant::now();
    while !etcdctl(&["put", "k", "v"]).status.success() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "etcd did not start"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    // e4 (127.0.0.4) stops, as a powered-off master's member would.
    let _ = members.0[2].kill();
    let _ = members.0[2].wait();

    let out = run(&etcd::status_script(), &manifest);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = etcd::parse_status(&String::from_utf8_lossy(&out.stdout)).expect("status");
    let ip = |s: &str| -> IpAddr { s.parse().expect("ip") };
    assert_eq!(status.len(), 3);
    let healthy: Vec<bool> = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
        .iter()
        .map(|h| {
            status
                .iter()
                .find(|m| m.host == Some(ip(h)))
                .expect("member")
                .healthy
        })
        .collect();
    assert_eq!(healthy, [true, true, false]);

    // Removing the healthy e3 would leave e2 alone with the down e4: refused.
    let refused = etcd::plan_removal(&status, &[ip("127.0.0.3")], false).expect_err("refused");
    assert!(refused.to_string().contains("127.0.0.4"), "{refused}");

    let gone = etcd::plan_removal(&status, &[ip("127.0.0.4")], false).expect("allowed");
    let ids: Vec<u64> = gone.iter().map(|m| m.id).collect();
    let out = run(&etcd::remove_script(&ids), &manifest);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = String::from_utf8_lossy(&etcdctl(&["member", "list"]).stdout).into_owned();
    assert_eq!(list.lines().count(), 2, "{list}");
    assert!(!list.contains("127.0.0.4"), "{list}");
    // The two left still serve, and are both healthy now.
    assert!(etcdctl(&["put", "k", "v2"]).status.success());
    let out = run(&etcd::status_script(), &manifest);
    let status = etcd::parse_status(&String::from_utf8_lossy(&out.stdout)).expect("status");
    assert!(
        status.len() == 2 && status.iter().all(|m| m.healthy),
        "{status:?}"
    );

    // No etcd static pod: the script says so with its own exit status.
    let out = run(&etcd::status_script(), &dir.join("absent.yaml"));
    assert_eq!(out.status.code(), Some(etcd::NO_ETCD as i32));
}
