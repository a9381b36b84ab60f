//! Helpers the fuzz targets share.

/// The sequence number in the first netlink header of `datagram` (0 when it is too short): the
/// targets treat the first message as an answer to the request they wait for, so the fuzzer
/// reaches the decoding of matching messages without having to guess a number.
pub fn first_seq(datagram: &[u8]) -> u32 {
    match datagram.get(8..12) {
        Some(b) => u32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
        None => 0,
    }
}
