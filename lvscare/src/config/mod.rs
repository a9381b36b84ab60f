//! The command line (clap) and its validation into a typed configuration; this module only
//! assembles its parts and re-exports their names.
//!
//! Flags follow the older Go lvscare where the meaning is the same (`care --vs --rs --scheduler
//! --interval --health-path --health-schem --health-status --health-insecure-skip-verify
//! --run-once -C/--clean -i/--iface`), so existing static-pod manifests keep working.
//! Validation is a pure function from the parsed arguments to [`CareConfig`]; every error names
//! the problem and the fix.

mod cli;
pub mod defaults;
mod duration;
pub(crate) mod endpoint;
mod error;
#[cfg(test)]
pub(crate) mod testing;
mod types;
mod validate;

pub use cli::{BalancerArgs, CareArgs, Cli, Command, LogFormat, ManifestArgs, SchemeArg};
pub use duration::{fmt_duration, parse_duration, DurationError};
pub use error::{AddrProblem, ConfigError};
pub use types::{
    CareConfig, HealthConfig, ManifestConfig, RunMode, TlsVerify, KNOWN_SCHEDULERS, MAX_IFACE_LEN,
};
