//! Fuzzes the decoding of a genl destination reply: what decodes survives encode → decode with
//! its address, forwarding method, weight and thresholds unchanged (the connection counters are
//! the kernel's, never sent).
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvscare::ipvs::codec::{decode_dest_reply, encode_new_dest, AddrFamily};
use lvscare::ipvs::{Destination, Protocol, ServiceKey};

fuzz_target!(|data: &[u8]| {
    for fallback in [AddrFamily::V4, AddrFamily::V6] {
        let Ok(dest) = decode_dest_reply(data, fallback) else {
            continue;
        };
        let key = ServiceKey {
            addr: "10.103.97.2:6443".parse().unwrap(),
            protocol: Protocol::Tcp,
        };
        let again = decode_dest_reply(&encode_new_dest(&key, &dest), fallback)
            .expect("lvscare's own request decodes");
        let unsent = Destination {
            active_conns: 0,
            inactive_conns: 0,
            persist_conns: 0,
            ..dest
        };
        assert_eq!(again, unsent);
    }
});
