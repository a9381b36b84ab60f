//! Fuzzes the decoding of a genl service reply (and of the controller's family reply, which has
//! the same command number): what decodes survives encode → decode unchanged, also with an
//! attribute no kernel sends yet added to its nest.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvscare::ipvs::codec::{decode_family_id, decode_service_reply, encode_new_service};

fuzz_target!(|data: &[u8]| {
    let _ = decode_family_id(data);
    let Ok(service) = decode_service_reply(data) else {
        return;
    };
    // A scheduler name the kernel could not take is refused, never sent.
    let Ok(mut encoded) = encode_new_service(&service) else {
        return;
    };
    assert_eq!(decode_service_reply(&encoded).as_ref(), Ok(&service));
    // The SERVICE nest is the one attribute after the 4-byte genl header: grow it by an
    // unknown attribute (type 100, 4 bytes from the input).
    let mut extra = vec![8, 0, 100, 0];
    extra.extend(data.iter().copied().chain([0; 4]).take(4));
    let nest_len = u16::from_ne_bytes([encoded[4], encoded[5]]) + 8;
    encoded[4..6].copy_from_slice(&nest_len.to_ne_bytes());
    encoded.extend_from_slice(&extra);
    assert_eq!(decode_service_reply(&encoded), Ok(service));
});
