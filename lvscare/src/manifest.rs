//! The lvscare static-pod manifest (`lvscare manifest`), for kubelet's manifests directory.

use crate::config::ManifestConfig;

/// Quotes a string for a YAML double-quoted scalar.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Renders the static pod: host network, privileged (IPVS and links need CAP_NET_ADMIN; loading
/// ip_vs needs the host's modules, mounted read-only), and the same `care` arguments.
pub fn render(cfg: &ManifestConfig) -> String {
    let mut args = String::new();
    for a in cfg.care.to_args() {
        args.push_str("    - ");
        args.push_str(&quote(&a));
        args.push('\n');
    }
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: kube-lvscare
  namespace: kube-system
  labels:
    component: kube-lvscare
    tier: control-plane
spec:
  hostNetwork: true
  priorityClassName: system-node-critical
  containers:
  - name: kube-lvscare
    image: {image}
    imagePullPolicy: IfNotPresent
    command:
    - /usr/bin/lvscare
    args:
{args}    securityContext:
      privileged: true
    resources:
      requests:
        cpu: 10m
        memory: 16Mi
    volumeMounts:
    - name: lib-modules
      mountPath: /lib/modules
      readOnly: true
  volumes:
  - name: lib-modules
    hostPath:
      path: /lib/modules
      type: Directory
"#,
        image = quote(&cfg.image),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Cli;
    use clap::Parser;

    fn manifest(extra: &[&str]) -> String {
        let mut argv = vec![
            "lvscare",
            "manifest",
            "--vs",
            "10.103.97.2:6443",
            "--rs",
            "192.168.0.2:6443",
        ];
        argv.extend_from_slice(extra);
        let cli = Cli::try_parse_from(argv).expect("parse");
        match cli.command {
            crate::config::Command::Manifest(m) => render(&m.validate().expect("valid")),
            _ => panic!("not the manifest command"),
        }
    }

    #[test]
    fn carries_the_care_arguments_and_the_image() {
        let m = manifest(&[
            "--rs",
            "192.168.0.3:6443",
            "--image",
            "registry.local/lvscare:v1",
        ]);
        assert!(m.contains("image: \"registry.local/lvscare:v1\""), "{m}");
        let args: Vec<&str> = m
            .lines()
            .skip_while(|l| l.trim() != "args:")
            .skip(1)
            .take_while(|l| l.trim_start().starts_with("- "))
            .map(|l| l.trim_start().trim_start_matches("- ").trim_matches('"'))
            .collect();
        assert_eq!(
            &args[..5],
            &[
                "care",
                "--vs",
                "10.103.97.2:6443",
                "--rs",
                "192.168.0.2:6443"
            ]
        );
        assert!(
            args.windows(2).any(|w| w == ["--rs", "192.168.0.3:6443"]),
            "{args:?}"
        );
        assert!(m.contains("hostNetwork: true") && m.contains("privileged: true"));
    }

    #[test]
    fn image_defaults_to_this_version() {
        let m = manifest(&[]);
        assert!(
            m.contains(&format!(
                "image: \"lvscare:v{}\"",
                env!("CARGO_PKG_VERSION")
            )),
            "{m}"
        );
    }

    #[test]
    fn quotes_what_yaml_would_misread() {
        assert_eq!(quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(quote("x\ny"), "\"x\\u000ay\"");
    }
}
