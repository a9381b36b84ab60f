//! Rendering: [`KubeadmParams`] (a [`Topology`] with the credentials and optional settings
//! kubeadm is given) into the data templates see, the init and join configurations rendered
//! from them, and the checks a user's init template must pass.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::{
    endpoint, BootstrapToken, CaCertHash, CertificateKey, Cidr, KubeadmApi, KubeadmError, Topology,
    APISERVER_PORT, CERT_VALIDITY,
};
use crate::template::{Template, Value};

/// The JoinConfiguration template (every API version).
pub const JOIN_TEMPLATE: &str = include_str!("../../templates/kubeadm-join.yaml.tmpl");

/// Everything the kubeadm configurations are made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeadmParams {
    /// The cluster's shape (its facts read as this type's own: `params.masters`).
    pub topology: Topology,
    /// The bootstrap token written into InitConfiguration.
    pub token: BootstrapToken,
    /// The certificate key written into InitConfiguration.
    pub certificate_key: CertificateKey,
    /// The hash of the cluster CA's public key that joins pin; known once master0 has its CA
    /// (no join configuration is rendered without it).
    pub ca_cert_hash: Option<CaCertHash>,
    /// `imageRepository`, when not kubeadm's default.
    pub image_repository: Option<String>,
    /// The CRI socket, when not kubeadm's autodetection.
    pub cri_socket: Option<String>,
    /// kubelet's cgroup driver, when set explicitly.
    pub cgroup_driver: Option<String>,
}

embeds!(KubeadmParams => mut topology: Topology);

fn strs(ips: &[IpAddr]) -> Value {
    Value::List(ips.iter().map(|i| Value::Str(i.to_string())).collect())
}

fn opt(s: &Option<String>) -> Value {
    Value::Str(s.clone().unwrap_or_default())
}

impl KubeadmParams {
    /// The kubeadm API of this version.
    pub fn api(&self) -> Result<KubeadmApi, KubeadmError> {
        KubeadmApi::for_version(&self.version)
    }

    /// The data templates see; `joining_master` fills `.Master`.
    pub fn template_data(&self, joining_master: Option<IpAddr>) -> Result<Value, KubeadmError> {
        let api = self.api()?;
        let master0 = *self.masters.first().ok_or(KubeadmError::NoMasters)?;
        let signing_flag = if self.version.minor < 19 {
            "experimental-cluster-signing-duration"
        } else {
            "cluster-signing-duration"
        };
        let sans = Value::from(self.cert_sans.clone());
        let token = Value::from(self.token.as_str());
        let ca = Value::Str(
            self.ca_cert_hash
                .as_ref()
                .map(|h| h.as_str().to_string())
                .unwrap_or_default(),
        );
        let mut m: BTreeMap<String, Value> = BTreeMap::new();
        let mut put = |k: &str, v: Value| {
            m.insert(k.to_string(), v);
        };
        put("Version", Value::Str(self.version.to_string()));
        put("KubeadmApi", api.api_version().into());
        put("Masters", strs(&self.masters));
        put("Nodes", strs(&self.nodes));
        put("Master0", Value::Str(master0.to_string()));
        put(
            "Master0Endpoint",
            Value::Str(endpoint(master0, APISERVER_PORT)),
        );
        put("VIP", Value::Str(self.vip.to_string()));
        put(
            "VIPEndpoint",
            Value::Str(endpoint(self.vip, APISERVER_PORT)),
        );
        put("VIPCIDR", Value::Str(Cidr::host(self.vip).to_string()));
        put("ApiServer", Value::Str(self.apiserver_name.clone()));
        put("PodCIDR", Value::Str(self.pod_cidr.to_string()));
        put("SvcCIDR", Value::Str(self.svc_cidr.to_string()));
        put("CertSANs", sans.clone());
        put("CertSANS", sans);
        put("Token", token.clone());
        put("TokenDiscovery", token);
        put("CertificateKey", self.certificate_key.as_str().into());
        put("CAHash", ca.clone());
        put("TokenDiscoveryCAHash", ca);
        put(
            "Master",
            Value::Str(joining_master.map(|m| m.to_string()).unwrap_or_default()),
        );
        put("Repo", opt(&self.image_repository));
        put("CriSocket", opt(&self.cri_socket));
        put("CgroupDriver", opt(&self.cgroup_driver));
        put("Network", Value::Str(String::new()));
        put("CertValidity", CERT_VALIDITY.into());
        put("ClusterSigningDurationFlag", signing_flag.into());
        Ok(Value::Map(m))
    }

    /// The init configuration from the default template, or from `user` = (name, source).
    ///
    /// A user template's output is checked: it must carry the installer's token and certificate
    /// key (or have no InitConfiguration, then the default one is added), the controlPlaneEndpoint
    /// `ApiServer:6443`, and, with kube-proxy in IPVS mode, the VIP in `excludeCIDRs` (a missing
    /// KubeProxyConfiguration gets the default one).
    pub fn render_init(&self, user: Option<(&str, &str)>) -> Result<String, KubeadmError> {
        let data = self.template_data(None)?;
        let default_src = self.api()?.default_init_template();
        let default = Template::parse("default kubeadm template", default_src)?.render(&data)?;
        let Some((name, src)) = user else {
            // The default must pass the same checks (guards the shipped templates).
            self.check_init("default kubeadm template", &default, &default)?;
            return Ok(default);
        };
        let rendered = Template::parse(name, src)?.render(&data)?;
        self.check_init(name, &rendered, &default)
    }

    /// The JoinConfiguration for a control-plane host.
    pub fn render_join_master(&self, master: IpAddr) -> Result<String, KubeadmError> {
        self.ca_cert_hash.as_ref().ok_or(KubeadmError::NoCaHash)?;
        let data = self.template_data(Some(master))?;
        Ok(Template::parse("join template", JOIN_TEMPLATE)?.render(&data)?)
    }

    /// The JoinConfiguration for a worker node (discovery through the VIP).
    pub fn render_join_node(&self) -> Result<String, KubeadmError> {
        self.ca_cert_hash.as_ref().ok_or(KubeadmError::NoCaHash)?;
        let data = self.template_data(None)?;
        Ok(Template::parse("join template", JOIN_TEMPLATE)?.render(&data)?)
    }

    /// The configuration file (root-only on the host) with which a working master makes this
    /// token and certificate key valid again for a later `join` (the token lives 24 h, uploaded
    /// certificates 2 h): `kubeadm token create --config` and `init phase upload-certs
    /// --config` read them from it, so neither is ever on a command line. The version is given
    /// so kubeadm does not look it up on the internet.
    pub fn refresh_config(&self) -> Result<String, KubeadmError> {
        let api = self.api()?.api_version();
        Ok(format!(
            "apiVersion: {api}\nkind: InitConfiguration\nbootstrapTokens:\n- token: \"{}\"\n  ttl: 24h0m0s\n\
             certificateKey: \"{}\"\n---\napiVersion: {api}\nkind: ClusterConfiguration\n\
             kubernetesVersion: {}\n",
            self.token.as_str(),
            self.certificate_key.as_str(),
            self.version
        ))
    }

    /// Checks a rendered init configuration and adds what the installer can add itself.
    fn check_init(
        &self,
        name: &str,
        rendered: &str,
        default: &str,
    ) -> Result<String, KubeadmError> {
        let docs = split_documents(name, rendered)?;
        let defaults = split_documents("default kubeadm template", default)?;
        let find = |docs: &[Doc], kind: &str| docs.iter().position(|d| d.kind == kind);
        let user_err = |problem: &str, fix: &str| KubeadmError::UserTemplate {
            name: name.to_string(),
            problem: problem.to_string(),
            fix: fix.to_string(),
        };
        let mut prepend = None;
        let mut append = None;
        match find(&docs, "InitConfiguration") {
            None => {
                prepend = find(&defaults, "InitConfiguration").map(|i| defaults[i].text.clone())
            }
            Some(i) => {
                let v = &docs[i].value;
                let tokens: Vec<&str> = v
                    .get("bootstrapTokens")
                    .and_then(|t| t.as_sequence())
                    .map(|s| s.iter().filter_map(|t| t.get("token")?.as_str()).collect())
                    .unwrap_or_default();
                if !tokens.contains(&self.token.as_str()) {
                    return Err(user_err(
                        "its InitConfiguration lacks the installer's bootstrap token",
                        "add `bootstrapTokens: [{token: \"{{.Token}}\"}]` (or delete the InitConfiguration document: seal-install then adds its own)",
                    ));
                }
                if v.get("certificateKey").and_then(|k| k.as_str())
                    != Some(self.certificate_key.as_str())
                {
                    return Err(user_err(
                        "its InitConfiguration lacks the installer's certificate key",
                        "add `certificateKey: \"{{.CertificateKey}}\"` (or delete the InitConfiguration document: seal-install then adds its own)",
                    ));
                }
            }
        }
        let Some(ci) = find(&docs, "ClusterConfiguration") else {
            return Err(user_err(
                "it has no ClusterConfiguration document",
                "start from `seal-install config -t kubeadm` and keep its ClusterConfiguration",
            ));
        };
        let want_endpoint = format!("{}:{APISERVER_PORT}", self.apiserver_name);
        if docs[ci]
            .value
            .get("controlPlaneEndpoint")
            .and_then(|e| e.as_str())
            != Some(want_endpoint.as_str())
        {
            return Err(user_err(
                &format!("its controlPlaneEndpoint is not {want_endpoint} (every host reaches its apiserver through that name)"),
                "set `controlPlaneEndpoint: \"{{.ApiServer}}:6443\"`",
            ));
        }
        match find(&docs, "KubeProxyConfiguration") {
            None => {
                append = find(&defaults, "KubeProxyConfiguration").map(|i| defaults[i].text.clone())
            }
            Some(i) => {
                let v = &docs[i].value;
                let ipvs = v.get("mode").and_then(|m| m.as_str()) == Some("ipvs");
                let want = Cidr::host(self.vip).to_string();
                let excluded = v
                    .get("ipvs")
                    .and_then(|i| i.get("excludeCIDRs"))
                    .and_then(|e| e.as_sequence())
                    .is_some_and(|s| s.iter().any(|c| c.as_str() == Some(want.as_str())));
                if ipvs && !excluded {
                    return Err(user_err(
                        &format!("kube-proxy runs in IPVS mode but does not exclude {want}, so it would delete lvscare's virtual server"),
                        "add `ipvs: {excludeCIDRs: [\"{{.VIPCIDR}}\"]}` to the KubeProxyConfiguration",
                    ));
                }
            }
        }
        let mut out = String::new();
        if let Some(p) = prepend {
            out.push_str(&p);
            out.push_str("---\n");
        }
        out.push_str(rendered);
        if let Some(a) = append {
            if !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str("---\n");
            out.push_str(&a);
        }
        Ok(out)
    }
}

/// One YAML document of a multi-document text.
struct Doc {
    kind: String,
    value: serde_yaml_ng::Value,
    text: String,
}

/// Splits at `---` lines, parsing each document (empty ones dropped).
fn split_documents(name: &str, text: &str) -> Result<Vec<Doc>, KubeadmError> {
    let mut chunks = vec![String::new()];
    for line in text.split_inclusive('\n') {
        if line.trim_end() == "---" {
            chunks.push(String::new());
        } else if let Some(last) = chunks.last_mut() {
            last.push_str(line);
        }
    }
    let mut docs = Vec::new();
    let mut line = 1;
    for chunk in chunks {
        let value: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(&chunk).map_err(|e| KubeadmError::Yaml {
                name: name.to_string(),
                message: match e.location() {
                    // The parser counts lines per document; report them in the whole text.
                    Some(l) => {
                        let msg = e.to_string();
                        let msg = msg
                            .split(" at line ")
                            .next()
                            .unwrap_or_default()
                            .to_string();
                        format!("line {}, column {}: {msg}", line + l.line() - 1, l.column())
                    }
                    None => e.to_string(),
                },
            })?;
        line += chunk.matches('\n').count() + 1;
        if value.is_null() {
            continue;
        }
        let kind = value
            .get("kind")
            .and_then(|k| k.as_str())
            .unwrap_or_default()
            .to_string();
        let mut text = chunk;
        if !text.ends_with('\n') {
            text.push('\n');
        }
        docs.push(Doc { kind, value, text });
    }
    Ok(docs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kubeadm::{DEFAULT_APISERVER_NAME, DEFAULT_POD_CIDR, DEFAULT_SVC_CIDR, DEFAULT_VIP};
    use serde::Deserialize;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    const HASH: &str = "sha256:abababababababababababababababababababababababababababababababab";

    fn params(version: &str) -> KubeadmParams {
        KubeadmParams {
            topology: Topology {
                version: version.parse().expect("version"),
                masters: vec![ip("192.168.0.2"), ip("192.168.0.3"), ip("192.168.0.4")],
                nodes: vec![ip("192.168.0.5")],
                vip: ip(DEFAULT_VIP),
                apiserver_name: DEFAULT_APISERVER_NAME.into(),
                pod_cidr: DEFAULT_POD_CIDR.parse().expect("cidr"),
                svc_cidr: DEFAULT_SVC_CIDR.parse().expect("cidr"),
                cert_sans: vec!["sealyun.com".into(), "10.0.0.9".into()],
            },
            token: "abcdef.0123456789abcdef".parse().expect("token"),
            certificate_key: "0123456789abcdef".repeat(4).parse().expect("key"),
            ca_cert_hash: Some(HASH.parse().expect("hash")),
            image_repository: None,
            cri_socket: None,
            cgroup_driver: None,
        }
    }

    /// Every document, parsed back with serde_yaml_ng's multi-document reader.
    fn docs(yaml: &str) -> Vec<serde_yaml_ng::Value> {
        serde_yaml_ng::Deserializer::from_str(yaml)
            .map(|d| serde_yaml_ng::Value::deserialize(d).expect("valid YAML"))
            .filter(|v| !v.is_null())
            .collect()
    }

    fn kind<'a>(docs: &'a [serde_yaml_ng::Value], k: &str) -> &'a serde_yaml_ng::Value {
        docs.iter()
            .find(|d| d["kind"].as_str() == Some(k))
            .unwrap_or_else(|| panic!("no {k}"))
    }

    fn strings(v: &serde_yaml_ng::Value) -> Vec<String> {
        v.as_sequence()
            .expect("a list")
            .iter()
            .map(|s| s.as_str().expect("a string").to_string())
            .collect()
    }

    #[test]
    fn each_api_renders_valid_yaml_with_the_right_content() {
        for (version, api) in [
            ("v1.20.2", "v1beta2"),
            ("v1.26.3", "v1beta3"),
            ("v1.31.1", "v1beta4"),
        ] {
            let p = params(version);
            let yaml = p.render_init(None).expect("renders");
            let d = docs(&yaml);
            let init = kind(&d, "InitConfiguration");
            let cluster = kind(&d, "ClusterConfiguration");
            let proxy = kind(&d, "KubeProxyConfiguration");
            let want_api = format!("kubeadm.k8s.io/{api}");
            assert_eq!(
                init["apiVersion"].as_str(),
                Some(want_api.as_str()),
                "{yaml}"
            );
            assert_eq!(cluster["apiVersion"].as_str(), Some(want_api.as_str()));
            assert_eq!(
                init["bootstrapTokens"][0]["token"].as_str(),
                Some("abcdef.0123456789abcdef")
            );
            assert_eq!(
                init["certificateKey"].as_str(),
                Some(p.certificate_key.as_str())
            );
            assert_eq!(
                init["localAPIEndpoint"]["advertiseAddress"].as_str(),
                Some("192.168.0.2")
            );
            assert_eq!(cluster["kubernetesVersion"].as_str(), Some(version));
            assert_eq!(
                cluster["controlPlaneEndpoint"].as_str(),
                Some("apiserver.cluster.local:6443")
            );
            assert_eq!(
                cluster["networking"]["podSubnet"].as_str(),
                Some("100.64.0.0/10")
            );
            assert_eq!(
                cluster["networking"]["serviceSubnet"].as_str(),
                Some("10.96.0.0/12")
            );
            assert_eq!(
                strings(&cluster["apiServer"]["certSANs"]),
                [
                    "127.0.0.1",
                    "apiserver.cluster.local",
                    "192.168.0.2",
                    "192.168.0.3",
                    "192.168.0.4",
                    "sealyun.com",
                    "10.0.0.9",
                    "10.103.97.2"
                ]
            );
            assert_eq!(proxy["mode"].as_str(), Some("ipvs"));
            assert_eq!(strings(&proxy["ipvs"]["excludeCIDRs"]), ["10.103.97.2/32"]);
            assert!(cluster.get("imageRepository").is_none());
            assert!(d
                .iter()
                .all(|x| x["kind"].as_str() != Some("KubeletConfiguration")));
            if api == "v1beta4" {
                assert_eq!(
                    cluster["certificateValidityPeriod"].as_str(),
                    Some("867240h")
                );
                assert_eq!(
                    cluster["caCertificateValidityPeriod"].as_str(),
                    Some("867240h")
                );
                let args = &cluster["controllerManager"]["extraArgs"];
                assert_eq!(args[0]["name"].as_str(), Some("cluster-signing-duration"));
                assert_eq!(args[0]["value"].as_str(), Some("867240h"));
            } else {
                assert!(cluster.get("certificateValidityPeriod").is_none());
                assert_eq!(
                    cluster["controllerManager"]["extraArgs"]["cluster-signing-duration"].as_str(),
                    Some("867240h")
                );
            }
        }
    }

    #[test]
    fn old_versions_use_the_experimental_signing_flag_and_options_appear_when_set() {
        let mut p = params("v1.16.4");
        p.image_repository = Some("registry.local/k8s".into());
        p.cri_socket = Some("/run/containerd/containerd.sock".into());
        p.cgroup_driver = Some("systemd".into());
        let d = docs(&p.render_init(None).expect("renders"));
        let cluster = kind(&d, "ClusterConfiguration");
        assert_eq!(
            cluster["controllerManager"]["extraArgs"]["experimental-cluster-signing-duration"]
                .as_str(),
            Some("867240h")
        );
        assert_eq!(
            cluster["imageRepository"].as_str(),
            Some("registry.local/k8s")
        );
        assert_eq!(
            kind(&d, "InitConfiguration")["nodeRegistration"]["criSocket"].as_str(),
            Some("/run/containerd/containerd.sock")
        );
        assert_eq!(
            kind(&d, "KubeletConfiguration")["cgroupDriver"].as_str(),
            Some("systemd")
        );
    }

    #[test]
    fn ipv6_addresses_render_as_valid_yaml() {
        let mut p = params("v1.28.0");
        p.masters = vec![ip("fd00::2"), ip("fd00::3")];
        p.vip = ip("fd00::a");
        p.pod_cidr = "fd10::/56".parse().expect("cidr");
        p.svc_cidr = "fd20::/108".parse().expect("cidr");
        let d = docs(&p.render_init(None).expect("renders"));
        assert_eq!(
            strings(&kind(&d, "KubeProxyConfiguration")["ipvs"]["excludeCIDRs"]),
            ["fd00::a/128"]
        );
        let sans = strings(&kind(&d, "ClusterConfiguration")["apiServer"]["certSANs"]);
        assert!(sans.contains(&"fd00::3".to_string()) && sans.contains(&"fd00::a".to_string()));
        let join = docs(&p.render_join_node().expect("renders"));
        assert_eq!(
            join[0]["discovery"]["bootstrapToken"]["apiServerEndpoint"].as_str(),
            Some("[fd00::a]:6443")
        );
    }

    #[test]
    fn join_configurations() {
        for version in ["v1.20.2", "v1.26.0", "v1.31.0"] {
            let mut p = params(version);
            let api = p.api().expect("api").api_version();
            let node = docs(&p.render_join_node().expect("node"));
            assert_eq!(node.len(), 1);
            let n = &node[0];
            assert_eq!(n["kind"].as_str(), Some("JoinConfiguration"));
            assert_eq!(n["apiVersion"].as_str(), Some(api));
            let bt = &n["discovery"]["bootstrapToken"];
            assert_eq!(bt["apiServerEndpoint"].as_str(), Some("10.103.97.2:6443"));
            assert_eq!(bt["token"].as_str(), Some("abcdef.0123456789abcdef"));
            assert_eq!(strings(&bt["caCertHashes"]), [HASH]);
            assert!(bt.get("unsafeSkipCAVerification").is_none());
            assert!(n.get("controlPlane").is_none());

            let master = docs(&p.render_join_master(ip("192.168.0.3")).expect("master"));
            let m = &master[0];
            assert_eq!(
                m["discovery"]["bootstrapToken"]["apiServerEndpoint"].as_str(),
                Some("192.168.0.2:6443")
            );
            assert_eq!(
                m["controlPlane"]["localAPIEndpoint"]["advertiseAddress"].as_str(),
                Some("192.168.0.3")
            );
            assert_eq!(
                m["controlPlane"]["certificateKey"].as_str(),
                Some(p.certificate_key.as_str())
            );

            let bt = &m["discovery"]["bootstrapToken"];
            assert_eq!(strings(&bt["caCertHashes"]), [HASH]);
            assert!(bt.get("unsafeSkipCAVerification").is_none());

            // Never a join without the pin.
            p.ca_cert_hash = None;
            assert!(matches!(p.render_join_node(), Err(KubeadmError::NoCaHash)));
            assert!(matches!(
                p.render_join_master(ip("192.168.0.3")),
                Err(KubeadmError::NoCaHash)
            ));
        }
    }

    #[test]
    fn the_older_installers_template_still_works() {
        // The shape of the older tool's documented custom template, with its field names.
        let old = r#"apiVersion: kubeadm.k8s.io/v1beta1
kind: ClusterConfiguration
kubernetesVersion: {{.Version}}
controlPlaneEndpoint: "{{.ApiServer}}:6443"
networking:
  podSubnet: {{.PodCIDR}}
apiServer:
        certSANs:
        - sealyun.com
        - 127.0.0.1
        - {{.ApiServer}}
        {{range .Masters -}}
        - {{.}}
        {{end -}}
        {{range .CertSANS -}}
        - {{.}}
        {{end -}}
        - {{.VIP}}
controllerManager:
  extraArgs:
{{- if eq .Network "cilium" }}
    allocate-node-cidrs: "true"
{{- end }}
---
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: "ipvs"
ipvs:
        excludeCIDRs:
        - "{{.VIP}}/32"
"#;
        let p = params("v1.20.2");
        let yaml = p.render_init(Some(("old.tmpl", old))).expect("renders");
        let d = docs(&yaml);
        // No InitConfiguration in the template: the installer's own is added, with its token.
        let init = kind(&d, "InitConfiguration");
        assert_eq!(
            init["bootstrapTokens"][0]["token"].as_str(),
            Some("abcdef.0123456789abcdef")
        );
        let sans = strings(&kind(&d, "ClusterConfiguration")["apiServer"]["certSANs"]);
        assert_eq!(sans[0], "sealyun.com");
        assert!(
            sans.contains(&"192.168.0.4".to_string()) && sans.contains(&"10.0.0.9".to_string())
        );
        assert_eq!(
            d.iter()
                .filter(|x| x["kind"].as_str() == Some("KubeProxyConfiguration"))
                .count(),
            1
        );
    }

    #[test]
    fn user_template_errors_name_the_line() {
        let src = "apiVersion: {{.KubeadmApi}}\nkind: ClusterConfiguration\nkubernetesVersion: {{.Versoin}}\n";
        let err = params("v1.20.2")
            .render_init(Some(("my.tmpl", src)))
            .expect_err("bad field");
        let KubeadmError::Template(t) = &err else {
            panic!("{err}")
        };
        assert_eq!(t.line, 3);
        assert_eq!(t.name, "my.tmpl");
        assert!(
            err.to_string()
                .contains("my.tmpl:3: unknown field .Versoin"),
            "{err}"
        );

        let src = "a: 1\n\n{{range .Masters}}\n- {{.}}\n";
        let err = params("v1.20.2")
            .render_init(Some(("my.tmpl", src)))
            .expect_err("unclosed");
        assert!(err.to_string().contains("my.tmpl:3:"), "{err}");
    }

    #[test]
    fn user_templates_missing_what_the_installer_needs_are_refused() {
        let p = params("v1.20.2");
        let cluster = "apiVersion: kubeadm.k8s.io/v1beta2\nkind: ClusterConfiguration\ncontrolPlaneEndpoint: \"{{.ApiServer}}:6443\"\n";
        let cases = [
            (
                "apiVersion: x\nkind: InitConfiguration\n---\n".to_string() + cluster,
                "bootstrap token",
            ),
            (
                "kind: InitConfiguration\nbootstrapTokens:\n- token: {{.Token}}\n---\n".to_string()
                    + cluster,
                "certificate key",
            ),
            (
                "kind: KubeProxyConfiguration\n".into(),
                "no ClusterConfiguration",
            ),
            (
                cluster.replace("{{.ApiServer}}", "10.0.0.1"),
                "controlPlaneEndpoint",
            ),
            (
                cluster.to_string() + "---\nkind: KubeProxyConfiguration\nmode: ipvs\n",
                "does not exclude 10.103.97.2/32",
            ),
            ("key: [unclosed\n".into(), "invalid YAML"),
        ];
        for (src, msg) in cases {
            let err = p.render_init(Some(("my.tmpl", &src))).expect_err(&src);
            assert!(err.to_string().contains(msg), "{src}\n=> {err}");
        }
        // iptables mode needs no exclusion.
        let ok = cluster.to_string() + "---\nkind: KubeProxyConfiguration\nmode: iptables\n";
        assert!(p.render_init(Some(("my.tmpl", &ok))).is_ok());
    }

    #[test]
    fn yaml_errors_count_lines_across_documents() {
        let p = params("v1.20.2");
        let src = "kind: A\n---\nkind: B\nbad: ]\n";
        let err = p.render_init(Some(("my.tmpl", src))).expect_err("bad yaml");
        assert!(
            err.to_string().contains("invalid YAML: line 4, column 6: "),
            "{err}"
        );
        assert!(!err.to_string().contains("line 2"), "{err}");
    }

    #[test]
    fn refresh_config_carries_the_credentials() {
        let p = params("v1.20.2");
        let d = docs(&p.refresh_config().expect("renders"));
        let init = kind(&d, "InitConfiguration");
        assert_eq!(init["apiVersion"].as_str(), Some("kubeadm.k8s.io/v1beta2"));
        assert_eq!(
            init["bootstrapTokens"][0]["token"].as_str(),
            Some("abcdef.0123456789abcdef")
        );
        assert_eq!(init["bootstrapTokens"][0]["ttl"].as_str(), Some("24h0m0s"));
        assert_eq!(
            init["certificateKey"].as_str(),
            Some(p.certificate_key.as_str())
        );
        assert_eq!(
            kind(&d, "ClusterConfiguration")["kubernetesVersion"].as_str(),
            Some("v1.20.2")
        );
    }
}
