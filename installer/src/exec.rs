//! Carries out a plan over SSH sessions: stages in order, steps of a parallel stage at the same
//! time (bounded), each step skipped when its `done_if` check already holds on its host. Also
//! prints a plan for `--dry-run` without touching anything.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use crate::hosts;
use crate::plan::{Action, Stage, Step};
use crate::ssh::{Session, SshError, UploadResult};

/// Time limit of reads and checks.
const CHECK_TIMEOUT: Duration = Duration::from_secs(60);
/// The hosts file the installer edits.
pub const HOSTS_FILE: &str = "/etc/hosts";
/// Attempts at the hosts block when the file keeps changing underneath.
const HOSTS_ATTEMPTS: usize = 3;

/// A step that failed: where, what ran, and what it said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The host.
    pub host: IpAddr,
    /// The step's name.
    pub step: String,
    /// The exact command (or file operation) that failed.
    pub command: String,
    /// The error, with the tail of stderr when the command ran.
    pub error: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{}: step \"{}\" failed", self.host, self.step)?;
        writeln!(f, "  command: {}", one_line(&self.command, 400))?;
        write!(f, "  error:   {}", self.error.trim_end())
    }
}

/// The first `max` characters of `s` on one line.
fn one_line(s: &str, max: usize) -> String {
    let flat: String = s.chars().map(|c| if c == '\n' { ' ' } else { c }).collect();
    if flat.chars().count() > max {
        format!("{}…", flat.chars().take(max).collect::<String>())
    } else {
        flat
    }
}

/// What became of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepOutcome {
    /// Its `done_if` held: nothing ran.
    AlreadyDone,
    /// Its actions ran.
    Done,
}

/// Progress lines on stderr, one per host event; never prints file contents or secrets.
#[derive(Debug, Clone)]
pub struct Progress {
    start: Instant,
    quiet: bool,
}

impl Progress {
    /// Progress printed from now on (`quiet`: print nothing).
    pub fn new(quiet: bool) -> Self {
        Progress {
            start: Instant::now(),
            quiet,
        }
    }

    /// Prints one line, prefixed with the time since the run started.
    pub fn line(&self, text: &str) {
        if !self.quiet {
            eprintln!("[{:6.1}s] {text}", self.start.elapsed().as_secs_f64());
        }
    }

    fn host(&self, host: IpAddr, text: &str) {
        self.line(&format!("{host:<15} {text}"));
    }
}

/// Runs the stages in order on `sessions`; stops after the first stage with a failed step
/// (the other steps of that stage finish first). Returns each step's outcome.
pub async fn run_stages(
    stages: &[Stage],
    sessions: &BTreeMap<IpAddr, Session>,
    parallel: usize,
    progress: &Progress,
) -> Result<Vec<(IpAddr, String, StepOutcome)>, Vec<Failure>> {
    run_more_stages(stages, sessions, parallel, progress, Vec::new()).await
}

/// [`run_stages`] continuing a run whose earlier stages gave `outcomes` (which a stage's
/// `only_if_done` may refer to); returns all of them.
pub async fn run_more_stages(
    stages: &[Stage],
    sessions: &BTreeMap<IpAddr, Session>,
    parallel: usize,
    progress: &Progress,
    mut outcomes: Vec<(IpAddr, String, StepOutcome)>,
) -> Result<Vec<(IpAddr, String, StepOutcome)>, Vec<Failure>> {
    for stage in stages {
        if stage.steps.is_empty() || !condition_holds(stage, &outcomes) {
            continue;
        }
        progress.line(&format!(
            "== {} ({} host(s))",
            stage.name,
            stage.steps.len()
        ));
        let results = if stage.parallel {
            let limit = Arc::new(Semaphore::new(parallel.max(1)));
            let mut tasks = Vec::new();
            for step in &stage.steps {
                let step = step.clone();
                let session = sessions.get(&step.host).cloned();
                let limit = limit.clone();
                let progress = progress.clone();
                tasks.push(tokio::spawn(async move {
                    let _permit = limit.acquire_owned().await;
                    run_step(&step, session.as_ref(), &progress).await
                }));
            }
            let mut results = Vec::new();
            for (task, step) in tasks.into_iter().zip(&stage.steps) {
                results.push(task.await.unwrap_or_else(|e| {
                    Err(Failure {
                        host: step.host,
                        step: step.name.clone(),
                        command: String::new(),
                        error: format!("internal error: {e}"),
                    })
                }));
            }
            results
        } else {
            let mut results = Vec::new();
            for step in &stage.steps {
                let r = run_step(step, sessions.get(&step.host), progress).await;
                let failed = r.is_err();
                results.push(r);
                // One at a time also means: stop at the first failure.
                if failed {
                    break;
                }
            }
            results
        };
        let mut failures = Vec::new();
        for (r, step) in results.into_iter().zip(&stage.steps) {
            match r {
                Ok(o) => outcomes.push((step.host, step.name.clone(), o)),
                Err(f) => failures.push(f),
            }
        }
        if !failures.is_empty() {
            return Err(failures);
        }
    }
    Ok(outcomes)
}

/// Whether `stage` runs after these outcomes: always, or (with `only_if_done`) only when that
/// host's step was skipped as already done.
fn condition_holds(stage: &Stage, outcomes: &[(IpAddr, String, StepOutcome)]) -> bool {
    match &stage.only_if_done {
        None => true,
        Some((host, step)) => outcomes
            .iter()
            .any(|(h, s, o)| h == host && s == step && *o == StepOutcome::AlreadyDone),
    }
}

/// Runs one step on its host.
pub async fn run_step(
    step: &Step,
    session: Option<&Session>,
    progress: &Progress,
) -> Result<StepOutcome, Failure> {
    let fail = |command: &str, error: String| Failure {
        host: step.host,
        step: step.name.clone(),
        command: command.to_string(),
        error,
    };
    let Some(s) = session else {
        return Err(fail("", "no SSH session to this host".into()));
    };
    if let Some(check) = &step.done_if {
        let out = s
            .exec(check, &[], CHECK_TIMEOUT)
            .await
            .map_err(|e| fail(check, e.to_string()))?;
        if out.status == 0 {
            progress.host(step.host, &format!("{}: already done, skipped", step.name));
            return Ok(StepOutcome::AlreadyDone);
        }
    }
    let started = Instant::now();
    progress.host(step.host, &format!("{}: started", step.name));
    for action in &step.actions {
        let t = Instant::now();
        run_action(s, action)
            .await
            .map_err(|(cmd, e)| fail(&cmd, e))?;
        tracing::debug!(host = %step.host, step = %step.name, took = ?t.elapsed(), action = %action_name(action), "action done");
    }
    progress.host(
        step.host,
        &format!(
            "{}: done ({:.1}s)",
            step.name,
            started.elapsed().as_secs_f64()
        ),
    );
    Ok(StepOutcome::Done)
}

/// A short name of an action for logs.
fn action_name(a: &Action) -> String {
    match a {
        Action::Run { cmd, .. } => one_line(cmd, 60),
        Action::Upload { remote, .. } => format!("upload {remote}"),
        Action::WriteFile { remote, .. } => format!("write {remote}"),
        Action::Hosts { .. } => format!("hosts block of {HOSTS_FILE}"),
    }
}

/// Carries out one action; on failure gives the command and the error.
async fn run_action(s: &Session, action: &Action) -> Result<(), (String, String)> {
    match action {
        Action::Run { cmd, timeout } => s
            .run(cmd, *timeout)
            .await
            .map(|_| ())
            .map_err(|e| (cmd.clone(), e.to_string())),
        Action::Upload {
            local,
            remote,
            mode,
        } => {
            let what = format!("upload {} to {remote}", local.display());
            match s.upload(local, remote, *mode).await {
                Ok(UploadResult::Skipped) => {
                    tracing::debug!(host = s.host(), remote, "identical copy present")
                }
                Ok(UploadResult::Uploaded) => {}
                Err(e) => return Err((what, e.to_string())),
            }
            Ok(())
        }
        Action::WriteFile { remote, data, mode } => s
            .write_file(remote, data.as_bytes(), *mode)
            .await
            .map_err(|e| (format!("write {remote}"), e.to_string())),
        Action::Hosts { entries } => set_hosts_block(s, entries).await,
    }
}

/// Reads /etc/hosts, sets the block, writes it back atomically unless it changed meanwhile.
async fn set_hosts_block(
    s: &Session,
    entries: &[(IpAddr, String)],
) -> Result<(), (String, String)> {
    let read = format!("cat {HOSTS_FILE} 2>/dev/null || true");
    let what = format!("edit the seal-install block of {HOSTS_FILE}");
    for _ in 0..HOSTS_ATTEMPTS {
        let old = s
            .run(&read, CHECK_TIMEOUT)
            .await
            .map_err(|e| (read.clone(), e.to_string()))?
            .stdout_text();
        let new = hosts::apply(&old, entries);
        if new == old {
            return Ok(());
        }
        let script = hosts::write_script(HOSTS_FILE, &old, &new);
        match s.run(&script, CHECK_TIMEOUT).await {
            Ok(_) => return Ok(()),
            Err(SshError::Failed { status, .. }) if status == hosts::CHANGED_MEANWHILE as u32 => {
                continue
            }
            Err(e) => return Err((what, e.to_string())),
        }
    }
    Err((
        what,
        format!("{HOSTS_FILE} kept changing while being edited; run again"),
    ))
}

/// The plan as text for `--dry-run`: per stage and host, every check, command and file. A stage
/// that runs only when an earlier step is found already done is left out: a dry run checks
/// nothing on the hosts, so it cannot know.
pub fn describe(stages: &[Stage]) -> String {
    let mut out = String::new();
    for stage in stages {
        if stage.steps.is_empty() || stage.only_if_done.is_some() {
            continue;
        }
        let how = if stage.parallel {
            "hosts in parallel"
        } else {
            "one host at a time"
        };
        let _ = writeln!(out, "== {} ({how})", stage.name);
        for step in &stage.steps {
            let _ = writeln!(out, "-- {}: {}", step.host, step.name);
            if let Some(c) = &step.done_if {
                let _ = writeln!(out, "   skipped when this succeeds: {c}");
            }
            for a in &step.actions {
                match a {
                    Action::Run { cmd, timeout } => {
                        let _ = writeln!(out, "   run ({}s limit): {cmd}", timeout.as_secs());
                    }
                    Action::Upload {
                        local,
                        remote,
                        mode,
                    } => {
                        let _ = writeln!(
                            out,
                            "   upload {} -> {remote} (mode {mode:o}; skipped when identical)",
                            local.display()
                        );
                    }
                    Action::WriteFile { remote, data, mode } => {
                        let _ = writeln!(out, "   write {remote} (mode {mode:o}):");
                        for line in data.lines() {
                            let _ = writeln!(out, "   | {line}");
                        }
                    }
                    Action::Hosts { entries } if entries.is_empty() => {
                        let _ = writeln!(out, "   remove the seal-install block of {HOSTS_FILE}");
                    }
                    Action::Hosts { entries } => {
                        let _ = writeln!(out, "   set the seal-install block of {HOSTS_FILE} to:");
                        for line in hosts::block(entries).lines() {
                            let _ = writeln!(out, "   | {line}");
                        }
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_names_host_step_command_and_error() {
        let f = Failure {
            host: "10.0.0.2".parse().expect("ip"),
            step: "kubeadm init".into(),
            command: "kubeadm init --config /root/kubeadm-config.yaml\n--upload-certs".into(),
            error: "10.0.0.2: `kubeadm init` failed with exit status 1: port 6443 in use\n".into(),
        };
        assert_eq!(
            f.to_string(),
            "10.0.0.2: step \"kubeadm init\" failed\n  command: kubeadm init --config /root/kubeadm-config.yaml --upload-certs\n  error:   10.0.0.2: `kubeadm init` failed with exit status 1: port 6443 in use"
        );
        assert_eq!(one_line(&"x".repeat(10), 4), "xxxx…");
    }

    fn stage(name: &str, only_if_done: Option<(IpAddr, String)>) -> Stage {
        Stage {
            name: name.into(),
            parallel: false,
            steps: vec![Step {
                host: "10.0.0.2".parse().expect("ip"),
                name: "refresh".into(),
                done_if: None,
                actions: vec![Action::Run {
                    cmd: "true".into(),
                    timeout: Duration::from_secs(60),
                }],
            }],
            only_if_done,
        }
    }

    #[test]
    fn a_conditional_stage_runs_only_after_its_step_was_already_done() {
        let m0: IpAddr = "10.0.0.2".parse().expect("ip");
        let other: IpAddr = "10.0.0.3".parse().expect("ip");
        let cond = stage("refresh", Some((m0, "kubeadm init".into())));
        let done = |h, s: &str, o| vec![(h, s.to_string(), o)];
        assert!(condition_holds(&stage("always", None), &[]));
        assert!(!condition_holds(&cond, &[]));
        assert!(condition_holds(
            &cond,
            &done(m0, "kubeadm init", StepOutcome::AlreadyDone)
        ));
        assert!(!condition_holds(
            &cond,
            &done(m0, "kubeadm init", StepOutcome::Done)
        ));
        assert!(!condition_holds(
            &cond,
            &done(other, "kubeadm init", StepOutcome::AlreadyDone)
        ));
        assert!(!condition_holds(
            &cond,
            &done(m0, "distribute package", StepOutcome::AlreadyDone)
        ));
        // A dry run cannot know the condition: it lists only what always runs.
        let text = describe(&[stage("always", None), cond]);
        assert!(
            text.contains("== always") && !text.contains("== refresh"),
            "{text}"
        );
    }

    #[test]
    fn dry_run_lists_every_command_and_file_per_host() {
        let host: IpAddr = "10.0.0.5".parse().expect("ip");
        let stages = vec![Stage {
            only_if_done: None,
            name: "join nodes".into(),
            parallel: true,
            steps: vec![Step {
                host,
                name: "join node".into(),
                done_if: Some("test -f /etc/kubernetes/kubelet.conf".into()),
                actions: vec![
                    Action::Hosts {
                        entries: vec![(
                            "10.103.97.2".parse().expect("vip"),
                            "apiserver.cluster.local".into(),
                        )],
                    },
                    Action::Upload {
                        local: "/usr/bin/lvscare".into(),
                        remote: "/usr/bin/lvscare".into(),
                        mode: 0o755,
                    },
                    Action::WriteFile {
                        remote: "/root/kubeadm-config.yaml".into(),
                        data: "kind: JoinConfiguration\n".into(),
                        mode: 0o600,
                    },
                    Action::Run {
                        cmd: "kubeadm join --config /root/kubeadm-config.yaml".into(),
                        timeout: Duration::from_secs(600),
                    },
                ],
            }],
        }];
        let text = describe(&stages);
        let expected = "== join nodes (hosts in parallel)\n\
-- 10.0.0.5: join node\n   skipped when this succeeds: test -f /etc/kubernetes/kubelet.conf\n   \
set the seal-install block of /etc/hosts to:\n   | # BEGIN seal-install managed block\n   | 10.103.97.2 apiserver.cluster.local\n   | # END seal-install managed block\n   \
upload /usr/bin/lvscare -> /usr/bin/lvscare (mode 755; skipped when identical)\n   \
write /root/kubeadm-config.yaml (mode 600):\n   | kind: JoinConfiguration\n   \
run (600s limit): kubeadm join --config /root/kubeadm-config.yaml\n";
        assert_eq!(text, expected);
    }
}
