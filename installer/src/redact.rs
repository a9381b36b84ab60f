//! Masks a cluster's secrets (the bootstrap token and the certificate key) in text the installer
//! prints: the dry-run plan and failure reports. On hosts the secrets are only ever in root-only
//! files that are removed after use; remote command lines never carry them.

use crate::kubeadm::{BootstrapToken, CertificateKey};

/// The secrets of one cluster, each with what it is shown as.
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Vec<(String, &'static str)>,
}

impl Redactor {
    /// Masks this token (its secret half too, which is the part that matters) and this key.
    pub fn for_credentials(token: &BootstrapToken, key: &CertificateKey) -> Redactor {
        let secret_half = token.as_str()[token.id().len() + 1..].to_string();
        Redactor {
            secrets: vec![
                (token.as_str().to_string(), "<bootstrap token>"),
                (secret_half, "<token secret>"),
                (key.as_str().to_string(), "<certificate key>"),
            ],
        }
    }

    /// `text` with every secret replaced by its stand-in.
    pub fn mask(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (secret, shown) in &self.secrets {
            if !secret.is_empty() {
                out = out.replace(secret.as_str(), shown);
            }
        }
        out
    }
}

// Debug must not print what it hides.
impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_the_token_its_secret_half_and_the_key() {
        let token: BootstrapToken = "abcdef.0123456789abcdef".parse().expect("token");
        let key: CertificateKey = "fe".repeat(32).parse().expect("key");
        let r = Redactor::for_credentials(&token, &key);
        let text = format!(
            "token: \"{}\"\nkey {} and again {}\nsecret alone 0123456789abcdef\n",
            token.as_str(),
            key.as_str(),
            key.as_str()
        );
        let masked = r.mask(&text);
        assert_eq!(
            masked,
            "token: \"<bootstrap token>\"\nkey <certificate key> and again <certificate key>\n\
             secret alone <token secret>\n"
        );
        // The token's public id stays readable (kubeadm token delete takes it).
        assert_eq!(r.mask("abcdef"), "abcdef");
        assert!(!format!("{r:?}").contains("0123456789abcdef"));
        assert_eq!(Redactor::default().mask(&text), text);
    }
}
