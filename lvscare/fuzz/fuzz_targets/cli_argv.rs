//! Fuzzes the whole command line: an argv (arguments separated by NUL bytes, any bytes in them)
//! parsed and validated; a valid `care` configuration reads back the same from the arguments the
//! manifest would give it, and a valid manifest renders.
#![no_main]

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::sync::OnceLock;

use clap::{CommandFactory, FromArgMatches};
use libfuzzer_sys::fuzz_target;
use lvscare::config::{CareConfig, Cli, Command};
use lvscare::manifest;

/// `Cli::try_parse_from`, with clap's command built (and, with debug assertions, checked) once
/// instead of on every input, which made this target a hundred times slower.
fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Cli, clap::Error> {
    static COMMAND: OnceLock<clap::Command> = OnceLock::new();
    let command = COMMAND.get_or_init(|| {
        let mut c = Cli::command();
        c.build();
        c
    });
    let argv = std::iter::once(OsString::from("lvscare")).chain(args);
    Cli::from_arg_matches_mut(&mut command.clone().try_get_matches_from(argv)?)
}

/// Parses and validates `lvscare ARGS...` as a `care` command line.
fn care(args: impl IntoIterator<Item = OsString>) -> Option<CareConfig> {
    let cli = parse(args).ok()?;
    match cli.command {
        Command::Care(c) => c.validate().ok(),
        Command::Manifest(_) => None,
    }
}

/// The configuration must survive the trip through the manifest's arguments.
fn round_trip(cfg: &CareConfig) {
    let args = cfg.to_args();
    let again = care(args.iter().map(OsString::from));
    assert_eq!(again.as_ref(), Some(cfg), "{args:?}");
}

fuzz_target!(|data: &[u8]| {
    let args = data
        .split(|b| *b == 0)
        .map(|a| OsString::from_vec(a.to_vec()));
    let cli = match parse(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.render();
            return;
        }
    };
    match cli.command {
        Command::Care(c) => {
            if let Ok(cfg) = c.validate() {
                round_trip(&cfg);
            }
        }
        Command::Manifest(m) => {
            if let Ok(cfg) = m.validate() {
                round_trip(&cfg.care);
                let _ = manifest::render(&cfg);
            }
        }
    }
});
