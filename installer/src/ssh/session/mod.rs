//! One russh connection per host: the [`Session`] handle; this module only assembles its parts
//! and re-exports their names.
//!
//! Parts: `handle` (the [`Session`] itself), `handler` (the host key check during the
//! handshake), `connect` (TCP, handshake, retries), `auth` (password, key, agent), `exec`
//! (commands on channels, sudo, deadlines), `transfer` (uploads and atomic writes).

mod auth;
mod connect;
mod exec;
mod handle;
mod handler;
mod transfer;

pub use handle::Session;
pub(crate) use transfer::{sha256_file, sha256_file_async};
