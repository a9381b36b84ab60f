//! `upgrade`'s plan: the seed's documented procedure, rolling. The new package goes to every host
//! (verified, unpacked, init.sh: binaries and images); then `kubeadm upgrade apply` on the first
//! master and `kubeadm upgrade node` on each other master, one at a time, each followed by a
//! kubelet restart and a wait for its apiserver's `/readyz` and its Node Ready; then the nodes,
//! in batches: drained, upgraded, their kubelet restarted, uncordoned and Ready before the next
//! batch. The run stops at the first failure (the executor's rule) with every host before it
//! upgraded and serving; a re-run skips what is done: a host's step by its marker file, a node's
//! drain and uncordon by the annotation its finished upgrade left on the Node.

pub mod skew;

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use crate::cluster::Cluster;
use crate::kubeadm::KubeVersion;
use crate::plan::{self, node_name_of, run, sh_quote, Stage, Step, KUBECTL};

pub use skew::{check as check_skew, SkewError};

/// Where a host records the upgrade it finished (`VERSION SHA256`).
pub const MARKER: &str = "/var/lib/seal/upgraded";
/// The Node annotation a finished node upgrade leaves (`VERSION-SHA256 prefix`).
const ANNOTATION: &str = "seal-install/upgraded";
/// Extra `kubeadm upgrade` flags the package asks for (as for init and join).
pub const FLAGS: &str = "/root/kube/conf/kubeadm-upgrade.flags";

/// kubeadm's own waits (static pods, up to 5 min each) and some room.
const KUBEADM_TIMEOUT: Duration = Duration::from_secs(1200);
/// The apiserver ready and the Node Ready after a kubelet restart.
const READY_TIMEOUT: Duration = Duration::from_secs(660);
/// A drain: kubectl's own limit and the lookup.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(360);
const SHORT: Duration = Duration::from_secs(60);

/// What one upgrade run installs.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The version kubeadm upgrades to.
    pub version: &'a KubeVersion,
    /// The package on this machine.
    pub package: &'a Path,
    /// Its SHA-256 (hex).
    pub sha256: &'a str,
    /// Nodes upgraded at the same time.
    pub node_batch: usize,
}

impl Target<'_> {
    /// What the marker and the annotation hold: this version from this package.
    fn tag(&self) -> String {
        format!(
            "{}-{}",
            self.version,
            &self.sha256[..self.sha256.len().min(12)]
        )
    }
}

/// The whole run, in order.
pub fn stages(c: &Cluster, t: &Target) -> Vec<Stage> {
    let hosts = c.hosts();
    let mut stages = vec![plan::distribute(&hosts, &c.nodes, t.package, t.sha256)];
    let Some((&first, others)) = c.masters.split_first() else {
        return stages;
    };
    stages.push(master_stage(first, t, true));
    stages.extend(others.iter().map(|&m| master_stage(m, t, false)));
    for batch in c.nodes.chunks(t.node_batch.max(1)) {
        stages.push(drain_stage(first, batch, t));
        stages.push(Stage {
            name: format!("upgrade nodes {}", list(batch)),
            parallel: true,
            steps: batch.iter().map(|&n| node_step(n, t)).collect(),
            only_if_done: None,
        });
        stages.push(uncordon_stage(first, batch, t));
    }
    stages
}

fn list(hosts: &[IpAddr]) -> String {
    hosts
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The package's kubeadm must be the version asked for: the package is the one named.
fn kubeadm_is(version: &KubeVersion) -> String {
    let want = sh_quote(&version.to_string());
    format!(
        "v=$(kubeadm version -o short) && [ \"$v\" = {want} ] || \
         {{ echo \"the package's kubeadm is ${{v:-missing}}, not \"{want}\": --version and the package disagree\" >&2; exit 1; }}"
    )
}

/// kubelet restarted on its new binary and configuration.
const RESTART_KUBELET: &str = "systemctl daemon-reload && systemctl restart kubelet";

/// Waits for this host's Node to be Ready, through its own kubeconfig `kubeconfig`.
fn node_ready(ip: IpAddr, kubectl: &str) -> String {
    let name = node_name_of(ip).replace(KUBECTL, kubectl);
    format!(
        "{name}; [ -n \"$n\" ] || {{ echo \"no Node has the address {ip}\" >&2; exit 1; }}; \
         {kubectl} wait --for=condition=Ready node/\"$n\" --timeout=300s >/dev/null"
    )
}

/// Waits for the apiserver on this master to answer `/readyz` with ok.
const APISERVER_READY: &str = "for i in $(seq 1 100); do \
     [ \"$(curl -ks --max-time 5 https://127.0.0.1:6443/readyz)\" = ok ] && exit 0; sleep 3; done; \
     echo 'the apiserver on this master did not become ready within 300 s' >&2; exit 1";

fn master_stage(host: IpAddr, t: &Target, first: bool) -> Stage {
    let flags = format!("$(cat {FLAGS} 2>/dev/null)");
    let kubeadm = if first {
        format!(
            "kubeadm upgrade apply {} --yes {flags}",
            sh_quote(&t.version.to_string())
        )
    } else {
        format!("kubeadm upgrade node {flags}")
    };
    let tag = sh_quote(&t.tag());
    Stage {
        name: format!("upgrade master {host}"),
        parallel: false,
        steps: vec![Step {
            host,
            name: if first {
                "kubeadm upgrade apply"
            } else {
                "kubeadm upgrade node"
            }
            .into(),
            done_if: Some(format!("grep -qx {tag} {MARKER}")),
            actions: vec![
                run(kubeadm_is(t.version), SHORT),
                run(format!("{kubeadm} >/dev/null"), KUBEADM_TIMEOUT),
                run(RESTART_KUBELET, SHORT),
                run(APISERVER_READY, READY_TIMEOUT),
                run(node_ready(host, KUBECTL), READY_TIMEOUT),
                run(format!("echo {tag} > {MARKER}"), SHORT),
            ],
        }],
        only_if_done: None,
    }
}

/// Shell that exits 0 (skips the rest) when Node `$n` already carries this upgrade's annotation.
fn skip_if_upgraded(tag: &str) -> String {
    format!(
        "[ \"$({KUBECTL} get node \"$n\" -o jsonpath='{{.metadata.annotations.seal-install/upgraded}}')\" = {tag} ] && exit 0"
    )
}

fn drain_stage(through: IpAddr, batch: &[IpAddr], t: &Target) -> Stage {
    let skip = skip_if_upgraded(&sh_quote(&t.tag()));
    batch_stage("drain", through, batch, DRAIN_TIMEOUT, |n| {
        format!(
            "[ -n \"$n\" ] || {{ echo \"no Node has the address {n}\" >&2; exit 1; }}; {skip}; \
             {KUBECTL} drain \"$n\" --ignore-daemonsets --delete-local-data --force --timeout=300s >/dev/null"
        )
    })
}

fn node_step(host: IpAddr, t: &Target) -> Step {
    let tag = sh_quote(&t.tag());
    Step {
        host,
        name: "kubeadm upgrade node".into(),
        done_if: Some(format!("grep -qx {tag} {MARKER}")),
        actions: vec![
            run(kubeadm_is(t.version), SHORT),
            run(
                format!("kubeadm upgrade node $(cat {FLAGS} 2>/dev/null) >/dev/null"),
                KUBEADM_TIMEOUT,
            ),
            run(RESTART_KUBELET, SHORT),
            run(format!("echo {tag} > {MARKER}"), SHORT),
        ],
    }
}

fn uncordon_stage(through: IpAddr, batch: &[IpAddr], t: &Target) -> Stage {
    let tag = sh_quote(&t.tag());
    batch_stage("uncordon", through, batch, READY_TIMEOUT, |_| {
        format!(
            "{}; {KUBECTL} uncordon \"$n\" >/dev/null && \
             {KUBECTL} wait --for=condition=Ready node/\"$n\" --timeout=300s >/dev/null && \
             {KUBECTL} annotate --overwrite node \"$n\" {ANNOTATION}={tag} >/dev/null",
            skip_if_upgraded(&tag)
        )
    })
}

/// One stage, run on `through`, that does `what` ("drain", "uncordon") to each node of `batch`:
/// `body(ip)` runs with `$n` set to the node's Node name.
fn batch_stage(
    what: &str,
    through: IpAddr,
    batch: &[IpAddr],
    timeout: Duration,
    body: impl Fn(IpAddr) -> String,
) -> Stage {
    let actions = batch
        .iter()
        .map(|&n| run(format!("{}; {}", node_name_of(n), body(n)), timeout))
        .collect();
    Stage {
        name: format!("{what} {}", list(batch)),
        parallel: false,
        steps: vec![Step {
            host: through,
            name: format!("{what} nodes"),
            done_if: None,
            actions,
        }],
        only_if_done: None,
    }
}

#[cfg(test)]
mod tests;
