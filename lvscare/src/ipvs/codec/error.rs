//! The error of a reply the codec cannot take apart.

/// A reply the codec could not take apart.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Fewer bytes than a header or a length field announced.
    #[error("truncated {what}: need {need} bytes, have {have}")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Bytes required.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// A required attribute is absent.
    #[error("attribute {0} missing")]
    Missing(&'static str),
    /// An attribute's payload has the wrong size.
    #[error("attribute {attr} has {len} bytes, expected {expected}")]
    BadLength {
        /// Attribute name.
        attr: &'static str,
        /// Its payload length.
        len: usize,
        /// The size the kernel uses.
        expected: usize,
    },
    /// The genl command is not the one this decoder handles.
    #[error("genl command {got}, expected {expected}")]
    UnexpectedCommand {
        /// Command found.
        got: u8,
        /// Command expected.
        expected: u8,
    },
    /// A value outside what the kernel can send.
    #[error("invalid {what} {value}")]
    BadValue {
        /// Field name.
        what: &'static str,
        /// The value found.
        value: u64,
    },
    /// A well-formed entry lvscare does not model (fwmark service, SCTP, other families).
    #[error("unsupported {what} {value}")]
    Unsupported {
        /// Field name.
        what: &'static str,
        /// The value found.
        value: u64,
    },
}
