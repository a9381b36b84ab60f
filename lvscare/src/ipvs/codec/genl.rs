//! The generic-netlink header and the controller family: resolving a family name to its id.

use super::attr::{get_u16, top_level, AttrWriter};
use super::error::DecodeError;

/// Fixed id of the generic-netlink controller family.
pub const GENL_ID_CTRL: u16 = 0x10;
/// Length of `struct genlmsghdr`.
pub const GENL_HDRLEN: usize = 4;

/// The controller accepts any version; 1 is what libnl sends.
const CTRL_VERSION: u8 = 1;
const CTRL_CMD_NEWFAMILY: u8 = 1;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;

impl AttrWriter {
    /// Starts a genl payload with its header (command, version, two reserved bytes).
    pub(super) fn genl(cmd: u8, version: u8) -> Self {
        AttrWriter {
            buf: vec![cmd, version, 0, 0],
        }
    }
}

/// Checks the genl header and returns the attributes after it.
pub(super) fn genl_attrs(genl_payload: &[u8], expected: u8) -> Result<&[u8], DecodeError> {
    if genl_payload.len() < GENL_HDRLEN {
        return Err(DecodeError::Truncated {
            what: "genl header",
            need: GENL_HDRLEN,
            have: genl_payload.len(),
        });
    }
    if genl_payload[0] != expected {
        return Err(DecodeError::UnexpectedCommand {
            got: genl_payload[0],
            expected,
        });
    }
    Ok(&genl_payload[GENL_HDRLEN..])
}

/// CTRL_CMD_GETFAMILY for `name`, to be sent to [`GENL_ID_CTRL`].
pub fn encode_get_family(name: &str) -> Vec<u8> {
    let mut w = AttrWriter::genl(CTRL_CMD_GETFAMILY, CTRL_VERSION);
    let mut bytes = name.as_bytes().to_vec();
    bytes.push(0);
    w.put(CTRL_ATTR_FAMILY_NAME, &bytes);
    w.buf
}

/// CTRL_CMD_GETFAMILY without a name, to be sent with NLM_F_DUMP: lists every family.
pub fn encode_get_family_dump() -> Vec<u8> {
    AttrWriter::genl(CTRL_CMD_GETFAMILY, CTRL_VERSION).buf
}

/// The family id from a CTRL_CMD_NEWFAMILY reply.
pub fn decode_family_id(genl_payload: &[u8]) -> Result<u16, DecodeError> {
    let attrs = genl_attrs(genl_payload, CTRL_CMD_NEWFAMILY)?;
    get_u16(
        "CTRL_ATTR_FAMILY_ID",
        top_level(attrs, CTRL_ATTR_FAMILY_ID, "CTRL_ATTR_FAMILY_ID")?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_family_request_and_reply() {
        // CTRL_CMD_GETFAMILY v1, FAMILY_NAME "IPVS\0" (len 9, padded to 12).
        assert_eq!(
            encode_get_family("IPVS"),
            [3, 1, 0, 0, 9, 0, 2, 0, b'I', b'P', b'V', b'S', 0, 0, 0, 0]
        );
        #[rustfmt::skip]
        let reply: Vec<u8> = [
            &[1u8, 2, 0, 0][..],                             // NEWFAMILY, ctrl version 2
            &[9, 0, 2, 0, b'I', b'P', b'V', b'S', 0, 0, 0, 0], // FAMILY_NAME
            &[6, 0, 1, 0], &0x23u16.to_ne_bytes(), &[0, 0],  // FAMILY_ID 0x23
            &[8, 0, 3, 0], &1u32.to_ne_bytes(),              // VERSION
            &[8, 0, 0x80 | 6, 0x80], &[4, 0, 1, 0],          // OPS nest (NLA_F_NESTED), skipped
        ].concat();
        assert_eq!(decode_family_id(&reply), Ok(0x23));
        assert_eq!(
            decode_family_id(&reply[..16]),
            Err(DecodeError::Missing("CTRL_ATTR_FAMILY_ID"))
        );
    }
}
