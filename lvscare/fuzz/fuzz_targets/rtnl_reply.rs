//! Fuzzes the rtnetlink replies lvscare reads: a datagram absorbed into the answers to one
//! request (extended-ack text included), each answer reduced to the state the planners see; and
//! the delete lvscare would send for an observed address or route names exactly that one, also
//! after the trip through its bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvscare::fuzzing::{absorb_reply, del_addr_msg, del_route_msg};
use lvscare::link::{addr_state, link_state, route_state};
use lvscare_fuzz::first_seq;
use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload};
use netlink_packet_route::RouteNetlinkMessage;

/// `msg` as lvscare sends it, and back as the kernel would parse it.
fn through_bytes(msg: RouteNetlinkMessage) -> RouteNetlinkMessage {
    let mut packet =
        NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::InnerMessage(msg));
    packet.finalize();
    let mut bytes = vec![0u8; packet.buffer_len()];
    packet.serialize(&mut bytes);
    match NetlinkMessage::<RouteNetlinkMessage>::deserialize(&bytes)
        .expect("lvscare's own request parses")
        .payload
    {
        NetlinkPayload::InnerMessage(m) => m,
        other => panic!("not a request: {other:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut replies = Vec::new();
    for dump in [false, true] {
        replies.clear();
        let _ = absorb_reply(data, first_seq(data), dump, &mut replies);
    }
    for reply in replies {
        match reply {
            RouteNetlinkMessage::NewLink(l) => {
                let _ = link_state(&l);
            }
            RouteNetlinkMessage::NewAddress(a) => {
                let Some(seen) = addr_state(&a) else { continue };
                let del = del_addr_msg(&seen);
                let back = addr_state(&del).expect("the delete names an address");
                // A delete carries no flags; the kernel matches on the rest.
                assert_eq!(
                    (back.index, back.ip, back.prefix_len),
                    (seen.index, seen.ip, seen.prefix_len)
                );
                let RouteNetlinkMessage::DelAddress(wire) =
                    through_bytes(RouteNetlinkMessage::DelAddress(del))
                else {
                    panic!("not an address delete")
                };
                assert_eq!(addr_state(&wire).map(|a| a.ip), Some(seen.ip));
            }
            RouteNetlinkMessage::NewRoute(r) => {
                let seen = route_state(&r);
                let Some(del) = del_route_msg(&seen) else {
                    continue;
                };
                assert_eq!(route_state(&del), seen);
                let RouteNetlinkMessage::DelRoute(wire) =
                    through_bytes(RouteNetlinkMessage::DelRoute(del))
                else {
                    panic!("not a route delete")
                };
                assert_eq!(route_state(&wire), seen);
            }
            _ => {}
        }
    }
});
