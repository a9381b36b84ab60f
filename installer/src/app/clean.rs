//! `seal-install clean`: the hosts named (or all) are reset and leave the cluster file. When a
//! cluster stays, its side goes through the first remaining master that answers: the leaving
//! masters' etcd members (read and decided by `crate::etcd`), then the Node objects; then the
//! hosts are cleaned and the remaining nodes repointed (`runs::clean_run`).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use super::{auth_methods, close_all, connect_all, failed, list, print_dry_run, usage, AppError};
use crate::cli::{self, CleanArgs, Environment};
use crate::cluster::{self, ClusterFileError};
use crate::etcd;
use crate::exec::{self, Failure, Progress};
use crate::redact::Redactor;
use crate::runs;
use crate::ssh::Session;

/// Time limit of reading etcd's members (a throw-away container per etcdctl call).
const ETCD_STATUS_TIMEOUT: Duration = Duration::from_secs(180);

/// The etcd member IDs of the masters `leaving`, read on `through`, or why they must stay
/// (`etcd::plan_removal`); empty when the cluster's etcd is not stacked.
async fn leaving_members(
    sessions: &BTreeMap<IpAddr, Session>,
    through: IpAddr,
    leaving: &[IpAddr],
    force: bool,
) -> Result<Vec<u64>, AppError> {
    let s = sessions
        .get(&through)
        .ok_or_else(|| AppError::Failed(format!("internal error: no session to {through}")))?;
    let out = s
        .exec(&etcd::status_script(), &[], ETCD_STATUS_TIMEOUT)
        .await
        .map_err(|e| AppError::Failed(format!("{through}: reading etcd's members: {e}")))?;
    if out.status == etcd::NO_ETCD {
        eprintln!("seal-install: {through}: {}", out.stderr_text().trim());
        return Ok(Vec::new());
    }
    if out.status != 0 {
        return Err(AppError::Failed(format!(
            "{through}: reading etcd's members failed (exit {}): {}\nnothing was changed",
            out.status,
            out.stderr_text().trim()
        )));
    }
    let members = etcd::parse_status(&out.stdout_text())
        .map_err(|e| AppError::Failed(format!("{through}: {e}; nothing was changed")))?;
    let gone = etcd::plan_removal(&members, leaving, force)
        .map_err(|e| AppError::Failed(format!("{e}. Nothing was changed.")))?;
    for m in leaving {
        if !gone.iter().any(|g| g.host == Some(*m)) {
            eprintln!("seal-install: {m} has no etcd member (already removed)");
        }
    }
    Ok(gone.iter().map(|m| m.id).collect())
}

pub(super) async fn clean(args: &CleanArgs, env: &Environment) -> Result<(), AppError> {
    let path = cli::cluster_file_path(&args.login.common, env).map_err(usage)?;
    let current = match cluster::load(&path) {
        Ok(c) => Some(c),
        Err(ClusterFileError::Missing { .. }) => None,
        Err(e) => return Err(usage(e)),
    };
    let v = cli::validate_clean(args, current.as_ref(), env, SystemTime::now()).map_err(usage)?;
    // Planned through the first remaining master; carried out through the first that answers.
    let first_remaining = v
        .remaining
        .as_ref()
        .and_then(|r| r.masters.first().copied());
    let plan_through = |through, members: &[u64]| {
        runs::clean_run(
            &v.hosts,
            &v.nodes,
            v.vip,
            v.remaining.as_ref(),
            current.as_ref(),
            through,
            members,
        )
    };
    // Masters that leave a cluster that stays: their etcd members go first (read when run).
    let leaving: Vec<IpAddr> = match &v.remaining {
        Some(_) => v
            .hosts
            .iter()
            .filter(|h| !v.nodes.contains(h))
            .copied()
            .collect(),
        None => Vec::new(),
    };
    let planned = plan_through(first_remaining, &[]);
    // Clean's commands carry no secret; its hosts' output might (a kubeadm message, say).
    let secrets = current
        .as_ref()
        .map(|c| Redactor::for_credentials(&c.token, &c.certificate_key))
        .unwrap_or_default();
    if v.run.dry_run {
        if !leaving.is_empty() {
            println!(
                "== before anything else, on the first remaining master that answers: read etcd's members and their health, and remove those of {} (refused when the healthy members left would be no majority, unless --force), with:\n{}",
                list(&leaving),
                etcd::remove_script(&[0])
                    .lines()
                    .map(|l| format!("   | {l}\n"))
                    .collect::<String>()
            );
        }
        print_dry_run(&planned.stages, &secrets);
        return Ok(());
    }
    let progress = Progress::new(false);
    let (methods, password) = auth_methods(&v.run.ssh.auth)?;
    let connected = connect_all(
        &planned.hosts,
        &v.run,
        &methods,
        password.as_ref(),
        &progress,
    )
    .await;
    let mut sessions = BTreeMap::new();
    let mut unreachable = Vec::new();
    let mut warned = Vec::new();
    for (h, r) in connected {
        match r {
            Ok(s) => {
                sessions.insert(h, s);
            }
            // The cluster's side is best effort: a node is still cleaned when no master answers.
            Err(e) if planned.best_effort.contains(&h) => {
                eprintln!("seal-install: warning: master {h} is unreachable ({e}); going on through the others");
                warned.push(h);
            }
            // A master that leaves may be powered off for good: it leaves the cluster all the
            // same (its etcd member and Node object), only its host is not reset.
            Err(e) if leaving.contains(&h) => {
                eprintln!("seal-install: warning: master {h} is unreachable ({e}): it is removed from the cluster, but the host itself is not reset; run kubeadm reset -f there before using it again");
            }
            Err(e) => unreachable.push(Failure {
                host: h,
                step: "connect".into(),
                command: String::new(),
                error: e.to_string(),
            }),
        }
    }
    let through = planned
        .best_effort
        .iter()
        .find(|m| sessions.contains_key(m))
        .copied();
    if through.is_none() && !planned.best_effort.is_empty() {
        eprintln!(
            "seal-install: warning: no remaining master answers ({}); the cleaned nodes stay in the cluster's node list",
            list(&warned)
        );
    }
    let members = match (leaving.is_empty(), through) {
        (true, _) => Vec::new(),
        (false, None) => {
            close_all(sessions).await;
            return Err(AppError::Failed(format!(
                "no remaining master answers, so the etcd members of {} cannot be removed; nothing was changed. Run the same command again once one does.",
                list(&leaving)
            )));
        }
        (false, Some(m)) => match leaving_members(&sessions, m, &leaving, args.force).await {
            Ok(ids) => ids,
            Err(e) => {
                close_all(sessions).await;
                return Err(e);
            }
        },
    };
    let mut run = plan_through(through, &members);
    // Clean what can be reached; what cannot is reported and stays in the cluster file.
    for stage in &mut run.stages {
        stage.steps.retain(|s| sessions.contains_key(&s.host));
    }
    let result = exec::run_stages(&run.stages, &sessions, v.run.parallel, &progress).await;
    close_all(sessions).await;
    let mut failures = unreachable;
    if let Err(f) = result {
        failures.extend(f);
    }
    if !failures.is_empty() {
        return Err(failed(
            "clean did not finish on every host (see above); the cluster file is unchanged. Run the same command again once the hosts are reachable.",
            &failures,
            &secrets,
        ));
    }
    match (&v.remaining, &current) {
        (Some(rest), _) => {
            cluster::save(&path, rest).map_err(|e| AppError::Failed(e.to_string()))?
        }
        (None, Some(_)) => {
            std::fs::remove_file(&path).map_err(|e| {
                AppError::Failed(format!(
                    "cannot remove cluster file {}: {e}",
                    path.display()
                ))
            })?;
        }
        (None, None) => {}
    }
    eprintln!("seal-install: cleaned {}", list(&v.hosts));
    Ok(())
}
