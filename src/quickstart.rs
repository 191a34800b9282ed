//! `rookery quickstart`: three members on this machine, as child processes of
//! this one, each with its own zoo.cfg, data and log under one directory.

use anyhow::{bail, Context};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const MEMBERS: u16 = 3;

struct Member {
    id: u16,
    client_port: u16,
    dir: PathBuf,
    child: Child,
}

impl Drop for Member {
    fn drop(&mut self) {
        // SIGTERM for a clean stop; SIGKILL if it is still there after a while.
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) on a child we spawned and have not reaped.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write_config(
    dir: &Path,
    id: u16,
    client_port: u16,
    first_client_port: u16,
) -> anyhow::Result<PathBuf> {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).with_context(|| format!("creating {}", data.display()))?;
    std::fs::write(data.join("myid"), format!("{id}\n"))?;
    let mut cfg = format!(
        "# Written by `rookery quickstart`.\ntickTime=2000\ninitLimit=10\nsyncLimit=5\n\
         dataDir={}\nclientPort={client_port}\nclientPortAddress=127.0.0.1\n\
         4lw.commands.whitelist=*\nmetricsProvider.httpHost=127.0.0.1\n\
         metricsProvider.httpPort={}\nadmin.serverAddress=127.0.0.1\nadmin.serverPort={}\n\
         DigestAuthenticationProvider.superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU=\n\
         # No per-address cap (ZooKeeper's default is 60): everything here comes from\n\
         # 127.0.0.1, and `rookery bench --workload watch` opens thousands of sessions.\n\
         maxClientCnxns=0\n",
        data.canonicalize()?.display(),
        7000 + id,
        8080 + id,
    );
    for peer in 1..=MEMBERS {
        let base = first_client_port + 700 + 10 * peer;
        cfg.push_str(&format!("server.{peer}=127.0.0.1:{}:{}\n", base, base + 1));
    }
    let path = dir.join("zoo.cfg");
    std::fs::write(&path, cfg)?;
    Ok(path)
}

fn four_letter(port: u16, word: &str) -> Option<String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(word.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

fn mode(port: u16) -> Option<String> {
    four_letter(port, "srvr")?
        .lines()
        .find_map(|l| l.strip_prefix("Mode: "))
        .map(str::to_string)
}

/// Starts the members and waits until they form an ensemble; then opens the
/// terminal UI on them (`tui`) or waits for Ctrl-C, and stops them.
pub fn run(data: &Path, first_client_port: u16, tui: bool) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("finding the rookery binary")?;
    std::fs::create_dir_all(data).with_context(|| format!("creating {}", data.display()))?;
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc_handler(move || stop.store(true, Ordering::SeqCst))?;
    }
    let mut members = Vec::new();
    for id in 1..=MEMBERS {
        let dir = data.join(format!("member{id}"));
        std::fs::create_dir_all(&dir)?;
        let client_port = first_client_port + id - 1;
        let cfg = write_config(&dir, id, client_port, first_client_port)?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("rookery.log"))?;
        let child = Command::new(&exe)
            .arg("server")
            .arg("--config")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting member {id}"))?;
        members.push(Member {
            id,
            client_port,
            dir,
            child,
        });
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let modes: Vec<Option<String>> = members.iter().map(|m| mode(m.client_port)).collect();
        let ready = modes
            .iter()
            .all(|m| matches!(m.as_deref(), Some("leader" | "follower")));
        if ready {
            break;
        }
        for m in &mut members {
            if let Ok(Some(status)) = m.child.try_wait() {
                bail!(
                    "member {} exited with {status}; see {}",
                    m.id,
                    m.dir.join("rookery.log").display()
                );
            }
        }
        if stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the ensemble did not form within 60 s: modes {modes:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let connect: Vec<String> = members
        .iter()
        .map(|m| format!("127.0.0.1:{}", m.client_port))
        .collect();
    println!("Rookery ensemble up: {}", connect.join(","));
    for m in &members {
        println!(
            "  member {} on 127.0.0.1:{} ({}), log {}",
            m.id,
            m.client_port,
            mode(m.client_port).unwrap_or_else(|| "?".into()),
            m.dir.join("rookery.log").display()
        );
    }
    println!(
        "Try: /usr/share/zookeeper/bin/zkCli.sh -server {}",
        connect.join(",")
    );
    if tui {
        let result = rookery_tui::run(rookery_tui::TuiOptions {
            connect: connect.join(","),
            ..Default::default()
        });
        eprintln!("stopping the ensemble (data stays in {})", data.display());
        drop(members);
        return Ok(result?);
    }
    println!(
        "Ctrl-C stops every member (data stays in {}).",
        data.display()
    );
    while !stop.load(Ordering::SeqCst) {
        for m in &mut members {
            if let Ok(Some(status)) = m.child.try_wait() {
                eprintln!("member {} exited with {status}", m.id);
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("stopping the ensemble");
    drop(members);
    Ok(())
}

/// Calls `f` on SIGINT or SIGTERM.
fn ctrlc_handler(f: impl Fn() + Send + 'static) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::spawn(move || {
        rt.block_on(async {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut term), Ok(mut int)) = (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) else {
                return;
            };
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            f();
        })
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The config a quickstart member gets is one the server accepts, with no
    /// per-address connection cap: the README's watch fan-out example opens
    /// 10,000 sessions from 127.0.0.1 against this ensemble.
    #[test]
    fn a_member_config_parses_and_allows_many_connections_from_one_address() {
        let dir = std::env::temp_dir().join(format!("rookery-qs-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = write_config(&dir, 2, 2182, 2181).unwrap();
        let cfg = rookery_server::config::Config::load(&path);
        std::fs::remove_dir_all(&dir).unwrap();
        let cfg = cfg.unwrap();
        assert_eq!(cfg.max_client_cnxns, 0);
        assert_eq!(cfg.my_id, Some(2));
    }
}
