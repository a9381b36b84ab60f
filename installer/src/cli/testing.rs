//! Command lines parsed as the binary would, and a test environment, for the tests of every
//! cli module.

use std::fmt;
use std::path::{Path, PathBuf};

use clap::CommandFactory;

use super::{
    validate_init, AuthPlan, BackupArgs, CleanArgs, Cli, Command, Environment, InitArgs, JoinArgs,
    UpgradeArgs, UsageError,
};
use crate::cluster::Cluster;

pub(crate) fn env_with(files: &[&str]) -> Environment {
    let files: Vec<PathBuf> = files.iter().map(PathBuf::from).collect();
    Environment {
        home: Some(PathBuf::from("/home/op")),
        ssh_agent: false,
        is_file: Box::new(move |p: &Path| files.iter().any(|f| f == p)),
    }
}

/// The key choice with its passphrase exposed, for comparisons.
pub(crate) fn key_of(a: &AuthPlan) -> Option<(PathBuf, Option<String>)> {
    a.key
        .as_ref()
        .map(|(p, s)| (p.clone(), s.as_ref().map(|s| s.expose().to_string())))
}

/// The error of a refused validation.
pub(crate) fn refused<T: fmt::Debug>(r: Result<T, UsageError>) -> UsageError {
    r.expect_err("should be refused")
}

pub(crate) fn env() -> Environment {
    env_with(&["/root/kube1.20.2.tar.gz", "/keys/id", "/t/kubeadm.tmpl"])
}

/// Parses as the binary would, but blind to SEAL_PASSWD / SEAL_PK_PASSWD in the test's own
/// environment (a developer may have them exported).
pub(crate) fn parse(args: &[&str]) -> Command {
    use clap::FromArgMatches;
    let mut v = vec!["seal-install"];
    v.extend_from_slice(args);
    let mut cmd = Cli::command();
    let blind = |s: clap::Command| {
        s.mut_arg("passwd", |a| a.env(None))
            .mut_arg("pk_passwd", |a| a.env(None))
    };
    for sub in ["init", "join", "clean", "backup", "upgrade"] {
        cmd = cmd.mut_subcommand(sub, blind);
    }
    cmd = cmd.mut_subcommand("certs", |c| c.mut_subcommand("check", blind));
    let parsed = cmd
        .try_get_matches_from(&v)
        .and_then(|m| Cli::from_arg_matches(&m));
    match parsed {
        Ok(c) => c.command,
        Err(e) => panic!("{args:?}: {e}"),
    }
}

/// `init` with three hosts, v1.20.2 and a package, plus `extra` (which may replace
/// `--version` or `--pkg-url`).
pub(crate) fn init(extra: &[&str]) -> InitArgs {
    let mut v = vec![
        "init",
        "--master",
        "192.168.0.2",
        "--master",
        "192.168.0.3",
        "--node",
        "192.168.0.5",
    ];
    for (flag, value) in [
        ("--version", "v1.20.2"),
        ("--pkg-url", "/root/kube1.20.2.tar.gz"),
    ] {
        if !extra.contains(&flag) {
            v.extend([flag, value]);
        }
    }
    v.extend_from_slice(extra);
    match parse(&v) {
        Command::Init(a) => a,
        other => panic!("{other:?}"),
    }
}

pub(crate) fn init_err(extra: &[&str]) -> UsageError {
    validate_init(&init(extra), &env()).expect_err("should be refused")
}

pub(crate) fn cluster() -> Cluster {
    crate::cluster::tests::sample()
}

pub(crate) fn join(args: &[&str]) -> JoinArgs {
    let mut v = vec!["join"];
    v.extend_from_slice(args);
    match parse(&v) {
        Command::Join(a) => a,
        other => panic!("{other:?}"),
    }
}

pub(crate) fn clean(args: &[&str]) -> CleanArgs {
    let mut v = vec!["clean"];
    v.extend_from_slice(args);
    match parse(&v) {
        Command::Clean(a) => a,
        other => panic!("{other:?}"),
    }
}

pub(crate) fn upgrade(args: &[&str]) -> UpgradeArgs {
    let mut v = vec!["upgrade"];
    v.extend_from_slice(args);
    match parse(&v) {
        Command::Upgrade(a) => a,
        other => panic!("{other:?}"),
    }
}

pub(crate) fn backup(args: &[&str]) -> BackupArgs {
    let mut v = vec!["backup"];
    v.extend_from_slice(args);
    match parse(&v) {
        Command::Backup(a) => a,
        other => panic!("{other:?}"),
    }
}
