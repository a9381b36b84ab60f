//! `seal-install certs check` and `certs renew`: every host of the cluster file lists its
//! certificates (`crate::certs`), all at once, and the table is printed from what they sent;
//! renew carries out `certs::renew_stages` on the masters, one at a time, then lists theirs.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::{close_all, connect_each as connect, failed, print_dry_run, unix_now, usage, AppError};
use crate::certs;
use crate::cli::{self, CertsAction, CertsArgs, CertsLogin, Environment, RunSettings};
use crate::cluster::{self, Cluster};
use crate::exec::{self, Progress};
use crate::redact::Redactor;
use crate::ssh::Session;

/// Time limit of one host's listing.
const LISTING_TIMEOUT: Duration = Duration::from_secs(60);

pub(super) async fn certs(args: &CertsArgs, env: &Environment) -> Result<(), AppError> {
    match &args.action {
        CertsAction::Check(login) => check(login, env).await,
        CertsAction::Renew(login) => renew(login, env).await,
    }
}

/// The cluster file and the run settings of `login`.
fn load(login: &CertsLogin, env: &Environment) -> Result<(Cluster, RunSettings), AppError> {
    let path = cli::cluster_file_path(&login.login.common, env).map_err(usage)?;
    let c = cluster::load(&path).map_err(usage)?;
    let run = cli::login_settings(&login.login, Some(&c), env).map_err(usage)?;
    Ok((c, run))
}

/// Every session's certificates, listed at once; what could not be listed goes to `failures`.
async fn list(
    sessions: &BTreeMap<IpAddr, Session>,
    failures: &mut Vec<String>,
) -> Vec<(IpAddr, Vec<Result<certs::Cert, String>>)> {
    let script = certs::listing_script();
    let tasks: Vec<_> = sessions
        .iter()
        .map(|(&h, s)| {
            let (s, script) = (s.clone(), script.clone());
            (
                h,
                tokio::spawn(async move { s.run(&script, LISTING_TIMEOUT).await }),
            )
        })
        .collect();
    let mut listed = Vec::new();
    for (h, t) in tasks {
        match t.await {
            Ok(Ok(out)) => listed.push((h, certs::parse_listing(&out.stdout_text()))),
            Ok(Err(e)) => failures.push(format!("{h}: {e}")),
            Err(e) => failures.push(format!("{h}: internal error: {e}")),
        }
    }
    listed
}

fn no_certificates(failures: &[String]) -> AppError {
    AppError::Failed(format!(
        "no certificates from {} host(s):\n{}",
        failures.len(),
        failures.join("\n")
    ))
}

async fn check(login: &CertsLogin, env: &Environment) -> Result<(), AppError> {
    let (c, run) = load(login, env)?;
    let hosts = c.hosts();
    if run.dry_run {
        println!(
            "== on {} at once, run:\n{}(dry run: nothing was changed)",
            super::list(&hosts),
            certs::listing_script()
                .lines()
                .map(|l| format!("   | {l}\n"))
                .collect::<String>()
        );
        return Ok(());
    }
    let (sessions, mut failures) = connect(&hosts, &run).await?;
    let listed = list(&sessions, &mut failures).await;
    close_all(sessions).await;
    print!("{}", certs::table(&listed, unix_now()));
    if failures.is_empty() {
        Ok(())
    } else {
        Err(no_certificates(&failures))
    }
}

async fn renew(login: &CertsLogin, env: &Environment) -> Result<(), AppError> {
    let (c, run) = load(login, env)?;
    let stages = certs::renew_stages(&c.masters, &c.version).map_err(usage)?;
    // Renewal's commands and output carry no secret; a kubeadm message might.
    let secrets = Redactor::for_credentials(&c.token, &c.certificate_key);
    if run.dry_run {
        print_dry_run(&stages, &secrets);
        return Ok(());
    }
    let started = Instant::now();
    let (sessions, unreachable) = connect(&c.masters, &run).await?;
    // All masters or none: a control plane renewed in part is what the command is there to avoid.
    if !unreachable.is_empty() {
        close_all(sessions).await;
        return Err(AppError::Failed(format!(
            "{}\nnot every master is reachable; nothing was renewed. Run the same command again once they are.",
            unreachable.join("\n")
        )));
    }
    let progress = Progress::new(false);
    let result = exec::run_stages(&stages, &sessions, 1, &progress).await;
    if let Err(f) = result {
        close_all(sessions).await;
        return Err(failed(
            "certs renew stopped at the first failure (see above); the masters before it are renewed and serving. Fix the cause and run the same command again: renewing twice is harmless.",
            &f,
            &secrets,
        ));
    }
    let mut failures = Vec::new();
    let listed = list(&sessions, &mut failures).await;
    close_all(sessions).await;
    print!("{}", certs::table(&listed, unix_now()));
    eprintln!(
        "seal-install: renewed the certificates of {} ({:.0}s)",
        super::list(&c.masters),
        started.elapsed().as_secs_f64()
    );
    if failures.is_empty() {
        Ok(())
    } else {
        Err(no_certificates(&failures))
    }
}
