//! Process harness for Rookery's process-level tests.
//!
//! A [`Member`] is one real server process on 127.0.0.1: it gets free ports, a
//! `zoo.cfg` and `dataDir/myid` in its own temporary directory, and its stderr
//! (and stdout) captured to `member.log` there. It can be killed with SIGKILL,
//! terminated with SIGTERM and restarted on the same dataDir. Dropping a member
//! always kills its process, also while a test panics, and a panicking test
//! prints the tail of the member's log.
//!
//! The server binary is `ROOKERY_BIN` if set, else `rookery` next to the test
//! executable's `deps/` directory (`<target>/debug/rookery`), else
//! `<workspace>/target/debug/rookery`. Building it is `tests/run.sh`'s job
//! (`cargo build --all-targets` before `cargo test`).
//!
//! `ROOKERY_TEST_TARGET=zk` runs the same tests against Apache ZooKeeper 3.8
//! from Debian's `zookeeper` package (`java ... QuorumPeerMain zoo.cfg`), which
//! is how the expectations in these tests were checked.
//!
//! [`wire`] has just enough of the jute wire format to talk to a server by
//! hand: frames, a ConnectRequest, request headers and reply headers.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long a member may take to answer `ruok` after it was started. This only
/// bounds a hang; no test asserts on how fast anything is.
const READY_GUARD: Duration = Duration::from_secs(120);
/// How long a member may take to exit after SIGTERM before it is killed.
const TERM_GUARD: Duration = Duration::from_secs(60);
/// Lines of the member log printed when a test fails.
const LOG_TAIL_LINES: usize = 80;

/// Which server the tests run against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// `target/debug/rookery server --config zoo.cfg`.
    Rookery,
    /// Apache ZooKeeper 3.8 standalone from Debian's `zookeeper` package.
    ApacheZk,
}

impl Target {
    /// `ROOKERY_TEST_TARGET`: unset or `rookery` → Rookery, `zk` → Apache ZooKeeper.
    pub fn from_env() -> Target {
        match std::env::var("ROOKERY_TEST_TARGET").as_deref() {
            Err(_) | Ok("") | Ok("rookery") => Target::Rookery,
            Ok("zk") | Ok("zookeeper") => Target::ApacheZk,
            Ok(other) => panic!("ROOKERY_TEST_TARGET={other:?}: expected `rookery` or `zk`"),
        }
    }

    /// A command that runs the server on `cfg`, with `dir` for any extra files it needs.
    fn command(self, cfg: &Path, dir: &Path) -> Command {
        match self {
            Target::Rookery => {
                let mut cmd = Command::new(rookery_bin());
                cmd.arg("server").arg("--config").arg(cfg);
                cmd
            }
            Target::ApacheZk => {
                let conf = dir.join("zk-conf");
                fs::create_dir_all(&conf).expect("create zk-conf");
                fs::write(
                    conf.join("log4j.properties"),
                    "log4j.rootLogger=INFO, ERR\n\
                     log4j.appender.ERR=org.apache.log4j.ConsoleAppender\n\
                     log4j.appender.ERR.Target=System.err\n\
                     log4j.appender.ERR.layout=org.apache.log4j.PatternLayout\n\
                     log4j.appender.ERR.layout.ConversionPattern=%d{ISO8601} %-5p [%t] %m%n\n",
                )
                .expect("write log4j.properties");
                let jars = "/usr/share/java";
                let classpath = format!(
                    "{}:{jars}/zookeeper.jar:{jars}/netty-resolver.jar:{jars}/netty-codec.jar:{jars}/slf4j-log4j12.jar:{jars}/log4j-1.2.jar",
                    conf.display()
                );
                let mut cmd = Command::new("java");
                cmd.arg("-Xmx512m")
                    .arg("-Djava.awt.headless=true")
                    .arg(format!(
                        "-Dlog4j.configuration=file:{}/log4j.properties",
                        conf.display()
                    ))
                    .arg("-cp")
                    .arg(classpath)
                    .arg("org.apache.zookeeper.server.quorum.QuorumPeerMain")
                    .arg(cfg);
                cmd
            }
        }
    }
}

/// Runs a short `rookery bench --connect <connect> --json` with `args` and
/// returns its report. Short defaults (4 sessions, 1 s, 0.2 s warm-up, 20
/// keys) apply unless `args` names the flag. Panics if bench fails.
pub fn bench_json(connect: &str, args: &[&str]) -> serde_json::Value {
    let defaults = [
        ("--sessions", "4"),
        ("--duration", "1"),
        ("--warmup", "0.2"),
        ("--keys", "20"),
    ];
    let mut cmd = Command::new(rookery_bin());
    cmd.args(["bench", "--connect", connect, "--json"]);
    for (flag, value) in defaults {
        if !args.contains(&flag) {
            cmd.args([flag, value]);
        }
    }
    let out = cmd.args(args).output().expect("run rookery bench");
    assert!(
        out.status.success(),
        "rookery bench {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

/// The rookery binary these tests start.
pub fn rookery_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("ROOKERY_BIN") {
        return PathBuf::from(bin);
    }
    // Test executables live in <target>/<profile>/deps/; binaries one level up.
    if let Ok(exe) = std::env::current_exe() {
        if let Some(profile_dir) = exe.parent().and_then(Path::parent) {
            let candidate = profile_dir.join("rookery");
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    let fallback = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/rookery");
    if fallback.is_file() {
        return fallback;
    }
    panic!(
        "rookery binary not found (looked next to the test executable and at {}); \
         run `cargo build` first or set ROOKERY_BIN",
        fallback.display()
    );
}

/// A TCP port on 127.0.0.1 that was free a moment ago, below the kernel's
/// ephemeral range: a port from that range (what binding port 0 gives) can be
/// taken as the local end of any outgoing connection before the member binds
/// it. Seen in CI: "cannot listen on 127.0.0.1:36629: Address already in use"
/// while other tests ran clients.
pub fn free_port() -> u16 {
    // Never give one port twice within a test process: a port handed out is
    // free until its member binds it.
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let (low, high) = fixed_port_range();
    let span = u32::from(high - low);
    // Test processes that run at once start at different places.
    let clock = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mut next = std::process::id().wrapping_mul(7919).wrapping_add(clock) % span;
    for _ in 0..span {
        next = (next + 1) % span;
        let port = low + next as u16;
        let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
        if given.contains(&port) {
            continue;
        }
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            given.push(port);
            return port;
        }
    }
    panic!("no free port in {low}..{high}");
}

/// Ports for servers in tests: from 10000 up to the start of the kernel's
/// ephemeral range (`ip_local_port_range`, 32768 by default).
fn fixed_port_range() -> (u16, u16) {
    let ephemeral_low = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    (10_000, ephemeral_low.max(10_001))
}

/// Settings for a member's zoo.cfg.
#[derive(Clone, Debug)]
pub struct MemberOptions {
    /// `4lw.commands.whitelist`. The harness uses `ruok` to see that a member is
    /// up, so keep `ruok` in it (or use `*`).
    pub four_letter_words: String,
    /// `tickTime` in ms.
    pub tick_time_ms: u32,
    /// Extra `key=value` lines appended to zoo.cfg.
    pub extra: Vec<(String, String)>,
    /// `myid`.
    pub my_id: u32,
    /// The client port (a free one when `None`).
    pub client_port: Option<u16>,
    /// Wait until the member serves before `start_with` returns (an ensemble
    /// member serves only once a quorum is up: start them all, then wait).
    pub wait_ready: bool,
    /// Which server to run; `None` follows `ROOKERY_TEST_TARGET`.
    pub target: Option<Target>,
}

impl Default for MemberOptions {
    fn default() -> Self {
        MemberOptions {
            four_letter_words: "ruok,srvr,stat,conf,envi".to_string(),
            tick_time_ms: 2000,
            extra: Vec::new(),
            my_id: 1,
            client_port: None,
            wait_ready: true,
            target: None,
        }
    }
}

/// One server process (standalone) with its own temporary directory.
pub struct Member {
    target: Target,
    dir: tempfile::TempDir,
    cfg_path: PathBuf,
    log_path: PathBuf,
    port: u16,
    admin_port: u16,
    metrics_port: u16,
    child: Option<Child>,
    starts: u32,
}

impl Member {
    /// Starts a member with default options and waits until it answers `ruok`.
    pub fn start() -> Member {
        Member::start_with(MemberOptions::default())
    }

    /// A standalone member with every four-letter word and these zoo.cfg lines.
    pub fn start_with_extra(extra: &[(&str, &str)]) -> Member {
        Member::start_with(MemberOptions {
            four_letter_words: "*".to_string(),
            extra: extra
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..MemberOptions::default()
        })
    }

    /// Starts a member with `options` and waits until it answers `ruok`.
    pub fn start_with(options: MemberOptions) -> Member {
        let target = options.target.unwrap_or_else(Target::from_env);
        let dir = tempfile::Builder::new()
            .prefix("rookery-member-")
            .tempdir()
            .expect("create temp dir");
        let data_dir = dir.path().join("data");
        let log_dir = dir.path().join("datalog");
        fs::create_dir_all(&data_dir).expect("create dataDir");
        fs::create_dir_all(&log_dir).expect("create dataLogDir");
        fs::write(data_dir.join("myid"), format!("{}\n", options.my_id)).expect("write myid");

        let port = options.client_port.unwrap_or_else(free_port);
        let admin_port = free_port();
        let metrics_port = free_port();
        let mut cfg = String::new();
        cfg.push_str(&format!("tickTime={}\n", options.tick_time_ms));
        cfg.push_str(&format!("dataDir={}\n", data_dir.display()));
        cfg.push_str(&format!("dataLogDir={}\n", log_dir.display()));
        cfg.push_str(&format!("clientPort={port}\n"));
        cfg.push_str("clientPortAddress=127.0.0.1\n");
        cfg.push_str("maxClientCnxns=0\n");
        cfg.push_str(&format!(
            "4lw.commands.whitelist={}\n",
            options.four_letter_words
        ));
        match target {
            // Debian's classpath lacks Jetty's servlet jar; the admin server is not under test.
            Target::ApacheZk => cfg.push_str("admin.enableServer=false\n"),
            // Keep the admin and metrics HTTP servers (default 0.0.0.0:8080 and
            // 0.0.0.0:7000) off shared ports.
            Target::Rookery => {
                cfg.push_str("admin.serverAddress=127.0.0.1\n");
                cfg.push_str(&format!("admin.serverPort={admin_port}\n"));
                cfg.push_str("metricsProvider.httpHost=127.0.0.1\n");
                cfg.push_str(&format!("metricsProvider.httpPort={metrics_port}\n"));
            }
        }
        for (key, value) in &options.extra {
            cfg.push_str(&format!("{key}={value}\n"));
        }
        let cfg_path = dir.path().join("zoo.cfg");
        fs::write(&cfg_path, cfg).expect("write zoo.cfg");
        let log_path = dir.path().join("member.log");

        let mut member = Member {
            target,
            dir,
            cfg_path,
            log_path,
            port,
            admin_port,
            metrics_port,
            child: None,
            starts: 0,
        };
        member.spawn(options.wait_ready);
        member
    }

    /// Waits until the member answers `ruok` and serves (see `wait_ready`).
    pub fn wait_serving(&mut self) {
        self.wait_ready();
    }

    /// Which server this is.
    pub fn target(&self) -> Target {
        self.target
    }

    /// The client port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:<port>`, usable as a ZooKeeper connect string.
    /// The admin HTTP server's address (`/commands/<name>`).
    pub fn admin_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.admin_port))
    }

    /// The metrics HTTP server's address (`/metrics`, `/healthz`, `/readyz`).
    pub fn metrics_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.metrics_port))
    }

    pub fn connect_string(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The client address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// The member's temporary directory (zoo.cfg, data/, datalog/, member.log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The zoo.cfg this member runs with.
    pub fn config_path(&self) -> &Path {
        &self.cfg_path
    }

    /// The process id of the running server, if it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process is running (it has not exited).
    /// Waits (up to `within`) for the process to exit by itself, and reaps it;
    /// its exit status, or `None` if it is still running.
    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            let status = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = status {
                self.child = None;
                self.note(&format!("exited by itself: {status}"));
                return Some(status);
            }
            thread::sleep(Duration::from_millis(50));
        }
        None
    }

    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Sends a four-letter word and returns the whole reply.
    pub fn four_letter(&self, word: &str) -> String {
        four_letter(self.addr(), word)
            .unwrap_or_else(|e| panic!("four-letter word {word:?}: {e}\n{}", self.log_tail()))
    }

    /// SIGKILL, then reap the process.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("kill9: member is not running");
        signal(&child, libc::SIGKILL);
        let _ = child.wait();
        self.note("SIGKILL");
    }

    /// SIGSTOP: the process freezes (a long GC pause, a stalled VM) until `resume`.
    pub fn pause(&mut self) {
        let child = self.child.as_ref().expect("pause: member is not running");
        signal(child, libc::SIGSTOP);
        self.note("SIGSTOP");
    }

    /// SIGCONT after `pause`.
    pub fn resume(&mut self) {
        let child = self.child.as_ref().expect("resume: member is not running");
        signal(child, libc::SIGCONT);
        self.note("SIGCONT");
    }

    /// SIGTERM and wait for the process to exit (it is SIGKILLed and the test
    /// fails if it has not exited after a generous guard period).
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("terminate: member is not running");
        signal(&child, libc::SIGTERM);
        let deadline = Instant::now() + TERM_GUARD;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    self.note(&format!("SIGTERM: exited with {status}"));
                    return status;
                }
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
                _ => {
                    signal(&child, libc::SIGKILL);
                    let _ = child.wait();
                    panic!(
                        "member did not exit within {TERM_GUARD:?} of SIGTERM\n{}",
                        self.log_tail()
                    );
                }
            }
        }
    }

    /// Starts the member again on the same dataDir and port (it must be stopped).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "restart: member is still running");
        self.spawn(true);
    }

    /// Starts the member again without waiting for it to serve.
    pub fn restart_unready(&mut self) {
        assert!(self.child.is_none(), "restart: member is still running");
        self.spawn(false);
    }

    /// The last lines of the member's captured stderr/stdout.
    pub fn log_tail(&self) -> String {
        tail_of(&self.log_path, LOG_TAIL_LINES)
    }

    fn note(&self, what: &str) {
        if let Ok(mut f) = OpenOptions::new().append(true).open(&self.log_path) {
            let _ = writeln!(f, "=== harness: {what}");
        }
    }

    fn spawn(&mut self, wait: bool) {
        self.starts += 1;
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("open member.log");
        writeln!(
            log,
            "=== harness: start #{} ({:?})",
            self.starts, self.target
        )
        .expect("write member.log");
        let stdout = log.try_clone().expect("clone log handle");
        let mut cmd = self.target.command(&self.cfg_path, self.dir.path());
        cmd.current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::from(stdout))
            .stderr(Stdio::from(log));
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {:?}: {e}", cmd.get_program()));
        self.child = Some(child);
        if wait {
            self.wait_ready();
        }
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + READY_GUARD;
        loop {
            if let Some(child) = &mut self.child {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    panic!(
                        "member exited during startup with {status}\n{}",
                        self.log_tail()
                    );
                }
            }
            // `imok` only says the process runs; Apache ZooKeeper answers it before it
            // serves clients, and then `srvr` says "not currently serving requests".
            if four_letter(self.addr(), "ruok").is_ok_and(|reply| reply == "imok")
                && four_letter(self.addr(), "srvr")
                    .is_ok_and(|reply| !reply.contains("not currently serving"))
            {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "member did not answer ruok with imok within {READY_GUARD:?}\n{}",
                    self.log_tail()
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(&child, libc::SIGKILL);
            let _ = child.wait();
        }
        if thread::panicking() {
            eprintln!(
                "---- member {} ({:?}, port {}) log tail ----\n{}\n---- end of member log ----",
                self.dir.path().display(),
                self.target,
                self.port,
                self.log_tail()
            );
        }
    }
}

fn signal(child: &Child, sig: libc::c_int) {
    let pid = child.id() as libc::pid_t;
    // SAFETY: kill(2) with a pid we spawned and have not reaped yet.
    unsafe {
        libc::kill(pid, sig);
    }
}

fn tail_of(path: &Path, lines: usize) -> String {
    let text = match fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => return format!("(no log at {}: {e})", path.display()),
    };
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    all[start..].join("\n")
}

/// Runs the server once on a config file that is expected to be rejected and
/// returns its exit status and stderr. The process is killed (and the test
/// fails) if it is still running after a guard period.
pub fn run_config_check(cfg_path: &Path) -> (ExitStatus, String) {
    let target = Target::from_env();
    let dir = cfg_path.parent().expect("config has a parent directory");
    let stderr_path = dir.join("stderr.log");
    let stderr = File::create(&stderr_path).expect("create stderr.log");
    let mut cmd = target.command(cfg_path, dir);
    cmd.current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(stderr));
    let mut child = cmd.spawn().expect("spawn server");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        match child.try_wait().expect("try_wait") {
            Some(status) => break status,
            None if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            None => {
                signal(&child, libc::SIGKILL);
                let _ = child.wait();
                panic!(
                    "server kept running on a bad config\n{}",
                    tail_of(&stderr_path, LOG_TAIL_LINES)
                );
            }
        }
    };
    let text = String::from_utf8_lossy(&fs::read(&stderr_path).unwrap_or_default()).into_owned();
    (status, text)
}

/// Sends a four-letter word to `addr` and reads the reply until the server closes.
/// A plain HTTP/1.0 GET: the status code and the body.
pub fn http_get(addr: SocketAddr, path: &str) -> io::Result<(u16, String)> {
    http_get_with(addr, path, &[])
}

/// A GET with extra header lines (`("Authorization", "digest a:b")`).
pub fn http_get_with(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n{extra}\r\n").as_bytes())?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw.as_str(), ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidData, format!("bad response: {head}"))
        })?;
    Ok((status, body.to_string()))
}

pub fn four_letter(addr: SocketAddr, word: &str) -> io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(word.as_bytes())?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply)?;
    Ok(String::from_utf8_lossy(&reply).into_owned())
}

pub mod certs;
pub mod client;
pub mod disk;
pub mod ensemble;
pub mod history;
pub mod proxy;

/// Just enough of the ZooKeeper wire protocol (jute) to talk to a server by hand.
pub mod wire {
    use std::io::{self, ErrorKind, Read, Write};
    use std::net::{SocketAddr, TcpStream};
    use std::time::Duration;

    /// Guard for a single read: only bounds a hang.
    pub const READ_GUARD: Duration = Duration::from_secs(30);

    /// `ZooDefs.OpCode`s used by the tests.
    pub mod op {
        pub const CREATE: i32 = 1;
        pub const EXISTS: i32 = 3;
        pub const GET_DATA: i32 = 4;
        pub const SET_DATA: i32 = 5;
    }

    /// `KeeperException.Code`s used by the tests.
    pub mod err {
        pub const OK: i32 = 0;
        pub const UNIMPLEMENTED: i32 = -6;
        pub const BAD_ARGUMENTS: i32 = -8;
        pub const NO_NODE: i32 = -101;
        pub const BAD_VERSION: i32 = -103;
    }

    /// A jute record being written.
    #[derive(Default, Clone, Debug)]
    pub struct Writer(pub Vec<u8>);

    impl Writer {
        pub fn new() -> Writer {
            Writer(Vec::new())
        }
        pub fn int(mut self, v: i32) -> Self {
            self.0.extend_from_slice(&v.to_be_bytes());
            self
        }
        pub fn long(mut self, v: i64) -> Self {
            self.0.extend_from_slice(&v.to_be_bytes());
            self
        }
        pub fn boolean(mut self, v: bool) -> Self {
            self.0.push(v as u8);
            self
        }
        pub fn buffer(self, v: &[u8]) -> Self {
            let mut w = self.int(v.len() as i32);
            w.0.extend_from_slice(v);
            w
        }
        pub fn string(self, v: &str) -> Self {
            self.buffer(v.as_bytes())
        }
        /// The ACL list `[world:anyone, ALL]`.
        pub fn open_acl(self) -> Self {
            self.int(1).int(31).string("world").string("anyone")
        }
        pub fn bytes(&self) -> &[u8] {
            &self.0
        }
        /// The record with its 4-byte length prefix.
        pub fn framed(&self) -> Vec<u8> {
            frame(&self.0)
        }
    }

    /// A jute record being read.
    pub struct Reader<'a>(pub &'a [u8]);

    impl Reader<'_> {
        pub fn int(&mut self) -> i32 {
            let (head, rest) = self.0.split_at(4);
            self.0 = rest;
            i32::from_be_bytes(head.try_into().unwrap())
        }
        pub fn long(&mut self) -> i64 {
            let (head, rest) = self.0.split_at(8);
            self.0 = rest;
            i64::from_be_bytes(head.try_into().unwrap())
        }
        pub fn buffer(&mut self) -> Option<Vec<u8>> {
            let len = self.int();
            if len < 0 {
                return None;
            }
            let (head, rest) = self.0.split_at(len as usize);
            self.0 = rest;
            Some(head.to_vec())
        }
        pub fn remaining(&self) -> usize {
            self.0.len()
        }
    }

    /// `payload` with its int32 length prefix.
    pub fn frame(payload: &[u8]) -> Vec<u8> {
        let mut out = (payload.len() as i32).to_be_bytes().to_vec();
        out.extend_from_slice(payload);
        out
    }

    /// The 45-byte new-session ConnectRequest body: protocolVersion 0,
    /// lastZxidSeen 0, timeOut 30000, sessionId 0, passwd 16 zero bytes, readOnly false.
    pub fn connect_request() -> Writer {
        Writer::new()
            .int(0)
            .long(0)
            .int(30_000)
            .long(0)
            .buffer(&[0u8; 16])
            .boolean(false)
    }

    /// A request frame: RequestHeader{xid, type} followed by `body`.
    pub fn request(xid: i32, op: i32, body: &Writer) -> Vec<u8> {
        let mut payload = Writer::new().int(xid).int(op).0;
        payload.extend_from_slice(body.bytes());
        frame(&payload)
    }

    /// A parsed ConnectResponse.
    #[derive(Debug, Clone)]
    pub struct ConnectResponse {
        pub frame_len: usize,
        pub protocol_version: i32,
        pub timeout: i32,
        pub session_id: i64,
        pub passwd: Option<Vec<u8>>,
    }

    /// A parsed ReplyHeader plus the rest of the frame.
    #[derive(Debug, Clone)]
    pub struct Reply {
        pub xid: i32,
        pub zxid: i64,
        pub err: i32,
        pub body: Vec<u8>,
    }

    /// Connects to `addr` with a read guard set.
    pub fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(READ_GUARD))?;
        stream.set_write_timeout(Some(READ_GUARD))?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    /// Reads one length-prefixed frame; `Ok(None)` on a clean EOF before the frame.
    pub fn read_frame(stream: &mut TcpStream) -> io::Result<Option<Vec<u8>>> {
        let mut len = [0u8; 4];
        match stream.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        let len = i32::from_be_bytes(len);
        if !(0..=16 << 20).contains(&len) {
            return Err(io::Error::new(
                ErrorKind::InvalidData,
                format!("bad frame length {len}"),
            ));
        }
        let mut payload = vec![0u8; len as usize];
        stream.read_exact(&mut payload)?;
        Ok(Some(payload))
    }

    /// Opens a session by hand (45-byte ConnectRequest) and returns the stream.
    pub fn handshake(addr: SocketAddr) -> io::Result<(TcpStream, ConnectResponse)> {
        let mut stream = connect(addr)?;
        stream.write_all(&connect_request().framed())?;
        let payload = read_frame(&mut stream)?.ok_or_else(|| {
            io::Error::new(ErrorKind::UnexpectedEof, "closed before ConnectResponse")
        })?;
        let mut r = Reader(&payload);
        let response = ConnectResponse {
            frame_len: payload.len(),
            protocol_version: r.int(),
            timeout: r.int(),
            session_id: r.long(),
            passwd: r.buffer(),
        };
        Ok((stream, response))
    }

    /// Reads one reply frame and parses its ReplyHeader.
    pub fn read_reply(stream: &mut TcpStream) -> io::Result<Reply> {
        let payload = read_frame(stream)?
            .ok_or_else(|| io::Error::new(ErrorKind::UnexpectedEof, "closed before reply"))?;
        if payload.len() < 16 {
            return Err(io::Error::new(
                ErrorKind::InvalidData,
                format!("reply frame of {} bytes", payload.len()),
            ));
        }
        let mut r = Reader(&payload);
        Ok(Reply {
            xid: r.int(),
            zxid: r.long(),
            err: r.int(),
            body: r.0.to_vec(),
        })
    }

    /// How a connection ended.
    #[derive(Debug, PartialEq, Eq)]
    pub enum Closed {
        /// EOF or reset, after the server sent this many bytes.
        Yes { bytes_before_close: usize },
        /// Still open when the read guard expired.
        StillOpen { bytes: usize },
    }

    /// Reads until the server closes the connection (EOF or reset), discarding data.
    pub fn wait_closed(stream: &mut TcpStream) -> Closed {
        let mut total = 0usize;
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf) {
                Ok(0) => {
                    return Closed::Yes {
                        bytes_before_close: total,
                    }
                }
                Ok(n) => total += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Closed::StillOpen { bytes: total }
                }
                // ECONNRESET and friends: the server closed with our bytes unread.
                Err(_) => {
                    return Closed::Yes {
                        bytes_before_close: total,
                    }
                }
            }
        }
    }

    /// Writes, treating a reset/broken pipe (the server already closed) as done.
    pub fn write_lenient(stream: &mut TcpStream, bytes: &[u8]) {
        let _ = stream.write_all(bytes);
        let _ = stream.flush();
    }
}

/// Prometheus text exposition, read the simple way tests need.
pub mod exposition {
    use std::collections::BTreeMap;

    /// Family name → its `# TYPE`.
    pub fn types(text: &str) -> BTreeMap<String, String> {
        text.lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split_once(' '))
            .map(|(n, t)| (n.to_string(), t.trim().to_string()))
            .collect()
    }

    /// Sample (`name{labels}` as written) → value.
    pub fn samples(text: &str) -> BTreeMap<String, f64> {
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .filter_map(|l| l.rsplit_once(' '))
            .filter_map(|(k, v)| Some((k.to_string(), v.trim().parse::<f64>().ok()?)))
            .collect()
    }

    /// The value of one sample, if present.
    pub fn value(text: &str, sample: &str) -> Option<f64> {
        samples(text).get(sample).copied()
    }
}

/// A TCP connection to `to` from the local address `source` (any 127.x.y.z works
/// on Linux: the whole 127/8 is loopback), with the `wire` read and write guards.
pub fn connect_from(source: Ipv4Addr, to: SocketAddr) -> io::Result<TcpStream> {
    use std::os::fd::FromRawFd;
    fn sockaddr(ip: Ipv4Addr, port: u16) -> libc::sockaddr_in {
        // SAFETY: sockaddr_in is plain data; all zeroes is a valid value.
        let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        sa.sin_family = libc::AF_INET as libc::sa_family_t;
        sa.sin_port = port.to_be();
        sa.sin_addr.s_addr = u32::from(ip).to_be();
        sa
    }
    let SocketAddr::V4(to) = to else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "IPv4 only"));
    };
    // SAFETY: socket(2) has no memory preconditions; the descriptor it returns is
    // owned by the TcpStream below (closed on drop, also on the error paths).
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh socket nobody else owns.
    let stream = unsafe { TcpStream::from_raw_fd(fd) };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    let local = sockaddr(source, 0);
    // SAFETY: `local` is a valid sockaddr_in of `len` bytes for the duration of the call.
    if unsafe { libc::bind(fd, (&local as *const libc::sockaddr_in).cast(), len) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let remote = sockaddr(*to.ip(), to.port());
    // SAFETY: as above; a blocking connect on loopback.
    if unsafe { libc::connect(fd, (&remote as *const libc::sockaddr_in).cast(), len) } != 0 {
        return Err(io::Error::last_os_error());
    }
    stream.set_read_timeout(Some(wire::READ_GUARD))?;
    stream.set_write_timeout(Some(wire::READ_GUARD))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// The resident set size of process `pid` in KiB (`VmRSS` in /proc/<pid>/status).
pub fn vm_rss_kib(pid: u32) -> Option<u64> {
    proc_status_kib(pid, "VmRSS")
}

/// A KiB figure of /proc/<pid>/status: `VmRSS`, `VmHWM` (peak RSS), ...
pub fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
