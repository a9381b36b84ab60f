//! What the fuzz targets (lvscare/fuzz) reach that lvscare does not otherwise export: the pure
//! decoders behind its sockets and the flag parsers behind its command line. Not an API.

pub use crate::config::endpoint::parse_endpoint;
pub use crate::conns::msg::{answer as sock_diag_answer, Answer as SockDiagAnswer};
pub use crate::link::msg::{del_addr_msg, del_route_msg};
pub use crate::link::reply::{absorb_reply, Nack, Progress as RtnlProgress, ReplyError};
