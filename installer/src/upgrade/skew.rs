//! Kubernetes' version-skew rules for an upgrade, as kubeadm and the skew policy state them:
//! one minor version at a time, never down, the same major. Nodes' kubelets are never newer
//! than the apiserver because the plan upgrades every master before any node.

use crate::kubeadm::KubeVersion;

/// The oldest version the installer upgrades from or to (its `init` floor).
pub const OLDEST_MINOR: u32 = 15;

/// Why an upgrade from one version to another is not allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SkewError {
    /// Another major version.
    #[error("{from} to {to} changes the major version, which kubeadm cannot upgrade")]
    Major {
        /// The cluster's version.
        from: KubeVersion,
        /// The version asked for.
        to: KubeVersion,
    },
    /// An older version.
    #[error("{to} is older than the cluster's {from}: kubeadm does not downgrade; restore a backup (seal-install backup) to go back")]
    Downgrade {
        /// The cluster's version.
        from: KubeVersion,
        /// The version asked for.
        to: KubeVersion,
    },
    /// More than one minor version ahead.
    #[error("{from} to {to} skips a minor version: kubeadm upgrades one at a time; upgrade to the latest v{major}.{next}.x first")]
    SkipsMinor {
        /// The cluster's version.
        from: KubeVersion,
        /// The version asked for.
        to: KubeVersion,
        /// The major version.
        major: u32,
        /// The minor version to go to first.
        next: u32,
    },
    /// Older than the installer supports.
    #[error("{0} is older than v1.{OLDEST_MINOR}, which seal-install does not upgrade")]
    TooOld(KubeVersion),
}

/// Whether a cluster at `from` may be upgraded to `to`. The same version is allowed: kubeadm
/// re-applies it (the way to roll out a package whose binaries changed, or to resume).
pub fn check(from: &KubeVersion, to: &KubeVersion) -> Result<(), SkewError> {
    let pair = || (from.clone(), to.clone());
    if from.major != to.major {
        let (from, to) = pair();
        return Err(SkewError::Major { from, to });
    }
    if to.minor < OLDEST_MINOR || from.minor < OLDEST_MINOR {
        let old = if from.minor < OLDEST_MINOR { from } else { to };
        return Err(SkewError::TooOld(old.clone()));
    }
    if (to.minor, to.patch) < (from.minor, from.patch) {
        let (from, to) = pair();
        return Err(SkewError::Downgrade { from, to });
    }
    if to.minor > from.minor + 1 {
        let (major, next) = (from.major, from.minor + 1);
        let (from, to) = pair();
        return Err(SkewError::SkipsMinor {
            from,
            to,
            major,
            next,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> KubeVersion {
        s.parse().expect("version")
    }

    #[test]
    fn allowed_steps() {
        for (from, to) in [
            ("v1.20.2", "v1.20.2"),
            ("v1.20.2", "v1.20.15"),
            ("v1.20.2", "v1.21.0"),
            ("v1.20.15", "v1.21.3"),
            ("v1.15.0", "v1.16.0"),
        ] {
            assert_eq!(check(&v(from), &v(to)), Ok(()), "{from} -> {to}");
        }
    }

    #[test]
    fn refused_steps_say_why_and_what_to_do() {
        let e = check(&v("v1.20.2"), &v("v1.22.0")).unwrap_err();
        assert!(matches!(e, SkewError::SkipsMinor { next: 21, .. }), "{e:?}");
        assert!(e.to_string().contains("latest v1.21.x first"), "{e}");
        let e = check(&v("v1.20.5"), &v("v1.20.2")).unwrap_err();
        assert!(matches!(e, SkewError::Downgrade { .. }), "{e:?}");
        assert!(check(&v("v1.21.0"), &v("v1.20.9")).is_err());
        assert!(matches!(
            check(&v("v1.20.0"), &v("v2.0.0")),
            Err(SkewError::Major { .. })
        ));
        assert_eq!(
            check(&v("v1.14.3"), &v("v1.15.0")),
            Err(SkewError::TooOld(v("v1.14.3")))
        );
    }
}
