//! A stacked etcd's membership when masters leave: the remote script that reads the member list
//! and each member's health (through the `etcdctl` of the etcd pod's own image, as `backup`
//! does), the parser of what it printed, the quorum decision, and the removal command. Pure:
//! `app` runs the scripts and acts on the decision.
//!
//! A member is removed before its master is reset: a master that is powered off never resets,
//! and its member would count against quorum for ever. The decision refuses a removal after
//! which the healthy members would not be a majority of those left, since etcd (and with it the
//! apiserver) would then stop.

use std::net::IpAddr;

/// Exit status of the status script on a master without an etcd static pod (external etcd):
/// backup's, whose script makes the same check.
pub const NO_ETCD: u32 = crate::backup::NO_ETCD;
/// What separates the member list from the health report in the status script's output.
const HEALTH_MARK: &str = "==> health";

/// `seal_etcdctl ARGS…`: etcdctl in a throw-away container of the etcd pod's image, on the
/// host's network, against the local member with the health-check client certificate.
fn etcdctl_function() -> String {
    format!(
        r#"manifest=/etc/kubernetes/manifests/etcd.yaml
[ -f "$manifest" ] || {{ echo "no etcd static pod on this master ($manifest): the cluster's etcd is not stacked, so its members are left alone" >&2; exit {NO_ETCD}; }}
img=$(<"$manifest" {image_filter})
seal_etcdctl() {{
  ctr -n k8s.io run --rm --net-host \
    --mount type=bind,src=/etc/kubernetes/pki/etcd,dst=/pki,options=rbind:ro \
    "$img" "seal-etcdctl-$$-$RANDOM" /usr/local/bin/etcdctl --endpoints=https://127.0.0.1:2379 \
    --cacert=/pki/ca.crt --cert=/pki/healthcheck-client.crt --key=/pki/healthcheck-client.key \
    --dial-timeout=3s --command-timeout=5s "$@"
}}
"#,
        image_filter = crate::backup::IMAGE_FILTER
    )
}

/// Prints the member list, then [`HEALTH_MARK`], then every member's health (JSON, both).
pub fn status_script() -> String {
    format!(
        "set -u\n{}seal_etcdctl member list -w json || exit 1\necho\necho '{HEALTH_MARK}'\n\
         seal_etcdctl endpoint health --cluster -w json || true\n",
        etcdctl_function()
    )
}

/// Removes the members `ids` (in order), through the local member.
pub fn remove_script(ids: &[u64]) -> String {
    let mut s = format!("set -eu\n{}", etcdctl_function());
    for id in ids {
        s.push_str(&format!("seal_etcdctl member remove {id:x}\n"));
    }
    s
}

/// One etcd member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its ID.
    pub id: u64,
    /// Its name (kubeadm names it after the host).
    pub name: String,
    /// The host of its first peer URL.
    pub host: Option<IpAddr>,
    /// Whether its client URL answered the health check.
    pub healthy: bool,
}

#[derive(serde::Deserialize)]
struct MemberList {
    #[serde(default)]
    members: Vec<RawMember>,
}

#[derive(serde::Deserialize)]
struct RawMember {
    #[serde(rename = "ID")]
    id: u64,
    #[serde(default)]
    name: String,
    #[serde(rename = "peerURLs", default)]
    peer_urls: Vec<String>,
    #[serde(rename = "clientURLs", default)]
    client_urls: Vec<String>,
}

#[derive(serde::Deserialize)]
struct Health {
    endpoint: String,
    health: bool,
}

/// Why the status could not be read or a removal is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EtcdError {
    /// The status script printed something else than expected.
    #[error("cannot read etcd's member list: {0}")]
    Unreadable(String),
    /// After the removal the healthy members would be no majority.
    #[error("removing {leaving} would leave {healthy} healthy of {left} etcd member(s): etcd needs a majority healthy, and would stop. Bring the down member(s) ({down}) back, or remove them first; --force removes anyway")]
    WouldLoseQuorum {
        /// The masters to remove.
        leaving: String,
        /// Healthy members left.
        healthy: usize,
        /// Members left.
        left: usize,
        /// The members left that are down.
        down: String,
    },
    /// Every member would go.
    #[error(
        "removing {0} would remove every etcd member; to remove the whole cluster use clean --all"
    )]
    LastMember(String),
}

/// The host of a URL such as `https://10.0.0.2:2380` or `https://[fd00::2]:2380`.
fn url_host(url: &str) -> Option<IpAddr> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    host.parse().ok()
}

/// The members in the status script's output, each marked healthy when its client URL answered.
pub fn parse_status(text: &str) -> Result<Vec<Member>, EtcdError> {
    let (list, health) = text.split_once(HEALTH_MARK).unwrap_or((text, ""));
    let list: MemberList = serde_json::from_str(list.trim())
        .map_err(|e| EtcdError::Unreadable(format!("member list: {e}")))?;
    // A health report that is missing or unreadable counts every member down: the decision then
    // errs on the side of refusing.
    let health: Vec<Health> = serde_json::from_str(health.trim()).unwrap_or_default();
    Ok(list
        .members
        .into_iter()
        .map(|m| Member {
            id: m.id,
            healthy: m
                .client_urls
                .iter()
                .any(|u| health.iter().any(|h| h.health && &h.endpoint == u)),
            host: m.peer_urls.iter().find_map(|u| url_host(u)),
            name: m.name,
        })
        .collect())
}

/// The members to remove for the masters `leaving` (those already gone are skipped), or why
/// not: never every member, and unless `force`, never so that the healthy members left are no
/// majority of the members left.
pub fn plan_removal(
    members: &[Member],
    leaving: &[IpAddr],
    force: bool,
) -> Result<Vec<Member>, EtcdError> {
    let gone: Vec<Member> = members
        .iter()
        .filter(|m| m.host.is_some_and(|h| leaving.contains(&h)))
        .cloned()
        .collect();
    let left: Vec<&Member> = members.iter().filter(|m| !gone.contains(m)).collect();
    let names = |ms: &[&Member]| {
        ms.iter()
            .map(|m| m.host.map_or(m.name.clone(), |h| h.to_string()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let leaving_names = leaving
        .iter()
        .map(|h| h.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    if gone.is_empty() {
        return Ok(gone);
    }
    if left.is_empty() {
        return Err(EtcdError::LastMember(leaving_names));
    }
    let healthy = left.iter().filter(|m| m.healthy).count();
    if healthy * 2 <= left.len() && !force {
        let down: Vec<&Member> = left.iter().filter(|m| !m.healthy).copied().collect();
        return Err(EtcdError::WouldLoseQuorum {
            leaving: leaving_names,
            healthy,
            left: left.len(),
            down: names(&down),
        });
    }
    Ok(gone)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What etcdctl 3.4 printed for three members on loopback, the one on .4 stopped.
    const STATUS: &str = r#"{"header":{"cluster_id":13619488208858952645,"member_id":2533347876291518694,"raft_term":2},"members":[{"ID":2533347876291518694,"name":"e2","peerURLs":["http://127.0.0.2:2380"],"clientURLs":["http://127.0.0.2:2379"]},{"ID":3514155827117553950,"name":"e4","peerURLs":["http://127.0.0.4:2380"],"clientURLs":["http://127.0.0.4:2379"]},{"ID":14720582674225926189,"name":"e3","peerURLs":["http://127.0.0.3:2380"],"clientURLs":["http://127.0.0.3:2379"]}]}

==> health
[{"endpoint":"http://127.0.0.2:2379","health":true,"took":"7.256898ms"},{"endpoint":"http://127.0.0.3:2379","health":true,"took":"7.389115ms"},{"endpoint":"http://127.0.0.4:2379","health":false,"took":"3.000766979s","error":"context deadline exceeded"}]
"#;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn reads_members_and_their_health() {
        let ms = parse_status(STATUS).expect("status");
        assert_eq!(ms.len(), 3);
        assert_eq!(ms[1].id, 3_514_155_827_117_553_950);
        assert_eq!(ms[1].name, "e4");
        assert_eq!(ms[1].host, Some(ip("127.0.0.4")));
        assert_eq!(
            ms.iter().map(|m| m.healthy).collect::<Vec<_>>(),
            [true, false, true]
        );
        assert!(matches!(
            parse_status("Error: context deadline exceeded"),
            Err(EtcdError::Unreadable(_))
        ));
        // No health report: every member counts as down.
        let (list, _) = STATUS.split_once(HEALTH_MARK).expect("mark");
        assert!(parse_status(list).expect("list").iter().all(|m| !m.healthy));
    }

    #[test]
    fn url_hosts() {
        assert_eq!(url_host("https://10.0.0.2:2380"), Some(ip("10.0.0.2")));
        assert_eq!(url_host("https://[fd00::2]:2380"), Some(ip("fd00::2")));
        assert_eq!(url_host("https://10.0.0.2:2380/x"), Some(ip("10.0.0.2")));
        assert_eq!(url_host("unix://etcd"), None);
    }

    #[test]
    fn removing_the_down_member_keeps_quorum() {
        let ms = parse_status(STATUS).expect("status");
        let gone = plan_removal(&ms, &[ip("127.0.0.4")], false).expect("allowed");
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].name, "e4");
        // Already gone: nothing to remove.
        assert!(plan_removal(&ms, &[ip("127.0.0.9")], false)
            .expect("ok")
            .is_empty());
    }

    #[test]
    fn removing_a_healthy_member_while_another_is_down_is_refused_unless_forced() {
        let ms = parse_status(STATUS).expect("status");
        let err = plan_removal(&ms, &[ip("127.0.0.3")], false).expect_err("refused");
        assert_eq!(
            err,
            EtcdError::WouldLoseQuorum {
                leaving: "127.0.0.3".into(),
                healthy: 1,
                left: 2,
                down: "127.0.0.4".into()
            }
        );
        assert!(err.to_string().contains("--force"), "{err}");
        assert_eq!(
            plan_removal(&ms, &[ip("127.0.0.3")], true)
                .expect("forced")
                .len(),
            1
        );
        let all = [ip("127.0.0.2"), ip("127.0.0.3"), ip("127.0.0.4")];
        assert!(matches!(
            plan_removal(&ms, &all, true),
            Err(EtcdError::LastMember(_))
        ));
    }

    #[test]
    fn the_removal_names_members_in_hex() {
        let s = remove_script(&[3_514_155_827_117_553_950]);
        assert!(
            s.ends_with("seal_etcdctl member remove 30c4ca1b20b5f91e\n"),
            "{s}"
        );
        assert!(s.starts_with("set -eu\n"));
        assert!(status_script().contains(&format!("exit {NO_ETCD}")));
    }
}
