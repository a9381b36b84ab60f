//! `certs check`'s pure core: the remote script that prints a host's certificates (never their
//! keys), the parser of what it printed, and the expiry table. The certificates are read here,
//! with the x509 parser, rather than by `kubeadm certs check-expiration` on each host: that also
//! covers nodes (kubelet's certificates) and any kubeadm version.

use std::fmt::Write as _;
use std::net::IpAddr;

/// What precedes each file in the script's output.
const MARK: &str = "==> ";

/// Keeps only the certificate blocks of a PEM file (kubelet's `-current.pem` holds its key too).
const CERTS_ONLY: &str = "sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p'";

/// Prints, for every certificate a control plane or node uses, `==> PATH` and then the
/// certificate: the files under /etc/kubernetes/pki (etcd's included), kubelet's client and
/// serving certificates, and the client certificates embedded in kubeadm's kubeconfig files.
pub fn listing_script() -> String {
    format!(
        r#"for f in $(find /etc/kubernetes/pki -name '*.crt' 2>/dev/null | sort) /var/lib/kubelet/pki/kubelet-client-current.pem /var/lib/kubelet/pki/kubelet.crt; do
  [ -f "$f" ] && {{ echo "{MARK}$f"; {CERTS_ONLY} "$f"; }}
done
for f in /etc/kubernetes/admin.conf /etc/kubernetes/controller-manager.conf /etc/kubernetes/scheduler.conf /etc/kubernetes/kubelet.conf; do
  [ -f "$f" ] || continue
  d=$(sed -n 's/^ *client-certificate-data: *//p' "$f" | head -n1)
  [ -n "$d" ] && {{ echo "{MARK}$f"; echo "$d" | base64 -d | {CERTS_ONLY}; }}
done
true
"#
    )
}

/// One certificate as found on a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cert {
    /// The file (a kubeconfig for embedded client certificates).
    pub path: String,
    /// The subject's common name.
    pub subject: String,
    /// Expiry, seconds since the epoch.
    pub not_after: i64,
    /// Whether it is a CA.
    pub ca: bool,
}

/// The certificates in the script's output; a file whose certificate cannot be parsed is
/// returned as an error line naming it (it is reported, not skipped).
pub fn parse_listing(text: &str) -> Vec<Result<Cert, String>> {
    let mut out = Vec::new();
    let mut sections = text.split(MARK).skip(1);
    for section in &mut sections {
        let (path, pem) = section.split_once('\n').unwrap_or((section, ""));
        let path = path.trim().to_string();
        out.push(parse_one(&path, pem).map_err(|why| format!("{path}: {why}")));
    }
    out
}

fn parse_one(path: &str, pem: &str) -> Result<Cert, String> {
    let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .map_err(|e| format!("no certificate ({e})"))?;
    let cert = block
        .parse_x509()
        .map_err(|e| format!("not an X.509 certificate ({e})"))?;
    let subject = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .unwrap_or("")
        .to_string();
    Ok(Cert {
        path: path.to_string(),
        subject,
        not_after: cert.validity().not_after.timestamp(),
        ca: cert.is_ca(),
    })
}

/// Certificates closer to their end than this are marked.
pub const WARN_DAYS: i64 = 30;

/// The expiry table: one line per host and certificate, sorted, the soonest end marked; `now`
/// in seconds since the epoch. Unreadable files are listed as such.
pub fn table(hosts: &[(IpAddr, Vec<Result<Cert, String>>)], now: i64) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<15} {:<52} {:<28} {:<20} {:>8}",
        "HOST", "CERTIFICATE", "SUBJECT", "EXPIRES (UTC)", "LEFT"
    );
    for (host, certs) in hosts {
        for c in certs {
            match c {
                Ok(c) => {
                    let left = (c.not_after - now).div_euclid(86_400);
                    let mark = if c.not_after <= now {
                        "  EXPIRED"
                    } else if left < WARN_DAYS {
                        "  RENEW SOON"
                    } else {
                        ""
                    };
                    let subject = if c.ca {
                        format!("{} (CA)", c.subject)
                    } else {
                        c.subject.clone()
                    };
                    let _ = writeln!(
                        out,
                        "{:<15} {:<52} {:<28} {:<20} {:>7}d{mark}",
                        host.to_string(),
                        c.path,
                        subject,
                        utc(c.not_after),
                        left
                    );
                }
                Err(e) => {
                    let _ = writeln!(out, "{:<15} unreadable: {e}", host.to_string());
                }
            }
        }
    }
    out
}

/// `YYYY-MM-DD HH:MM` in UTC.
fn utc(t: i64) -> String {
    let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.max(0) as u64);
    let s = crate::cluster::rfc3339(when);
    // rfc3339 gives YYYY-MM-DDTHH:MM:SSZ.
    s.get(..16).map(|p| p.replace('T', " ")).unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CA: &str = include_str!("../kubeadm/testdata/kubeadm-ca.crt");

    #[test]
    fn parses_each_file_and_names_the_unreadable_one() {
        let text = format!(
            "{MARK}/etc/kubernetes/pki/ca.crt\n{CA}{MARK}/etc/kubernetes/pki/broken.crt\n\
             -----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n{MARK}/etc/kubernetes/admin.conf\n{CA}"
        );
        let certs = parse_listing(&text);
        assert_eq!(certs.len(), 3);
        let ca = certs[0].as_ref().expect("ca");
        assert_eq!(ca.path, "/etc/kubernetes/pki/ca.crt");
        assert_eq!(ca.subject, "kubernetes");
        assert!(ca.ca);
        // The patched kubeadm's CA: `openssl x509 -enddate` says Dec  3 01:44:53 2125 GMT.
        assert_eq!(ca.not_after, 4_920_399_893);
        let bad = certs[1].as_ref().expect_err("broken");
        assert!(bad.starts_with("/etc/kubernetes/pki/broken.crt: "), "{bad}");
        assert_eq!(
            certs[2].as_ref().expect("conf").path,
            "/etc/kubernetes/admin.conf"
        );
        assert!(parse_listing("").is_empty());
    }

    #[test]
    fn table_marks_what_ends_soon() {
        let c = |path: &str, not_after: i64| {
            Ok(Cert {
                path: path.into(),
                subject: "kube-apiserver".into(),
                not_after,
                ca: false,
            })
        };
        let now = 1_000_000_000;
        let host: IpAddr = "192.168.0.2".parse().expect("ip");
        let t = table(
            &[(
                host,
                vec![
                    c("/a.crt", now + 400 * 86_400),
                    c("/b.crt", now + 10 * 86_400),
                    c("/c.crt", now - 1),
                    Err("/d.crt: no certificate".into()),
                ],
            )],
            now,
        );
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("HOST"), "{t}");
        assert!(
            lines[1].contains("/a.crt") && lines[1].ends_with(" 400d"),
            "{t}"
        );
        assert!(lines[1].contains("2002-10-14 01:46"), "{t}");
        assert!(lines[2].ends_with("10d  RENEW SOON"), "{t}");
        assert!(lines[3].ends_with("EXPIRED"), "{t}");
        assert_eq!(
            lines[4],
            "192.168.0.2     unreadable: /d.crt: no certificate"
        );
    }

    #[test]
    fn the_script_never_prints_a_key() {
        // Run the filter on a kubelet-style pem: certificate and key in one file.
        let pem =
            format!("{CA}-----BEGIN EC PRIVATE KEY-----\nsecret\n-----END EC PRIVATE KEY-----\n");
        assert_eq!(crate::shell::run_filter(CERTS_ONLY, &pem), CA);
        assert!(listing_script().matches(CERTS_ONLY).count() == 2);
    }
}
