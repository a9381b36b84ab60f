//! Netlink attributes (TLVs): writing them padded and nested, and reading them back, skipping
//! whatever type the reader does not ask for.

use netlink_packet_core::NLA_TYPE_MASK;

use super::error::DecodeError;

/// Appends netlink attributes (TLVs, each padded to 4 bytes) to a buffer.
pub(super) struct AttrWriter {
    /// The attributes written so far (after any header the buffer started with).
    pub(super) buf: Vec<u8>,
}

impl AttrWriter {
    /// Appends one attribute of type `ty` with payload `data`, padded.
    pub(super) fn put(&mut self, ty: u16, data: &[u8]) {
        // Attribute payloads here are at most a few dozen bytes, far below u16::MAX.
        let len = (4 + data.len()) as u16;
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.pad();
    }

    /// Pads the buffer to the next 4-byte boundary.
    fn pad(&mut self) {
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
    }

    /// Appends a u16 attribute in host byte order.
    pub(super) fn put_u16(&mut self, ty: u16, v: u16) {
        self.put(ty, &v.to_ne_bytes());
    }

    /// Appends a u32 attribute in host byte order.
    pub(super) fn put_u32(&mut self, ty: u16, v: u32) {
        self.put(ty, &v.to_ne_bytes());
    }

    /// Writes a nested attribute whose content `f` appends. No NLA_F_NESTED flag: IPVS parses
    /// its nests leniently and ipvsadm (libnl) does not set it either.
    pub(super) fn nest(&mut self, ty: u16, f: impl FnOnce(&mut Self)) {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0, 0]);
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        f(self);
        let len = (self.buf.len() - start) as u16;
        self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
    }
}

/// Iterates over the attributes of a buffer, yielding (type without flags, payload).
pub(super) struct Attrs<'a> {
    rest: &'a [u8],
}

impl<'a> Attrs<'a> {
    /// Iterates over the attributes in `buf`.
    pub(super) fn new(buf: &'a [u8]) -> Self {
        Attrs { rest: buf }
    }
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Result<(u16, &'a [u8]), DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let have = self.rest.len();
        if have < 4 {
            self.rest = &[];
            return Some(Err(DecodeError::Truncated {
                what: "attribute header",
                need: 4,
                have,
            }));
        }
        let len = usize::from(u16::from_ne_bytes([self.rest[0], self.rest[1]]));
        let ty = u16::from_ne_bytes([self.rest[2], self.rest[3]]) & NLA_TYPE_MASK;
        if len < 4 || len > have {
            self.rest = &[];
            return Some(Err(DecodeError::Truncated {
                what: "attribute",
                need: len.max(4),
                have,
            }));
        }
        let payload = &self.rest[4..len];
        // The last attribute's padding may be cut off by an outer length; that is not an error.
        let next = (len + 3) & !3;
        self.rest = self.rest.get(next..).unwrap_or(&[]);
        Some(Ok((ty, payload)))
    }
}

/// An attribute payload of exactly `N` bytes.
pub(super) fn fixed<const N: usize>(
    attr: &'static str,
    data: &[u8],
) -> Result<[u8; N], DecodeError> {
    data.try_into().map_err(|_| DecodeError::BadLength {
        attr,
        len: data.len(),
        expected: N,
    })
}

/// A u16 attribute in host byte order.
pub(super) fn get_u16(attr: &'static str, data: &[u8]) -> Result<u16, DecodeError> {
    fixed::<2>(attr, data).map(u16::from_ne_bytes)
}

/// A u16 attribute in network byte order (ports).
pub(super) fn get_be16(attr: &'static str, data: &[u8]) -> Result<u16, DecodeError> {
    fixed::<2>(attr, data).map(u16::from_be_bytes)
}

/// A u32 attribute in host byte order.
pub(super) fn get_u32(attr: &'static str, data: &[u8]) -> Result<u32, DecodeError> {
    fixed::<4>(attr, data).map(u32::from_ne_bytes)
}

/// The payload of the first top-level attribute of type `ty`.
pub(super) fn top_level<'a>(
    attrs: &'a [u8],
    ty: u16,
    name: &'static str,
) -> Result<&'a [u8], DecodeError> {
    for attr in Attrs::new(attrs) {
        let (t, data) = attr?;
        if t == ty {
            return Ok(data);
        }
    }
    Err(DecodeError::Missing(name))
}
