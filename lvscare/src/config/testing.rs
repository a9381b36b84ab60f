//! Command lines parsed and validated end to end, for the tests of every config module.

use std::net::SocketAddr;

use clap::Parser;

use super::cli::{Cli, Command};
use super::error::ConfigError;
use super::types::CareConfig;

/// Parses `lvscare ARGS...`.
pub(crate) fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("lvscare").chain(args.iter().copied()))
}

/// Parses and validates `lvscare care ARGS...`.
pub(crate) fn care(args: &[&str]) -> Result<CareConfig, ConfigError> {
    let mut full = vec!["care"];
    full.extend_from_slice(args);
    match parse(&full)
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
        .command
    {
        Command::Care(c) => c.validate(),
        Command::Manifest(_) => panic!("not care"),
    }
}

/// The smallest valid `care` flags: a VIP and one real server.
pub(crate) const BASE: &[&str] = &["--vs", "10.103.97.2:6443", "--rs", "192.168.0.2:6443"];

/// [`care`] with [`BASE`] and `extra`.
pub(crate) fn care_with(extra: &[&str]) -> Result<CareConfig, ConfigError> {
    let mut args = BASE.to_vec();
    args.extend_from_slice(extra);
    care(&args)
}

/// A socket address literal.
pub(crate) fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}
