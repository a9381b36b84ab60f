//! Which stages each command runs, in order, and which hosts it reaches: `init`, `join` and
//! `clean` composed from the plan's stages, as pure functions of the cluster (no host, no file).
//! A stage that runs only in some cases says so itself (`Stage::only_if_done`); nothing is
//! inserted while the run goes on.

use std::net::IpAddr;
use std::path::Path;

use crate::cluster::Cluster;
use crate::kubeadm::{KubeadmError, KubeadmParams};
use crate::plan::{self, Stage};

/// A command's whole run: its stages in order and the hosts it connects to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// The stages, in order.
    pub stages: Vec<Stage>,
    /// Every host the run connects to, in order.
    pub hosts: Vec<IpAddr>,
    /// The hosts preflight checks (the others only need to be reachable).
    pub checked: Vec<IpAddr>,
    /// Hosts whose unreachability is only warned about: the cluster's masters the run may go
    /// through (it goes through the first that answers).
    pub best_effort: Vec<IpAddr>,
}

/// The local files an install uploads.
#[derive(Debug, Clone, Copy)]
pub struct Uploads<'a> {
    /// The offline package on this machine.
    pub package: &'a Path,
    /// Its SHA-256 (hex), which marks a host already set up with it.
    pub package_sha256: &'a str,
    /// lvscare on this machine, uploaded to joining nodes.
    pub lvscare: &'a Path,
}

/// The kubeadm configurations of the hosts that join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joins {
    /// Each joining master's (it names the master's own address), in joining order.
    pub masters: Vec<(IpAddr, String)>,
    /// The nodes' configuration.
    pub node: String,
    /// The file with which master0 makes the token and certificate key valid again first.
    pub refresh: String,
}

impl Joins {
    /// Renders the configurations of `masters` (in that order), then the nodes' one.
    pub fn render(params: &KubeadmParams, masters: &[IpAddr]) -> Result<Joins, KubeadmError> {
        let masters = masters
            .iter()
            .map(|&m| Ok((m, params.render_join_master(m)?)))
            .collect::<Result<_, KubeadmError>>()?;
        Ok(Joins {
            masters,
            node: params.render_join_node()?,
            refresh: params.refresh_config()?,
        })
    }
}

/// The cluster's token and certificate key made valid again on `through`.
fn refresh(c: &Cluster, through: IpAddr, joins: &Joins) -> Stage {
    plan::refresh_join_credentials(through, c.token.id(), &joins.refresh)
}

/// `init` of `c`: distribute everywhere, master0's init, the other masters (`joins.masters`
/// holds theirs), the nodes and their lvscare. When others join a master0 set up by an earlier
/// run, its credentials are refreshed first (the token lives 24 h, uploaded certificates 2 h).
/// This whole list is what a dry run shows; a real run carries out [`init_first`], reads the CA
/// that the joins pin, then [`init_rest`].
pub fn init_run(c: &Cluster, files: Uploads, init_config: &str, joins: &Joins) -> Run {
    let mut run = init_first(c, files, init_config);
    run.stages.extend(init_rest(c, files, joins));
    run
}

/// The part of `init` before any join can be rendered: distribute everywhere, then master0's
/// init, which makes the cluster CA every join pins.
pub fn init_first(c: &Cluster, files: Uploads, init_config: &str) -> Run {
    let all = c.hosts();
    Run {
        stages: vec![
            plan::distribute(&all, &c.nodes, files.package, files.package_sha256),
            plan::init_master0(c, init_config),
        ],
        hosts: all.clone(),
        checked: all,
        best_effort: Vec::new(),
    }
}

/// The rest of `init`, once master0's CA is known: refresh (when master0 was already set up),
/// the other masters, the nodes and their lvscare.
pub fn init_rest(c: &Cluster, files: Uploads, joins: &Joins) -> Vec<Stage> {
    let mut stages = Vec::new();
    let m0 = c.masters[0];
    if c.masters.len() > 1 || !c.nodes.is_empty() {
        stages.push(Stage {
            only_if_done: Some((m0, plan::INIT_STEP.into())),
            ..refresh(c, m0, joins)
        });
    }
    if c.masters.len() > 1 {
        stages.push(plan::join_masters(c, m0, &joins.masters));
    }
    if !c.nodes.is_empty() {
        stages.push(plan::join_nodes(
            c,
            &c.nodes,
            &c.masters,
            files.lvscare,
            &joins.node,
        ));
        stages.push(plan::node_lvscare(c, &c.nodes));
    }
    stages
}

/// `join` of `masters` and `nodes` into `c` (the cluster with them added): distribute to them,
/// refresh the credentials, join them, and point the nodes already there at the new masters too.
/// `up` are the cluster's earlier masters that answer, in order: the run goes through the first
/// (credentials, the masters' discovery) and the nodes' first rules balance to them and the new
/// masters, so a cluster whose master0 is down still takes hosts. Only the new hosts are
/// preflight-checked; the earlier masters are contacted best effort.
pub fn join_run(
    c: &Cluster,
    masters: &[IpAddr],
    nodes: &[IpAddr],
    files: Uploads,
    joins: &Joins,
    up: &[IpAddr],
) -> Run {
    let new: Vec<IpAddr> = masters.iter().chain(nodes).copied().collect();
    let earlier_masters: Vec<IpAddr> = c
        .masters
        .iter()
        .filter(|m| !masters.contains(m))
        .copied()
        .collect();
    let through = up
        .first()
        .or(earlier_masters.first())
        .copied()
        .unwrap_or(c.masters[0]);
    // Nodes already in the cluster balance to the new masters too.
    let earlier_nodes: Vec<IpAddr> = if masters.is_empty() {
        Vec::new()
    } else {
        c.nodes
            .iter()
            .filter(|n| !nodes.contains(n))
            .copied()
            .collect()
    };
    let mut stages = vec![
        plan::distribute(&new, nodes, files.package, files.package_sha256),
        refresh(c, through, joins),
    ];
    if !masters.is_empty() {
        stages.push(plan::join_masters(c, through, &joins.masters));
    }
    if !nodes.is_empty() {
        let answering: Vec<IpAddr> = up.iter().chain(masters).copied().collect();
        stages.push(plan::join_nodes(
            c,
            nodes,
            &answering,
            files.lvscare,
            &joins.node,
        ));
        stages.push(plan::node_lvscare(c, nodes));
    }
    if !earlier_nodes.is_empty() {
        stages.push(plan::update_node_masters(c, &earlier_nodes));
    }
    let mut hosts = new.clone();
    hosts.extend(&earlier_masters);
    hosts.extend(&earlier_nodes);
    Run {
        stages,
        hosts,
        checked: new,
        best_effort: earlier_masters,
    }
}

/// `clean` of `hosts` (`nodes` are those of them that are nodes; `vip` is lvscare's service
/// there). With a cluster `remaining` (`before` is the one before), through `through`, a
/// remaining master (the first that answers; `None` when none does): the etcd members
/// `etcd_members` of the masters that leave are removed, then the nodes are drained and the
/// Node objects of all that leave deleted, then the hosts are cleaned, and when masters leave,
/// the remaining nodes stop balancing to them. The remaining masters are contacted best effort.
pub fn clean_run(
    hosts: &[IpAddr],
    nodes: &[IpAddr],
    vip: IpAddr,
    remaining: Option<&Cluster>,
    before: Option<&Cluster>,
    through: Option<IpAddr>,
    etcd_members: &[u64],
) -> Run {
    let mut stages = Vec::new();
    let masters: Vec<IpAddr> = hosts
        .iter()
        .filter(|h| !nodes.contains(h))
        .copied()
        .collect();
    // The cluster's side goes through a remaining master.
    let candidates: Vec<IpAddr> = match remaining {
        Some(r) => r
            .masters
            .iter()
            .filter(|m| !hosts.contains(m))
            .copied()
            .collect(),
        None => Vec::new(),
    };
    if let Some(m) = through.filter(|m| candidates.contains(m)) {
        if !etcd_members.is_empty() {
            stages.push(plan::remove_etcd_members(m, etcd_members));
        }
        stages.push(plan::delete_nodes(m, nodes, &masters));
    }
    stages.push(plan::clean(hosts, nodes, vip));
    // Remaining nodes stop balancing to masters that are gone.
    let mut update_hosts = Vec::new();
    if let (Some(rest), Some(before)) = (remaining, before) {
        if rest.masters.len() < before.masters.len() && !rest.nodes.is_empty() {
            stages.push(plan::update_node_masters(rest, &rest.nodes));
            update_hosts = rest.nodes.clone();
        }
    }
    let mut all = hosts.to_vec();
    all.extend(&update_hosts);
    all.extend(&candidates);
    Run {
        stages,
        hosts: all,
        checked: Vec::new(),
        best_effort: candidates,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::paths;
    use crate::plan::tests::{cluster, commands, ip};
    use crate::plan::Action;

    fn files() -> Uploads<'static> {
        Uploads {
            package: Path::new("/root/kube1.20.2.tar.gz"),
            package_sha256: "abc",
            lvscare: Path::new("/usr/local/bin/lvscare"),
        }
    }

    /// Placeholder configurations for the joining masters (in order) and the nodes.
    fn joins(masters: &[IpAddr]) -> Joins {
        Joins {
            masters: masters
                .iter()
                .map(|&m| (m, format!("join-master {m}")))
                .collect(),
            node: "join-node".into(),
            refresh: "refresh".into(),
        }
    }

    fn init_of(c: &Cluster) -> Run {
        init_run(c, files(), "init", &joins(&c.masters[1..]))
    }

    /// The stages of `init` on hosts set up by no earlier run (the dry run's list): those that
    /// always run.
    fn first_install(c: &Cluster) -> Vec<Stage> {
        init_of(c)
            .stages
            .into_iter()
            .filter(|s| s.only_if_done.is_none())
            .collect()
    }

    fn names(run: &Run) -> Vec<&str> {
        run.stages.iter().map(|s| s.name.as_str()).collect()
    }

    #[test]
    fn secrets_only_in_root_only_files_never_on_a_command_line() {
        let mut c = cluster();
        c.ca_cert_hash = Some(format!("sha256:{}", "ab".repeat(32)).parse().expect("hash"));
        let p = c.kubeadm_params();
        let secret = &c.token.as_str()[c.token.id().len() + 1..];
        let key = c.certificate_key.as_str();
        let joins = Joins::render(p, &c.masters[1..]).expect("joins");
        let init = p.render_init(None).expect("init");
        let runs = [
            init_run(&c, files(), &init, &joins),
            join_run(&c, &[], &c.nodes, files(), &joins, &c.masters),
        ];
        let mut files_with_secrets = 0;
        for step in runs.iter().flat_map(|r| &r.stages).flat_map(|s| &s.steps) {
            for line in commands(step).iter().chain(&step.done_if) {
                assert!(!line.contains(secret) && !line.contains(key), "{line}");
            }
            for a in &step.actions {
                if let Action::WriteFile { remote, data, mode } = a {
                    if data.contains(secret) || data.contains(key) {
                        assert_eq!(*mode, 0o600, "{remote}");
                        files_with_secrets += 1;
                    }
                }
            }
        }
        // init, 2 master joins, the node's join, refresh in init and join, the node's join again.
        assert_eq!(files_with_secrets, 7);
    }

    #[test]
    fn init_stops_after_master0_until_its_ca_is_known() {
        let c = cluster();
        let first = init_first(&c, files(), "init");
        assert_eq!(names(&first), ["distribute", "init master0"]);
        // Nothing that joins runs before the CA the joins pin exists.
        let rest = init_rest(&c, files(), &joins(&c.masters[1..]));
        assert!(rest
            .iter()
            .all(|s| s.name != "distribute" && s.name != "init master0"));
        let mut whole = first.stages.clone();
        whole.extend(rest);
        assert_eq!(init_of(&c).stages, whole);
        assert_eq!(init_of(&c).hosts, first.hosts);
    }

    #[test]
    fn distribute_tells_init_sh_each_hosts_role() {
        let c = cluster();
        let stages = first_install(&c);
        for step in &stages[0].steps {
            let role = if c.nodes.contains(&step.host) {
                "node"
            } else {
                "master"
            };
            let cmds = commands(step);
            assert!(
                cmds.iter()
                    .any(|c| c == &format!("SEAL_ROLE={role} bash /root/kube/shell/init.sh")),
                "{} {cmds:?}",
                step.host
            );
            // A host set up for another role is set up again (a node lacks a master's images).
            let done = step.done_if.as_deref().unwrap_or_default();
            assert!(done.contains(&format!(" {role}'")), "{done}");
        }
    }

    #[test]
    fn init_order_and_hosts_blocks() {
        let stages = first_install(&cluster());
        let names: Vec<&str> = stages.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "distribute",
                "init master0",
                "join masters",
                "join nodes",
                "lvscare on nodes"
            ]
        );
        assert_eq!(stages[0].steps.len(), 4);
        assert!(
            stages[0].parallel && !stages[2].parallel && stages[3].parallel && stages[4].parallel
        );
        let m0 = &stages[1].steps[0];
        assert_eq!(
            m0.actions[0],
            Action::Hosts {
                entries: vec![(ip("192.168.0.2"), "apiserver.cluster.local".into())]
            }
        );
        let init = commands(m0);
        let init = init
            .iter()
            .find(|c| c.contains("kubeadm init --config"))
            .expect("init");
        assert!(init.contains(paths::KUBEADM_INIT_FLAGS), "{init}");
        // A half-done init resumes past preflight; the step is done only once init succeeded.
        assert!(
            init.contains("then kubeadm init --config")
                && init.contains("--skip-phases=preflight; else kubeadm init"),
            "{init}"
        );
        // Its configuration, which holds the secrets, is removed whatever init's outcome.
        assert!(
            init.ends_with(&format!(
                "&& touch {}; rc=$?; rm -f {}; exit $rc",
                paths::INIT_DONE,
                paths::KUBEADM_CONFIG
            )),
            "{init}"
        );
        // Done: and a configuration left by a run cut off mid-way goes too.
        assert_eq!(
            m0.done_if,
            Some(format!(
                "test -f {} && rm -f {}",
                paths::INIT_DONE,
                paths::KUBEADM_CONFIG
            ))
        );
        // Each joining master: the join (resumable), then hosts -> itself as a step of its own
        // that has no "done" check, so a re-run after a failure there still repoints it.
        let hosts: Vec<(IpAddr, &str)> = stages[2]
            .steps
            .iter()
            .map(|s| (s.host, s.name.as_str()))
            .collect();
        assert_eq!(
            hosts,
            [
                (ip("192.168.0.3"), "kubeadm join --control-plane"),
                (ip("192.168.0.3"), "apiserver name -> itself"),
                (ip("192.168.0.4"), "kubeadm join --control-plane"),
                (ip("192.168.0.4"), "apiserver name -> itself"),
            ]
        );
        let m1 = &stages[2].steps[0];
        assert_eq!(
            m1.actions.first(),
            Some(&Action::Hosts {
                entries: vec![(ip("192.168.0.2"), "apiserver.cluster.local".into())]
            })
        );
        assert!(commands(m1)
            .iter()
            .any(|c| c.contains(paths::KUBEADM_JOIN_FLAGS)));
        let self_step = &stages[2].steps[1];
        assert_eq!(self_step.done_if, None);
        assert_eq!(
            self_step.actions,
            [Action::Hosts {
                entries: vec![(ip("192.168.0.3"), "apiserver.cluster.local".into())]
            }]
        );
        let node = &stages[3].steps[0];
        assert_eq!(
            node.actions[0],
            Action::Hosts {
                entries: vec![(ip("10.103.97.2"), "apiserver.cluster.local".into())]
            }
        );
        let cmds = commands(node);
        let once = cmds
            .iter()
            .position(|c| c.contains("--run-once"))
            .expect("run-once");
        let join = cmds
            .iter()
            .position(|c| c.starts_with("kubeadm join"))
            .expect("join");
        assert!(
            once < join,
            "lvscare rules must exist before the node joins: {cmds:?}"
        );
        // A half-done earlier join is reset just before the join, and only then.
        let reset = cmds
            .iter()
            .position(|c| c.contains("kubeadm reset -f"))
            .expect("reset");
        assert_eq!(reset + 1, join);
        assert!(
            cmds[reset].starts_with("if [ ! -f /etc/kubernetes/kubelet.conf ]"),
            "{}",
            cmds[reset]
        );
        assert!(
            cmds[once].contains("--rs 192.168.0.4:6443")
                && cmds[once].contains("--vs 10.103.97.2:6443")
        );
        // The join is done once kubelet.conf exists, whatever happened to the manifest after it;
        // the manifest is the next stage's and always rewritten.
        assert_eq!(
            node.done_if.as_deref(),
            Some("test -f /etc/kubernetes/kubelet.conf && rm -f /root/kubeadm-config.yaml")
        );
        assert!(
            !cmds.iter().any(|c| c.contains("kube-lvscare.yaml")),
            "{cmds:?}"
        );
        let lv = &stages[4].steps[0];
        assert_eq!((lv.host, lv.done_if.as_ref()), (ip("192.168.0.5"), None));
        let write = &commands(lv)[0];
        // Written beside the manifests folder, never inside it, then renamed in.
        assert!(
            write.contains(&format!(
                "> {} && mv {} {}",
                paths::LVSCARE_MANIFEST_TMP,
                paths::LVSCARE_MANIFEST_TMP,
                paths::LVSCARE_MANIFEST
            )),
            "{write}"
        );
        assert!(!paths::LVSCARE_MANIFEST_TMP.starts_with("/etc/kubernetes/manifests/"));
    }

    #[test]
    fn single_master_without_nodes() {
        let mut c = cluster();
        c.masters.truncate(1);
        c.nodes.clear();
        let names: Vec<String> = first_install(&c).into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["distribute", "init master0"]);
    }

    #[test]
    fn init_with_one_or_three_masters_and_no_or_two_nodes() {
        let (m, n) = (
            [ip("192.168.0.2"), ip("192.168.0.3"), ip("192.168.0.4")],
            [ip("192.168.0.5"), ip("192.168.0.6")],
        );
        let cases: [(&[IpAddr], &[IpAddr], &[&str]); 4] = [
            (&m[..1], &[], &["distribute", "init master0"]),
            (
                &m[..1],
                &n,
                &[
                    "distribute",
                    "init master0",
                    "refresh join credentials",
                    "join nodes",
                    "lvscare on nodes",
                ],
            ),
            (
                &m,
                &[],
                &[
                    "distribute",
                    "init master0",
                    "refresh join credentials",
                    "join masters",
                ],
            ),
            (
                &m,
                &n,
                &[
                    "distribute",
                    "init master0",
                    "refresh join credentials",
                    "join masters",
                    "join nodes",
                    "lvscare on nodes",
                ],
            ),
        ];
        for (masters, nodes, want) in cases {
            let mut c = cluster();
            c.masters = masters.to_vec();
            c.nodes = nodes.to_vec();
            let run = init_of(&c);
            assert_eq!(names(&run), want, "{masters:?} {nodes:?}");
            let all = c.hosts();
            assert_eq!((&run.hosts, &run.checked), (&all, &all));
            assert_eq!(run.stages[0].steps.len(), all.len());
            assert!(run.best_effort.is_empty());
        }
    }

    #[test]
    fn init_refreshes_credentials_only_when_master0_was_already_initialised() {
        let c = cluster();
        let run = init_of(&c);
        let refresh = &run.stages[2];
        assert_eq!(refresh.name, "refresh join credentials");
        assert_eq!(
            refresh.only_if_done,
            Some((ip("192.168.0.2"), plan::INIT_STEP.to_string()))
        );
        // The condition names the step master0's init really has.
        assert_eq!(run.stages[1].steps[0].name, plan::INIT_STEP);
        let step = &refresh.steps[0];
        assert_eq!(step.host, ip("192.168.0.2"));
        // The credentials come from a root-only file, removed after use; never on the line.
        assert_eq!(
            step.actions[0],
            Action::WriteFile {
                remote: paths::JOIN_CREDENTIALS.into(),
                data: "refresh".into(),
                mode: 0o600
            }
        );
        let cmds = commands(step);
        let f = paths::JOIN_CREDENTIALS;
        assert_eq!(cmds.len(), 1);
        assert!(
            cmds[0].contains(&format!("kubeadm token create --config {f} >/dev/null"))
                && cmds[0].contains(&format!(
                    "upload-certs --upload-certs --config {f} >/dev/null"
                ))
                && cmds[0].ends_with(&format!("rc=$?; rm -f {f}; exit $rc")),
            "{cmds:?}"
        );
        // Every other stage always runs.
        assert_eq!(
            run.stages
                .iter()
                .filter(|s| s.only_if_done.is_some())
                .count(),
            1
        );
    }

    #[test]
    fn joining_masters_updates_the_nodes_already_there() {
        let mut c = cluster();
        let (m4, n2) = (ip("192.168.0.7"), ip("192.168.0.8"));
        c.masters.push(m4);
        c.nodes.push(n2);
        let up = c.masters[..3].to_vec();
        let run = join_run(&c, &[m4], &[n2], files(), &joins(&[m4]), &up);
        assert_eq!(
            names(&run),
            [
                "distribute",
                "refresh join credentials",
                "join masters",
                "join nodes",
                "lvscare on nodes",
                "update nodes' masters"
            ]
        );
        // The refresh always runs on a join.
        assert!(run.stages.iter().all(|s| s.only_if_done.is_none()));
        let hosts = |s: &Stage| s.steps.iter().map(|s| s.host).collect::<Vec<_>>();
        assert_eq!(hosts(&run.stages[0]), [m4, n2]);
        assert_eq!(hosts(&run.stages[1]), [ip("192.168.0.2")]);
        assert_eq!(hosts(&run.stages[2]), [m4, m4]);
        assert_eq!(hosts(&run.stages[3]), [n2]);
        // Only the node that was there before gets the new master list from this stage.
        assert_eq!(hosts(&run.stages[5]), [ip("192.168.0.5")]);
        assert!(commands(&run.stages[5].steps[0])[0].contains("--rs 192.168.0.7:6443"));
        let m = |i| ip(&format!("192.168.0.{i}"));
        assert_eq!(run.hosts, [m4, n2, m(2), m(3), m(4), m(5)]);
        assert_eq!(run.checked, [m4, n2]);
        // Any earlier master may be down: the run goes through the first that answers.
        assert_eq!(run.best_effort, [m(2), m(3), m(4)]);
    }

    #[test]
    fn a_join_goes_through_the_first_master_that_answers() {
        let mut c = cluster();
        let m = |i| ip(&format!("192.168.0.{i}"));
        let (m4, n2) = (m(7), m(8));
        c.masters.push(m4);
        c.nodes.push(n2);
        // master0 (.2) is down.
        let run = join_run(&c, &[m4], &[n2], files(), &joins(&[m4]), &[m(3), m(4)]);
        let stage = |name: &str| {
            run.stages
                .iter()
                .find(|s| s.name == name)
                .unwrap_or_else(|| panic!("no {name}"))
        };
        assert_eq!(stage("refresh join credentials").steps[0].host, m(3));
        // The joining master finds the cluster through .3.
        assert_eq!(
            stage("join masters").steps[0].actions[0],
            Action::Hosts {
                entries: vec![(m(3), c.apiserver_name.clone())]
            }
        );
        // The new node's first rules hold the masters that answer and the new one, not .2;
        // its daemon (next stage) gets every master and health-checks them.
        let once = commands(&stage("join nodes").steps[0])
            .into_iter()
            .find(|c| c.contains("--run-once"))
            .expect("run-once");
        assert!(
            once.ends_with("--rs 192.168.0.3:6443 --rs 192.168.0.4:6443 --rs 192.168.0.7:6443"),
            "{once}"
        );
        let daemon = commands(&stage("lvscare on nodes").steps[0]).join(" ");
        assert!(daemon.contains("192.168.0.2:6443"), "{daemon}");
    }

    #[test]
    fn joining_only_nodes_leaves_the_other_nodes_alone() {
        let mut c = cluster();
        let n2 = ip("192.168.0.8");
        c.nodes.push(n2);
        let run = join_run(&c, &[], &[n2], files(), &joins(&[]), &c.masters);
        assert_eq!(
            names(&run),
            [
                "distribute",
                "refresh join credentials",
                "join nodes",
                "lvscare on nodes"
            ]
        );
        let m = |i| ip(&format!("192.168.0.{i}"));
        assert_eq!(run.hosts, [n2, m(2), m(3), m(4)]);
    }

    #[test]
    fn cleaning_nodes_drains_them_through_a_remaining_master() {
        let before = cluster();
        let mut rest = before.clone();
        rest.nodes.clear();
        let n = ip("192.168.0.5");
        let m = |i| ip(&format!("192.168.0.{i}"));
        let run = clean_run(
            &[n],
            &[n],
            before.vip,
            Some(&rest),
            Some(&before),
            Some(m(3)),
            &[],
        );
        assert_eq!(names(&run), ["delete nodes from the cluster", "clean"]);
        assert_eq!(run.stages[0].steps[0].host, m(3));
        assert_eq!(run.hosts, [n, m(2), m(3), m(4)]);
        assert_eq!(run.best_effort, [m(2), m(3), m(4)]);
        assert!(run.checked.is_empty());
        // No remaining master answers: the node is still cleaned.
        let run = clean_run(
            &[n],
            &[n],
            before.vip,
            Some(&rest),
            Some(&before),
            None,
            &[],
        );
        assert_eq!(names(&run), ["clean"]);
    }

    #[test]
    fn cleaning_a_master_repoints_the_remaining_nodes() {
        let before = cluster();
        let mut rest = before.clone();
        let m = ip("192.168.0.4");
        rest.masters.retain(|x| *x != m);
        let run = clean_run(&[m], &[], before.vip, Some(&rest), Some(&before), None, &[]);
        assert_eq!(names(&run), ["clean", "update nodes' masters"]);
        assert!(!commands(&run.stages[1].steps[0])[0].contains("192.168.0.4"));
        let r = |i| ip(&format!("192.168.0.{i}"));
        assert_eq!(run.hosts, [m, r(5), r(2), r(3)]);
        assert_eq!(run.best_effort, [r(2), r(3)]);
    }

    #[test]
    fn a_leaving_master_leaves_etcd_and_the_node_list_first_through_a_remaining_one() {
        let before = cluster();
        let mut rest = before.clone();
        let m = ip("192.168.0.2");
        rest.masters.retain(|x| *x != m);
        let through = ip("192.168.0.3");
        let run = clean_run(
            &[m],
            &[],
            before.vip,
            Some(&rest),
            Some(&before),
            Some(through),
            &[0x30c4],
        );
        assert_eq!(
            names(&run),
            [
                "remove etcd members",
                "delete nodes from the cluster",
                "clean",
                "update nodes' masters"
            ]
        );
        let remove = commands(&run.stages[0].steps[0]);
        assert_eq!(run.stages[0].steps[0].host, through);
        assert!(remove[0].ends_with("member remove 30c4\n"), "{remove:?}");
        let delete = commands(&run.stages[1].steps[0]);
        assert_eq!(run.stages[1].steps[0].host, through);
        // The master's Node object is deleted, without a drain (it may be powered off).
        assert!(
            delete.len() == 1
                && delete[0].contains("ip=192.168.0.2 ")
                && delete[0].contains("delete node")
                && !delete[0].contains("drain"),
            "{delete:?}"
        );
        // The masters left, not the one leaving, get the cluster's side.
        assert!(!run.best_effort.contains(&m));
    }

    #[test]
    fn cleaning_everything_touches_only_the_named_hosts() {
        let c = cluster();
        let run = clean_run(&c.hosts(), &c.nodes, c.vip, None, Some(&c), None, &[]);
        assert_eq!(names(&run), ["clean"]);
        assert_eq!(run.hosts, c.hosts());
        assert!(run.best_effort.is_empty());
    }
}
