//! Writes the committed seed corpora (seeds/<target>/) from the kernel captures in
//! lvscare/tests/fixtures and small hand-made messages: `cargo run --example make_seeds` here.
//! The fuzzers grow their corpora elsewhere (run.sh); these stay few and small.

use std::fs;
use std::net::IpAddr;
use std::path::Path;

use lvscare::ipvs::codec::{encode_new_dest, encode_new_service, encode_nlmsg};
use lvscare::ipvs::{Destination, Protocol, Service, ServiceKey};
use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLMSG_DONE, NLMSG_ERROR, NLM_F_ACK_TLVS,
    NLM_F_CAPPED, NLM_F_MULTIPART,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{InfoKind, LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use netlink_packet_route::route::{RouteAttribute, RouteMessage, RouteType};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

const DUMP: &str = include_str!("../../tests/fixtures/kernel-6.1-dump.txt");
/// The IPVS family id the ipvs_nlmsg target expects.
const IPVS_FAMILY: u16 = 0x23;
/// Captured in the test bed, as in conns/table.rs's tests.
const CONN_TABLE_V4: &str = "\
Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData
TCP C0A8000A C204 0A676102 192B C0A80004 192B TIME_WAIT       117
TCP C0A8000A C1F8 0A676102 192B C0A80003 192B ESTABLISHED     899
";
const CONN_TABLE_V6: &str = "\
Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData
TCP fd00:0010:0000:0000:0000:0000:0000:0010 BAAA fd00:0097:0000:0000:0000:0000:0000:0002 192B fd00:0010:0000:0000:0000:0000:0000:0003 192B ESTABLISHED     899
TCP 0A000009 9B74 0A000009 192C C0A80002 192C SYN_RECV         59
";
const CONN_TABLE_SYNC: &str = "\
Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Origin Expires
TCP C0A8000A C1F8 0A676102 192B C0A80003 192B ESTABLISHED LOCAL      899
";

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("seeds")
        .join(target);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(name), bytes).unwrap();
}

/// An NLMSG_DONE (or a dump's error) for `seq`.
fn done(seq: u32, code: i32) -> Vec<u8> {
    encode_nlmsg(NLMSG_DONE, NLM_F_MULTIPART, seq, &code.to_ne_bytes())
}

/// An NLMSG_ERROR for `seq`: the code, the request's header, and optionally an extack text.
fn nlmsgerr(seq: u32, code: i32, text: Option<&str>) -> Vec<u8> {
    let mut payload = code.to_ne_bytes().to_vec();
    payload.extend(encode_nlmsg(16, 5, seq, &[]));
    let mut flags = NLM_F_CAPPED;
    if let Some(t) = text {
        flags |= NLM_F_ACK_TLVS;
        let mut value = t.as_bytes().to_vec();
        value.push(0);
        payload.extend(((4 + value.len()) as u16).to_ne_bytes());
        payload.extend(1u16.to_ne_bytes()); // NLMSGERR_ATTR_MSG
        payload.extend(value);
    }
    encode_nlmsg(NLMSG_ERROR, flags, seq, &payload)
}

fn ipvs_seeds() {
    let (mut services, mut dests) = (Vec::new(), Vec::new());
    for line in DUMP.lines() {
        if let Some(h) = line.strip_prefix("service ") {
            services.push(unhex(h));
        } else if let Some(h) = line.strip_prefix("dest ") {
            dests.push(unhex(h));
        }
    }
    let v6 = ServiceKey {
        addr: "[fd00::a:2]:6443".parse().unwrap(),
        protocol: Protocol::Udp,
    };
    services.push(encode_new_service(&Service::new(v6, "wlc")).unwrap());
    dests.push(encode_new_dest(
        &v6,
        &Destination::masq("[fd00::2]:6443".parse().unwrap(), 70_000),
    ));
    for (i, s) in services.iter().enumerate() {
        write("ipvs_service", &format!("service-{i}"), s);
    }
    for (i, d) in dests.iter().enumerate() {
        write("ipvs_dest", &format!("dest-{i}"), d);
    }
    // A dump as the kernel answers it: the captured entries, then NLMSG_DONE.
    let mut dump: Vec<u8> = services
        .iter()
        .chain(&dests)
        .flat_map(|p| encode_nlmsg(IPVS_FAMILY, NLM_F_MULTIPART, 1, p))
        .collect();
    dump.extend(done(1, 0));
    write("ipvs_nlmsg", "dump", &dump);
    write("ipvs_nlmsg", "ack", &nlmsgerr(1, 0, None));
    write("ipvs_nlmsg", "refused", &nlmsgerr(1, -17, None)); // EEXIST
}

/// `msg` framed as the kernel sends it for request `seq`.
fn rtnl(msg: RouteNetlinkMessage, seq: u32) -> Vec<u8> {
    let mut header = NetlinkHeader::default();
    header.sequence_number = seq;
    header.flags = NLM_F_MULTIPART;
    let mut packet = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
    packet.finalize();
    let mut bytes = vec![0u8; packet.buffer_len()];
    packet.serialize(&mut bytes);
    bytes
}

fn rtnl_seeds() {
    let vip: IpAddr = "10.103.97.2".parse().unwrap();
    let node: IpAddr = "192.168.0.10".parse().unwrap();
    let vip6: IpAddr = "fd00::2".parse().unwrap();

    let mut link = LinkMessage::default();
    link.header.index = 7;
    link.header.flags = LinkFlags::Up;
    link.attributes
        .push(LinkAttribute::IfName("lvscare".into()));
    link.attributes
        .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
            InfoKind::Dummy,
        )]));
    let mut link_reply = rtnl(RouteNetlinkMessage::NewLink(link), 1);
    link_reply.extend(nlmsgerr(1, 0, None));
    write("rtnl_reply", "link", &link_reply);

    let mut addrs = Vec::new();
    for (ip, prefix, family) in [
        (vip, 32, AddressFamily::Inet),
        (vip6, 128, AddressFamily::Inet6),
    ] {
        let mut a = AddressMessage::default();
        a.header.family = family;
        a.header.prefix_len = prefix;
        a.header.index = 7;
        a.attributes.push(AddressAttribute::Address(ip));
        if ip.is_ipv4() {
            a.attributes.push(AddressAttribute::Local(ip));
        }
        addrs.extend(rtnl(RouteNetlinkMessage::NewAddress(a), 1));
    }
    addrs.extend(done(1, 0));
    write("rtnl_reply", "addresses", &addrs);

    let mut r = RouteMessage::default();
    r.header.address_family = AddressFamily::Inet;
    r.header.table = 255;
    r.header.destination_prefix_length = 32;
    r.header.kind = RouteType::Local;
    r.attributes.push(RouteAttribute::Table(255));
    r.attributes.push(RouteAttribute::Destination(vip.into()));
    r.attributes.push(RouteAttribute::Oif(7));
    r.attributes.push(RouteAttribute::PrefSource(node.into()));
    r.attributes.push(RouteAttribute::Priority(0));
    let mut routes = rtnl(RouteNetlinkMessage::NewRoute(r), 1);
    routes.extend(done(1, 0));
    write("rtnl_reply", "routes", &routes);
    write(
        "rtnl_reply",
        "extack",
        &nlmsgerr(1, -95, Some("Unknown device type")), // EOPNOTSUPP
    );
}

fn sock_diag_seeds() {
    write("sock_diag_reply", "ack", &nlmsgerr(1, 0, None));
    write("sock_diag_reply", "enoent", &nlmsgerr(1, -2, None)); // ENOENT
    write("sock_diag_reply", "done", &done(1, 0));
    let mut late = nlmsgerr(1, -1, None); // EPERM, for an earlier request
    late.extend(nlmsgerr(2, 0, None));
    write("sock_diag_reply", "late-then-ack", &late);
}

fn text_seeds() {
    write("conn_table", "v4", CONN_TABLE_V4.as_bytes());
    write("conn_table", "v6", CONN_TABLE_V6.as_bytes());
    write("conn_table", "sync", CONN_TABLE_SYNC.as_bytes());
    for (i, v) in [
        "5",
        "500ms",
        "1m30s",
        "1.5s",
        "250µs",
        "10.103.97.2:6443",
        "[fd00::1]:6443",
    ]
    .iter()
    .enumerate()
    {
        write("config_values", &format!("value-{i}"), v.as_bytes());
    }
    // The cli_argv target splits its input at NUL bytes; these have no spaces in an argument.
    for (name, line) in [
        (
            "care-older-lvscare",
            "care --vs 10.103.97.2:6443 --health-path /healthz --health-schem https \
             --rs 192.168.0.2:6443,192.168.0.3:6443 --interval 5 --health-status 401,403 -i lvscare",
        ),
        (
            "care-v6",
            "care --vs [fd00::1]:6443 --rs [fd00::2]:6443 --health-timeout 250ms \
             --health-scheme tcp --source-ip fd00::9 --run-once",
        ),
        ("clean", "care --vs 10.103.97.2:6443 -C"),
        (
            "manifest",
            "manifest --vs 10.103.97.2:6443 --rs 192.168.0.2:6443 --ca-file /etc/ca.crt \
             --image lvscare:v0.1.0",
        ),
    ] {
        let argv: Vec<&str> = line.split_whitespace().collect();
        write("cli_argv", name, argv.join("\0").as_bytes());
    }
}

/// What an apiserver answers about default/kubernetes, and the files lvscare reads beside it.
/// The first byte picks the decoder (see fuzz_targets/discovery.rs).
fn discovery_seeds() {
    let slice = r#"{"kind":"EndpointSlice","apiVersion":"discovery.k8s.io/v1beta1","metadata":{"name":"kubernetes","resourceVersion":"207"},"addressType":"IPv4","endpoints":[{"addresses":["10.0.0.11"],"conditions":{"ready":true}},{"addresses":["10.0.0.12"]}],"ports":[{"name":"https","protocol":"TCP","port":6443}]}"#;
    let endpoints = r#"{"kind":"Endpoints","subsets":[{"addresses":[{"ip":"10.0.0.11"}],"ports":[{"name":"https","port":6443}]}]}"#;
    let event = format!(r#"{{"type":"MODIFIED","object":{slice}}}"#);
    let status = r#"{"type":"ERROR","object":{"kind":"Status","code":410,"message":"too old resource version"}}"#;
    let kubeconfig = "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: Q0E=\n    server: https://apiserver.cluster.local:6443\n  name: c\ncontexts:\n- context:\n    cluster: c\n    user: u\n  name: x\ncurrent-context: x\nusers:\n- name: u\n  user:\n    token: abc\n";
    let kept = "# lvscare\n10.0.0.11:6443\n[fd00::12]:6443\n";
    for (i, (pick, text)) in [
        (0u8, slice.to_string()),
        (1, endpoints.to_string()),
        (2, event),
        (2, status.to_string()),
        (3, kubeconfig.to_string()),
        (4, kept.to_string()),
    ]
    .into_iter()
    .enumerate()
    {
        let mut bytes = vec![pick];
        bytes.extend_from_slice(text.as_bytes());
        write("discovery", &format!("seed-{i}"), &bytes);
    }
}

fn main() {
    ipvs_seeds();
    rtnl_seeds();
    sock_diag_seeds();
    text_seeds();
    discovery_seeds();
}
