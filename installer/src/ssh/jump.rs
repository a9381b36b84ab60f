//! The bastion (jump host) a run reaches its hosts through, written as OpenSSH's `ProxyJump`
//! is: `[USER@]HOST[:PORT]`, an IPv6 address in brackets when a port follows.

use std::fmt;

/// One hop: the hosts' SSH connections are tunnelled through an SSH session to this host
/// (a `direct-tcpip` channel each, as `ssh -J` does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JumpHost {
    /// Login user on the bastion; `None` means the run's own user.
    pub user: Option<String>,
    /// Address or name of the bastion.
    pub host: String,
    /// Its SSH port.
    pub port: u16,
}

/// Why a bastion spec is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JumpHostError {
    /// Nothing, or nothing but a user, was given.
    #[error("no host")]
    NoHost,
    /// The user part is empty or has spaces or control characters.
    #[error("bad user `{0}`")]
    BadUser(String),
    /// The port is not a number from 1 to 65535.
    #[error("bad port `{0}`")]
    BadPort(String),
    /// The host has characters no address or name has, or brackets that do not close.
    #[error("bad host `{0}`")]
    BadHost(String),
}

impl JumpHost {
    /// Parses `[USER@]HOST[:PORT]` (`[V6ADDR]:PORT` for a port after an IPv6 address).
    pub fn parse(spec: &str) -> Result<JumpHost, JumpHostError> {
        let (user, rest) = match spec.rsplit_once('@') {
            Some((u, r)) => {
                if u.is_empty() || u.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return Err(JumpHostError::BadUser(u.to_string()));
                }
                (Some(u.to_string()), r)
            }
            None => (None, spec),
        };
        let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
            let (h, after) = inner
                .split_once(']')
                .ok_or_else(|| JumpHostError::BadHost(rest.to_string()))?;
            match after {
                "" => (h, None),
                p => match p.strip_prefix(':') {
                    Some(p) => (h, Some(p)),
                    None => return Err(JumpHostError::BadHost(rest.to_string())),
                },
            }
        } else if rest.matches(':').count() > 1 {
            // A bare IPv6 address: no port can follow without brackets.
            (rest, None)
        } else {
            match rest.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (rest, None),
            }
        };
        if host.is_empty() {
            return Err(JumpHostError::NoHost);
        }
        let name_ok = host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '%'));
        if !name_ok {
            return Err(JumpHostError::BadHost(host.to_string()));
        }
        let port = match port {
            None => 22,
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 => n,
                _ => return Err(JumpHostError::BadPort(p.to_string())),
            },
        };
        Ok(JumpHost {
            user,
            host: host.to_string(),
            port,
        })
    }
}

impl fmt::Display for JumpHost {
    /// The spec again, in the form `parse` reads (the cluster file keeps it so).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(u) = &self.user {
            write!(f, "{u}@")?;
        }
        match (self.port, self.host.contains(':')) {
            (22, _) => f.write_str(&self.host),
            (p, true) => write!(f, "[{}]:{p}", self.host),
            (p, false) => write!(f, "{}:{p}", self.host),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jump(user: Option<&str>, host: &str, port: u16) -> JumpHost {
        JumpHost {
            user: user.map(String::from),
            host: host.into(),
            port,
        }
    }

    #[test]
    fn the_forms_openssh_takes() {
        assert_eq!(JumpHost::parse("10.0.0.1"), Ok(jump(None, "10.0.0.1", 22)));
        assert_eq!(
            JumpHost::parse("ops@bastion.example:2222"),
            Ok(jump(Some("ops"), "bastion.example", 2222))
        );
        assert_eq!(JumpHost::parse("fd00::1"), Ok(jump(None, "fd00::1", 22)));
        assert_eq!(
            JumpHost::parse("a@[fd00::1]:2200"),
            Ok(jump(Some("a"), "fd00::1", 2200))
        );
        assert_eq!(JumpHost::parse("[fd00::1]"), Ok(jump(None, "fd00::1", 22)));
        // The last @ separates: a user name may itself hold one.
        assert_eq!(
            JumpHost::parse("me@corp@b1"),
            Ok(jump(Some("me@corp"), "b1", 22))
        );
    }

    #[test]
    fn what_is_refused() {
        assert_eq!(JumpHost::parse(""), Err(JumpHostError::NoHost));
        assert_eq!(JumpHost::parse("ops@"), Err(JumpHostError::NoHost));
        assert_eq!(
            JumpHost::parse("@b1"),
            Err(JumpHostError::BadUser(String::new()))
        );
        assert_eq!(
            JumpHost::parse("b1:0"),
            Err(JumpHostError::BadPort("0".into()))
        );
        assert_eq!(
            JumpHost::parse("b1:ssh"),
            Err(JumpHostError::BadPort("ssh".into()))
        );
        assert_eq!(
            JumpHost::parse("[fd00::1"),
            Err(JumpHostError::BadHost("[fd00::1".into()))
        );
        assert_eq!(
            JumpHost::parse("b1;rm"),
            Err(JumpHostError::BadHost("b1;rm".into()))
        );
    }

    #[test]
    fn display_reads_back() {
        for spec in ["10.0.0.1", "ops@b1:2222", "a@[fd00::1]:2200", "fd00::1"] {
            let j = JumpHost::parse(spec).unwrap();
            assert_eq!(j.to_string(), spec);
            assert_eq!(JumpHost::parse(&j.to_string()), Ok(j));
        }
    }
}
