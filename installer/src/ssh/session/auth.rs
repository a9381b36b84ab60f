//! Authentication on a fresh connection: password (with keyboard-interactive for PAM-only
//! servers), a private key, or the keys of an ssh-agent.

use std::path::Path;
use std::sync::Arc;

use russh::client::{self, AuthResult, KeyboardInteractiveAuthResponse};
use russh::keys::agent::client::AgentClient;
use russh::keys::agent::AgentIdentity;
use russh::keys::ssh_key::HashAlg;
use russh::keys::{Algorithm, PrivateKeyWithHashAlg};
use russh::MethodKind;

use super::handler::Client;
use crate::ssh::{Auth, Secret, SshConfig, SshError};

/// What `Auth` needs at hand, loaded before connecting.
pub(super) enum Credentials {
    Password(Secret),
    Key(Arc<russh::keys::PrivateKey>),
    Agent(AgentClient<tokio::net::UnixStream>),
}

impl Credentials {
    pub(super) async fn load(auth: &Auth) -> Result<Credentials, SshError> {
        match auth {
            Auth::Password(password) => Ok(Credentials::Password(password.clone())),
            Auth::Key { path, passphrase } => {
                let path_ = path.clone();
                let phrase = passphrase.clone();
                // Decrypting a key runs bcrypt rounds: keep it off the async workers.
                let loaded = tokio::task::spawn_blocking(move || {
                    russh::keys::load_secret_key(&path_, phrase.as_ref().map(|p| p.expose()))
                })
                .await
                .map_err(|e| SshError::Key {
                    path: path.clone(),
                    detail: e.to_string(),
                })?;
                let key = loaded.map_err(|e| key_error(path, passphrase.is_some(), e))?;
                Ok(Credentials::Key(Arc::new(key)))
            }
            Auth::Agent { socket } => {
                let agent = match socket {
                    Some(path) => AgentClient::connect_uds(path).await,
                    None => AgentClient::connect_env().await,
                }
                .map_err(|e| SshError::Agent {
                    detail: format!("cannot connect: {e}"),
                })?;
                Ok(Credentials::Agent(agent))
            }
        }
    }
}

pub(super) async fn authenticate(
    handle: &mut client::Handle<Client>,
    shown: &str,
    cfg: &SshConfig,
    credentials: &mut Credentials,
) -> Result<(), SshError> {
    let user = cfg.user.as_str();
    let rejected = || SshError::Auth {
        host: shown.to_string(),
        user: user.to_string(),
        method: cfg.auth.method(),
    };
    let broken = |e: russh::Error| SshError::Disconnected {
        host: shown.to_string(),
        detail: format!("during authentication: {e}"),
    };
    match credentials {
        Credentials::Password(password) => {
            let result = handle
                .authenticate_password(user, password.expose())
                .await
                .map_err(broken)?;
            match result {
                AuthResult::Success => Ok(()),
                AuthResult::Failure {
                    remaining_methods, ..
                } if remaining_methods.contains(&MethodKind::KeyboardInteractive)
                    && !remaining_methods.contains(&MethodKind::Password) =>
                {
                    // Servers with `PasswordAuthentication no` still take passwords through PAM.
                    keyboard_interactive(handle, user, password)
                        .await
                        .map_err(broken)?
                        .then_some(())
                        .ok_or_else(rejected)
                }
                AuthResult::Failure { .. } => Err(rejected()),
            }
        }
        Credentials::Key(key) => {
            let hash = rsa_hash(handle, key.algorithm()).await.map_err(broken)?;
            let result = handle
                .authenticate_publickey(user, PrivateKeyWithHashAlg::new(key.clone(), hash))
                .await
                .map_err(broken)?;
            result.success().then_some(()).ok_or_else(rejected)
        }
        Credentials::Agent(agent) => {
            let agent_error = |detail: String| SshError::Agent { detail };
            if let Some(binding) = handle.agent_session_binding() {
                // Lets agents use destination-constrained keys; older agents refuse, harmlessly.
                let _ = agent.bind_session(binding, false).await;
            }
            let identities = agent
                .request_identities()
                .await
                .map_err(|e| agent_error(format!("cannot list keys: {e}")))?;
            if identities.is_empty() {
                return Err(agent_error("the agent holds no keys".into()));
            }
            for identity in identities {
                let AgentIdentity::PublicKey { key, .. } = identity else {
                    continue;
                };
                let hash = rsa_hash(handle, key.algorithm()).await.map_err(broken)?;
                match handle
                    .authenticate_publickey_with(user, key, hash, agent)
                    .await
                {
                    Ok(AuthResult::Success) => return Ok(()),
                    Ok(AuthResult::Failure { .. }) => {}
                    Err(e) => return Err(agent_error(format!("signing failed: {e}"))),
                }
            }
            Err(rejected())
        }
    }
}

/// The signature hash to use with a key of `algorithm`: the server's best for RSA keys (None
/// when it names none), None for every other type.
async fn rsa_hash(
    handle: &client::Handle<Client>,
    algorithm: Algorithm,
) -> Result<Option<HashAlg>, russh::Error> {
    if !algorithm.is_rsa() {
        return Ok(None);
    }
    Ok(handle.best_supported_rsa_hash().await?.flatten())
}

/// Answers every keyboard-interactive prompt with the password; true on success.
async fn keyboard_interactive(
    handle: &mut client::Handle<Client>,
    user: &str,
    password: &Secret,
) -> Result<bool, russh::Error> {
    let mut response = handle
        .authenticate_keyboard_interactive_start(user, None::<String>)
        .await?;
    // A few rounds at most: PAM may send an empty info request before the password prompt.
    for _ in 0..4 {
        match response {
            KeyboardInteractiveAuthResponse::Success => return Ok(true),
            KeyboardInteractiveAuthResponse::Failure { .. } => return Ok(false),
            KeyboardInteractiveAuthResponse::InfoRequest { prompts, .. } => {
                let answers = prompts
                    .iter()
                    .map(|_| password.expose().to_string())
                    .collect();
                response = handle
                    .authenticate_keyboard_interactive_respond(answers)
                    .await?;
            }
        }
    }
    Ok(false)
}

fn key_error(path: &Path, had_passphrase: bool, e: russh::keys::Error) -> SshError {
    use russh::keys::Error as K;
    let detail = match e {
        K::KeyIsEncrypted => "the key is encrypted: give its passphrase".to_string(),
        K::IO(io) => format!("cannot read it: {io}"),
        other if had_passphrase => format!("cannot decrypt it (wrong passphrase?): {other}"),
        other => format!("cannot parse it (OpenSSH or PEM private key expected): {other}"),
    };
    SshError::Key {
        path: path.to_path_buf(),
        detail,
    }
}
