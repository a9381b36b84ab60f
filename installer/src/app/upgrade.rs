//! `seal-install upgrade`: the cluster file's cluster taken to the new package's version by
//! `crate::upgrade`'s stages, with every host reachable first; the cluster file records the new
//! version and package once the last node is back.

use std::time::{Instant, SystemTime};

use super::{close_all, connect_each, failed, list, package_for, print_dry_run, usage, AppError};
use crate::cli::{self, Environment, UpgradeArgs};
use crate::cluster::{self, Cluster};
use crate::exec::{self, Progress};
use crate::redact::Redactor;
use crate::upgrade::{self, Target};

pub(super) async fn upgrade(args: &UpgradeArgs, env: &Environment) -> Result<(), AppError> {
    let path = cli::cluster_file_path(&args.login.common, env).map_err(usage)?;
    let c = cluster::load(&path).map_err(usage)?;
    let v = cli::validate_upgrade(args, &c, env).map_err(usage)?;
    let package = package_for(&v.package, v.package_sha256.as_deref(), &v.run).await?;
    let target = Target {
        version: &v.version,
        package: &package.path,
        sha256: &package.sha256,
        node_batch: v.node_batch,
    };
    let stages = upgrade::stages(&c, &target);
    // Nothing here carries the token or key; a kubeadm message might.
    let secrets = Redactor::for_credentials(&c.token, &c.certificate_key);
    if v.run.dry_run {
        print_dry_run(&stages, &secrets);
        return Ok(());
    }
    let started = Instant::now();
    let hosts = c.hosts();
    let (sessions, unreachable) = connect_each(&hosts, &v.run).await?;
    // A rolling upgrade needs every host: one left behind would break the skew rules later.
    if !unreachable.is_empty() {
        close_all(sessions).await;
        return Err(AppError::Failed(format!(
            "{}\nnot every host is reachable; nothing was upgraded. Run the same command again once they are.",
            unreachable.join("\n")
        )));
    }
    let progress = Progress::new(false);
    let result = exec::run_stages(&stages, &sessions, v.run.parallel, &progress).await;
    close_all(sessions).await;
    if let Err(f) = result {
        return Err(failed(
            "upgrade stopped at the first failure (see above); the hosts before it are upgraded and serving, and a node drained for it stays cordoned until it is upgraded. Fix the cause and run the same command again: what is done is skipped.",
            &f,
            &secrets,
        ));
    }
    let mut upgraded = Cluster {
        package: v.package.to_string(),
        package_sha256: package.sha256.clone(),
        updated: cluster::rfc3339(SystemTime::now()),
        ..c.clone()
    };
    upgraded.version = v.version.clone();
    cluster::save(&path, &upgraded).map_err(|e| AppError::Failed(e.to_string()))?;
    eprintln!(
        "seal-install: upgraded to {} in {:.0}s: masters {}, nodes {}",
        v.version,
        started.elapsed().as_secs_f64(),
        list(&c.masters),
        list(&c.nodes)
    );
    Ok(())
}
