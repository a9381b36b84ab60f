//! `certs renew`'s plan: on each master in turn, kubeadm renews every certificate it made (etcd's
//! and the kubeconfigs' included), then each static pod is restarted so that it loads them, one
//! component at a time, each waited for until healthy before the next; the next master starts
//! only when this one is whole again, so a multi-master control plane keeps serving.
//!
//! A static pod is restarted the way kubeadm's documentation says: its manifest is moved out of
//! the folder kubelet watches (to [`PARKED`], beside it, never inside it), the component is
//! waited for until it stops answering, and the manifest goes back. A run killed in between
//! leaves the manifest parked: the next run puts it back first.

use std::net::IpAddr;
use std::time::Duration;

use crate::kubeadm::KubeVersion;
use crate::plan::{run, Stage, Step};

/// The folder kubelet runs static pods from.
const MANIFESTS: &str = "/etc/kubernetes/manifests";
/// Where a manifest waits while its pod is stopped: beside the manifests folder (same file
/// system, so the moves are renames), not inside it, where kubelet would run it.
pub const PARKED: &str = "/etc/kubernetes/seal-restart";

/// Seconds between a component's stop and its manifest's return: kubelet reads the manifests
/// folder every 20 s besides its inotify watch, and kubeadm's own procedure waits that long, so
/// the pod's teardown is over before the same pod is added again.
const SETTLE: u32 = 20;
/// Time limit of kubeadm's renewal (it signs a dozen certificates).
const RENEW_TIMEOUT: Duration = Duration::from_secs(300);
/// Time limit of one component's restart: the script's own waits (120 s to stop, 300 s to be
/// healthy) and some room.
const RESTART_TIMEOUT: Duration = Duration::from_secs(480);

/// A control-plane static pod and how to tell that it is up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Component {
    /// The manifest's name without `.yaml`.
    pub name: &'static str,
    /// A health URL on the master itself that needs no credentials.
    pub health: &'static str,
    /// What a healthy answer holds.
    pub healthy: &'static str,
    /// Absent on some control planes (etcd with an external etcd): skipped, not an error.
    pub optional: bool,
}

/// The static pods kubeadm makes, in restart order: etcd first, whose peers and clients then
/// present the new certificates, then the apiserver, which the others talk to. The ports are
/// kubeadm's (≥ 1.17): etcd's metrics listener, the secure ports of the others.
pub const COMPONENTS: [Component; 4] = [
    Component {
        name: "etcd",
        health: "http://127.0.0.1:2381/health",
        healthy: "\"health\":\"true\"",
        optional: true,
    },
    Component {
        name: "kube-apiserver",
        health: "https://127.0.0.1:6443/readyz",
        healthy: "ok",
        optional: false,
    },
    Component {
        name: "kube-controller-manager",
        health: "https://127.0.0.1:10257/healthz",
        healthy: "ok",
        optional: false,
    },
    Component {
        name: "kube-scheduler",
        health: "https://127.0.0.1:10259/healthz",
        healthy: "ok",
        optional: false,
    },
];

/// Why the certificates of this cluster cannot be renewed by the installer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenewError {
    /// kubeadm before 1.17 serves its components' health on other ports.
    #[error("certs renew supports Kubernetes v1.17 and later; this cluster runs {0}: renew with `kubeadm alpha certs renew all` on each master and restart its static pods by hand")]
    TooOld(KubeVersion),
}

/// kubeadm's renewal command for `version`: `kubeadm certs` since v1.20, `kubeadm alpha certs`
/// before.
pub fn renew_command(version: &KubeVersion) -> Result<&'static str, RenewError> {
    match (version.major, version.minor) {
        (1, m) if m >= 20 => Ok("kubeadm certs renew all"),
        (1, m) if m >= 17 => Ok("kubeadm alpha certs renew all"),
        _ => Err(RenewError::TooOld(version.clone())),
    }
}

/// One stage per master, in the given order: renew, then restart each component.
pub fn renew_stages(masters: &[IpAddr], version: &KubeVersion) -> Result<Vec<Stage>, RenewError> {
    let renew = renew_command(version)?;
    Ok(masters
        .iter()
        .map(|&host| {
            let mut actions = vec![
                run(prepare(), Duration::from_secs(60)),
                run(format!("{renew} >/dev/null"), RENEW_TIMEOUT),
            ];
            actions.extend(COMPONENTS.iter().map(|c| run(restart(c), RESTART_TIMEOUT)));
            Stage {
                name: format!("renew certificates on {host}"),
                parallel: false,
                steps: vec![Step {
                    host,
                    name: "renew certificates".into(),
                    // Renewing again is harmless (new certificates, later expiry): no done check.
                    done_if: None,
                    actions,
                }],
                only_if_done: None,
            }
        })
        .collect())
}

/// Puts back what a killed run left parked, then checks what the restarts need.
fn prepare() -> String {
    format!(
        "if [ -d {PARKED} ]; then for f in {PARKED}/*.yaml; do [ -e \"$f\" ] || continue; \
         [ -e {MANIFESTS}/\"${{f##*/}}\" ] || mv \"$f\" {MANIFESTS}/ || exit 1; rm -f \"$f\"; done; \
         rmdir {PARKED} || exit 1; fi; \
         command -v kubeadm >/dev/null || {{ echo 'no kubeadm on this master' >&2; exit 1; }}; \
         command -v curl >/dev/null || {{ echo 'certs renew checks each restarted component with curl: install curl on this master' >&2; exit 1; }}; \
         [ -f {MANIFESTS}/kube-apiserver.yaml ] || {{ echo 'no {MANIFESTS}/kube-apiserver.yaml: not a kubeadm control-plane host' >&2; exit 1; }}"
    )
}

/// Stops `c`'s static pod (manifest parked until it no longer answers), starts it again, and
/// waits until it is healthy; fails, naming the component, when either wait runs out.
fn restart(c: &Component) -> String {
    let Component {
        name,
        health,
        healthy,
        optional,
    } = *c;
    let manifest = format!("{MANIFESTS}/{name}.yaml");
    let parked = format!("{PARKED}/{name}.yaml");
    let absent = if optional {
        format!("echo '{name}: no static pod here, nothing to restart'; exit 0")
    } else {
        format!("echo 'no {manifest}' >&2; exit 1")
    };
    format!(
        "[ -f {manifest} ] || {{ {absent}; }}; \
         mkdir -p {PARKED} && mv {manifest} {PARKED}/ || exit 1; \
         i=0; while curl -sk --max-time 2 -o /dev/null {health}; do i=$((i+1)); \
         if [ $i -ge 120 ]; then mv {parked} {manifest}; echo '{name} still answers 120 s after its manifest was moved away' >&2; exit 1; fi; sleep 1; done; \
         sleep {SETTLE}; mv {parked} {manifest} || exit 1; rmdir {PARKED} 2>/dev/null; \
         i=0; until curl -sk --max-time 5 {health} 2>/dev/null | grep -qF '{healthy}'; do i=$((i+1)); \
         if [ $i -ge 150 ]; then echo '{name} is not healthy ({health}) 300 s after its restart' >&2; exit 1; fi; sleep 2; done"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Action;

    fn v(s: &str) -> KubeVersion {
        s.parse().expect("version")
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn commands(stage: &Stage) -> Vec<&str> {
        stage.steps[0]
            .actions
            .iter()
            .map(|a| match a {
                Action::Run { cmd, .. } => cmd.as_str(),
                other => panic!("not a command: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn kubeadm_command_follows_the_version() {
        assert_eq!(renew_command(&v("v1.20.2")), Ok("kubeadm certs renew all"));
        assert_eq!(
            renew_command(&v("v1.19.16")),
            Ok("kubeadm alpha certs renew all")
        );
        let old = renew_command(&v("v1.16.3")).expect_err("too old");
        assert!(old.to_string().contains("v1.16.3"), "{old}");
    }

    #[test]
    fn one_master_at_a_time_in_order_renew_then_each_component() {
        let masters = [ip("10.0.0.2"), ip("10.0.0.3"), ip("10.0.0.4")];
        let stages = renew_stages(&masters, &v("v1.20.2")).expect("stages");
        assert_eq!(stages.len(), 3);
        for (stage, m) in stages.iter().zip(masters) {
            assert_eq!(stage.steps.len(), 1, "one host per stage");
            assert_eq!(stage.steps[0].host, m);
            assert!(stage.name.contains(&m.to_string()));
            let cmds = commands(stage);
            assert_eq!(cmds[1], "kubeadm certs renew all >/dev/null");
            let restarted: Vec<&str> = cmds[2..]
                .iter()
                .map(|c| {
                    COMPONENTS
                        .iter()
                        .find(|k| c.contains(&format!("{MANIFESTS}/{}.yaml ", k.name)))
                        .map(|k| k.name)
                        .expect("a component")
                })
                .collect();
            assert_eq!(
                restarted,
                [
                    "etcd",
                    "kube-apiserver",
                    "kube-controller-manager",
                    "kube-scheduler"
                ]
            );
        }
    }

    /// The scripts under a real shell, with `curl` and `sleep` as functions that play the
    /// component: it answers until its manifest leaves the folder, then answers healthy once
    /// the manifest is back.
    fn play(component: &Component, curl_body: &str) -> (std::process::Output, String) {
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path().to_string_lossy().into_owned();
        std::fs::create_dir_all(dir.path().join("etc/kubernetes/manifests")).expect("mkdir");
        for c in COMPONENTS {
            std::fs::write(
                dir.path()
                    .join(format!("etc/kubernetes/manifests/{}.yaml", c.name)),
                c.name,
            )
            .expect("manifest");
        }
        let script =
            restart(component).replace("/etc/kubernetes", &format!("{root}/etc/kubernetes"));
        let m = format!("{root}/etc/kubernetes/manifests/{}.yaml", component.name);
        let full = format!(
            "sleep() {{ :; }}\n\
             n=0; curl() {{ if [ ! -f {m} ]; then n=$((n+1)); echo \"parked $*\" >> {root}/calls; [ $n -le 2 ]; return; fi; echo \"back $*\" >> {root}/calls; {curl_body}; }}\n\
             {script}\n"
        );
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(&full)
            .output()
            .expect("bash");
        let calls = std::fs::read_to_string(dir.path().join("calls")).unwrap_or_default();
        let parked_left = dir.path().join("etc/kubernetes/seal-restart").exists();
        assert!(!parked_left, "the parking folder is left");
        assert!(
            std::path::Path::new(&m).exists(),
            "the manifest is not back: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        (out, calls)
    }

    #[test]
    fn restart_waits_for_the_stop_then_for_health() {
        let c = COMPONENTS[1];
        let (out, calls) = play(&c, "echo ok");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Asked while parked until it stopped answering (two answers, then refused), then
        // once back, until healthy.
        let parked = calls.lines().filter(|l| l.starts_with("parked ")).count();
        assert_eq!(parked, 3, "{calls}");
        let back: Vec<&str> = calls.lines().filter(|l| l.starts_with("back ")).collect();
        assert_eq!(back.len(), 1, "{calls}");
        assert!(back[0].ends_with(c.health), "{calls}");
    }

    #[test]
    fn restart_fails_naming_a_component_that_never_gets_healthy() {
        let c = COMPONENTS[3];
        let (out, _) = play(&c, "echo 'unhealthy'");
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("kube-scheduler is not healthy") && err.contains(c.health),
            "{err}"
        );
    }

    #[test]
    fn a_killed_run_s_parked_manifest_goes_back_first() {
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path().to_string_lossy().into_owned();
        let (m, p) = (
            dir.path().join("etc/kubernetes/manifests"),
            dir.path().join("etc/kubernetes/seal-restart"),
        );
        std::fs::create_dir_all(&m).expect("mkdir");
        std::fs::create_dir_all(&p).expect("mkdir");
        std::fs::write(m.join("kube-apiserver.yaml"), "apiserver").expect("write");
        std::fs::write(p.join("etcd.yaml"), "etcd").expect("write");
        let script = prepare().replace("/etc/kubernetes", &format!("{root}/etc/kubernetes"));
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!("curl() {{ :; }}; kubeadm() {{ :; }}; {script}"))
            .output()
            .expect("bash");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            std::fs::read_to_string(m.join("etcd.yaml")).expect("etcd back"),
            "etcd"
        );
        assert!(!p.exists());
    }
}
