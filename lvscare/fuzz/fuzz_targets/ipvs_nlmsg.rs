//! Fuzzes the netlink framing of IPVS replies: a datagram split into its messages, one exchange's
//! datagram absorbed, and every absorbed genl payload decoded as the client does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvscare::ipvs::codec::{
    absorb_datagram, decode_dest_reply, decode_service_reply, encode_nlmsg, split_nlmsgs,
    AddrFamily,
};
use lvscare_fuzz::first_seq;

/// The IPVS family id the seeds use (the kernel assigns it at boot).
const FAMILY: u16 = 0x23;

fuzz_target!(|data: &[u8]| {
    let split = split_nlmsgs(data);
    if let Ok(msgs) = &split {
        // Framed again (port id 0, zero padding), the messages split back to themselves.
        let again: Vec<u8> = msgs
            .iter()
            .flat_map(|m| encode_nlmsg(m.msg_type, m.flags, m.seq, m.payload))
            .collect();
        assert_eq!(split_nlmsgs(&again).as_ref(), Ok(msgs));
    }
    let mut payloads = Vec::new();
    let absorbed = absorb_datagram(data, first_seq(data), FAMILY, &mut payloads);
    assert!(
        split.is_ok() || absorbed.is_err(),
        "a datagram that does not split was absorbed"
    );
    for p in &payloads {
        let _ = decode_service_reply(p);
        let _ = decode_dest_reply(p, AddrFamily::V4);
    }
});
