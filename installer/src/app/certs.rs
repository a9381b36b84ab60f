//! `seal-install certs check`: every host of the cluster file lists its certificates
//! (`crate::certs`), all at once; the table is printed from what they sent.

use std::time::Duration;

use super::{auth_methods, close_all, connect_all, unix_now, usage, AppError};
use crate::certs;
use crate::cli::{self, CertsAction, CertsArgs, Environment};
use crate::cluster;
use crate::exec::Progress;

/// Time limit of one host's listing.
const LISTING_TIMEOUT: Duration = Duration::from_secs(60);

pub(super) async fn certs(args: &CertsArgs, env: &Environment) -> Result<(), AppError> {
    let CertsAction::Check(check) = &args.action;
    let path = cli::cluster_file_path(&check.login.common, env).map_err(usage)?;
    let c = cluster::load(&path).map_err(usage)?;
    let run = cli::login_settings(&check.login, &c, env).map_err(usage)?;
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
    let (methods, password) = auth_methods(&run.ssh.auth)?;
    let progress = Progress::new(false);
    let connected = connect_all(&hosts, &run, &methods, password.as_ref(), &progress).await;
    let script = certs::listing_script();
    let mut tasks = Vec::new();
    let mut sessions = std::collections::BTreeMap::new();
    let mut failures = Vec::new();
    for (h, r) in connected {
        match r {
            Ok(s) => {
                let (s2, script) = (s.clone(), script.clone());
                tasks.push((
                    h,
                    tokio::spawn(async move { s2.run(&script, LISTING_TIMEOUT).await }),
                ));
                sessions.insert(h, s);
            }
            Err(e) => failures.push(format!("{h}: {e}")),
        }
    }
    let mut listed = Vec::new();
    for (h, t) in tasks {
        match t.await {
            Ok(Ok(out)) => listed.push((h, certs::parse_listing(&out.stdout_text()))),
            Ok(Err(e)) => failures.push(format!("{h}: {e}")),
            Err(e) => failures.push(format!("{h}: internal error: {e}")),
        }
    }
    close_all(sessions).await;
    print!("{}", certs::table(&listed, unix_now()));
    if failures.is_empty() {
        Ok(())
    } else {
        Err(AppError::Failed(format!(
            "no certificates from {} host(s):\n{}",
            failures.len(),
            failures.join("\n")
        )))
    }
}
