//! `seal-install backup`: an etcd snapshot from the first master that answers (or the one
//! named), made on that master by etcdctl (`crate::backup`), copied to this machine with its
//! sha256 checked, then removed from the master.

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use super::{auth_methods, connect, usage, AppError};
use crate::backup;
use crate::cli::{self, BackupArgs, Environment, UsageError};
use crate::cluster;
use crate::ssh::Session;

/// Time limit of the snapshot (etcdctl in a fresh container; a large keyspace takes a while).
const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(600);

pub(super) async fn backup(args: &BackupArgs, env: &Environment) -> Result<(), AppError> {
    let path = cli::cluster_file_path(&args.login.common, env).map_err(usage)?;
    let c = cluster::load(&path).map_err(usage)?;
    let v = cli::validate_backup(args, &c, env, SystemTime::now()).map_err(usage)?;
    let folder = match v.out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => Path::new(".").to_path_buf(),
    };
    if !folder.is_dir() {
        return Err(usage(UsageError::OutFolderMissing {
            path: v.out.clone(),
            dir: folder,
        }));
    }
    if v.run.dry_run {
        println!(
            "== backup from the first of {} that answers\n   run:\n{}   copy {} -> {} (mode 600), then run: {}\n(dry run: nothing was changed)",
            super::list(&v.masters),
            indent(&backup::snapshot_script()),
            backup::REMOTE_SNAPSHOT,
            v.out.display(),
            backup::cleanup_command()
        );
        return Ok(());
    }
    let (methods, password) = auth_methods(&v.run.ssh.auth)?;
    let mut tried = Vec::new();
    for &m in &v.masters {
        let started = Instant::now();
        let session = match connect(m, &v.run, &methods, password.as_ref()).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("seal-install: {m}: {e}; trying the next master");
                tried.push(format!("{m}: {e}"));
                continue;
            }
        };
        let result = snapshot_from(&session, m, &v.out).await;
        session.close().await;
        match result {
            Ok(size) => {
                eprintln!(
                    "seal-install: etcd snapshot of {m} ({:.1} MB) in {} ({:.1}s)",
                    size as f64 / 1e6,
                    v.out.display(),
                    started.elapsed().as_secs_f64()
                );
                return Ok(());
            }
            Err(e) => {
                eprintln!("seal-install: {m}: {e}; trying the next master");
                tried.push(format!("{m}: {e}"));
            }
        }
    }
    Err(AppError::Failed(format!(
        "no master gave a snapshot:\n{}\nnothing was written to {}",
        tried.join("\n"),
        v.out.display()
    )))
}

/// Makes the snapshot on `m`, copies it to `out`, removes it there (also after a failed copy:
/// it holds every Secret of the cluster).
async fn snapshot_from(session: &Session, m: IpAddr, out: &Path) -> Result<u64, String> {
    session
        .run(&backup::snapshot_script(), SNAPSHOT_TIMEOUT)
        .await
        .map_err(|e| format!("snapshot failed: {e}"))?;
    let copied = session
        .download(backup::REMOTE_SNAPSHOT, out)
        .await
        .map_err(|e| format!("copy failed: {e}"));
    if let Err(e) = session
        .run(&backup::cleanup_command(), Duration::from_secs(60))
        .await
    {
        eprintln!(
            "seal-install: warning: {m}: the snapshot {} could not be removed there: {e}",
            backup::REMOTE_SNAPSHOT
        );
    }
    copied
}

fn indent(script: &str) -> String {
    script.lines().map(|l| format!("   | {l}\n")).collect()
}
