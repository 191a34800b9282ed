//! Jute records shared by requests, responses and the log: Stat, ACL, the handshake.

use super::jute::{DecodeError, Reader, Writer};

/// A znode's metadata as clients see it (68 bytes on the wire).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stat {
    pub czxid: i64,
    pub mzxid: i64,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    pub cversion: i32,
    pub aversion: i32,
    pub ephemeral_owner: i64,
    pub data_length: i32,
    pub num_children: i32,
    pub pzxid: i64,
}

impl Stat {
    pub fn write(&self, w: &mut Writer) {
        w.write_i64(self.czxid);
        w.write_i64(self.mzxid);
        w.write_i64(self.ctime);
        w.write_i64(self.mtime);
        w.write_i32(self.version);
        w.write_i32(self.cversion);
        w.write_i32(self.aversion);
        w.write_i64(self.ephemeral_owner);
        w.write_i32(self.data_length);
        w.write_i32(self.num_children);
        w.write_i64(self.pzxid);
    }

    pub fn read(r: &mut Reader) -> Result<Stat, DecodeError> {
        Ok(Stat {
            czxid: r.read_i64()?,
            mzxid: r.read_i64()?,
            ctime: r.read_i64()?,
            mtime: r.read_i64()?,
            version: r.read_i32()?,
            cversion: r.read_i32()?,
            aversion: r.read_i32()?,
            ephemeral_owner: r.read_i64()?,
            data_length: r.read_i32()?,
            num_children: r.read_i32()?,
            pzxid: r.read_i64()?,
        })
    }
}

/// An identity: (scheme, id), e.g. ("digest", "bob:hash") or ("world", "anyone").
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id {
    pub scheme: String,
    pub id: String,
}

impl Id {
    pub fn new(scheme: &str, id: &str) -> Id {
        Id {
            scheme: scheme.to_string(),
            id: id.to_string(),
        }
    }
}

/// One ACL entry: permission bits granted to an identity pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Acl {
    pub perms: i32,
    pub id: Id,
}

impl Acl {
    pub fn world_all() -> Vec<Acl> {
        vec![Acl {
            perms: super::perms::ALL,
            id: Id::new("world", "anyone"),
        }]
    }

    pub fn write(&self, w: &mut Writer) {
        w.write_i32(self.perms);
        w.write_string(&self.id.scheme);
        w.write_string(&self.id.id);
    }

    pub fn read(r: &mut Reader) -> Result<Acl, DecodeError> {
        Ok(Acl {
            perms: r.read_i32()?,
            id: Id {
                scheme: r.read_string()?,
                id: r.read_string()?,
            },
        })
    }

    pub fn write_list(w: &mut Writer, acl: &[Acl]) {
        w.write_vec(acl, |w, a| a.write(w));
    }

    pub fn read_list(r: &mut Reader) -> Result<Vec<Acl>, DecodeError> {
        r.read_vec(Acl::read)
    }
}

/// The first frame of a client connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectRequest {
    pub protocol_version: i32,
    pub last_zxid_seen: i64,
    pub timeout_ms: i32,
    pub session_id: i64,
    pub passwd: Vec<u8>,
    /// `None` when the client sent no readOnly byte (pre-3.5 dialect, node-zookeeper-client):
    /// the reply must then omit it too.
    pub read_only: Option<bool>,
}

impl ConnectRequest {
    pub fn decode(body: &[u8]) -> Result<ConnectRequest, DecodeError> {
        let mut r = Reader::new(body);
        let req = ConnectRequest {
            protocol_version: r.read_i32()?,
            last_zxid_seen: r.read_i64()?,
            timeout_ms: r.read_i32()?,
            session_id: r.read_i64()?,
            passwd: r.read_buffer()?.unwrap_or_default(),
            read_only: if r.is_empty() {
                None
            } else {
                Some(r.read_bool()?)
            },
        };
        Ok(req)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.write_i32(self.protocol_version);
        w.write_i64(self.last_zxid_seen);
        w.write_i32(self.timeout_ms);
        w.write_i64(self.session_id);
        w.write_buffer(Some(&self.passwd));
        if let Some(ro) = self.read_only {
            w.write_bool(ro);
        }
        w.into_inner()
    }
}

/// The handshake reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectResponse {
    pub timeout_ms: i32,
    pub session_id: i64,
    pub passwd: Vec<u8>,
    pub read_only: Option<bool>,
}

impl ConnectResponse {
    /// What an expired, unknown or wrong-password session gets: clients read it as Expired.
    pub fn expired(read_only: Option<bool>) -> ConnectResponse {
        ConnectResponse {
            timeout_ms: 0,
            session_id: 0,
            passwd: vec![0; 16],
            read_only: read_only.map(|_| false),
        }
    }

    pub fn encode_frame(&self) -> Vec<u8> {
        let mut w = Writer::framed();
        w.write_i32(0);
        w.write_i32(self.timeout_ms);
        w.write_i64(self.session_id);
        w.write_buffer(Some(&self.passwd));
        if let Some(ro) = self.read_only {
            w.write_bool(ro);
        }
        w.finish_frame()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connect(passwd: Vec<u8>, read_only: Option<bool>) -> ConnectRequest {
        ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 7,
            timeout_ms: 30000,
            session_id: 0,
            passwd,
            read_only,
        }
    }

    #[test]
    fn every_connect_request_size_decodes() {
        for (req, size) in [
            (connect(vec![0; 16], Some(false)), 45),
            (connect(vec![0; 16], None), 44),
            (connect(vec![], None), 28),
            (connect(vec![], Some(true)), 29),
        ] {
            let bytes = req.encode();
            assert_eq!(bytes.len(), size);
            assert_eq!(ConnectRequest::decode(&bytes).unwrap(), req);
        }
    }

    #[test]
    fn connect_response_mirrors_the_read_only_byte() {
        let with = ConnectResponse::expired(Some(true)).encode_frame();
        let without = ConnectResponse::expired(None).encode_frame();
        assert_eq!(with.len(), 4 + 37);
        assert_eq!(without.len(), 4 + 36);
    }

    #[test]
    fn stat_is_68_bytes() {
        let mut w = Writer::new();
        Stat::default().write(&mut w);
        assert_eq!(w.len(), 68);
    }
}
