//! Pure encoding and decoding of IPVS generic-netlink messages: no sockets here. This module only
//! assembles its parts and re-exports their names.
//!
//! Requests are built as *genl payloads* (the 4-byte genl header followed by attributes);
//! [`encode_nlmsg`] frames them. Replies are taken apart with [`split_nlmsgs`] and
//! [`absorb_datagram`], and each data message's genl payload is decoded with
//! [`decode_service_reply`] / [`decode_dest_reply`], which accept bytes captured from a real
//! kernel verbatim and skip attributes they do not know.
//!
//! - `attr`: netlink attributes (TLVs), written and read;
//! - `genl`: the genl header and the controller's family lookup;
//! - `nlmsg`: netlink framing and one request's exchange;
//! - `ipvs`: the IPVS commands and attributes of services and destinations.

mod attr;
mod error;
mod genl;
mod ipvs;
mod nlmsg;
#[cfg(test)]
mod testing;

pub use error::DecodeError;
pub use genl::{
    decode_family_id, encode_get_family, encode_get_family_dump, GENL_HDRLEN, GENL_ID_CTRL,
};
pub use ipvs::{
    cmd, decode_dest_reply, decode_service_reply, encode_del_dest, encode_del_service,
    encode_dump_dests, encode_dump_services, encode_get_service, encode_new_dest,
    encode_new_service, encode_set_dest, encode_set_service, AddrFamily, EncodeError,
    IPVS_FAMILY_NAME,
};
pub use nlmsg::{
    absorb_datagram, decode_nlmsg_error, encode_nlmsg, split_nlmsgs, NlMsg, Progress, NLMSG_HDRLEN,
};
