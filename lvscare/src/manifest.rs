//! The lvscare static-pod manifest (`lvscare manifest`), for kubelet's manifests directory.

use crate::config::ManifestConfig;
use crate::config::TlsVerify;
use std::net::{IpAddr, SocketAddr};

mod args;

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

/// kubelet restarts lvscare when `/healthz` says its loop is stuck. The pod shares the host's
/// network, so kubelet reaches the address lvscare listens on; a wildcard one by loopback.
fn liveness_probe(addr: SocketAddr) -> String {
    let host = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => "127.0.0.1".to_string(),
        IpAddr::V6(ip) if ip.is_unspecified() => "::1".to_string(),
        ip => ip.to_string(),
    };
    format!(
        "    livenessProbe:\n      httpGet:\n        host: {}\n        port: {}\n        path: /healthz\n      \
         initialDelaySeconds: 10\n      periodSeconds: 10\n      timeoutSeconds: 5\n      \
         failureThreshold: 3\n",
        quote(&host),
        addr.port()
    )
}

/// Renders the static pod: host network, privileged (IPVS and links need CAP_NET_ADMIN; loading
/// ip_vs needs the host's modules, mounted read-only), and the same `care` arguments. A
/// `--ca-file` is mounted read-only at the same path: the container sees nothing of the host's
/// files otherwise, and lvscare would crash-loop on a missing CA.
pub fn render(cfg: &ManifestConfig) -> String {
    let mut args = String::new();
    for a in cfg.care.to_args() {
        args.push_str("    - ");
        args.push_str(&quote(&a));
        args.push('\n');
    }
    let (mut mounts, mut volumes) = (String::new(), String::new());
    if let TlsVerify::CaFile(ca) = &cfg.care.health.tls {
        let ca = quote(&ca.display().to_string());
        mounts = format!("    - name: ca-file\n      mountPath: {ca}\n      readOnly: true\n");
        volumes = format!("  - name: ca-file\n    hostPath:\n      path: {ca}\n      type: File\n");
    }
    let probe = cfg
        .care
        .metrics_addr
        .map(liveness_probe)
        .unwrap_or_default();
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
{args}{probe}    securityContext:
      privileged: true
    resources:
      requests:
        cpu: 10m
        memory: 16Mi
    volumeMounts:
    - name: lib-modules
      mountPath: /lib/modules
      readOnly: true
{mounts}  volumes:
  - name: lib-modules
    hostPath:
      path: /lib/modules
      type: Directory
{volumes}"#,
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
    fn a_ca_file_is_mounted_at_its_own_path() {
        let m = manifest(&["--ca-file", "/etc/kubernetes/pki/ca.crt"]);
        // The YAML as kubelet reads it: the argument, a read-only mount and a File hostPath.
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&m).expect("YAML");
        let c = &doc["spec"]["containers"][0];
        let args: Vec<&str> = c["args"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert!(
            args.windows(2)
                .any(|w| w == ["--ca-file", "/etc/kubernetes/pki/ca.crt"]),
            "{args:?}"
        );
        let mount = c["volumeMounts"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|v| v["name"] == "ca-file")
            .expect("mount");
        assert_eq!(mount["mountPath"], "/etc/kubernetes/pki/ca.crt");
        assert_eq!(mount["readOnly"], true);
        let vol = doc["spec"]["volumes"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|v| v["name"] == "ca-file")
            .expect("volume");
        assert_eq!(vol["hostPath"]["path"], "/etc/kubernetes/pki/ca.crt");
        assert_eq!(vol["hostPath"]["type"], "File");
        // Without --ca-file there is no such mount.
        let plain: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(&manifest(&["--health-insecure-skip-verify"])).unwrap();
        assert_eq!(plain["spec"]["volumes"].as_sequence().unwrap().len(), 1);
    }

    #[test]
    fn metrics_bring_a_liveness_probe() {
        let m = manifest(&["--metrics-addr", "0.0.0.0:9102"]);
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&m).expect("YAML");
        let probe = &doc["spec"]["containers"][0]["livenessProbe"]["httpGet"];
        assert_eq!(probe["host"], "127.0.0.1", "{m}");
        assert_eq!(probe["port"], 9102);
        assert_eq!(probe["path"], "/healthz");
        let m = manifest(&["--metrics-addr", "[fd00::9]:9102"]);
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&m).expect("YAML");
        assert_eq!(
            doc["spec"]["containers"][0]["livenessProbe"]["httpGet"]["host"],
            "fd00::9"
        );
        // Without metrics, nothing to probe.
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&manifest(&[])).unwrap();
        assert!(doc["spec"]["containers"][0]["livenessProbe"].is_null());
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
