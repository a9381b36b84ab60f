//! Command line of `seal-install` (clap) and its pure validation; this module only assembles its
//! parts and re-exports their names.
//!
//! Parsing gives raw strings; [`validate_init`], [`validate_join`], [`validate_clean`] and
//! [`config_template`] turn them into checked values or a [`UsageError`] that names the problem
//! and the fix (the binary exits [`USAGE_EXIT`] on it). The few facts from the machine they need
//! (is there a file, `$HOME`, an SSH agent) come in through [`Environment`].
//!
//! Parts: `args` (the clap definitions), `error` ([`UsageError`]), `settings` (the checked
//! values), `addresses` (host arguments and ranges), `validate` (the checks).

mod addresses;
mod args;
mod error;
mod settings;
#[cfg(test)]
pub(crate) mod testing;
mod validate;

pub use args::{
    AuthArgs, BackupArgs, CertsAction, CertsArgs, CertsLogin, CleanArgs, Cli, ClusterLogin,
    Command, CommonArgs, ConfigArgs, InitArgs, JoinArgs, UpgradeArgs, DEFAULT_LVSCARE_IMAGE,
};
pub use error::{UsageError, USAGE_EXIT};
pub use settings::{
    AuthPlan, Environment, PackageSource, RunSettings, SshSettings, ValidBackup, ValidClean,
    ValidInit, ValidJoin, ValidUpgrade,
};
pub use validate::{
    cluster_file_path, config_template, login_settings, validate_backup, validate_clean,
    validate_init, validate_join, validate_upgrade,
};

pub use crate::ssh::Secret;
