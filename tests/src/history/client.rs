//! A deliberately small, blocking ZooKeeper client for the history workload: one
//! request at a time, every reply's header zxid kept, reconnects with the same
//! session (id, password, last zxid seen) to the next member on failure.

use crate::wire::{self, Reader, Writer};
use std::collections::BTreeSet;
use std::io::{self, ErrorKind, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

const NOTIFICATION_XID: i32 = -1;
const SET_WATCHES_XID: i32 = -8;
const OP_SET_WATCHES: i32 = 101;
const NODE_DELETED: i32 = 2;
const NODE_DATA_CHANGED: i32 = 3;
const SESSION_EXPIRED: i32 = -112;

/// What a request returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Returned {
    /// The reply header's zxid.
    pub zxid: i64,
    /// The error code (0 = ok).
    pub err: i32,
    /// For a read: the data; for a create: the created path as bytes.
    pub data: Option<Vec<u8>>,
    /// The Stat's version and mzxid, for get_data and set_data (and a multi's
    /// setData).
    pub version: Option<i32>,
    pub mzxid: Option<i64>,
    /// A multi's per-op error codes (0 = that op succeeded).
    pub results: Vec<i32>,
}

impl Returned {
    /// A reply with nothing but its zxid and error code.
    pub fn bare(zxid: i64, err: i32) -> Returned {
        Returned {
            zxid,
            err,
            data: None,
            version: None,
            mzxid: None,
            results: Vec::new(),
        }
    }
}

/// One session, possibly moving between members.
pub struct SessionClient {
    members: Vec<SocketAddr>,
    /// Index of the member in use.
    at: usize,
    /// Stay on one member (a pinned client) instead of moving on failure.
    pinned: bool,
    stream: Option<TcpStream>,
    pub session_id: i64,
    passwd: Vec<u8>,
    pub last_zxid: i64,
    next_xid: i32,
    timeout_ms: i32,
    /// Watch notifications received (type, path), in arrival order; the workload
    /// drains them into its history.
    pub events: Vec<(i32, String)>,
    /// Data watches this client believes are set: replayed with setWatches on
    /// every reconnect, as real clients do (ZOOKEEPER-1412).
    watches: BTreeSet<String>,
}

/// Why a request has no answer.
#[derive(Debug)]
pub enum Failure {
    /// The connection broke before the reply: the request may or may not apply.
    Indeterminate(io::Error),
    /// The session is gone (expired): nothing more can be done with it.
    Expired,
}

impl SessionClient {
    /// Opens a new session on `members[start]`.
    pub fn open(
        members: Vec<SocketAddr>,
        start: usize,
        pinned: bool,
        timeout_ms: i32,
    ) -> io::Result<SessionClient> {
        let mut c = SessionClient {
            at: start % members.len(),
            members,
            pinned,
            stream: None,
            session_id: 0,
            passwd: vec![0; 16],
            last_zxid: 0,
            next_xid: 1,
            timeout_ms,
            events: Vec::new(),
            watches: BTreeSet::new(),
        };
        c.reconnect(Duration::from_secs(20))?;
        Ok(c)
    }

    /// (Re)attaches the session, trying members from the current one on (only the
    /// current one when pinned) until `patience` runs out.
    pub fn reconnect(&mut self, patience: Duration) -> io::Result<()> {
        self.stream = None;
        let deadline = std::time::Instant::now() + patience;
        loop {
            match self.handshake(self.members[self.at]) {
                Ok(true) => return Ok(()),
                Ok(false) => {
                    return Err(io::Error::new(ErrorKind::NotConnected, "session expired"));
                }
                Err(_) if std::time::Instant::now() < deadline => {
                    if !self.pinned {
                        self.at = (self.at + 1) % self.members.len();
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One handshake; false when the server says the session expired.
    fn handshake(&mut self, addr: SocketAddr) -> io::Result<bool> {
        let mut stream = wire::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let req = Writer::new()
            .int(0)
            .long(self.last_zxid)
            .int(self.timeout_ms)
            .long(self.session_id)
            .buffer(&self.passwd)
            .boolean(false);
        stream.write_all(&req.framed())?;
        let payload = wire::read_frame(&mut stream)?
            .ok_or_else(|| io::Error::new(ErrorKind::UnexpectedEof, "refused"))?;
        let mut r = Reader(&payload);
        let _protocol = r.int();
        let timeout = r.int();
        let session = r.long();
        let passwd = r.buffer().unwrap_or_default();
        if timeout <= 0 || session == 0 {
            return Ok(false);
        }
        self.session_id = session;
        self.passwd = passwd;
        if !self.watches.is_empty() {
            self.replay_watches(&mut stream)?;
        }
        self.stream = Some(stream);
        Ok(true)
    }

    /// setWatches (relative to the last zxid seen) for the data watches still
    /// set; the member fires at once what changed since, then answers.
    fn replay_watches(&mut self, stream: &mut TcpStream) -> io::Result<()> {
        let mut body = Writer::new()
            .long(self.last_zxid)
            .int(self.watches.len() as i32);
        for p in &self.watches {
            body = body.string(p);
        }
        body = body.int(0).int(0);
        stream.write_all(&wire::request(SET_WATCHES_XID, OP_SET_WATCHES, &body))?;
        loop {
            let reply = wire::read_reply(stream)?;
            if reply.xid == NOTIFICATION_XID {
                self.notified(&reply.body);
                continue;
            }
            if reply.xid == SET_WATCHES_XID && reply.err == 0 {
                return Ok(());
            }
            return Err(io::Error::new(
                ErrorKind::InvalidData,
                format!("setWatches answered xid {} err {}", reply.xid, reply.err),
            ));
        }
    }

    /// Records a watch notification; a fired data watch is no longer set.
    fn notified(&mut self, body: &[u8]) {
        let mut r = Reader(body);
        let kind = r.int();
        let _state = r.int();
        let path = String::from_utf8_lossy(&r.buffer().unwrap_or_default()).into_owned();
        if kind == NODE_DATA_CHANGED || kind == NODE_DELETED {
            self.watches.remove(&path);
        }
        self.events.push((kind, path));
    }

    pub fn member(&self) -> usize {
        self.at
    }

    /// Drops the connection and makes `member` the one the next reconnect tries.
    pub fn move_to(&mut self, member: usize) {
        self.stream = None;
        self.at = member % self.members.len();
    }

    /// Sends one request and waits for its reply, collecting notifications.
    fn call(&mut self, op: i32, body: Writer) -> Result<(i64, i32, Vec<u8>), Failure> {
        let xid = self.next_xid;
        self.next_xid += 1;
        let Some(stream) = self.stream.as_mut() else {
            return Err(Failure::Indeterminate(io::Error::new(
                ErrorKind::NotConnected,
                "no connection",
            )));
        };
        let sent = stream.write_all(&wire::request(xid, op, &body));
        if let Err(e) = sent {
            self.stream = None;
            return Err(Failure::Indeterminate(e));
        }
        loop {
            let read = match self.stream.as_mut() {
                Some(s) => wire::read_reply(s),
                None => Err(io::Error::new(ErrorKind::NotConnected, "no connection")),
            };
            let reply = match read {
                Ok(r) => r,
                Err(e) => {
                    self.stream = None;
                    return Err(Failure::Indeterminate(e));
                }
            };
            if reply.xid == NOTIFICATION_XID {
                self.notified(&reply.body);
                continue;
            }
            if reply.err == SESSION_EXPIRED {
                self.stream = None;
                return Err(Failure::Expired);
            }
            if reply.xid != xid {
                self.stream = None;
                return Err(Failure::Indeterminate(io::Error::new(
                    ErrorKind::InvalidData,
                    format!("reply for xid {} while waiting for {xid}", reply.xid),
                )));
            }
            if reply.zxid > self.last_zxid {
                self.last_zxid = reply.zxid;
            }
            return Ok((reply.zxid, reply.err, reply.body));
        }
    }

    pub fn create(
        &mut self,
        path: &str,
        data: &[u8],
        ephemeral: bool,
    ) -> Result<Returned, Failure> {
        self.create_with_flags(path, data, if ephemeral { 1 } else { 0 })
    }

    /// create with ZooKeeper's CreateMode flags (2 = persistent sequential).
    pub fn create_with_flags(
        &mut self,
        path: &str,
        data: &[u8],
        flags: i32,
    ) -> Result<Returned, Failure> {
        let body = Writer::new()
            .string(path)
            .buffer(data)
            .open_acl()
            .int(flags);
        let (zxid, err, body) = self.call(wire::op::CREATE, body)?;
        let created = (err == 0).then(|| Reader(&body).buffer().unwrap_or_default());
        Ok(Returned {
            data: created,
            ..Returned::bare(zxid, err)
        })
    }

    pub fn set_data(&mut self, path: &str, data: &[u8], version: i32) -> Result<Returned, Failure> {
        let body = Writer::new().string(path).buffer(data).int(version);
        let (zxid, err, body) = self.call(wire::op::SET_DATA, body)?;
        let (version, mzxid) = if err == 0 {
            stat_version(&body)
        } else {
            (None, None)
        };
        Ok(Returned {
            version,
            mzxid,
            ..Returned::bare(zxid, err)
        })
    }

    pub fn delete(&mut self, path: &str, version: i32) -> Result<Returned, Failure> {
        let body = Writer::new().string(path).int(version);
        let (zxid, err, _) = self.call(OP_DELETE, body)?;
        Ok(Returned::bare(zxid, err))
    }

    /// getData, setting a data watch when `watch`.
    pub fn get_data(&mut self, path: &str, watch: bool) -> Result<Returned, Failure> {
        let body = Writer::new().string(path).boolean(watch);
        let (zxid, err, body) = self.call(wire::op::GET_DATA, body)?;
        if err != 0 {
            return Ok(Returned::bare(zxid, err));
        }
        if watch {
            self.watches.insert(path.to_string());
        }
        let mut r = Reader(&body);
        let data = r.buffer();
        let (version, mzxid) = stat_version(r.0);
        Ok(Returned {
            data: Some(data.unwrap_or_default()),
            version,
            mzxid,
            ..Returned::bare(zxid, err)
        })
    }

    /// multi [check(path, version), setData(path, data, -1)]: a compare-and-set.
    pub fn check_and_set(
        &mut self,
        path: &str,
        version: i32,
        data: &[u8],
    ) -> Result<Returned, Failure> {
        let body = Writer::new()
            .int(OP_CHECK)
            .boolean(false)
            .int(-1)
            .string(path)
            .int(version)
            .int(wire::op::SET_DATA)
            .boolean(false)
            .int(-1)
            .string(path)
            .buffer(data)
            .int(-1)
            .int(-1)
            .boolean(true)
            .int(-1);
        let (zxid, err, body) = self.call(OP_MULTI, body)?;
        let mut out = Returned::bare(zxid, err);
        let mut r = Reader(&body);
        while err == 0 && r.remaining() >= 9 {
            let kind = r.int();
            let done = r.0[0] != 0;
            r.0 = &r.0[1..];
            let code = r.int();
            if done {
                break;
            }
            match kind {
                OP_ERROR => out.results.push(r.int()),
                k if k == wire::op::SET_DATA => {
                    (out.version, out.mzxid) = stat_version(r.0);
                    r.0 = &r.0[STAT_LEN.min(r.0.len())..];
                    out.results.push(code);
                }
                _ => out.results.push(code),
            }
        }
        Ok(out)
    }

    /// Closes the session.
    pub fn close(&mut self) -> Result<Returned, Failure> {
        let r = self.call(OP_CLOSE_SESSION, Writer::new());
        self.stream = None;
        let (zxid, err, _) = r?;
        Ok(Returned::bare(zxid, err))
    }
}

const OP_DELETE: i32 = 2;
const OP_CHECK: i32 = 13;
const OP_MULTI: i32 = 14;
const OP_ERROR: i32 = -1;
/// czxid, mzxid, ctime, mtime, version, cversion, aversion, ephemeralOwner,
/// dataLength, numChildren, pzxid.
const STAT_LEN: usize = 68;
const OP_CLOSE_SESSION: i32 = -11;

/// (version, mzxid) from a Stat: czxid, mzxid, ctime, mtime, version, ...
fn stat_version(stat: &[u8]) -> (Option<i32>, Option<i64>) {
    if stat.len() < 36 {
        return (None, None);
    }
    let mut r = Reader(stat);
    let _czxid = r.long();
    let mzxid = r.long();
    let _ctime = r.long();
    let _mtime = r.long();
    let version = r.int();
    (Some(version), Some(mzxid))
}
