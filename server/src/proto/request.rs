//! Client requests, decoded by opcode. Every record is read to its end so a
//! frame can never desynchronise the stream.

use super::consts::op;
use super::jute::{DecodeError, Reader};
use super::records::Acl;

/// A decoded client request (the body after the RequestHeader).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// create (1), create2 (15), createContainer (19) and createTTL (21); `opcode` says which.
    Create {
        opcode: i32,
        path: String,
        data: Option<Vec<u8>>,
        acl: Vec<Acl>,
        flags: i32,
        ttl: Option<i64>,
    },
    Delete {
        path: String,
        version: i32,
    },
    Exists {
        path: String,
        watch: bool,
    },
    GetData {
        path: String,
        watch: bool,
    },
    SetData {
        path: String,
        data: Option<Vec<u8>>,
        version: i32,
    },
    GetAcl {
        path: String,
    },
    SetAcl {
        path: String,
        acl: Vec<Acl>,
        version: i32,
    },
    /// getChildren (8) or getChildren2 (12, `with_stat`).
    GetChildren {
        path: String,
        watch: bool,
        with_stat: bool,
    },
    Sync {
        path: String,
    },
    Ping,
    Check {
        path: String,
        version: i32,
    },
    Multi(Vec<Request>),
    MultiRead(Vec<Request>),
    Reconfig(ReconfigRequest),
    /// checkWatches (17) or removeWatches (18, `remove`).
    CheckWatches {
        path: String,
        watcher_type: i32,
        remove: bool,
    },
    Auth {
        scheme: String,
        auth: Vec<u8>,
    },
    SetWatches(SetWatches),
    /// A SASL token (GetSASLRequest).
    Sasl(Vec<u8>),
    GetEphemerals {
        prefix: String,
    },
    GetAllChildrenNumber {
        path: String,
    },
    AddWatch {
        path: String,
        mode: i32,
    },
    WhoAmI,
    CloseSession,
}

/// A reconfig (16): members joining (`server.N=spec`, comma-separated) and
/// leaving (ids), or a whole new member list; `from_config` is the version it
/// applies to (-1: any). A null or empty string means none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconfigRequest {
    pub joining: Option<String>,
    pub leaving: Option<String>,
    pub new_members: Option<String>,
    pub from_config: i64,
}

/// The watch lists a reconnecting client replays (setWatches 101 / setWatches2 105).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SetWatches {
    pub relative_zxid: i64,
    pub data: Vec<String>,
    pub exist: Vec<String>,
    pub child: Vec<String>,
    pub persistent: Vec<String>,
    pub persistent_recursive: Vec<String>,
}

impl Request {
    /// Decodes the body of a request with the given opcode. An opcode that no
    /// ZooKeeper 3.4–3.9 client may send is `DecodeError::Unknown`.
    pub fn decode(opcode: i32, r: &mut Reader) -> Result<Request, DecodeError> {
        let req = match opcode {
            op::CREATE | op::CREATE2 | op::CREATE_CONTAINER | op::CREATE_TTL => Request::Create {
                opcode,
                path: r.read_string()?,
                data: r.read_buffer()?,
                acl: Acl::read_list(r)?,
                flags: r.read_i32()?,
                ttl: if opcode == op::CREATE_TTL {
                    Some(r.read_i64()?)
                } else {
                    None
                },
            },
            op::DELETE => Request::Delete {
                path: r.read_string()?,
                version: r.read_i32()?,
            },
            op::EXISTS => Request::Exists {
                path: r.read_string()?,
                watch: r.read_bool()?,
            },
            op::GET_DATA => Request::GetData {
                path: r.read_string()?,
                watch: r.read_bool()?,
            },
            op::SET_DATA => Request::SetData {
                path: r.read_string()?,
                data: r.read_buffer()?,
                version: r.read_i32()?,
            },
            op::GET_ACL => Request::GetAcl {
                path: r.read_string()?,
            },
            op::SET_ACL => Request::SetAcl {
                path: r.read_string()?,
                acl: Acl::read_list(r)?,
                version: r.read_i32()?,
            },
            op::GET_CHILDREN | op::GET_CHILDREN2 => Request::GetChildren {
                path: r.read_string()?,
                watch: r.read_bool()?,
                with_stat: opcode == op::GET_CHILDREN2,
            },
            op::SYNC => Request::Sync {
                path: r.read_string()?,
            },
            op::PING => Request::Ping,
            op::CHECK => Request::Check {
                path: r.read_string()?,
                version: r.read_i32()?,
            },
            op::MULTI => Request::Multi(decode_multi(r, false)?),
            op::MULTI_READ => Request::MultiRead(decode_multi(r, true)?),
            op::RECONFIG => {
                let mut field = || -> Result<Option<String>, DecodeError> {
                    let s = r.read_string()?;
                    Ok((!s.is_empty()).then_some(s))
                };
                Request::Reconfig(ReconfigRequest {
                    joining: field()?,
                    leaving: field()?,
                    new_members: field()?,
                    from_config: r.read_i64()?,
                })
            }
            op::CHECK_WATCHES | op::REMOVE_WATCHES => Request::CheckWatches {
                path: r.read_string()?,
                watcher_type: r.read_i32()?,
                remove: opcode == op::REMOVE_WATCHES,
            },
            op::AUTH => {
                let _type = r.read_i32()?;
                Request::Auth {
                    scheme: r.read_string()?,
                    auth: r.read_buffer()?.unwrap_or_default(),
                }
            }
            op::SET_WATCHES | op::SET_WATCHES2 => {
                let mut sw = SetWatches {
                    relative_zxid: r.read_i64()?,
                    data: r.read_string_vec()?,
                    exist: r.read_string_vec()?,
                    child: r.read_string_vec()?,
                    ..SetWatches::default()
                };
                if opcode == op::SET_WATCHES2 {
                    sw.persistent = r.read_string_vec()?;
                    sw.persistent_recursive = r.read_string_vec()?;
                }
                Request::SetWatches(sw)
            }
            op::SASL => Request::Sasl(r.read_buffer()?.unwrap_or_default()),
            op::GET_EPHEMERALS => Request::GetEphemerals {
                prefix: r.read_string()?,
            },
            op::GET_ALL_CHILDREN_NUMBER => Request::GetAllChildrenNumber {
                path: r.read_string()?,
            },
            op::ADD_WATCH => Request::AddWatch {
                path: r.read_string()?,
                mode: r.read_i32()?,
            },
            op::WHO_AM_I => Request::WhoAmI,
            op::CLOSE_SESSION => Request::CloseSession,
            other => {
                return Err(DecodeError::Unknown {
                    what: "opcode",
                    value: other,
                })
            }
        };
        Ok(req)
    }

    /// Whether the request changes state and so becomes a Txn.
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Request::Create { .. }
                | Request::Delete { .. }
                | Request::SetData { .. }
                | Request::SetAcl { .. }
                | Request::Check { .. }
                | Request::Multi(_)
                | Request::CloseSession
        )
    }

    /// Whether it creates an ephemeral node (itself, or one op of a multi): what
    /// upgrades a local session to a global one. createTTL and createContainer
    /// never make ephemerals.
    pub fn creates_ephemeral(&self) -> bool {
        match self {
            Request::Create { opcode, flags, .. } => {
                matches!(*opcode, op::CREATE | op::CREATE2)
                    && super::consts::CreateMode::from_flags(*flags)
                        .is_some_and(|m| m.is_ephemeral())
            }
            Request::Multi(ops) => ops.iter().any(Request::creates_ephemeral),
            _ => false,
        }
    }

    /// Whether a read-only member refuses it with NOTREADONLY: every op that
    /// would go through the leader (ZooKeeper's ReadOnlyRequestProcessor list).
    pub fn refused_when_read_only(&self) -> bool {
        self.is_write() && !matches!(self, Request::CloseSession)
            || matches!(self, Request::Sync { .. } | Request::Reconfig(_))
    }

    /// The path the request names, if it names one (slow-request logs).
    pub fn path(&self) -> Option<&str> {
        match self {
            Request::Create { path, .. }
            | Request::Delete { path, .. }
            | Request::Exists { path, .. }
            | Request::GetData { path, .. }
            | Request::SetData { path, .. }
            | Request::GetAcl { path }
            | Request::SetAcl { path, .. }
            | Request::GetChildren { path, .. }
            | Request::Sync { path }
            | Request::Check { path, .. }
            | Request::CheckWatches { path, .. }
            | Request::GetAllChildrenNumber { path }
            | Request::AddWatch { path, .. } => Some(path),
            Request::GetEphemerals { prefix } => Some(prefix),
            Request::Multi(ops) | Request::MultiRead(ops) => ops.first().and_then(Request::path),
            _ => None,
        }
    }

    /// The opcode a multi result for this sub-op carries.
    pub fn opcode(&self) -> i32 {
        match self {
            Request::Create { opcode, .. } => *opcode,
            Request::Delete { .. } => op::DELETE,
            Request::SetData { .. } => op::SET_DATA,
            Request::Check { .. } => op::CHECK,
            Request::GetData { .. } => op::GET_DATA,
            Request::GetChildren { .. } => op::GET_CHILDREN,
            _ => op::ERROR,
        }
    }
}

/// Reads MultiHeader-prefixed ops until the terminator. Reads and writes may not mix.
fn decode_multi(r: &mut Reader, read_only: bool) -> Result<Vec<Request>, DecodeError> {
    let mut ops = Vec::new();
    loop {
        let op_type = r.read_i32()?;
        let done = r.read_bool()?;
        let _err = r.read_i32()?;
        if done {
            break;
        }
        let allowed = if read_only {
            matches!(op_type, op::GET_DATA | op::GET_CHILDREN)
        } else {
            matches!(
                op_type,
                op::CREATE
                    | op::CREATE2
                    | op::CREATE_CONTAINER
                    | op::CREATE_TTL
                    | op::DELETE
                    | op::SET_DATA
                    | op::CHECK
            )
        };
        if !allowed {
            return Err(DecodeError::Invalid(
                "multi op not allowed here (reads and writes may not mix)",
            ));
        }
        let sub = Request::decode(op_type, r)?;
        // Watch flags inside multiRead are ignored.
        let sub = match sub {
            Request::GetData { path, .. } => Request::GetData { path, watch: false },
            Request::GetChildren { path, .. } => Request::GetChildren {
                path,
                watch: false,
                with_stat: false,
            },
            other => other,
        };
        ops.push(sub);
    }
    Ok(ops)
}

#[cfg(test)]
mod tests {
    use super::super::jute::Writer;
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn create_ttl_reads_the_trailing_ttl() {
        let mut w = Writer::new();
        w.write_string("/t");
        w.write_buffer(Some(b"x"));
        Acl::write_list(&mut w, &Acl::world_all());
        w.write_i32(5);
        w.write_i64(1000);
        let bytes = w.into_inner();
        let mut r = Reader::new(&bytes);
        let req = Request::decode(op::CREATE_TTL, &mut r).unwrap();
        assert!(r.is_empty());
        assert!(matches!(
            req,
            Request::Create {
                ttl: Some(1000),
                ..
            }
        ));
    }

    #[test]
    fn multi_rejects_mixed_reads_and_writes() {
        let mut w = Writer::new();
        w.write_i32(op::GET_DATA);
        w.write_bool(false);
        w.write_i32(-1);
        w.write_string("/a");
        w.write_bool(false);
        w.write_i32(-1);
        w.write_bool(true);
        w.write_i32(-1);
        let bytes = w.into_inner();
        assert!(Request::decode(op::MULTI, &mut Reader::new(&bytes)).is_err());
        let req = Request::decode(op::MULTI_READ, &mut Reader::new(&bytes)).unwrap();
        assert_eq!(
            req,
            Request::MultiRead(vec![Request::GetData {
                path: "/a".into(),
                watch: false
            }])
        );
    }

    proptest! {
        /// Arbitrary bytes under any opcode decode or fail, never panic.
        #[test]
        fn decoding_arbitrary_bytes_never_panics(opcode in -20i32..120, bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = Request::decode(opcode, &mut Reader::new(&bytes));
        }
    }
}
