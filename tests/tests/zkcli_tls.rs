//! Debian's zkCli.sh (Apache ZooKeeper 3.8's own CLI, package `zookeeper`) over
//! TLS with `zookeeper.client.secure=true`, against one member with a
//! `secureClientPort` that needs client certificates. The CA, the member's
//! certificate (for localhost and 127.0.0.1) and the client certificates are
//! made here (tests/src/certs.rs) and written to a temporary directory; no key
//! is ever committed.
//!
//! The Java client's TLS settings go in `CLIENT_JVMFLAGS`, which zkCli.sh puts
//! on the java command line after its own `-cp` (`JVMFLAGS` follows it; the
//! test clears it). The settings are ZooKeeper 3.8's `ClientX509Util` ones
//! (prefix `zookeeper.ssl.`): the key store is one PEM file holding a PKCS#8
//! private key and its certificate (`PemReader` takes RSA, EC and DSA keys),
//! the trust store a PEM file of CA certificates. Host name verification stays
//! on (ZooKeeper's default): the member's certificate names 127.0.0.1.
//!
//! Debian's zkEnv.sh sets the class path to `/etc/zookeeper/conf` and
//! `zookeeper.jar` only, and that jar's manifest `Class-Path` lists netty's
//! buffer, common, handler and transport jars but not netty-resolver nor
//! netty-codec, which `ClientCnxnSocketNetty` needs: without them every
//! connection attempt dies with `NoClassDefFoundError:
//! io/netty/resolver/AddressResolverGroup` (logged by a logger Debian leaves
//! without a binding, so all zkCli prints is a ConnectionLoss). The flags
//! therefore start with a `-cp` that adds the two jars; the java launcher takes
//! the last `-cp` it is given. `ClientCnxnSocketNetty` is the only client socket
//! that speaks TLS.
//!
//! Every zkCli run is its own process group (zkCli.sh does not `exec` java),
//! bounded by a guard and killed as a group when the guard expires or the test
//! panics. `ROOKERY_TEST_TARGET=zk` runs the same test against Apache ZooKeeper
//! 3.8, which is where the expected output comes from.

use rookery_tests::certs::{start_tls_member, Ca};
use rookery_tests::wire::{self, op, Reader, Writer};
use rookery_tests::Member;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const ZKCLI: &str = "/usr/share/zookeeper/bin/zkCli.sh";
const JARS: &str = "/usr/share/java";
/// Bounds a zkCli run that is expected to finish (a JVM start and a few
/// requests take a couple of seconds). Only bounds a hang.
const GUARD: Duration = Duration::from_secs(120);
/// How long a zkCli that must not get a session may run before it is killed.
/// It gives up by itself after its first failed attempt (the queued request
/// fails with ConnectionLoss), within seconds.
const REFUSED_GUARD: Duration = Duration::from_secs(60);

/// The PEM files the clients use.
struct Pems {
    /// The CA's certificate (the member's trust store too).
    ca: PathBuf,
    /// Key and certificate from the trusted CA, subject `CN=zkcli`.
    client: PathBuf,
    /// Key and certificate from another CA.
    stranger: PathBuf,
}

/// A standalone member with a TLS port that needs client certificates from a
/// new CA, beside its plain port; the TLS port and the clients' PEM files.
fn start_member(dir: &Path) -> (Member, u16, Pems) {
    let ca = Ca::new("rookery zkCli test CA");
    let (member, secure) = start_tls_member(
        dir,
        &ca,
        vec![
            ("ssl.clientAuth".into(), "need".into()),
            // Apache ZooKeeper serves TLS only with Netty; Rookery reads the key
            // without a warning and has no use for it.
            (
                "serverCnxnFactory".into(),
                "org.apache.zookeeper.server.NettyServerCnxnFactory".into(),
            ),
        ],
    );
    let other = Ca::new("some other CA");
    let pems = Pems {
        ca: dir.join("ca.pem"),
        client: dir.join("client.pem"),
        stranger: dir.join("stranger.pem"),
    };
    // Apache ZooKeeper 3.8 also checks a client's certificate against the
    // client's address, so the client certificates name 127.0.0.1 too.
    for (path, issuer) in [(&pems.client, &ca), (&pems.stranger, &other)] {
        let (cert, key) = issuer.issue_to(Some("zkcli"), &["localhost", "127.0.0.1"], false);
        std::fs::write(path, format!("{key}{cert}")).expect("write a client key store");
    }
    (member, secure, pems)
}

/// `CLIENT_JVMFLAGS` for a TLS client that trusts `trust` and presents the key
/// store `key_store` (none when `None`). zkCli.sh splits it on spaces, so no
/// path may contain one.
fn tls_flags(trust: &Path, key_store: Option<&Path>) -> String {
    let mut flags = vec![
        // See the module comment: the jars Debian's class path lacks.
        format!(
            "-cp /etc/zookeeper/conf:{JARS}/zookeeper.jar:{JARS}/netty-resolver.jar:{JARS}/netty-codec.jar"
        ),
        "-Xmx256m".to_string(),
        "-Dzookeeper.client.secure=true".to_string(),
        "-Dzookeeper.clientCnxnSocket=org.apache.zookeeper.ClientCnxnSocketNetty".to_string(),
        format!("-Dzookeeper.ssl.trustStore.location={}", trust.display()),
        "-Dzookeeper.ssl.trustStore.type=PEM".to_string(),
    ];
    if let Some(key_store) = key_store {
        flags.push(format!(
            "-Dzookeeper.ssl.keyStore.location={}",
            key_store.display()
        ));
        flags.push("-Dzookeeper.ssl.keyStore.type=PEM".to_string());
    }
    for path in [Some(trust), key_store].into_iter().flatten() {
        assert!(
            !path.display().to_string().contains(char::is_whitespace),
            "zkCli.sh would split {path:?}"
        );
    }
    flags.join(" ")
}

/// How a zkCli run ended.
struct Run {
    /// `None`: still running when its guard expired (then killed).
    status: Option<ExitStatus>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn lines(&self) -> impl Iterator<Item = &str> {
        self.stdout.lines().map(str::trim_end)
    }

    fn has_line(&self, line: &str) -> bool {
        self.lines().any(|l| l == line)
    }

    fn connected(&self) -> bool {
        self.stdout.contains("state:SyncConnected")
    }

    fn describe(&self) -> String {
        format!(
            "status {:?}\n---- stdout ----\n{}\n---- stderr ----\n{}\n----",
            self.status, self.stdout, self.stderr
        )
    }
}

/// A running zkCli.sh: its own process group, killed as a whole on drop.
struct ZkCli {
    child: Option<Child>,
}

impl ZkCli {
    fn kill_group(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill(2) on the process group of a child we have not reaped,
            // so the group id is still ours; zkCli.sh's java is in the group.
            unsafe {
                libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL);
            }
            let _ = child.wait();
        }
    }
}

impl Drop for ZkCli {
    fn drop(&mut self) {
        self.kill_group();
    }
}

/// Runs `zkCli.sh -server 127.0.0.1:<port> <args>` with `flags` in
/// `CLIENT_JVMFLAGS` and `script` on its standard input (none when `None`),
/// for at most `guard`.
fn zkcli(port: u16, flags: &str, args: &[&str], script: Option<&str>, guard: Duration) -> Run {
    assert!(
        Path::new(ZKCLI).is_file(),
        "{ZKCLI} not found: apt-get install zookeeper (tests/run.sh does)"
    );
    let mut stdout = tempfile::tempfile().expect("stdout file");
    let mut stderr = tempfile::tempfile().expect("stderr file");
    let stdin = match script {
        Some(script) => {
            let mut file = tempfile::tempfile().expect("stdin file");
            file.write_all(script.as_bytes()).expect("write the script");
            file.seek(SeekFrom::Start(0)).expect("rewind the script");
            Stdio::from(file)
        }
        None => Stdio::null(),
    };
    let server = format!("127.0.0.1:{port}");
    let mut cmd = Command::new(ZKCLI);
    cmd.arg("-server")
        .arg(&server)
        .args(args)
        .env("CLIENT_JVMFLAGS", flags)
        .env("JVMFLAGS", "")
        .stdin(stdin)
        .stdout(stdout.try_clone().expect("clone stdout file"))
        .stderr(stderr.try_clone().expect("clone stderr file"))
        .process_group(0);
    let mut cli = ZkCli {
        child: Some(cmd.spawn().expect("spawn zkCli.sh")),
    };
    let deadline = Instant::now() + guard;
    let status = loop {
        let child = cli.child.as_mut().expect("zkCli runs");
        if let Some(status) = child.try_wait().expect("wait for zkCli") {
            cli.child = None;
            break Some(status);
        }
        if Instant::now() > deadline {
            cli.kill_group();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let read = |file: &mut File| {
        let mut text = String::new();
        file.seek(SeekFrom::Start(0)).expect("rewind output");
        file.read_to_string(&mut text).expect("read output");
        text
    };
    Run {
        status,
        stdout: read(&mut stdout),
        stderr: read(&mut stderr),
    }
}

/// getData over the plain port: the node's data.
fn get_over_plain(member: &Member, path: &str) -> Vec<u8> {
    let (mut plain, hello) = wire::handshake(member.addr()).expect("plain session");
    assert!(hello.timeout > 0, "a plain session");
    plain
        .write_all(&wire::request(
            1,
            op::GET_DATA,
            &Writer::new().string(path).boolean(false),
        ))
        .expect("getData");
    let reply = wire::read_reply(&mut plain).expect("getData reply");
    assert_eq!(
        reply.err,
        wire::err::OK,
        "getData {path} over the plain port"
    );
    Reader(&reply.body).buffer().expect("data")
}

#[test]
fn zkcli_over_tls_creates_reads_and_lists() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (member, secure, pems) = start_member(dir.path());
    let flags = tls_flags(&pems.ca, Some(&pems.client));

    // One session fed a script on stdin, as at zkCli's prompt.
    let session = zkcli(
        secure,
        &flags,
        &[],
        Some("create /tls-node data\nget /tls-node\nls /\nquit\n"),
        GUARD,
    );
    assert!(
        session.status.is_some_and(|s| s.success()),
        "zkCli over TLS: {}",
        session.describe()
    );
    assert!(session.connected(), "no session: {}", session.describe());
    // zkCli prints `Created` on stderr, what it reads on stdout.
    assert!(
        session
            .stderr
            .lines()
            .any(|l| l.trim_end() == "Created /tls-node"),
        "create: {}",
        session.describe()
    );
    assert!(session.has_line("data"), "get: {}", session.describe());
    assert!(
        session.has_line("[tls-node, zookeeper]"),
        "ls /: {}",
        session.describe()
    );

    // A second session, the command on zkCli's command line: it exits with the
    // command's result.
    let get = zkcli(secure, &flags, &["get", "/tls-node"], None, GUARD);
    assert!(
        get.status.is_some_and(|s| s.success()) && get.connected() && get.has_line("data"),
        "zkCli get over TLS: {}",
        get.describe()
    );
    let ls = zkcli(secure, &flags, &["ls", "/"], None, GUARD);
    assert!(
        ls.status.is_some_and(|s| s.success()) && ls.has_line("[tls-node, zookeeper]"),
        "zkCli ls / over TLS: {}",
        ls.describe()
    );

    // What zkCli wrote over TLS is what a plain client reads.
    assert_eq!(get_over_plain(&member, "/tls-node"), b"data");
}

#[test]
fn zkcli_without_a_trusted_client_certificate_gets_no_session() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (member, secure, pems) = start_member(dir.path());

    // The control: the same flags with the trusted certificate are served, so a
    // refusal below is the certificate's doing, not the JVM's or the class path's.
    let served = zkcli(
        secure,
        &tls_flags(&pems.ca, Some(&pems.client)),
        &["create", "/served", "yes"],
        None,
        GUARD,
    );
    assert!(
        served.status.is_some_and(|s| s.success()) && served.connected(),
        "zkCli with the trusted certificate: {}",
        served.describe()
    );

    for (what, key_store) in [
        (
            "a certificate from another CA",
            Some(pems.stranger.as_path()),
        ),
        ("no certificate", None),
    ] {
        let refused = zkcli(
            secure,
            &tls_flags(&pems.ca, key_store),
            &["get", "/served"],
            None,
            REFUSED_GUARD,
        );
        // Java presents a client certificate only if it chains to a CA the
        // server's CertificateRequest names, so the stranger's certificate is
        // not even sent: both handshakes fail for want of one. zkCli gives up on
        // the command at the first failed connection attempt, as it does against
        // Apache ZooKeeper: `KeeperErrorCode = ConnectionLoss for /served` on
        // stderr, exit code 1, no SyncConnected.
        assert!(
            refused.status.is_some(),
            "zkCli with {what} still ran after {REFUSED_GUARD:?}: {}",
            refused.describe()
        );
        assert!(
            !refused.connected() && !refused.has_line("yes"),
            "zkCli with {what} got a session: {}",
            refused.describe()
        );
        assert_eq!(
            refused.status.and_then(|s| s.code()),
            Some(1),
            "zkCli with {what}: {}",
            refused.describe()
        );
        assert!(
            refused
                .stderr
                .contains("KeeperErrorCode = ConnectionLoss for /served"),
            "zkCli with {what}: {}",
            refused.describe()
        );
    }

    // The member still serves over the plain port.
    assert_eq!(get_over_plain(&member, "/served"), b"yes");
}
