//! The watch workload's watchers: minimal protocol sessions on tokio sockets.
//! Each does the handshake, a getData that sets a data watch, waits for the
//! event, and closes its session at the end.
//!
//! Why not the zookeeper-client crate, as every other workload: with 10,000
//! sessions in one process the crate was the measurement's bottleneck. Every
//! one of its sockets goes through one async-io reactor thread that then wakes
//! a tokio task, so each event costs two thread hand-offs in the load generator
//! before it is counted. Measured on a Rookery ensemble: all 10,000 watchers on
//! one member finished sooner (245 ms) than spread over three (294 ms), with
//! 42 % of the machine idle: the load generator, not the members, set the pace.
//! These sessions read their sockets on tokio's own reactor.

use anyhow::{bail, Context};
use rookery_server::proto::{ConnectRequest, Reader, Writer};
use rookery_tui::client_tls::ClientTls;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const GET_DATA: i32 = 4;
const CLOSE_SESSION: i32 = -11;
/// The xid of a watch event.
const NOTIFICATION_XID: i32 = -1;
/// A frame the watchers accept: a getData reply or an event is far smaller.
const MAX_FRAME: usize = 1 << 20;
/// Asked for in the handshake: longer than any run's pause between requests.
const SESSION_TIMEOUT_MS: i32 = 30_000;

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// One watcher session.
pub struct Watcher {
    io: BufReader<Box<dyn Io>>,
    /// The watched node's path on the server (with the connect string's chroot).
    path: String,
    xid: i32,
}

impl Watcher {
    /// Opens a session to `target` (`host:port[/chroot]`) that will watch `node`.
    pub async fn open(
        target: &str,
        node: &str,
        tls: Option<&ClientTls>,
    ) -> anyhow::Result<Watcher> {
        let (addr, chroot) = match target.find('/') {
            Some(i) => (&target[..i], &target[i..]),
            None => (target, ""),
        };
        let tcp = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        tcp.set_nodelay(true)?;
        let io: Box<dyn Io> = match tls {
            Some(tls) => Box::new(tls.wrap(addr, tcp).await?),
            None => Box::new(tcp),
        };
        let mut watcher = Watcher {
            io: BufReader::with_capacity(4096, io),
            path: format!("{chroot}{node}"),
            xid: 0,
        };
        let connect = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout_ms: SESSION_TIMEOUT_MS,
            session_id: 0,
            passwd: vec![0; 16],
            read_only: Some(false),
        };
        let mut w = Writer::framed();
        w.write_raw(&connect.encode());
        watcher.send(w).await?;
        let reply = watcher.frame().await?;
        let mut r = Reader::new(&reply);
        let (_protocol, timeout, session) = (r.read_i32()?, r.read_i32()?, r.read_i64()?);
        if timeout <= 0 || session == 0 {
            bail!("{addr} refused the session");
        }
        Ok(watcher)
    }

    /// Reads the node and leaves a data watch on it.
    pub async fn watch(&mut self) -> anyhow::Result<()> {
        self.xid += 1;
        let mut w = Writer::framed();
        w.write_i32(self.xid);
        w.write_i32(GET_DATA);
        w.write_string(&self.path);
        w.write_bool(true);
        self.send(w).await?;
        loop {
            let frame = self.frame().await?;
            let mut r = Reader::new(&frame);
            let (xid, _zxid, err) = (r.read_i32()?, r.read_i64()?, r.read_i32()?);
            if xid == self.xid {
                if err != 0 {
                    bail!("getData {} failed with error {err}", self.path);
                }
                return Ok(());
            }
        }
    }

    /// Waits for the watch event.
    pub async fn event(&mut self) -> anyhow::Result<()> {
        loop {
            let frame = self.frame().await?;
            if frame.get(..4) == Some(&NOTIFICATION_XID.to_be_bytes()[..]) {
                return Ok(());
            }
        }
    }

    /// Ends the session without waiting for the answer.
    pub async fn close(mut self) {
        self.xid += 1;
        let mut w = Writer::framed();
        w.write_i32(self.xid);
        w.write_i32(CLOSE_SESSION);
        let _ = self.send(w).await;
    }

    /// Sends a request built in a `Writer::framed()`.
    async fn send(&mut self, request: Writer) -> anyhow::Result<()> {
        let io = self.io.get_mut();
        io.write_all(&request.finish_frame()).await?;
        io.flush().await?;
        Ok(())
    }

    async fn frame(&mut self) -> anyhow::Result<Vec<u8>> {
        let len = self
            .io
            .read_u32()
            .await
            .context("the session's connection ended")? as usize;
        if len > MAX_FRAME {
            bail!("a {len}-byte frame from the server");
        }
        let mut body = vec![0u8; len];
        self.io.read_exact(&mut body).await?;
        Ok(body)
    }
}
