//! Kubernetes versions and the kubeadm configuration API (and default template) each one takes.

use std::fmt;
use std::str::FromStr;

use super::error::KubeadmError;

const INIT_V1BETA2: &str = include_str!("../../templates/kubeadm-init.v1beta2.yaml.tmpl");
const INIT_V1BETA3: &str = include_str!("../../templates/kubeadm-init.v1beta3.yaml.tmpl");
const INIT_V1BETA4: &str = include_str!("../../templates/kubeadm-init.v1beta4.yaml.tmpl");

/// A Kubernetes version, `vMAJOR.MINOR.PATCH` with an optional `-suffix`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KubeVersion {
    /// Major (always 1 for supported versions).
    pub major: u32,
    /// Minor.
    pub minor: u32,
    /// Patch.
    pub patch: u32,
    /// A pre-release suffix such as `rc.1`, without the dash.
    pub pre: Option<String>,
}

impl FromStr for KubeVersion {
    type Err = KubeadmError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || KubeadmError::BadVersion(s.to_string());
        let body = s.strip_prefix('v').unwrap_or(s);
        let (core, pre) = match body.split_once('-') {
            Some((c, p)) => (c, Some(p)),
            None => (body, None),
        };
        if pre.is_some_and(|p| {
            p.is_empty() || !p.chars().all(|c| c.is_ascii_alphanumeric() || c == '.')
        }) {
            return Err(bad());
        }
        let nums: Vec<&str> = core.split('.').collect();
        if nums.len() != 3 {
            return Err(bad());
        }
        let mut n = [0u32; 3];
        for (slot, part) in n.iter_mut().zip(&nums) {
            if part.is_empty() || !part.chars().all(|c| c.is_ascii_digit()) || part.len() > 6 {
                return Err(bad());
            }
            *slot = part.parse().map_err(|_| bad())?;
        }
        Ok(KubeVersion {
            major: n[0],
            minor: n[1],
            patch: n[2],
            pre: pre.map(str::to_string),
        })
    }
}

impl fmt::Display for KubeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}.{}.{}", self.major, self.minor, self.patch)?;
        if let Some(p) = &self.pre {
            write!(f, "-{p}")?;
        }
        Ok(())
    }
}

string_conversions!(KubeVersion, display);

/// The kubeadm configuration API a version takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum KubeadmApi {
    /// Kubernetes 1.15 to 1.22.
    V1beta2,
    /// Kubernetes 1.23 to 1.30.
    V1beta3,
    /// Kubernetes 1.31 and later.
    V1beta4,
}

impl KubeadmApi {
    /// The API for a Kubernetes version (older than 1.15 is unsupported).
    pub fn for_version(v: &KubeVersion) -> Result<KubeadmApi, KubeadmError> {
        match (v.major, v.minor) {
            (1, 15..=22) => Ok(KubeadmApi::V1beta2),
            (1, 23..=30) => Ok(KubeadmApi::V1beta3),
            (1, 31..) => Ok(KubeadmApi::V1beta4),
            _ => Err(KubeadmError::Unsupported(v.to_string())),
        }
    }

    /// The `apiVersion:` value.
    pub fn api_version(self) -> &'static str {
        match self {
            KubeadmApi::V1beta2 => "kubeadm.k8s.io/v1beta2",
            KubeadmApi::V1beta3 => "kubeadm.k8s.io/v1beta3",
            KubeadmApi::V1beta4 => "kubeadm.k8s.io/v1beta4",
        }
    }

    /// The default init template (Init, Cluster and KubeProxy configurations) for this API.
    pub fn default_init_template(self) -> &'static str {
        match self {
            KubeadmApi::V1beta2 => INIT_V1BETA2,
            KubeadmApi::V1beta3 => INIT_V1BETA3,
            KubeadmApi::V1beta4 => INIT_V1BETA4,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_choose_the_api() {
        let cases = [
            ("v1.15.0", KubeadmApi::V1beta2),
            ("v1.20.2", KubeadmApi::V1beta2),
            ("1.22.17", KubeadmApi::V1beta2),
            ("v1.23.0", KubeadmApi::V1beta3),
            ("v1.30.14", KubeadmApi::V1beta3),
            ("v1.31.0", KubeadmApi::V1beta4),
            ("v1.33.1-rc.1", KubeadmApi::V1beta4),
        ];
        for (v, api) in cases {
            let v: KubeVersion = v.parse().expect(v);
            assert_eq!(KubeadmApi::for_version(&v).expect("supported"), api, "{v}");
        }
        let old: KubeVersion = "v1.14.1".parse().expect("parses");
        let err = KubeadmApi::for_version(&old).expect_err("too old");
        assert_eq!(
            err.to_string(),
            "Kubernetes v1.14.1 is not supported: seal-install needs v1.15.0 or later"
        );
        assert!(KubeadmApi::for_version(&"v2.0.0".parse().expect("parses")).is_err());
    }

    #[test]
    fn version_parsing() {
        let v: KubeVersion = "1.20.2".parse().expect("parses");
        assert_eq!(v.to_string(), "v1.20.2");
        assert_eq!(
            "v1.31.0-rc.1"
                .parse::<KubeVersion>()
                .expect("pre")
                .to_string(),
            "v1.31.0-rc.1"
        );
        for bad in [
            "",
            "v",
            "v1.20",
            "v1.20.2.1",
            "1.x.2",
            "v1..2",
            "v1.20.2-",
            "v1.20.2-a b",
            "v-1.2.3",
            "v1.20.+2",
        ] {
            let err = bad.parse::<KubeVersion>().expect_err(bad);
            assert!(
                err.to_string().contains("vMAJOR.MINOR.PATCH"),
                "{bad}: {err}"
            );
        }
    }
}
