//! The ZooKeeper client protocol: jute encoding, records, opcodes and error codes. Pure.

pub mod consts;
pub mod jute;
pub mod records;
pub mod request;

pub use consts::*;
pub use jute::{DecodeError, Reader, Writer};
pub use records::{Acl, ConnectRequest, ConnectResponse, Id, Stat};
pub use request::{ReconfigRequest, Request, SetWatches};
