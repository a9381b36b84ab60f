//! Fuzzes the reader of IPVS's connection table (`/proc/net/ip_vs_conn`): every line that parses
//! reads the same when printed back in the kernel's format, and the flows picked for a service
//! and real server are client sockets of exactly those.
#![no_main]

use std::net::{IpAddr, SocketAddr};

use libfuzzer_sys::fuzz_target;
use lvscare::conns::{flows_to, parse_line, Entry};

/// An address and port column as `ip_vs_conn_seq_show` prints them.
fn columns(a: SocketAddr) -> String {
    let ip = match a.ip() {
        IpAddr::V4(v4) => format!("{:08X}", u32::from(v4)),
        IpAddr::V6(v6) => {
            let groups: Vec<String> = v6.segments().iter().map(|g| format!("{g:04x}")).collect();
            groups.join(":")
        }
    };
    format!("{ip} {:04X}", a.port())
}

fn print(e: &Entry) -> String {
    format!(
        "{} {} {} {} {} 60",
        e.protocol,
        columns(e.client),
        columns(e.service),
        columns(e.dest),
        e.state
    )
}

fuzz_target!(|data: &[u8]| {
    // read_flows reads the table as UTF-8 lines; other bytes fail before the parser.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let entries: Vec<Entry> = text.lines().filter_map(parse_line).collect();
    for e in &entries {
        assert_eq!(parse_line(&print(e)).as_ref(), Some(e));
    }
    if let Some(first) = entries.first() {
        for flow in flows_to(text.lines(), first.service, first.dest) {
            assert_eq!(flow.remote, first.service);
            assert!(entries
                .iter()
                .any(|e| e.client == flow.local && e.dest == first.dest && e.protocol == "TCP"));
        }
    }
});
