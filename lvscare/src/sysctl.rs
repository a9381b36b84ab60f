//! Kernel parameters under /proc/sys, written only when they differ from the wanted value.
//!
//! Keys use sysctl(8) notation: dots separate path components and a slash stands for a dot inside
//! one component (`net.ipv4.conf.eth0/100.rp_filter` is /proc/sys/net/ipv4/conf/eth0.100/rp_filter).
//! Files under /proc/sys/net belong to the network namespace of the calling thread.

use std::io;
use std::path::PathBuf;

/// Errors reading or writing a kernel parameter.
#[derive(Debug, thiserror::Error)]
pub enum SysctlError {
    /// The key is not a well-formed sysctl name.
    #[error("invalid sysctl key {key:?}: {reason}")]
    InvalidKey {
        /// The rejected key.
        key: String,
        /// Why it is rejected.
        reason: &'static str,
    },
    /// The parameter does not exist in this kernel (or this network namespace).
    #[error("sysctl {key} does not exist ({path}): {hint}")]
    Missing {
        /// The key.
        key: String,
        /// The file that was looked for.
        path: String,
        /// How to make it exist.
        hint: &'static str,
    },
    /// Reading the current value failed.
    #[error("cannot read sysctl {key} ({path}): {source}")]
    Read {
        /// The key.
        key: String,
        /// The file.
        path: String,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// Writing the new value failed.
    #[error("cannot set sysctl {key}={value} ({path}): {source}; {hint}")]
    Write {
        /// The key.
        key: String,
        /// The value that was to be written.
        value: String,
        /// The file.
        path: String,
        /// The error.
        #[source]
        source: io::Error,
        /// How to make the write possible.
        hint: &'static str,
    },
}

/// The /proc/sys file of `key`, checked so that it cannot leave /proc/sys.
pub fn path_for(key: &str) -> Result<PathBuf, SysctlError> {
    let invalid = |reason| SysctlError::InvalidKey {
        key: key.to_string(),
        reason,
    };
    if key.is_empty() {
        return Err(invalid("empty"));
    }
    let mut path = PathBuf::from("/proc/sys");
    for part in key.split('.') {
        // sysctl(8): a slash in a key stands for a dot inside a path component.
        let component = part.replace('/', ".");
        if component.is_empty() {
            return Err(invalid("empty component"));
        }
        if component == "." || component == ".." {
            return Err(invalid("'.' or '..' component"));
        }
        if component
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '\0')
        {
            return Err(invalid("whitespace or control character"));
        }
        path.push(component);
    }
    Ok(path)
}

/// Compares sysctl values the way a reader means them: surrounding whitespace ignored and runs
/// of blanks inside (multi-value files use tabs) taken as one separator.
pub fn same_value(current: &str, wanted: &str) -> bool {
    current.split_whitespace().eq(wanted.split_whitespace())
}

/// How to make a missing key exist.
fn missing_hint(key: &str) -> &'static str {
    if key.starts_with("net.ipv4.vs.") {
        "the IPVS module is not loaded: run `modprobe ip_vs` (a static pod needs /lib/modules mounted to load it)"
    } else {
        "the kernel feature providing it is not built in or its module is not loaded"
    }
}

/// How to make a refused write possible.
fn write_hint(err: &io::Error) -> &'static str {
    match err.raw_os_error() {
        Some(libc::EROFS) => {
            "/proc/sys is mounted read-only: run lvscare privileged (in a container) or set it on the host"
        }
        Some(libc::EPERM) | Some(libc::EACCES) => "run lvscare as root (CAP_SYS_ADMIN in the owning namespace)",
        Some(libc::EINVAL) => "the kernel rejected the value",
        _ => "check the kernel log",
    }
}

/// Sets `key` to `value` unless it already has that value; `Ok(true)` when it wrote.
pub fn ensure(key: &str, value: &str) -> Result<bool, SysctlError> {
    let path = path_for(key)?;
    let shown = path.display().to_string();
    let current = match std::fs::read_to_string(&path) {
        Ok(v) => v,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(SysctlError::Missing {
                key: key.to_string(),
                path: shown,
                hint: missing_hint(key),
            })
        }
        Err(source) => {
            return Err(SysctlError::Read {
                key: key.to_string(),
                path: shown,
                source,
            })
        }
    };
    if same_value(&current, value) {
        return Ok(false);
    }
    std::fs::write(&path, value.trim()).map_err(|source| SysctlError::Write {
        key: key.to_string(),
        value: value.to_string(),
        path: shown,
        hint: write_hint(&source),
        source,
    })?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_to_proc_sys_paths() {
        assert_eq!(
            path_for("net.ipv4.vs.expire_nodest_conn").unwrap(),
            PathBuf::from("/proc/sys/net/ipv4/vs/expire_nodest_conn")
        );
        assert_eq!(
            path_for("net.ipv4.conf.eth0/100.rp_filter").unwrap(),
            PathBuf::from("/proc/sys/net/ipv4/conf/eth0.100/rp_filter")
        );
    }

    #[test]
    fn keys_that_could_escape_or_are_malformed_are_rejected() {
        for bad in [
            "",
            "net..ipv4",
            "net.ipv4.",
            ".net",
            "net./.x",
            "net.//.x",
            "net.a b",
            "net.\n",
        ] {
            assert!(
                matches!(path_for(bad), Err(SysctlError::InvalidKey { .. })),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn values_compare_ignoring_whitespace_layout() {
        assert!(same_value("1\n", "1"));
        assert!(same_value("32768\t60999\n", " 32768 60999 "));
        assert!(!same_value("0\n", "1"));
        assert!(!same_value("1 2\n", "1"));
    }

    #[test]
    fn missing_ipvs_key_says_how_to_load_ipvs() {
        match ensure("net.ipv4.vs.lvscare_test_no_such_key", "1") {
            Err(e @ SysctlError::Missing { .. }) => {
                let text = e.to_string();
                assert!(
                    text.contains("net.ipv4.vs.lvscare_test_no_such_key")
                        && text.contains("modprobe ip_vs"),
                    "{text}"
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
