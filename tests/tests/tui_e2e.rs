//! `rookery tui` end to end, in a real terminal (tmux): against a live
//! 3-member Rookery ensemble (the strip shows one leader and two followers,
//! `--path` shows the node's data, a node created from the UI is seen by
//! another client, killing the leader shows the new one within seconds),
//! and the same tree browsing against Apache ZooKeeper 3.8 (Debian's
//! `zookeeper` package), which the TUI reaches only as any client would.
//!
//! Needs `tmux` (tests/run.sh installs it). Every tmux server and process a
//! test starts is stopped by a guard's `Drop`, also when the test fails.

use rookery_tests::ensemble::Ensemble;
use rookery_tests::{four_letter, free_port, rookery_bin};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use zookeeper_client as zk;

/// Bounds every wait so that a hang fails the test.
const GUARD: Duration = Duration::from_secs(60);
/// How soon the strip must show the new leader after the old one is killed.
const NEW_LEADER_WITHIN: Duration = Duration::from_secs(20);
const ROLES: [&str; 7] = [
    "leader",
    "follower",
    "observer",
    "standalone",
    "looking",
    "down",
    "?",
];

/// A tmux server of its own (`-L`), running one command in a 160×48 pane.
struct Tmux {
    socket: String,
    socket_path: Option<std::path::PathBuf>,
}

impl Tmux {
    fn start(program: &Path, args: &[&str]) -> Tmux {
        static N: AtomicU32 = AtomicU32::new(0);
        let socket = format!(
            "rookery-tui-e2e-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let mut command = shell_quote(&program.display().to_string());
        for a in args {
            command.push(' ');
            command.push_str(&shell_quote(a));
        }
        // Keep the pane after the TUI exits so its last words can be read.
        let script = format!("{command}; echo \"TUI EXITED $?\"; sleep 600");
        let status = Command::new("tmux")
            .args([
                "-L",
                &socket,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-s",
                "tui",
            ])
            .args(["-x", "160", "-y", "48"])
            .arg(script)
            .env_remove("TMUX")
            .status()
            .unwrap_or_else(|e| panic!("running tmux ({e}); install it: apt-get install tmux"));
        let mut tmux = Tmux {
            socket,
            socket_path: None,
        };
        assert!(status.success(), "tmux new-session failed: {status}");
        let path = tmux.tmux(&["display-message", "-p", "#{socket_path}"]);
        tmux.socket_path =
            Some(path.trim().into()).filter(|p: &std::path::PathBuf| p.is_absolute());
        tmux
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("tmux {args:?}: {e}"));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "tui"])
    }

    /// Keys by tmux name (`Enter`, `Tab`, `q`).
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "tui"];
        args.extend_from_slice(keys);
        self.tmux(&args);
        std::thread::sleep(Duration::from_millis(150));
    }

    /// Literal text.
    fn text(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "tui", "-l", text]);
        std::thread::sleep(Duration::from_millis(150));
    }

    /// Waits until the screen satisfies `ok`; fails with the screen if not.
    fn wait_for(&self, what: &str, within: Duration, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + within;
        loop {
            let screen = self.screen();
            if ok(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "waited {within:?} for {what}; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- TUI screen ----\n{}\n----", self.screen());
        }
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .stderr(Stdio::null())
            .status();
        if let Some(path) = &self.socket_path {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The role the strip shows for `addr`: the word after the address on the
/// first line where that word is a role.
fn role_of(screen: &str, addr: &str) -> Option<String> {
    screen.lines().find_map(|line| {
        let mut words = line.split_whitespace().skip_while(|w| *w != addr);
        words.next()?;
        let role = words.next()?;
        ROLES.contains(&role).then(|| role.to_string())
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

async fn connect(connect_string: &str) -> zk::Client {
    rookery_tests::client::connect_with(connect_string, Duration::from_secs(20)).await
}

async fn create(client: &zk::Client, path: &str, data: &[u8]) {
    let options = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    client
        .create(path, data, &options)
        .await
        .unwrap_or_else(|e| panic!("create {path}: {e}"));
}

/// Waits until another client sees `path` with `data`.
async fn wait_for_node(client: &zk::Client, path: &str, data: &[u8]) {
    let deadline = tokio::time::Instant::now() + GUARD;
    loop {
        match client.get_data(path).await {
            Ok((got, _)) if got == data => return,
            other if tokio::time::Instant::now() > deadline => {
                panic!("{path} never held {data:?}: {other:?}")
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Browses to `path` (given with --path), checks its data is shown and the
/// root's children are listed, then creates `/<created>` from the create
/// dialog and checks that `client` sees it.
fn browse_and_create(
    tui: &Tmux,
    rt: &tokio::runtime::Runtime,
    client: &zk::Client,
    data: &str,
    created: &str,
) {
    tui.wait_for("the --path node's data", GUARD, |s| s.contains(data));
    tui.wait_for("the root's children (zookeeper)", GUARD, |s| {
        s.lines().any(|l| l.contains("│ zookeeper"))
    });
    // c: the create dialog, path prefilled with the directory ("/").
    tui.keys(&["c"]);
    tui.wait_for("the create dialog", GUARD, |s| s.contains("Create a node"));
    tui.text(created);
    tui.keys(&["Tab", "Tab"]); // kind (persistent), then data
    tui.text("made in tmux");
    tui.keys(&["Enter"]);
    let path = format!("/{created}");
    tui.wait_for("the created message", GUARD, |s| {
        s.contains(&format!("created {path}"))
    });
    rt.block_on(wait_for_node(client, &path, b"made in tmux"));
}

fn quit(tui: &Tmux) {
    tui.keys(&["q"]);
    tui.wait_for("the TUI to exit cleanly", GUARD, |s| {
        s.contains("TUI EXITED 0")
    });
}

#[test]
fn tui_against_a_rookery_ensemble() {
    let mut ensemble = Ensemble::start(3);
    let addrs: Vec<String> = ensemble
        .members
        .iter()
        .map(|m| m.connect_string())
        .collect();
    let connect_string = ensemble.connect_string();
    let rt = runtime();
    let client = rt.block_on(connect(&connect_string));
    rt.block_on(create(&client, "/e2e", b"hello from the e2e test"));

    let bin = rookery_bin();
    let tui = Tmux::start(
        &bin,
        &["tui", "--connect", &connect_string, "--path", "/e2e"],
    );

    // The strip: one leader, two followers.
    let screen = tui.wait_for("one leader and two followers", GUARD, |s| {
        let mut roles: Vec<String> = addrs.iter().filter_map(|a| role_of(s, a)).collect();
        roles.sort();
        roles == ["follower", "follower", "leader"]
    });
    let leader = ensemble.leader().expect("a leader");
    assert_eq!(
        role_of(&screen, &addrs[leader]).as_deref(),
        Some("leader"),
        "the strip's leader is the one srvr names"
    );

    browse_and_create(
        &tui,
        &rt,
        &client,
        "hello from the e2e test",
        "created-by-tui",
    );

    // Kill the leader: the strip shows it down and a new leader.
    let old = ensemble.leader().expect("a leader");
    ensemble.members[old].kill9();
    let killed = Instant::now();
    let screen = tui.wait_for("a new leader", NEW_LEADER_WITHIN, |s| {
        role_of(s, &addrs[old]).as_deref() == Some("down")
            && addrs
                .iter()
                .enumerate()
                .any(|(i, a)| i != old && role_of(s, a).as_deref() == Some("leader"))
    });
    eprintln!("new leader on screen {:?} after the kill", killed.elapsed());
    let new =
        (0..3).find(|i| *i != old && role_of(&screen, &addrs[*i]).as_deref() == Some("leader"));
    assert_eq!(
        new,
        ensemble.leader(),
        "the strip's new leader is the one srvr names"
    );
    // The ensemble view's event log records it.
    tui.keys(&["1"]);
    tui.wait_for("the leader change in the event log", GUARD, |s| {
        s.contains("leader changed:") && s.contains("member lost:")
    });
    quit(&tui);
}

/// A standalone Apache ZooKeeper 3.8 from Debian's `zookeeper` package,
/// killed when dropped.
struct ApacheZk {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl ApacheZk {
    fn start() -> ApacheZk {
        let jars = Path::new("/usr/share/java");
        assert!(
            jars.join("zookeeper.jar").is_file(),
            "Apache ZooKeeper is not installed: apt-get install zookeeper (tests/run.sh does)"
        );
        let dir = tempfile::Builder::new()
            .prefix("rookery-tui-zk-")
            .tempdir()
            .expect("temp dir");
        let port = free_port();
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).expect("dataDir");
        let cfg = dir.path().join("zoo.cfg");
        std::fs::write(
            &cfg,
            format!(
                "tickTime=2000\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n\
                 4lw.commands.whitelist=*\nadmin.enableServer=false\n",
                data.display()
            ),
        )
        .expect("zoo.cfg");
        std::fs::write(
            dir.path().join("log4j.properties"),
            "log4j.rootLogger=WARN, ERR\nlog4j.appender.ERR=org.apache.log4j.ConsoleAppender\n\
             log4j.appender.ERR.Target=System.err\n\
             log4j.appender.ERR.layout=org.apache.log4j.PatternLayout\n",
        )
        .expect("log4j.properties");
        let log = std::fs::File::create(dir.path().join("zk.log")).expect("zk.log");
        let classpath = format!(
            "{}:{j}/zookeeper.jar:{j}/slf4j-log4j12.jar:{j}/log4j-1.2.jar",
            dir.path().display(),
            j = jars.display()
        );
        let child = Command::new("java")
            .arg("-Xmx256m")
            .arg("-Djava.awt.headless=true")
            .arg(format!(
                "-Dlog4j.configuration=file:{}/log4j.properties",
                dir.path().display()
            ))
            .args(["-cp", &classpath])
            .arg("org.apache.zookeeper.server.quorum.QuorumPeerMain")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn java");
        let zk = ApacheZk {
            child,
            port,
            _dir: dir,
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(120);
        while !four_letter(addr, "srvr")
            .is_ok_and(|r| r.contains("Mode:") && !r.contains("not currently serving"))
        {
            assert!(Instant::now() < deadline, "Apache ZooKeeper did not start");
            std::thread::sleep(Duration::from_millis(200));
        }
        zk
    }
}

impl Drop for ApacheZk {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn tui_against_apache_zookeeper() {
    let server = ApacheZk::start();
    let addr = format!("127.0.0.1:{}", server.port);
    let rt = runtime();
    let client = rt.block_on(connect(&addr));
    rt.block_on(create(&client, "/zk-e2e", b"hello from apache zookeeper"));

    let tui = Tmux::start(
        &rookery_bin(),
        &["tui", "--connect", &addr, "--path", "/zk-e2e"],
    );
    tui.wait_for("the standalone server in the strip", GUARD, |s| {
        role_of(s, &addr).as_deref() == Some("standalone")
    });
    browse_and_create(
        &tui,
        &rt,
        &client,
        "hello from apache zookeeper",
        "created-in-zk",
    );
    quit(&tui);
}

/// Over TLS (`--tls-ca/--tls-cert/--tls-key`): the strip's four-letter words
/// and the tree's session both go to the member's secureClientPort, which
/// serves only clients with a certificate from its CA.
#[test]
fn tui_over_tls() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = rookery_tests::certs::Ca::new("rookery test CA");
    let (member, secure) = rookery_tests::certs::start_tls_member(dir.path(), &ca, Vec::new());
    let rt = runtime();
    let client = rt.block_on(connect(&member.connect_string()));
    rt.block_on(create(&client, "/tls-e2e", b"hello over tls"));

    let addr = format!("127.0.0.1:{secure}");
    let mut args = vec!["tui", "--connect", &addr, "--path", "/tls-e2e"];
    let tls = rookery_tests::certs::client_tls_args(dir.path(), &ca, "operator");
    args.extend(tls.iter().map(String::as_str));
    let tui = Tmux::start(&rookery_bin(), &args);
    tui.wait_for("the member in the strip, asked over TLS", GUARD, |s| {
        role_of(s, &addr).as_deref() == Some("standalone")
    });
    browse_and_create(&tui, &rt, &client, "hello over tls", "created-over-tls");
    quit(&tui);
}
