//! Decoding what the cluster says its apiservers are — the `default/kubernetes` EndpointSlice
//! (discovery.k8s.io v1 or v1beta1, the latter being what v1.20 serves) or, on older clusters,
//! the Endpoints object — and deciding whether an update is plausible enough to follow.
//!
//! A balancer that trusted every update would empty its own service on the first bad one, and
//! with it the node's only way to the apiserver that could correct it. So an update is refused
//! (with the reason, for one log line) unless it names at least one ready address of the
//! virtual server's family on the masters' port.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};

use serde::Deserialize;

/// Most masters an update may name: more is not a control plane but a mistake (or an attack),
/// and bounds what one update can make lvscare allocate.
pub const MAX_MASTERS: usize = 64;

/// What a plausible update must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expect {
    /// The masters' port (the `--rs` seed's).
    pub port: u16,
    /// The virtual server's family.
    pub ipv4: bool,
}

/// Why an update is not followed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Implausible {
    /// Not JSON of the expected kind.
    #[error("not a readable {kind}: {detail}")]
    Malformed {
        /// EndpointSlice, Endpoints or watch event.
        kind: &'static str,
        /// The decoder's message.
        detail: String,
    },
    /// No ready address at all.
    #[error("no ready apiserver address")]
    Empty,
    /// The slice serves another port than the masters'.
    #[error("port {found} where the masters serve on {want}")]
    WrongPort {
        /// The update's port.
        found: u16,
        /// The masters' port.
        want: u16,
    },
    /// Addresses of the other family.
    #[error("{found} addresses for an {want} virtual server")]
    OtherFamily {
        /// The update's family.
        found: &'static str,
        /// The virtual server's.
        want: &'static str,
    },
    /// Too many addresses.
    #[error("{count} addresses (at most {MAX_MASTERS} are taken)")]
    TooMany {
        /// How many were named.
        count: usize,
    },
    /// The object was deleted (the last list stays: a deleted slice is not "no masters").
    #[error("the object was deleted")]
    Deleted,
}

fn family(ipv4: bool) -> &'static str {
    if ipv4 {
        "IPv4"
    } else {
        "IPv6"
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EndpointSlice {
    #[serde(default)]
    address_type: String,
    #[serde(default)]
    endpoints: Option<Vec<SliceEndpoint>>,
    #[serde(default)]
    ports: Option<Vec<Port>>,
}

#[derive(Deserialize)]
struct SliceEndpoint {
    #[serde(default)]
    addresses: Vec<String>,
    #[serde(default)]
    conditions: Conditions,
}

#[derive(Deserialize, Default)]
struct Conditions {
    /// Absent means ready ("should be interpreted as ready", the API says).
    ready: Option<bool>,
}

#[derive(Deserialize)]
struct Port {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    port: Option<u16>,
}

#[derive(Deserialize)]
struct Endpoints {
    #[serde(default)]
    subsets: Option<Vec<Subset>>,
}

#[derive(Deserialize)]
struct Subset {
    #[serde(default)]
    addresses: Option<Vec<EndpointAddress>>,
    #[serde(default)]
    ports: Option<Vec<Port>>,
}

#[derive(Deserialize)]
struct EndpointAddress {
    ip: String,
}

/// The apiservers' port among `ports`: the one named `https`, else the only one.
fn served_port(ports: &[Port]) -> Option<u16> {
    ports
        .iter()
        .find(|p| p.name.as_deref() == Some("https"))
        .or(match ports {
            [one] => Some(one),
            _ => None,
        })
        .and_then(|p| p.port)
}

/// Checks and orders what an object named: every address parses and is of `expect`'s family,
/// the port is the masters', and there is at least one and not too many.
fn plausible(
    addresses: Vec<&str>,
    port: Option<u16>,
    expect: &Expect,
    kind: &'static str,
) -> Result<Vec<SocketAddr>, Implausible> {
    if addresses.len() > MAX_MASTERS {
        return Err(Implausible::TooMany {
            count: addresses.len(),
        });
    }
    if addresses.is_empty() {
        return Err(Implausible::Empty);
    }
    let port = port.ok_or(Implausible::Malformed {
        kind,
        detail: "no port".into(),
    })?;
    if port != expect.port {
        return Err(Implausible::WrongPort {
            found: port,
            want: expect.port,
        });
    }
    let mut set = BTreeSet::new();
    for a in addresses {
        let ip: IpAddr = a.parse().map_err(|_| Implausible::Malformed {
            kind,
            detail: format!("{a:?} is not an IP address"),
        })?;
        if ip.is_ipv4() != expect.ipv4 {
            return Err(Implausible::OtherFamily {
                found: family(ip.is_ipv4()),
                want: family(expect.ipv4),
            });
        }
        set.insert(SocketAddr::new(ip, port));
    }
    Ok(set.into_iter().collect())
}

/// The ready masters an EndpointSlice names, sorted, if the update is plausible.
pub fn from_endpoint_slice(json: &[u8], expect: &Expect) -> Result<Vec<SocketAddr>, Implausible> {
    let slice: EndpointSlice =
        serde_json::from_slice(json).map_err(|e| Implausible::Malformed {
            kind: "EndpointSlice",
            detail: e.to_string(),
        })?;
    slice_masters(slice, expect)
}

fn slice_masters(slice: EndpointSlice, expect: &Expect) -> Result<Vec<SocketAddr>, Implausible> {
    let ipv4 = match slice.address_type.as_str() {
        "IPv4" => true,
        "IPv6" => false,
        other => {
            return Err(Implausible::Malformed {
                kind: "EndpointSlice",
                detail: format!("address type {other:?}"),
            })
        }
    };
    if ipv4 != expect.ipv4 {
        return Err(Implausible::OtherFamily {
            found: family(ipv4),
            want: family(expect.ipv4),
        });
    }
    let addresses = slice
        .endpoints
        .iter()
        .flatten()
        .filter(|e| e.conditions.ready != Some(false))
        .flat_map(|e| e.addresses.iter().map(String::as_str))
        .collect();
    let port = served_port(slice.ports.as_deref().unwrap_or_default());
    plausible(addresses, port, expect, "EndpointSlice")
}

/// The masters a core/v1 Endpoints object names (ready ones are `addresses`; the
/// `notReadyAddresses` are left out), sorted, if the update is plausible.
pub fn from_endpoints(json: &[u8], expect: &Expect) -> Result<Vec<SocketAddr>, Implausible> {
    let ep: Endpoints = serde_json::from_slice(json).map_err(|e| Implausible::Malformed {
        kind: "Endpoints",
        detail: e.to_string(),
    })?;
    endpoints_masters(ep, expect)
}

fn endpoints_masters(ep: Endpoints, expect: &Expect) -> Result<Vec<SocketAddr>, Implausible> {
    let subsets = ep.subsets.unwrap_or_default();
    // The kubernetes service has one subset; with several, all must agree on the port.
    let mut port = None;
    let mut addresses = Vec::new();
    for s in &subsets {
        let p = served_port(s.ports.as_deref().unwrap_or_default());
        if port.is_some() && p != port {
            return Err(Implausible::Malformed {
                kind: "Endpoints",
                detail: "subsets on different ports".into(),
            });
        }
        port = p;
        addresses.extend(s.addresses.iter().flatten().map(|a| a.ip.as_str()));
    }
    plausible(addresses, port, expect, "Endpoints")
}

/// One line of a watch stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    /// The object was added or changed: follow it if plausible.
    Changed {
        /// Its masters, or why not.
        masters: Result<Vec<SocketAddr>, Implausible>,
        /// Where a re-watch resumes.
        resource_version: Option<String>,
    },
    /// The object was deleted (keep the last list: a deleted slice is not "no masters").
    Deleted,
    /// A bookmark: only the resume point moves.
    Bookmark {
        /// Where a re-watch resumes.
        resource_version: Option<String>,
    },
    /// The server ended the watch with a Status (410 Gone: list again).
    Error {
        /// The Status code, when given.
        code: Option<u16>,
        /// Its message.
        message: String,
    },
}

#[derive(Deserialize)]
struct RawEvent {
    #[serde(rename = "type")]
    kind: String,
    object: serde_json::Value,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Meta {
    #[serde(default)]
    resource_version: Option<String>,
}

#[derive(Deserialize)]
struct WithMeta {
    #[serde(default)]
    metadata: Meta,
}

#[derive(Deserialize)]
struct Status {
    #[serde(default)]
    code: Option<u16>,
    #[serde(default)]
    message: String,
}

/// Decodes one watch event (a JSON line) of EndpointSlices (`slices`) or Endpoints.
pub fn watch_event(line: &[u8], slices: bool, expect: &Expect) -> Result<WatchEvent, Implausible> {
    let malformed = |e: serde_json::Error| Implausible::Malformed {
        kind: "watch event",
        detail: e.to_string(),
    };
    let raw: RawEvent = serde_json::from_slice(line).map_err(malformed)?;
    let version = || {
        WithMeta::deserialize(&raw.object)
            .ok()
            .and_then(|m| m.metadata.resource_version)
    };
    Ok(match raw.kind.as_str() {
        "ADDED" | "MODIFIED" => {
            let malformed = |kind| {
                move |e: serde_json::Error| Implausible::Malformed {
                    kind,
                    detail: e.to_string(),
                }
            };
            let masters = if slices {
                EndpointSlice::deserialize(&raw.object)
                    .map_err(malformed("EndpointSlice"))
                    .and_then(|s| slice_masters(s, expect))
            } else {
                Endpoints::deserialize(&raw.object)
                    .map_err(malformed("Endpoints"))
                    .and_then(|ep| endpoints_masters(ep, expect))
            };
            WatchEvent::Changed {
                masters,
                resource_version: version(),
            }
        }
        "DELETED" => WatchEvent::Deleted,
        "BOOKMARK" => WatchEvent::Bookmark {
            resource_version: version(),
        },
        "ERROR" => {
            let s = Status::deserialize(&raw.object).map_err(malformed)?;
            WatchEvent::Error {
                code: s.code,
                message: s.message,
            }
        }
        other => {
            return Err(Implausible::Malformed {
                kind: "watch event",
                detail: format!("event type {other:?}"),
            })
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const V4: Expect = Expect {
        port: 6443,
        ipv4: true,
    };

    /// The shape v1.20's apiserver writes for default/kubernetes (discovery.k8s.io/v1beta1).
    const SLICE: &str = r#"{"kind":"EndpointSlice","apiVersion":"discovery.k8s.io/v1beta1",
        "metadata":{"name":"kubernetes","namespace":"default","resourceVersion":"207",
          "labels":{"kubernetes.io/service-name":"kubernetes"}},
        "addressType":"IPv4",
        "endpoints":[{"addresses":["10.0.0.12"],"conditions":{"ready":true}},
                     {"addresses":["10.0.0.11"],"conditions":{"ready":true}},
                     {"addresses":["10.0.0.13"],"conditions":{"ready":false}},
                     {"addresses":["10.0.0.14"]}],
        "ports":[{"name":"https","protocol":"TCP","port":6443}]}"#;

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn a_slice_gives_its_ready_masters_sorted() {
        assert_eq!(
            from_endpoint_slice(SLICE.as_bytes(), &V4),
            Ok(addrs(&[
                "10.0.0.11:6443",
                "10.0.0.12:6443",
                "10.0.0.14:6443"
            ]))
        );
    }

    #[test]
    fn implausible_slices_are_refused_with_the_reason() {
        let no_ready = SLICE
            .replace(r#""ready":true"#, r#""ready":false"#)
            .replace(r#"{"addresses":["10.0.0.14"]}"#, r#"{"addresses":[]}"#);
        assert_eq!(
            from_endpoint_slice(no_ready.as_bytes(), &V4),
            Err(Implausible::Empty)
        );
        let null = r#"{"addressType":"IPv4","endpoints":null,"ports":[{"port":6443}]}"#;
        assert_eq!(
            from_endpoint_slice(null.as_bytes(), &V4),
            Err(Implausible::Empty)
        );
        assert_eq!(
            from_endpoint_slice(SLICE.replace("6443", "443").as_bytes(), &V4),
            Err(Implausible::WrongPort {
                found: 443,
                want: 6443
            })
        );
        let v6 = Expect {
            port: 6443,
            ipv4: false,
        };
        assert!(matches!(
            from_endpoint_slice(SLICE.as_bytes(), &v6),
            Err(Implausible::OtherFamily { found: "IPv4", .. })
        ));
        // An IPv6 address inside an IPv4 slice is caught at the address too.
        let mixed = SLICE.replace("10.0.0.12", "fd00::12");
        assert!(matches!(
            from_endpoint_slice(mixed.as_bytes(), &V4),
            Err(Implausible::OtherFamily { found: "IPv6", .. })
        ));
        let fqdn = SLICE.replace(r#""IPv4""#, r#""FQDN""#);
        assert!(matches!(
            from_endpoint_slice(fqdn.as_bytes(), &V4),
            Err(Implausible::Malformed { .. })
        ));
        let bad_ip = SLICE.replace("10.0.0.12", "10.0.0.300");
        assert!(matches!(
            from_endpoint_slice(bad_ip.as_bytes(), &V4),
            Err(Implausible::Malformed { .. })
        ));
        for junk in ["", "[]", "{", "null", r#"{"addressType":7}"#] {
            assert!(
                matches!(
                    from_endpoint_slice(junk.as_bytes(), &V4),
                    Err(Implausible::Malformed { .. })
                ),
                "{junk:?}"
            );
        }
    }

    #[test]
    fn too_many_addresses_are_refused() {
        let many: Vec<String> = (0..=MAX_MASTERS)
            .map(|i| format!(r#"{{"addresses":["10.1.{}.{}"]}}"#, i / 250, i % 250))
            .collect();
        let slice = format!(
            r#"{{"addressType":"IPv4","endpoints":[{}],"ports":[{{"port":6443}}]}}"#,
            many.join(",")
        );
        assert_eq!(
            from_endpoint_slice(slice.as_bytes(), &V4),
            Err(Implausible::TooMany {
                count: MAX_MASTERS + 1
            })
        );
    }

    #[test]
    fn endpoints_give_their_ready_addresses() {
        let ep = r#"{"kind":"Endpoints","apiVersion":"v1","metadata":{"name":"kubernetes"},
            "subsets":[{"addresses":[{"ip":"10.0.0.12"},{"ip":"10.0.0.11"}],
                        "notReadyAddresses":[{"ip":"10.0.0.13"}],
                        "ports":[{"name":"https","port":6443,"protocol":"TCP"}]}]}"#;
        assert_eq!(
            from_endpoints(ep.as_bytes(), &V4),
            Ok(addrs(&["10.0.0.11:6443", "10.0.0.12:6443"]))
        );
        assert_eq!(
            from_endpoints(br#"{"subsets":[]}"#, &V4),
            Err(Implausible::Empty)
        );
        assert_eq!(from_endpoints(b"{}", &V4), Err(Implausible::Empty));
    }

    #[test]
    fn watch_events_are_decoded() {
        let added = format!(
            r#"{{"type":"MODIFIED","object":{}}}"#,
            SLICE.replace('\n', "")
        );
        assert_eq!(
            watch_event(added.as_bytes(), true, &V4),
            Ok(WatchEvent::Changed {
                masters: Ok(addrs(&[
                    "10.0.0.11:6443",
                    "10.0.0.12:6443",
                    "10.0.0.14:6443"
                ])),
                resource_version: Some("207".into()),
            })
        );
        assert_eq!(
            watch_event(
                br#"{"type":"DELETED","object":{"metadata":{"resourceVersion":"9"}}}"#,
                true,
                &V4
            ),
            Ok(WatchEvent::Deleted)
        );
        assert_eq!(
            watch_event(
                br#"{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"300"}}}"#,
                true,
                &V4
            ),
            Ok(WatchEvent::Bookmark {
                resource_version: Some("300".into())
            })
        );
        assert_eq!(
            watch_event(
                br#"{"type":"ERROR","object":{"kind":"Status","code":410,"message":"too old resource version"}}"#,
                true,
                &V4
            ),
            Ok(WatchEvent::Error {
                code: Some(410),
                message: "too old resource version".into()
            })
        );
        // An implausible object is an event whose masters say why.
        let empty = r#"{"type":"ADDED","object":{"addressType":"IPv4","endpoints":[],"ports":[{"port":6443}]}}"#;
        assert!(matches!(
            watch_event(empty.as_bytes(), true, &V4),
            Ok(WatchEvent::Changed {
                masters: Err(Implausible::Empty),
                ..
            })
        ));
        let ep = r#"{"type":"ADDED","object":{"subsets":[{"addresses":[{"ip":"10.0.0.9"}],"ports":[{"port":6443}]}]}}"#;
        assert!(matches!(
            watch_event(ep.as_bytes(), false, &V4),
            Ok(WatchEvent::Changed { masters: Ok(m), .. }) if m == addrs(&["10.0.0.9:6443"])
        ));
        for junk in ["", "{}", r#"{"type":"WHAT","object":{}}"#, "nonsense"] {
            assert!(watch_event(junk.as_bytes(), true, &V4).is_err(), "{junk:?}");
        }
    }
}
