//! What a learner sends its leader besides ZAB itself: client writes to prepare,
//! sessions it created, and which sessions its clients kept alive.

use crate::proto::{DecodeError, Id, Reader, Writer};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Forward {
    /// A client write, as the client framed it, with the connection's identities.
    Write {
        request: u64,
        session: i64,
        ids: Vec<Id>,
        opcode: i32,
        body: Vec<u8>,
    },
    /// A new session the learner allocated for a connecting client.
    CreateSession {
        request: u64,
        session: i64,
        timeout_ms: i32,
        passwd: Vec<u8>,
    },
    /// Sessions whose clients were active since the last report.
    Touch(Vec<i64>),
}

const WRITE: u8 = 1;
const CREATE_SESSION: u8 = 2;
const TOUCH: u8 = 3;

impl Forward {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        match self {
            Forward::Write {
                request,
                session,
                ids,
                opcode,
                body,
            } => {
                w.write_raw(&[WRITE]);
                w.write_i64(*request as i64);
                w.write_i64(*session);
                w.write_vec(ids, |w, id| {
                    w.write_string(&id.scheme);
                    w.write_string(&id.id);
                });
                w.write_i32(*opcode);
                w.write_buffer(Some(body));
            }
            Forward::CreateSession {
                request,
                session,
                timeout_ms,
                passwd,
            } => {
                w.write_raw(&[CREATE_SESSION]);
                w.write_i64(*request as i64);
                w.write_i64(*session);
                w.write_i32(*timeout_ms);
                w.write_buffer(Some(passwd));
            }
            Forward::Touch(sessions) => {
                w.write_raw(&[TOUCH]);
                w.write_vec(sessions, |w, s| w.write_i64(*s));
            }
        }
        w.into_inner()
    }

    pub fn decode(bytes: &[u8]) -> Result<Forward, DecodeError> {
        let mut r = Reader::new(bytes);
        let f = match r.read_u8()? {
            WRITE => Forward::Write {
                request: r.read_i64()? as u64,
                session: r.read_i64()?,
                ids: r.read_vec(|r| {
                    Ok(Id {
                        scheme: r.read_string()?,
                        id: r.read_string()?,
                    })
                })?,
                opcode: r.read_i32()?,
                body: r.read_buffer()?.unwrap_or_default(),
            },
            CREATE_SESSION => Forward::CreateSession {
                request: r.read_i64()? as u64,
                session: r.read_i64()?,
                timeout_ms: r.read_i32()?,
                passwd: r.read_buffer()?.unwrap_or_default(),
            },
            TOUCH => Forward::Touch(r.read_vec(|r| r.read_i64())?),
            _ => return Err(DecodeError::Invalid("unknown forwarded message")),
        };
        if !r.is_empty() {
            return Err(DecodeError::Invalid(
                "trailing bytes after a forwarded message",
            ));
        }
        Ok(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwards_round_trip() {
        for f in [
            Forward::Write {
                request: 7,
                session: 9,
                ids: vec![Id::new("ip", "127.0.0.1"), Id::new("digest", "a:b")],
                opcode: 1,
                body: vec![1, 2, 3],
            },
            Forward::CreateSession {
                request: 8,
                session: 10,
                timeout_ms: 4000,
                passwd: vec![5; 16],
            },
            Forward::Touch(vec![1, 2, 3]),
        ] {
            assert_eq!(Forward::decode(&f.encode()).unwrap(), f);
        }
        assert!(Forward::decode(&[9]).is_err());
    }
}
