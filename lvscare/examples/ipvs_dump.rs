//! Dumps every IPVS service of the current network namespace, raw and decoded, for fixtures.
//!
//! Output, one record per line:
//! ```text
//! service <hex genl payload>      one service reply (genl header + attributes)
//! dest <hex genl payload>         a destination reply of the service line above it
//! # service <Debug of the decoded Service>
//! # dest <Debug of the decoded Destination>
//! ```
//! Raw lines come first for each service, then its decoded lines (starting with `#`, so a
//! fixture reader can skip them). Hex is lowercase without separators. Exit status 1 and a
//! message on stderr when IPVS cannot be reached.

use std::fmt::Write as _;
use std::process::ExitCode;

use lvscare::ipvs::codec::{decode_dest_reply, decode_service_reply, AddrFamily};
use lvscare::ipvs::{IpvsClient, IpvsError};

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn run() -> Result<(), IpvsError> {
    let mut client = IpvsClient::open()?;
    for raw in client.dump_raw_services()? {
        println!("service {}", hex(&raw));
        let service = match decode_service_reply(&raw) {
            Ok(s) => s,
            Err(e) => {
                // Destinations can only be dumped for a service we can name.
                println!("# service undecodable: {e}");
                continue;
            }
        };
        let dests = client.dump_raw_destinations(&service.key)?;
        for d in &dests {
            println!("dest {}", hex(d));
        }
        println!("# service {service:?}");
        let family = AddrFamily::of(&service.key.addr.ip());
        for d in &dests {
            match decode_dest_reply(d, family) {
                Ok(dest) => println!("# dest {dest:?}"),
                Err(e) => println!("# dest undecodable: {e}"),
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ipvs_dump: {e}");
            ExitCode::FAILURE
        }
    }
}
