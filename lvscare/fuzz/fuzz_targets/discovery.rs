//! Fuzzes what lvscare reads about the cluster's masters: EndpointSlice and Endpoints objects,
//! watch events (network bytes from an apiserver), kubeconfig YAML and the kept master list.
//! The first byte picks the decoder. Whatever is accepted must be plausible: one to
//! MAX_MASTERS masters, each of the expected family and port.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvscare::discovery::endpoints::{self, Expect, WatchEvent, MAX_MASTERS};
use lvscare::discovery::{kubeconfig, persist};

const V4: Expect = Expect {
    port: 6443,
    ipv4: true,
};

fn check(masters: &[std::net::SocketAddr]) {
    assert!(!masters.is_empty() && masters.len() <= MAX_MASTERS);
    assert!(masters.iter().all(|m| m.is_ipv4() && m.port() == 6443));
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    match pick % 5 {
        0 => {
            if let Ok(m) = endpoints::from_endpoint_slice(rest, &V4) {
                check(&m);
            }
        }
        1 => {
            if let Ok(m) = endpoints::from_endpoints(rest, &V4) {
                check(&m);
            }
        }
        2 => {
            for slices in [true, false] {
                if let Ok(WatchEvent::Changed { masters: Ok(m), .. }) =
                    endpoints::watch_event(rest, slices, &V4)
                {
                    check(&m);
                }
            }
        }
        3 => {
            if let Ok(text) = std::str::from_utf8(rest) {
                let _ = kubeconfig::parse(text, std::path::Path::new("/nonexistent"), &|_| {
                    Err(std::io::Error::from(std::io::ErrorKind::NotFound))
                });
            }
        }
        _ => {
            if let Ok(text) = std::str::from_utf8(rest) {
                if let Ok(m) = persist::parse(text) {
                    assert!(!m.is_empty() && m.len() <= MAX_MASTERS);
                    assert_eq!(persist::parse(&persist::render(&m)), Ok(m));
                }
            }
        }
    }
});
