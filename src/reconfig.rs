//! `rookery reconfig`: asks an ensemble (Rookery or Apache ZooKeeper 3.5+ with
//! `reconfigEnabled=true`) to change its members, as zkCli's `reconfig` does,
//! and prints the configuration that results.

use anyhow::{bail, Context};
use rookery_server::proto::{ConnectRequest, ErrorCode, Reader, Writer};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// What to change: `add` entries are `server.N=host:quorumPort:electionPort[:role];[clientHost:]clientPort`.
pub struct Change {
    pub add: Vec<String>,
    pub remove: Vec<String>,
    pub members: Vec<String>,
    pub from_config: i64,
    /// `user:password` for the digest scheme (reconfig needs the super user).
    pub auth: Option<String>,
}

const OP_RECONFIG: i32 = 16;
const OP_AUTH: i32 = 100;
const AUTH_XID: i32 = -4;

/// Sends the reconfig to the first member of `connect` that answers.
pub fn run(connect: &str, change: &Change) -> anyhow::Result<String> {
    let mut last_error = None;
    for host in connect.split('/').next().unwrap_or("").split(',') {
        match reconfig_via(host.trim(), change) {
            Ok(config) => return Ok(config),
            Err(e) => last_error = Some(e.context(format!("via {host}"))),
        }
    }
    Err(last_error.unwrap_or_else(|| anyhow::anyhow!("no member in {connect:?}")))
}

fn reconfig_via(host: &str, change: &Change) -> anyhow::Result<String> {
    let addr = std::net::ToSocketAddrs::to_socket_addrs(host)
        .with_context(|| format!("resolving {host}"))?
        .next()
        .with_context(|| format!("{host} resolves to nothing"))?;
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let hello = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        timeout_ms: 10_000,
        session_id: 0,
        passwd: vec![0; 16],
        read_only: Some(false),
    };
    send_frame(&mut s, &hello.encode())?;
    let reply = read_frame(&mut s)?;
    let mut r = Reader::new(&reply);
    let (_proto, timeout) = (r.read_i32()?, r.read_i32()?);
    if timeout <= 0 {
        bail!("the member refused the session");
    }
    if let Some(auth) = &change.auth {
        let mut w = Writer::new();
        w.write_i32(AUTH_XID);
        w.write_i32(OP_AUTH);
        w.write_i32(0);
        w.write_string("digest");
        w.write_buffer(Some(auth.as_bytes()));
        send_frame(&mut s, &w.into_inner())?;
        let (_, err, _) = read_reply(&mut s)?;
        if err != 0 {
            bail!("authentication failed ({})", code_name(err));
        }
    }
    let mut w = Writer::new();
    w.write_i32(1);
    w.write_i32(OP_RECONFIG);
    let list = |v: &[String]| (!v.is_empty()).then(|| v.join(","));
    for field in [
        list(&change.add),
        list(&change.remove),
        list(&change.members),
    ] {
        match field {
            Some(text) => w.write_string(&text),
            None => w.write_i32(-1),
        }
    }
    w.write_i64(change.from_config);
    send_frame(&mut s, &w.into_inner())?;
    let (_, err, body) = read_reply(&mut s)?;
    if err != 0 {
        bail!("reconfig refused: {} ({err})", code_name(err));
    }
    let mut r = Reader::new(&body);
    let data = r.read_buffer()?.unwrap_or_default();
    Ok(String::from_utf8_lossy(&data).into_owned())
}

fn code_name(code: i32) -> &'static str {
    let c = ErrorCode::from_code(code);
    if c.code() == code {
        c.label()
    } else {
        "unknown error"
    }
}

fn send_frame(s: &mut TcpStream, body: &[u8]) -> anyhow::Result<()> {
    s.write_all(&(body.len() as i32).to_be_bytes())?;
    s.write_all(body)?;
    Ok(())
}

fn read_frame(s: &mut TcpStream) -> anyhow::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len)
        .context("the member closed the connection")?;
    let len = i32::from_be_bytes(len);
    if !(0..=16 << 20).contains(&len) {
        bail!("bad frame length {len}");
    }
    let mut body = vec![0u8; len as usize];
    s.read_exact(&mut body)?;
    Ok(body)
}

/// The next reply that is not a watch event: (xid, err, body after the header).
fn read_reply(s: &mut TcpStream) -> anyhow::Result<(i32, i32, Vec<u8>)> {
    loop {
        let frame = read_frame(s)?;
        let mut r = Reader::new(&frame);
        let (xid, _zxid, err) = (r.read_i32()?, r.read_i64()?, r.read_i32()?);
        if xid == -1 {
            continue;
        }
        return Ok((xid, err, frame[16..].to_vec()));
    }
}
