//! What a run does on each host, as data: ordered stages of steps, each step a list of remote
//! actions with an optional "already done" check. Building the plan is pure (so `--dry-run`
//! prints exactly what would run, and tests need no host); the executor carries it out.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cluster::Cluster;
pub use crate::cluster::LvscareMode;
pub use crate::shell::sh_quote;

/// Where things go on the hosts.
pub mod paths {
    /// The uploaded package.
    pub const PACKAGE: &str = "/root/kube.tar.gz";
    /// Where the package unpacks (it holds `kube/`).
    pub const UNPACK_DIR: &str = "/root";
    /// The kubeadm configuration written for init and join (root-only, removed after use).
    pub const KUBEADM_CONFIG: &str = "/root/kubeadm-config.yaml";
    /// The token and certificate key master0 refreshes them from (root-only, removed after use).
    pub const JOIN_CREDENTIALS: &str = "/root/seal-join-credentials.yaml";
    /// The cluster CA on a control-plane host, whose public key every join pins.
    pub const CA_CERT: &str = "/etc/kubernetes/pki/ca.crt";
    /// Written once master0's `kubeadm init` has succeeded (kubeadm reset removes it with pki/).
    pub const INIT_DONE: &str = "/etc/kubernetes/pki/.seal-init-done";
    /// The lvscare binary on nodes.
    pub const LVSCARE: &str = "/usr/bin/lvscare";
    /// The lvscare static-pod manifest on nodes.
    pub const LVSCARE_MANIFEST: &str = "/etc/kubernetes/manifests/kube-lvscare.yaml";
    /// The lvscare systemd unit on nodes (`--lvscare-mode systemd`).
    pub const LVSCARE_UNIT: &str = "/etc/systemd/system/lvscare.service";
    /// Arguments of the lvscare unit.
    pub const LVSCARE_DEFAULTS: &str = "/etc/default/lvscare";
    /// Where the manifest is written before its rename: beside the manifests folder, on the
    /// same file system, never inside it (kubelet would run a `.yaml.tmp` as a pod too).
    pub const LVSCARE_MANIFEST_TMP: &str = "/etc/kubernetes/kube-lvscare.yaml.tmp";
    /// Extra `kubeadm init` flags the package asks for (e.g. skipping an add-on whose image it
    /// does not carry), one line of flags; absent in packages that need none.
    pub const KUBEADM_INIT_FLAGS: &str = "/root/kube/conf/kubeadm-init.flags";
    /// Extra `kubeadm join` flags the package asks for.
    pub const KUBEADM_JOIN_FLAGS: &str = "/root/kube/conf/kubeadm-join.flags";
}

/// `$(cat FILE)` when FILE exists: the package's own extra flags, split into words by the shell.
fn package_flags(file: &str) -> String {
    format!("$(cat {file} 2>/dev/null)")
}

/// One thing done on a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Run a shell command as root.
    Run {
        /// The command line.
        cmd: String,
        /// Its time limit.
        timeout: Duration,
    },
    /// Copy a local file (skipped when the remote copy is identical).
    Upload {
        /// Local path.
        local: PathBuf,
        /// Remote path.
        remote: String,
        /// File mode.
        mode: u32,
    },
    /// Write a file atomically.
    WriteFile {
        /// Remote path.
        remote: String,
        /// Content (never holds a password).
        data: String,
        /// File mode.
        mode: u32,
    },
    /// Set the installer's marked block of /etc/hosts (user lines untouched); empty removes it.
    Hosts {
        /// `address name` entries of the block.
        entries: Vec<(IpAddr, String)>,
    },
}

/// A named unit of work on one host, skipped when `done_if` succeeds there (resume after failure).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The host.
    pub host: IpAddr,
    /// Short name for progress and errors ("distribute", "kubeadm init"...).
    pub name: String,
    /// A remote command that exits 0 when the step's effect is already there.
    pub done_if: Option<String>,
    /// The actions, in order.
    pub actions: Vec<Action>,
}

/// Steps that may run at the same time (different hosts), then a barrier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// Name for progress output.
    pub name: String,
    /// Run the steps concurrently (bounded) rather than one after another.
    pub parallel: bool,
    /// The steps.
    pub steps: Vec<Step>,
    /// Run the stage only when this host's step of this name was skipped as already done
    /// earlier in the run (None: always run it).
    pub only_if_done: Option<(IpAddr, String)>,
}

/// Time limits of remote commands.
const SHORT: Duration = Duration::from_secs(60);
const LONG: Duration = Duration::from_secs(600);

/// A command run as root with its time limit.
pub(crate) fn run(cmd: impl Into<String>, timeout: Duration) -> Action {
    Action::Run {
        cmd: cmd.into(),
        timeout,
    }
}

/// The hosts block pointing the apiserver name at `ip`.
fn hosts_to(ip: IpAddr, c: &Cluster) -> Action {
    Action::Hosts {
        entries: vec![(ip, c.apiserver_name.clone())],
    }
}

/// Writes the kubeadm configuration (it holds the token and certificate key: root-only).
fn kubeadm_config(data: &str) -> Action {
    Action::WriteFile {
        remote: paths::KUBEADM_CONFIG.into(),
        data: data.to_string(),
        mode: 0o600,
    }
}

/// `ip:port` as lvscare expects it (IPv6 in brackets).
fn endpoint(ip: IpAddr, port: u16) -> String {
    std::net::SocketAddr::new(ip, port).to_string()
}

/// The `--vs … --rs …` arguments of lvscare for these masters.
pub fn lvscare_balancer_args(vip: IpAddr, masters: &[IpAddr]) -> Vec<String> {
    let mut args = vec!["--vs".to_string(), endpoint(vip, 6443)];
    for m in masters {
        args.push("--rs".into());
        args.push(endpoint(*m, 6443));
    }
    args
}

fn join_words(words: &[String]) -> String {
    words
        .iter()
        .map(|w| sh_quote(w))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Upload, unpack and run init.sh on `hosts` (skipped where the same package is already set up
/// for the same role). init.sh learns the role from `SEAL_ROLE`: `nodes` skip the control-plane
/// images.
pub fn distribute(
    hosts: &[IpAddr],
    nodes: &[IpAddr],
    package: &Path,
    package_sha256: &str,
) -> Stage {
    let marker = "/root/kube/.seal-package-sha256";
    let steps = hosts
        .iter()
        .map(|&host| {
            let role = if nodes.contains(&host) {
                "node"
            } else {
                "master"
            };
            // The role is part of the marker: a host set up as a node lacks a master's images.
            let done = sh_quote(&format!("{package_sha256} {role}"));
            Step {
                host,
                name: "distribute package".into(),
                done_if: Some(format!("grep -qx {done} {marker}")),
                actions: vec![
                    Action::Upload {
                        local: package.to_path_buf(),
                        remote: paths::PACKAGE.into(),
                        mode: 0o600,
                    },
                    // A real package is hundreds of MB: unpacking takes minutes on a slow host.
                    // The archive goes once unpacked: nothing reads it again, and it would hold
                    // a copy of every image on the host's disk. Its listing was checked before
                    // any upload (package::contents); files are root's whatever uid the builder
                    // had (init.sh's `cp -a` would carry that uid into /opt/cni/bin).
                    run(
                        format!(
                            "tar --no-same-owner -xzf {pkg} -C {} && rm -f {pkg}",
                            paths::UNPACK_DIR,
                            pkg = paths::PACKAGE
                        ),
                        LONG,
                    ),
                    run(
                        format!("SEAL_ROLE={role} bash /root/kube/shell/init.sh"),
                        LONG,
                    ),
                    run(format!("echo {done} > {marker}"), SHORT),
                ],
            }
        })
        .collect();
    Stage {
        only_if_done: None,
        name: "distribute".into(),
        parallel: true,
        steps,
    }
}

/// The name of master0's init step (a later stage may depend on its being already done).
pub const INIT_STEP: &str = "kubeadm init";

/// master0: hosts → itself, `kubeadm init` with `init_config` (which holds the installer's token
/// and certificate key).
///
/// Done only when the whole init succeeded (its marker), not when its first files exist: an
/// init that failed half-way (an apiserver too slow for kubeadm's wait, say) is resumed by
/// running it again past preflight — kubeadm's phases reuse the certificates, kubeconfigs and
/// manifests already there — instead of being taken for done, or refused by preflight.
pub fn init_master0(c: &Cluster, init_config: &str) -> Stage {
    let m0 = c.masters[0];
    let init = format!(
        "kubeadm init --config {} --upload-certs {}",
        paths::KUBEADM_CONFIG,
        package_flags(paths::KUBEADM_INIT_FLAGS)
    );
    Stage {
        only_if_done: None,
        name: "init master0".into(),
        parallel: false,
        steps: vec![Step {
            host: m0,
            name: INIT_STEP.into(),
            done_if: Some(done_removing_config(&format!("test -f {}", paths::INIT_DONE))),
            actions: vec![
                hosts_to(m0, c),
                kubeadm_config(init_config),
                run(
                    removing(
                        &format!(
                            "if [ -e /etc/kubernetes/admin.conf ] || [ -e /etc/kubernetes/manifests/kube-apiserver.yaml ]; \
                             then {init} --skip-phases=preflight; else {init}; fi && touch {}",
                            paths::INIT_DONE
                        ),
                        paths::KUBEADM_CONFIG,
                    ),
                    // kubeadm waits up to the configuration's timeoutForControlPlane (10 min).
                    Duration::from_secs(1500),
                ),
            ],
        }],
    }
}

/// `kubeadm join` with the written configuration and the package's flags.
fn kubeadm_join() -> Action {
    run(
        removing(
            &format!(
                "kubeadm join --config {} {}",
                paths::KUBEADM_CONFIG,
                package_flags(paths::KUBEADM_JOIN_FLAGS)
            ),
            paths::KUBEADM_CONFIG,
        ),
        LONG,
    )
}

/// Other masters one at a time, each with its kubeadm configuration: hosts → `through` (a
/// master of the cluster that answers), join as control plane, then hosts → itself as a step of
/// its own, so a re-run after a failure there still repoints the master.
pub fn join_masters(c: &Cluster, through: IpAddr, masters: &[(IpAddr, String)]) -> Stage {
    let steps = masters
        .iter()
        .flat_map(|(m, config)| {
            let m = *m;
            [
                Step {
                    host: m,
                    name: "kubeadm join --control-plane".into(),
                    done_if: Some(done_removing_config("test -f /etc/kubernetes/admin.conf")),
                    actions: vec![hosts_to(through, c), kubeadm_config(config), kubeadm_join()],
                },
                Step {
                    host: m,
                    name: "apiserver name -> itself".into(),
                    done_if: None,
                    actions: vec![hosts_to(m, c)],
                },
            ]
        })
        .collect();
    // One at a time: etcd membership changes must not overlap.
    Stage {
        only_if_done: None,
        name: "join masters".into(),
        parallel: false,
        steps,
    }
}

/// The actions that (re)write a node's lvscare setup for the given masters.
pub fn lvscare_setup(c: &Cluster, masters: &[IpAddr]) -> Vec<Action> {
    let mut balancer = lvscare_balancer_args(c.vip, masters);
    if let Some(addr) = c.lvscare_metrics_addr {
        balancer.extend(["--metrics-addr".to_string(), addr.to_string()]);
    }
    match c.lvscare_mode {
        LvscareMode::StaticPod => {
            let mut manifest = vec!["manifest".to_string()];
            manifest.extend(balancer);
            manifest.extend(["--image".to_string(), c.lvscare_image.clone()]);
            vec![run(
                format!(
                    "mkdir -p /etc/kubernetes/manifests && {} {} > {t} && mv {t} {m}",
                    paths::LVSCARE,
                    join_words(&manifest),
                    t = paths::LVSCARE_MANIFEST_TMP,
                    m = paths::LVSCARE_MANIFEST
                ),
                SHORT,
            )]
        }
        LvscareMode::Systemd => vec![
            Action::WriteFile {
                remote: paths::LVSCARE_DEFAULTS.into(),
                data: format!("LVSCARE_ARGS=\"{}\"\n", join_words(&balancer)),
                mode: 0o644,
            },
            Action::WriteFile {
                remote: paths::LVSCARE_UNIT.into(),
                data: include_str!("../../systemd/lvscare.service").to_string(),
                mode: 0o644,
            },
            run(
                "if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then \
                 systemctl daemon-reload && systemctl enable lvscare && systemctl restart lvscare; fi",
                SHORT,
            ),
        ],
    }
}

/// `lvscare care --run-once` with `masters` in.
fn lvscare_once(c: &Cluster, masters: &[IpAddr]) -> Action {
    let mut once = vec!["care".to_string(), "--run-once".to_string()];
    once.extend(lvscare_balancer_args(c.vip, masters));
    run(format!("{} {}", paths::LVSCARE, join_words(&once)), SHORT)
}

/// Nodes in parallel: hosts → VIP, `lvscare` (this machine's binary) and its first rules, to
/// `masters` (those known to answer), before kubelet exists, join with `config`. The lvscare pod (or unit) is the next stage's, so a failure there
/// is retried on a re-run without joining again (real kubeadm refuses a second join:
/// kubelet.conf exists, 10250 is taken).
pub fn join_nodes(
    c: &Cluster,
    nodes: &[IpAddr],
    masters: &[IpAddr],
    lvscare: &Path,
    config: &str,
) -> Stage {
    let steps = nodes
        .iter()
        .map(|&n| Step {
            host: n,
            name: "join node".into(),
            done_if: Some(done_removing_config("test -f /etc/kubernetes/kubelet.conf")),
            actions: vec![
                hosts_to(c.vip, c),
                Action::Upload {
                    local: lvscare.to_path_buf(),
                    remote: paths::LVSCARE.into(),
                    mode: 0o755,
                },
                lvscare_once(c, masters),
                kubeadm_config(config),
                // An earlier join that died half-way (its run killed, the link lost) left files
                // that make kubeadm's preflight refuse a new one; a node holds no cluster state,
                // so it is reset first. (kubeadm reset leaves lvscare's IPVS rules alone.)
                run(
                    "if [ ! -f /etc/kubernetes/kubelet.conf ] && { [ -e /etc/kubernetes/bootstrap-kubelet.conf ] || \
                     [ -e /etc/kubernetes/pki/ca.crt ] || [ -e /var/lib/kubelet/config.yaml ]; }; then kubeadm reset -f; fi",
                    LONG,
                ),
                kubeadm_join(),
            ],
        })
        .collect();
    Stage {
        only_if_done: None,
        name: "join nodes".into(),
        parallel: true,
        steps,
    }
}

/// Nodes in parallel: lvscare's static pod (or unit) for every master. Always rewritten: it is
/// idempotent, and kubelet keeps a pod whose manifest did not change.
pub fn node_lvscare(c: &Cluster, nodes: &[IpAddr]) -> Stage {
    let steps = nodes
        .iter()
        .map(|&n| Step {
            host: n,
            name: "lvscare".into(),
            done_if: None,
            actions: lvscare_setup(c, &c.masters),
        })
        .collect();
    Stage {
        only_if_done: None,
        name: "lvscare on nodes".into(),
        parallel: true,
        steps,
    }
}

/// Every node's lvscare pointed at the current masters (after a master joined or left).
pub fn update_node_masters(c: &Cluster, nodes: &[IpAddr]) -> Stage {
    let steps = nodes
        .iter()
        .map(|&n| {
            let mut actions = vec![lvscare_once(c, &c.masters)];
            actions.extend(lvscare_setup(c, &c.masters));
            Step {
                host: n,
                name: "update lvscare masters".into(),
                done_if: None,
                actions,
            }
        })
        .collect();
    Stage {
        only_if_done: None,
        name: "update nodes' masters".into(),
        parallel: true,
        steps,
    }
}

/// On master0: make the cluster's token (public id `token_id`) and certificate key valid again
/// from `config` (`KubeadmParams::refresh_config`), a root-only file removed right after; their
/// output, which repeats the secrets, is not kept.
pub fn refresh_join_credentials(master0: IpAddr, token_id: &str, config: &str) -> Stage {
    let f = paths::JOIN_CREDENTIALS;
    Stage {
        name: "refresh join credentials".into(),
        parallel: false,
        steps: vec![Step {
            host: master0,
            name: "refresh token and certificate key".into(),
            done_if: None,
            actions: vec![
                Action::WriteFile {
                    remote: f.into(),
                    data: config.to_string(),
                    mode: 0o600,
                },
                run(
                    removing(
                        &format!(
                            "kubeadm token delete {token_id} >/dev/null 2>&1; \
                             kubeadm token create --config {f} >/dev/null && \
                             kubeadm init phase upload-certs --upload-certs --config {f} >/dev/null"
                        ),
                        f,
                    ),
                    SHORT,
                ),
            ],
        }],
        only_if_done: None,
    }
}

/// The done check of a step that writes the kubeadm configuration: when done, a copy left by a
/// run cut off in the middle (it holds the secrets) is removed too.
fn done_removing_config(check: &str) -> String {
    format!("{check} && rm -f {}", paths::KUBEADM_CONFIG)
}

/// `cmd`, then `file` removed whatever `cmd`'s outcome, with `cmd`'s exit status: for the files
/// that hold the secrets, which a re-run writes again.
fn removing(cmd: &str, file: &str) -> String {
    format!("{cmd}; rc=$?; rm -f {file}; exit $rc")
}

/// On a remaining master: drain and delete the Node objects of `nodes` (found by address, so
/// a host whose name changed is still found), before those hosts are reset; masters' Node objects
/// are deleted without a drain (their pods are static or daemon sets, and a powered-off master
/// would hold the drain until its time limit).
/// kubectl on a master, as the cluster's admin.
pub(crate) const KUBECTL: &str = "kubectl --kubeconfig /etc/kubernetes/admin.conf";

/// Shell that sets `$n` to the name of the Node whose InternalIP is `ip` (empty when there is
/// none): found by address, so a host whose name changed is still found.
pub(crate) fn node_name_of(ip: IpAddr) -> String {
    format!(
        "n=$({KUBECTL} get nodes -o jsonpath='{{range .items[*]}}{{.metadata.name}} {{.status.addresses[?(@.type==\"InternalIP\")].address}}{{\"\\n\"}}{{end}}' \
         | awk -v ip={ip} '$2 == ip {{print $1}}')",
        ip = sh_quote(&ip.to_string())
    )
}

pub fn delete_nodes(through: IpAddr, nodes: &[IpAddr], masters: &[IpAddr]) -> Stage {
    let kubectl = KUBECTL;
    let actions = nodes
        .iter()
        .map(|ip| (ip, true))
        .chain(masters.iter().map(|ip| (ip, false)))
        .map(|(ip, drain)| {
            let drain = if drain {
                format!("{kubectl} drain \"$n\" --ignore-daemonsets --delete-local-data --force --timeout=300s && ")
            } else {
                String::new()
            };
            run(
                format!(
                    "{}; if [ -n \"$n\" ]; then {drain}{kubectl} delete node \"$n\"; fi",
                    node_name_of(*ip)
                ),
                // kubectl's own drain limit plus the delete: pods' grace periods run out slowly
                // on a busy node (a real one took 123 s to drain one bare pod).
                Duration::from_secs(360),
            )
        })
        .collect();
    Stage {
        only_if_done: None,
        name: "delete nodes from the cluster".into(),
        parallel: false,
        steps: vec![Step {
            host: through,
            name: "drain and delete nodes".into(),
            done_if: None,
            actions,
        }],
    }
}

/// On a remaining master: remove the etcd members `ids` (of masters that leave), before those
/// masters are reset or when they never will be (powered off).
pub fn remove_etcd_members(through: IpAddr, ids: &[u64]) -> Stage {
    Stage {
        only_if_done: None,
        name: "remove etcd members".into(),
        parallel: false,
        steps: vec![Step {
            host: through,
            name: "etcd member remove".into(),
            done_if: None,
            actions: vec![run(crate::etcd::remove_script(ids), SHORT)],
        }],
    }
}

/// Undoes the installer's work on `hosts`; `vip` identifies lvscare's service on nodes.
pub fn clean(hosts: &[IpAddr], nodes: &[IpAddr], vip: IpAddr) -> Stage {
    let steps = hosts
        .iter()
        .map(|&h| {
            let mut actions = vec![run("if command -v kubeadm >/dev/null; then kubeadm reset -f; fi", LONG)];
            if nodes.contains(&h) {
                // The daemon stops before its rules go: a running one would repair them.
                // kubeadm reset has removed the static pod's container; the unit is stopped here.
                actions.push(run(
                    format!(
                        "if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then systemctl disable --now lvscare 2>/dev/null; fi; \
                         i=0; while grep -qx lvscare /proc/[0-9]*/comm 2>/dev/null; do i=$((i+1)); \
                         if [ $i -ge 30 ]; then echo 'an lvscare daemon still runs after kubeadm reset and the lvscare unit stopped: stop it, then clean again' >&2; exit 1; fi; sleep 1; done; \
                         if [ -x {lv} ]; then {lv} care --clean --vs {vs}; fi; \
                         rm -f {lv} {m} {u} {d}",
                        lv = paths::LVSCARE,
                        vs = sh_quote(&endpoint(vip, 6443)),
                        m = paths::LVSCARE_MANIFEST,
                        u = paths::LVSCARE_UNIT,
                        d = paths::LVSCARE_DEFAULTS
                    ),
                    SHORT,
                ));
            }
            // The package's own clean.sh (when it has one) undoes what its init.sh did.
            actions.push(run(
                format!(
                    "if [ -f /root/kube/shell/clean.sh ]; then bash /root/kube/shell/clean.sh; fi; \
                     rm -f /etc/kubernetes/pki/.seal-init-done; \
                     rm -rf /root/kube {} {} /usr/bin/kubeadm /usr/bin/kubelet /usr/bin/kubectl \
                     /etc/systemd/system/kubelet.service /etc/sysctl.d/k8s.conf",
                    paths::PACKAGE,
                    paths::KUBEADM_CONFIG
                ),
                // clean.sh stops units and the runtime and unmounts its data: over a minute on
                // a busy real node.
                LONG,
            ));
            actions.push(Action::Hosts { entries: Vec::new() });
            actions.push(run(clean_check(nodes.contains(&h), vip), SHORT));
            Step { host: h, name: "clean".into(), done_if: None, actions }
        })
        .collect();
    Stage {
        only_if_done: None,
        name: "clean".into(),
        parallel: true,
        steps,
    }
}

/// Files the installer leaves on a host (besides the hosts block).
pub const INSTALLED_FILES: [&str; 11] = [
    "/root/kube",
    paths::PACKAGE,
    paths::KUBEADM_CONFIG,
    "/usr/bin/kubeadm",
    "/usr/bin/kubelet",
    "/usr/bin/kubectl",
    "/etc/systemd/system/kubelet.service",
    paths::LVSCARE,
    paths::LVSCARE_MANIFEST,
    paths::LVSCARE_UNIT,
    paths::LVSCARE_DEFAULTS,
];

/// The IPVS service key of `vip:6443` as /proc/net/ip_vs prints it (`TCP  0A679702:192B`).
pub fn proc_ip_vs_key(vip: IpAddr) -> String {
    match vip {
        IpAddr::V4(v4) => format!("TCP  {:08X}:{:04X}", u32::from(v4), 6443),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!(
                "TCP  [{:x}:{:x}:{:x}:{:x}:{:x}:{:x}:{:x}:{:x}]:{:04X}",
                s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], 6443
            )
        }
    }
}

/// A command that lists what clean could not remove and fails if anything is left.
fn clean_check(node: bool, vip: IpAddr) -> String {
    leftovers_check(&INSTALLED_FILES, node, vip)
}

fn leftovers_check(files: &[&str], node: bool, vip: IpAddr) -> String {
    let mut checks = vec![format!(
        "for f in {}; do [ ! -e \"$f\" ] || echo \"left behind: $f\"; done",
        files.join(" ")
    )];
    checks.push(format!(
        "! grep -q '^{}' /etc/hosts 2>/dev/null || echo 'left behind: the /etc/hosts block'",
        crate::hosts::BEGIN
    ));
    if node {
        checks.push(format!(
            "! grep -qF {} /proc/net/ip_vs 2>/dev/null || echo 'left behind: the IPVS service {}'",
            sh_quote(&proc_ip_vs_key(vip)),
            endpoint(vip, 6443)
        ));
        checks.push(
            "! ip link show lvscare >/dev/null 2>&1 || echo 'left behind: the lvscare dummy interface'"
                .into(),
        );
    }
    format!(
        "left=$({{ {}; }}); if [ -n \"$left\" ]; then echo \"$left\" >&2; exit 1; fi",
        checks.join("; ")
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    /// The sample cluster with three masters and one node.
    pub(crate) fn cluster() -> Cluster {
        let mut c = crate::cluster::tests::sample();
        c.masters = vec![ip("192.168.0.2"), ip("192.168.0.3"), ip("192.168.0.4")];
        c.nodes = vec![ip("192.168.0.5")];
        c.lvscare_image = "lvscare:v1".into();
        c
    }

    pub(crate) fn commands(step: &Step) -> Vec<String> {
        step.actions
            .iter()
            .filter_map(|a| match a {
                Action::Run { cmd, .. } => Some(cmd.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn deleting_nodes_drains_then_deletes_each_by_address() {
        let st = delete_nodes(
            ip("192.168.0.2"),
            &[ip("192.168.0.5"), ip("192.168.0.6")],
            &[],
        );
        assert_eq!(st.steps.len(), 1);
        assert_eq!(st.steps[0].host, ip("192.168.0.2"));
        let cmds = commands(&st.steps[0]);
        assert_eq!(cmds.len(), 2);
        for (c, node) in cmds.iter().zip(["192.168.0.5", "192.168.0.6"]) {
            assert!(c.contains(&format!("awk -v ip={node} ")), "{c}");
            let drain = c.find("drain").expect("drain");
            let delete = c.find("delete node").expect("delete");
            assert!(drain < delete, "{c}");
        }
    }

    #[test]
    fn systemd_mode_writes_a_unit_with_the_masters() {
        let mut c = cluster();
        c.lvscare_mode = LvscareMode::Systemd;
        let actions = lvscare_setup(&c, &c.masters);
        let defaults = actions.iter().find_map(|a| match a {
            Action::WriteFile { remote, data, .. } if remote == paths::LVSCARE_DEFAULTS => {
                Some(data.clone())
            }
            _ => None,
        });
        assert_eq!(
            defaults.as_deref(),
            Some("LVSCARE_ARGS=\"--vs 10.103.97.2:6443 --rs 192.168.0.2:6443 --rs 192.168.0.3:6443 --rs 192.168.0.4:6443\"\n")
        );
    }

    #[test]
    fn a_metrics_address_reaches_lvscare_in_both_modes() {
        let mut c = cluster();
        c.lvscare_metrics_addr = Some("127.0.0.1:9102".parse().expect("addr"));
        let manifest = commands(&Step {
            host: c.nodes[0],
            name: "lvscare".into(),
            done_if: None,
            actions: lvscare_setup(&c, &c.masters),
        });
        assert!(
            manifest[0].contains(" --metrics-addr 127.0.0.1:9102 --image lvscare:v1 "),
            "{manifest:?}"
        );
        c.lvscare_mode = LvscareMode::Systemd;
        let defaults = lvscare_setup(&c, &c.masters)
            .into_iter()
            .find_map(|a| match a {
                Action::WriteFile { remote, data, .. } if remote == paths::LVSCARE_DEFAULTS => {
                    Some(data)
                }
                _ => None,
            })
            .expect("defaults file");
        assert!(
            defaults.ends_with(" --rs 192.168.0.4:6443 --metrics-addr 127.0.0.1:9102\"\n"),
            "{defaults}"
        );
    }

    #[test]
    fn ipv6_endpoints_are_bracketed() {
        let args = lvscare_balancer_args(ip("fd00::2"), &[ip("fd00::10")]);
        assert_eq!(args, ["--vs", "[fd00::2]:6443", "--rs", "[fd00::10]:6443"]);
    }

    #[test]
    fn clean_removes_lvscare_only_on_nodes_and_drops_the_hosts_block() {
        let stage = clean(
            &[ip("192.168.0.2"), ip("192.168.0.5")],
            &[ip("192.168.0.5")],
            ip("10.103.97.2"),
        );
        let master = commands(&stage.steps[0]);
        let node = commands(&stage.steps[1]);
        assert!(!master.iter().any(|c| c.contains("--clean")));
        let teardown = node
            .iter()
            .find(|c| c.contains("care --clean --vs 10.103.97.2:6443"))
            .expect("lvscare's teardown");
        // The daemon (unit, or the static pod kubeadm reset removed) is gone before its rules.
        let at = |s: &str| teardown.find(s).unwrap_or_else(|| panic!("no {s}"));
        assert!(at("systemctl disable --now lvscare") < at("/proc/[0-9]*/comm"));
        assert!(at("/proc/[0-9]*/comm") < at("care --clean"));
        let reset = node.iter().position(|c| c.contains("kubeadm reset"));
        let lv = node.iter().position(|c| c == teardown);
        assert!(reset < lv);
        for s in &stage.steps {
            let n = s.actions.len();
            assert_eq!(
                s.actions[n - 2],
                Action::Hosts {
                    entries: Vec::new()
                }
            );
        }
        // The last action lists leftovers; on a node it also looks for the IPVS service and link.
        assert!(master
            .last()
            .is_some_and(|c| c.contains("left behind") && !c.contains("ip_vs")));
        assert!(node
            .last()
            .is_some_and(|c| c.contains("0A676102:192B") && c.contains("lvscare dummy")));
    }

    #[test]
    fn ipvs_keys_match_proc_net_ip_vs() {
        assert_eq!(proc_ip_vs_key(ip("10.103.97.2")), "TCP  0A676102:192B");
        assert_eq!(
            proc_ip_vs_key(ip("fd00::2")),
            "TCP  [fd00:0:0:0:0:0:0:2]:192B"
        );
    }

    #[test]
    fn the_leftover_check_is_valid_shell_and_passes_on_a_clean_machine() {
        // This machine has no IPVS service for the VIP and no lvscare link.
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(leftovers_check(
                &["/nonexistent/seal-a"],
                true,
                ip("10.103.97.2"),
            ))
            .output()
            .expect("sh");
        assert!(out.status.success(), "{out:?}");
        let bad = leftovers_check(&["/nonexistent/seal-a", "/"], false, ip("10.103.97.2"));
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&bad)
            .output()
            .expect("sh");
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("left behind: /"),
            "{out:?}"
        );
    }

    #[test]
    fn quoting() {
        assert_eq!(sh_quote("plain-1.2:3"), "plain-1.2:3");
        assert_eq!(sh_quote("it's $x"), "'it'\\''s $x'");
        assert_eq!(sh_quote(""), "''");
    }
}
