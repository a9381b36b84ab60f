//! Reads IPVS's connection table as the kernel prints it in `/proc/net/ip_vs_conn` and picks the
//! node's connections through the virtual service that a given real server carries (pure).
//!
//! Line format (net/netfilter/ipvs/ip_vs_conn.c, `ip_vs_conn_seq_show`), one header line, then
//! `Pro FromIP FPrt ToIP TPrt DestIP DPrt State Expires [PEName PEData]`: IPv4 addresses as 8 hex
//! digits in host order of the big-endian value (`0A676102` is 10.103.97.2), IPv6 ones as eight
//! 4-digit groups with colons (`%pI6`, never compressed), ports as 4 hex digits.
//! `/proc/net/ip_vs_conn_sync` has the same first eight columns and an `Origin` column before
//! `Expires`, so this parser reads both. genl has no connection dump; procfs is the only source.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// One TCP connection of a local client through the VIP: the client socket's own address
/// (`FromIP:FPrt`) and the address it is connected to (`ToIP:TPrt`, the VIP service).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Flow {
    /// The client socket's local address.
    pub local: SocketAddr,
    /// The client socket's peer: the virtual service.
    pub remote: SocketAddr,
}

/// One line of the connection table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// `TCP`, `UDP`, `SCTP`, …
    pub protocol: String,
    /// The client (`FromIP:FPrt`).
    pub client: SocketAddr,
    /// The virtual service (`ToIP:TPrt`).
    pub service: SocketAddr,
    /// The real server (`DestIP:DPrt`).
    pub dest: SocketAddr,
    /// IPVS's state name, e.g. `ESTABLISHED`.
    pub state: String,
}

/// Parses one table line; `None` for the header and anything malformed (a future column layout
/// must not make lvscare act on misread addresses).
pub fn parse_line(line: &str) -> Option<Entry> {
    let mut f = line.split_whitespace();
    let protocol = f.next()?.to_string();
    let client = sock(f.next()?, f.next()?)?;
    let service = sock(f.next()?, f.next()?)?;
    let dest = sock(f.next()?, f.next()?)?;
    let state = f.next()?.to_string();
    Some(Entry {
        protocol,
        client,
        service,
        dest,
        state,
    })
}

/// IPVS TCP states in which the client's socket is open and may be waiting on the server: an
/// established connection, or one being opened. Closing states are left to finish on their own.
const LIVE_TCP_STATES: &[&str] = &["ESTABLISHED", "SYN_RECV", "SYN_SENT", "SYNACK"];

/// The live TCP connections through `service` that IPVS sends to `dest`, as client sockets
/// (duplicates dropped). Connections of other services, other real servers, other protocols and
/// closing states are skipped.
pub fn flows_to<'a>(
    lines: impl IntoIterator<Item = &'a str>,
    service: SocketAddr,
    dest: SocketAddr,
) -> Vec<Flow> {
    let mut flows = Vec::new();
    for e in lines.into_iter().filter_map(parse_line) {
        let wanted = e.protocol == "TCP"
            && e.service == service
            && e.dest == dest
            && LIVE_TCP_STATES.contains(&e.state.as_str());
        let flow = Flow {
            local: e.client,
            remote: e.service,
        };
        if wanted && !flows.contains(&flow) {
            flows.push(flow);
        }
    }
    flows
}

/// An address and a port column.
fn sock(addr: &str, port: &str) -> Option<SocketAddr> {
    Some(SocketAddr::new(ip(addr)?, hex_port(port)?))
}

fn ip(s: &str) -> Option<IpAddr> {
    if s.len() == 8 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return u32::from_str_radix(s, 16)
            .ok()
            .map(|v| IpAddr::V4(Ipv4Addr::from(v)));
    }
    s.contains(':')
        .then(|| s.parse::<Ipv6Addr>().ok().map(IpAddr::V6))
        .flatten()
}

fn hex_port(s: &str) -> Option<u16> {
    (s.len() == 4)
        .then(|| u16::from_str_radix(s, 16).ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured in the test bed (Debian 6.1 kernel, lvscare in front of three masters): a
    /// kept-alive client of 192.168.0.3 and three closed connections.
    const V4: &str = "\
Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData
TCP C0A8000A C204 0A676102 192B C0A80004 192B TIME_WAIT       117
TCP C0A8000A C1F8 0A676102 192B C0A80003 192B ESTABLISHED     899
TCP C0A8000A C1F6 0A676102 192B C0A80004 192B TIME_WAIT       116
TCP C0A8000A C1FA 0A676102 192B C0A80002 192B TIME_WAIT       117
";

    fn v4(a: [u8; 4], port: u16) -> SocketAddr {
        SocketAddr::from((a, port))
    }

    #[test]
    fn an_ipv4_line_decodes_to_addresses_and_ports() {
        // ipvsadm -Lnc showed it as 192.168.0.10:49656 10.103.97.2:6443 192.168.0.3:6443.
        let e = parse_line(V4.lines().nth(2).unwrap()).unwrap();
        assert_eq!(e.protocol, "TCP");
        assert_eq!(e.client, v4([192, 168, 0, 10], 49656));
        assert_eq!(e.service, v4([10, 103, 97, 2], 6443));
        assert_eq!(e.dest, v4([192, 168, 0, 3], 6443));
        assert_eq!(e.state, "ESTABLISHED");
    }

    #[test]
    fn the_header_and_junk_are_not_entries() {
        assert_eq!(parse_line(V4.lines().next().unwrap()), None);
        for bad in [
            "",
            "TCP",
            "TCP C0A8000A 9C4A 0A676102 192B C0A80003",
            "TCP C0A8000 9C4A 0A676102 192B C0A80003 192B ESTABLISHED 1",
            "TCP C0A8000A 9C4AA 0A676102 192B C0A80003 192B ESTABLISHED 1",
            "TCP C0A8000G 9C4A 0A676102 192B C0A80003 192B ESTABLISHED 1",
            "TCP fd00::zz 9C4A 0A676102 192B C0A80003 192B ESTABLISHED 1",
        ] {
            assert_eq!(parse_line(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn only_live_tcp_flows_of_that_service_and_server_are_picked() {
        let vs = v4([10, 103, 97, 2], 6443);
        let flows = flows_to(V4.lines(), vs, v4([192, 168, 0, 3], 6443));
        assert_eq!(
            flows,
            vec![Flow {
                local: v4([192, 168, 0, 10], 49656),
                remote: vs
            }]
        );
        // Only closed connections to these.
        assert!(flows_to(V4.lines(), vs, v4([192, 168, 0, 2], 6443)).is_empty());
        assert!(flows_to(V4.lines(), vs, v4([192, 168, 0, 4], 6443)).is_empty());
        // Another port of the master is another real server; another VIP another service.
        assert!(flows_to(V4.lines(), vs, v4([192, 168, 0, 3], 443)).is_empty());
        let other_vip = v4([10, 103, 97, 3], 6443);
        assert!(flows_to(V4.lines(), other_vip, v4([192, 168, 0, 3], 6443)).is_empty());
    }

    #[test]
    fn opening_states_count_and_closing_ones_and_udp_do_not() {
        let vs = v4([10, 103, 97, 2], 6443);
        let rs = v4([192, 168, 0, 2], 6443);
        let line = |pro: &str, state: &str| {
            format!("{pro} C0A8000A 9C56 0A676102 192B C0A80002 192B {state} 10")
        };
        for (pro, state, picked) in [
            ("TCP", "SYN_RECV", true),
            ("TCP", "SYN_SENT", true),
            ("TCP", "SYNACK", true),
            ("TCP", "FIN_WAIT", false),
            ("TCP", "CLOSE_WAIT", false),
            ("TCP", "CLOSE", false),
            ("TCP", "LAST_ACK", false),
            ("UDP", "UDP", false),
        ] {
            let l = line(pro, state);
            assert_eq!(flows_to([l.as_str()], vs, rs).len(), picked as usize, "{l}");
        }
    }

    #[test]
    fn duplicate_lines_give_one_flow() {
        let l = "TCP C0A8000A 9C56 0A676102 192B C0A80002 192B ESTABLISHED 10";
        let vs = v4([10, 103, 97, 2], 6443);
        assert_eq!(flows_to([l, l], vs, v4([192, 168, 0, 2], 6443)).len(), 1);
    }

    /// Captured in the test bed: lvscare's IPv6 service with one client, and a connection through
    /// another (v4) service still opening (its SYN unanswered).
    const V6: &str = "\
Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData
TCP fd00:0010:0000:0000:0000:0000:0000:0010 BAAA fd00:0097:0000:0000:0000:0000:0000:0002 192B fd00:0010:0000:0000:0000:0000:0000:0003 192B ESTABLISHED     899
TCP 0A000009 9B74 0A000009 192C C0A80002 192C SYN_RECV         59
";

    #[test]
    fn ipv6_lines_decode() {
        // ipvsadm -Lnc: [fd00:10::10]:47786 [fd00:97::2]:6443 [fd00:10::3]:6443.
        let vs: SocketAddr = "[fd00:97::2]:6443".parse().unwrap();
        let rs: SocketAddr = "[fd00:10::3]:6443".parse().unwrap();
        let flows = flows_to(V6.lines(), vs, rs);
        assert_eq!(
            flows,
            vec![Flow {
                local: "[fd00:10::10]:47786".parse().unwrap(),
                remote: vs
            }]
        );
        // The opening v4 connection: 10.0.0.9:39796 -> 10.0.0.9:6444 -> 192.168.0.2:6444.
        let opening = flows_to(
            V6.lines(),
            v4([10, 0, 0, 9], 6444),
            v4([192, 168, 0, 2], 6444),
        );
        assert_eq!(opening.len(), 1);
        assert_eq!(opening[0].local, v4([10, 0, 0, 9], 39796));
    }

    #[test]
    fn the_sync_table_format_reads_the_same() {
        // Captured alongside V4.
        let sync = "\
Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Origin Expires
TCP C0A8000A C204 0A676102 192B C0A80004 192B TIME_WAIT   LOCAL      117
TCP C0A8000A C1F8 0A676102 192B C0A80003 192B ESTABLISHED LOCAL      899
";
        let vs = v4([10, 103, 97, 2], 6443);
        assert_eq!(
            flows_to(sync.lines(), vs, v4([192, 168, 0, 3], 6443)),
            flows_to(V4.lines(), vs, v4([192, 168, 0, 3], 6443))
        );
    }
}
