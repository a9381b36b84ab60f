//! Credentials the installer makes itself: the bootstrap token and the certificate key (drawn
//! from /dev/urandom, kept out of Debug output), and the CA certificate hash.

use std::fmt;
use std::io::Read;
use std::str::FromStr;

use super::KubeadmError;

const TOKEN_ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// `n` characters of `alphabet`, uniformly drawn from `rng` (rejection sampling: no modulo bias).
fn random_chars(rng: &mut impl Read, alphabet: &[u8], n: usize) -> std::io::Result<String> {
    let limit = 256 - 256 % alphabet.len();
    let mut out = String::with_capacity(n);
    while out.len() < n {
        let mut buf = vec![0u8; n - out.len()];
        rng.read_exact(&mut buf)?;
        for b in buf {
            if (b as usize) < limit {
                out.push(alphabet[b as usize % alphabet.len()] as char);
            }
        }
    }
    Ok(out)
}

fn urandom() -> std::io::Result<std::fs::File> {
    std::fs::File::open("/dev/urandom")
}

fn redacted(f: &mut fmt::Formatter<'_>, ty: &str, shown: &str) -> fmt::Result {
    write!(f, "{ty}({shown}…)")
}

/// A kubeadm bootstrap token `[a-z0-9]{6}.[a-z0-9]{16}`; Debug shows only the public id.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BootstrapToken(String);

impl BootstrapToken {
    /// A fresh token from /dev/urandom.
    pub fn generate() -> Result<Self, KubeadmError> {
        Ok(Self::generate_from(&mut urandom()?)?)
    }

    /// A token from the given random source.
    pub fn generate_from(rng: &mut impl Read) -> std::io::Result<Self> {
        let id = random_chars(rng, TOKEN_ALPHABET, 6)?;
        let secret = random_chars(rng, TOKEN_ALPHABET, 16)?;
        Ok(BootstrapToken(format!("{id}.{secret}")))
    }

    /// The public part before the dot (what `kubeadm token delete` takes).
    pub fn id(&self) -> &str {
        &self.0[..6]
    }

    /// The whole token.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for BootstrapToken {
    type Err = KubeadmError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok_part = |p: &str, n: usize| {
            p.len() == n
                && p.bytes()
                    .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
        };
        match s.split_once('.') {
            Some((id, secret)) if ok_part(id, 6) && ok_part(secret, 16) => {
                Ok(BootstrapToken(s.to_string()))
            }
            _ => Err(KubeadmError::BadToken),
        }
    }
}

impl fmt::Debug for BootstrapToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        redacted(f, "BootstrapToken", &format!("{}.", self.id()))
    }
}

string_conversions!(BootstrapToken, inner);

/// The key that encrypts the control-plane certificates kubeadm uploads (64 hex digits).
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CertificateKey(String);

impl CertificateKey {
    /// A fresh key from /dev/urandom.
    pub fn generate() -> Result<Self, KubeadmError> {
        Ok(Self::generate_from(&mut urandom()?)?)
    }

    /// A key from the given random source (32 bytes).
    pub fn generate_from(rng: &mut impl Read) -> std::io::Result<Self> {
        let mut b = [0u8; 32];
        rng.read_exact(&mut b)?;
        Ok(CertificateKey(hex(&b)))
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn is_hex(s: &str, n: usize) -> bool {
    s.len() == n
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl FromStr for CertificateKey {
    type Err = KubeadmError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if is_hex(s, 64) {
            Ok(CertificateKey(s.to_string()))
        } else {
            Err(KubeadmError::BadCertificateKey)
        }
    }
}

impl fmt::Debug for CertificateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        redacted(f, "CertificateKey", "")
    }
}

string_conversions!(CertificateKey, inner);

/// `sha256:<hex>` of the cluster CA's public key, as `kubeadm join` verifies it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CaCertHash(String);

impl CaCertHash {
    /// The hash of a DER SubjectPublicKeyInfo (what kubeadm hashes).
    pub fn of_public_key_der(spki_der: &[u8]) -> CaCertHash {
        use sha2::Digest;
        CaCertHash(format!("sha256:{}", hex(&sha2::Sha256::digest(spki_der))))
    }

    /// The hash of the first certificate in `pem` (the cluster's `/etc/kubernetes/pki/ca.crt`),
    /// over the public key's DER bytes exactly as the certificate carries them, as kubeadm does.
    pub fn of_ca_pem(pem: &str) -> Result<CaCertHash, KubeadmError> {
        let bad = |why: String| KubeadmError::BadCaCert(why);
        let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
            .map_err(|e| bad(format!("no PEM certificate: {e}")))?;
        if block.label != "CERTIFICATE" {
            return Err(bad(format!(
                "a PEM `{}` block, not a CERTIFICATE",
                block.label
            )));
        }
        let cert = block
            .parse_x509()
            .map_err(|e| bad(format!("not an X.509 certificate: {e}")))?;
        Ok(Self::of_public_key_der(cert.public_key().raw))
    }

    /// Stands for the hash in a dry run before master0's CA exists: not a valid hash, so
    /// kubeadm would refuse a configuration that carried it.
    pub fn not_yet_known() -> CaCertHash {
        CaCertHash("sha256:<master0's CA, read after its kubeadm init>".into())
    }

    /// The `sha256:…` text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for CaCertHash {
    type Err = KubeadmError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.strip_prefix("sha256:") {
            Some(h) if is_hex(h, 64) => Ok(CaCertHash(s.to_string())),
            _ => Err(KubeadmError::BadCaHash(s.to_string())),
        }
    }
}

string_conversions!(CaCertHash, inner);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_keys() {
        let mut zeros = std::io::repeat(0);
        let t = BootstrapToken::generate_from(&mut zeros).expect("token");
        assert_eq!(t.as_str(), "000000.0000000000000000");
        // Bytes at or above 252 are rejected rather than folded (no modulo bias).
        let mut src: &[u8] = &[255u8; 64]
            .iter()
            .chain([35u8; 64].iter())
            .copied()
            .collect::<Vec<_>>()[..];
        let t = BootstrapToken::generate_from(&mut src).expect("token");
        assert_eq!(t.as_str(), "zzzzzz.zzzzzzzzzzzzzzzz");
        for _ in 0..50 {
            let t = BootstrapToken::generate().expect("urandom");
            assert_eq!(t.as_str().parse::<BootstrapToken>().expect("valid"), t);
            let k = CertificateKey::generate().expect("urandom");
            assert!(is_hex(k.as_str(), 64));
        }
        assert_ne!(
            BootstrapToken::generate().expect("a"),
            BootstrapToken::generate().expect("b")
        );
        for bad in [
            "abcdef0123456789abcdef",
            "ABCDEF.0123456789abcdef",
            "abcde.0123456789abcdefg",
            "abcdef.0123456789abcde_",
        ] {
            assert!(bad.parse::<BootstrapToken>().is_err(), "{bad}");
        }
        assert!("0123".parse::<CertificateKey>().is_err());
        assert!("g".repeat(64).parse::<CertificateKey>().is_err());
        // Secrets stay out of Debug output.
        let t: BootstrapToken = "abcdef.0123456789abcdef".parse().expect("token");
        let k: CertificateKey = "ab".repeat(32).parse().expect("key");
        let dbg = format!("{t:?} {k:?}");
        assert!(
            !dbg.contains("0123456789abcdef") && !dbg.contains("abab"),
            "{dbg}"
        );
        assert!(dbg.contains("abcdef."));
    }

    #[test]
    fn ca_hash() {
        let h = CaCertHash::of_public_key_der(b"abc");
        assert_eq!(
            h.as_str(),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!("sha256:xyz".parse::<CaCertHash>().is_err());
        assert!(
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
                .parse::<CaCertHash>()
                .is_err()
        );
    }

    #[test]
    fn ca_hash_of_a_kubeadm_ca() {
        // A CA made by the patched kubeadm (`kubeadm init phase certs ca`); the expected hash is
        // openssl's: `openssl x509 -pubkey -noout | openssl pkey -pubin -outform der | sha256sum`.
        let pem = include_str!("testdata/kubeadm-ca.crt");
        let h = CaCertHash::of_ca_pem(pem).expect("parses");
        assert_eq!(
            h.as_str(),
            "sha256:e421b330f24fdc4ebc5ca6fdbcdccb6b70775d05aed3e33cd3e3ac5f9774012e"
        );
        // A bundle (the CA, then another certificate) hashes its first certificate.
        let other = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert_eq!(
            CaCertHash::of_ca_pem(&format!("{pem}{other}")).expect("parses"),
            h
        );
        for bad in ["", "not a certificate", other] {
            let e = CaCertHash::of_ca_pem(bad).expect_err(bad).to_string();
            assert!(e.contains("CA certificate"), "{e}");
        }
        let key = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n";
        assert!(CaCertHash::of_ca_pem(key)
            .expect_err("key")
            .to_string()
            .contains("PUBLIC KEY"));
        assert!(CaCertHash::not_yet_known()
            .as_str()
            .parse::<CaCertHash>()
            .is_err());
    }
}
