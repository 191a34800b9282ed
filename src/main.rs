//! `rookery`: the command-line entry point.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

mod bench;
mod quickstart;
mod reconfig;
mod tls_args;

/// mimalloc instead of glibc malloc: requests allocate and free small buffers on
/// every hop, and glibc's malloc/free were ~8 % of a set run's CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "rookery",
    version,
    about = "A ZooKeeper-compatible coordination service"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log lines as text for people, or as one JSON object per line for a log
    /// pipeline (`ROOKERY_LOG` sets the level filter either way).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Start a local 3-member ensemble (client ports 2181-2183, data under
    /// ./rookery-data) and open the terminal UI on it; quitting the UI stops
    /// the members (without a terminal or with --no-tui: until Ctrl-C).
    Quickstart {
        /// Where the members keep their data and logs.
        #[arg(long, default_value = "rookery-data")]
        data: PathBuf,
        /// First client port; members use it and the next two.
        #[arg(long, default_value_t = 2181)]
        client_port: u16,
        /// Do not open the terminal UI; wait for Ctrl-C instead (also the
        /// behaviour when stdout is not a terminal).
        #[arg(long)]
        no_tui: bool,
    },
    /// Terminal UI for an ensemble (Rookery or Apache ZooKeeper): member
    /// health, elections and events, and the znode tree.
    Tui {
        /// ZooKeeper connect string: host:port,host:port[/chroot].
        #[arg(long, short, default_value = "127.0.0.1:2181")]
        connect: String,
        /// Open the tree view on this znode.
        #[arg(long, short)]
        path: Option<String>,
        /// Disable every write (create, edit, delete, ACL).
        #[arg(long)]
        read_only: bool,
        /// /metrics endpoints (http://host:port), one per member in --connect
        /// order; by default each member's `conf` says where its endpoint is.
        #[arg(long, value_delimiter = ',')]
        metrics: Vec<String>,
        /// Write logs to this file (nothing is logged to the terminal while
        /// the UI is up).
        #[arg(long)]
        log_file: Option<PathBuf>,
        #[command(flatten)]
        tls: tls_args::TlsArgs,
    },
    /// Run one member in the foreground, configured by a ZooKeeper zoo.cfg.
    Server {
        /// Path to zoo.cfg (myid is read from its dataDir).
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Change an ensemble's members (the reconfig op; the ensemble needs
    /// reconfigEnabled=true and the super user), then print the new
    /// configuration.
    Reconfig {
        /// ZooKeeper connect string: host:port,host:port.
        #[arg(long, short, default_value = "127.0.0.1:2181")]
        connect: String,
        /// A member to add or change:
        /// server.N=host:quorumPort:electionPort[:participant|observer];[clientHost:]clientPort
        #[arg(long)]
        add: Vec<String>,
        /// Ids of members to remove.
        #[arg(long, value_delimiter = ',')]
        remove: Vec<String>,
        /// The whole new member list instead of --add/--remove (server.N=... entries).
        #[arg(long)]
        members: Vec<String>,
        /// Apply only if the configuration in force has this version (hex, as
        /// in /zookeeper/config's version= line).
        #[arg(long, value_parser = parse_hex)]
        from_config: Option<i64>,
        /// Digest credentials, user:password (the super user's).
        #[arg(long)]
        auth: Option<String>,
    },
    /// Load an ensemble (Rookery or Apache ZooKeeper) and report throughput and
    /// latency (p50/p99/p999/max): closed or open loop, reads, writes, multi,
    /// watch fan-out, session churn.
    Bench(bench::Args),
    /// Print a stopped member's log as JSON lines (a header line with the
    /// applied zxid and epochs, then one Txn per line).
    LogDump {
        /// The member's zoo.cfg.
        #[arg(long, short)]
        config: PathBuf,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if let Err(e) = init_logging(&cli.command, cli.log_format) {
        eprintln!("rookery: {e:#}");
        return std::process::ExitCode::from(2);
    }
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rookery: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Quickstart {
            data,
            client_port,
            no_tui,
        } => quickstart::run(&data, client_port, quickstart_tui(no_tui)),
        Command::Tui {
            connect,
            path,
            read_only,
            metrics,
            log_file: _,
            tls,
        } => Ok(rookery_tui::run(rookery_tui::TuiOptions {
            connect,
            path,
            read_only,
            metrics,
            tls: tls.files(),
        })?),
        Command::Bench(args) => bench::run(&args),
        Command::Reconfig {
            connect,
            add,
            remove,
            members,
            from_config,
            auth,
        } => {
            if add.is_empty() && remove.is_empty() && members.is_empty() {
                anyhow::bail!("nothing to change: give --add, --remove or --members");
            }
            let change = reconfig::Change {
                add,
                remove,
                members,
                from_config: from_config.unwrap_or(-1),
                auth,
            };
            println!("{}", reconfig::run(&connect, &change)?);
            Ok(())
        }
        Command::LogDump { config } => {
            let cfg = rookery_server::config::Config::load(&config)?;
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            rookery_server::logdump::dump(&cfg, &mut out)?;
            std::io::Write::flush(&mut out)?;
            Ok(())
        }
        Command::Server { config } => {
            #[cfg(feature = "mutants")]
            if let Ok(name) = std::env::var("ROOKERY_MUTANT") {
                use rookery_server::zab::mutants::{self, Mutant};
                let mutant = Mutant::from_name(&name)
                    .with_context(|| format!("ROOKERY_MUTANT={name}: no such mutant"))?;
                tracing::warn!(?mutant, "running with a deliberate bug (test build)");
                mutants::set(Some(mutant));
            }
            let cfg = rookery_server::config::Config::load(&config)?;
            for w in &cfg.warnings {
                tracing::warn!("{w}");
            }
            let threads = cfg.worker_threads();
            let rt = if threads == 1 {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
            } else {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(threads)
                    .enable_all()
                    .build()
            }
            .context("starting the tokio runtime")?;
            rt.block_on(async move {
                let (tx, rx) = tokio::sync::watch::channel(false);
                tokio::spawn(async move {
                    wait_for_signal().await;
                    tracing::info!("shutting down");
                    let _ = tx.send(true);
                });
                rookery_server::run_member(cfg, rx).await
            })?;
            Ok(())
        }
    }
}

fn parse_hex(s: &str) -> Result<i64, String> {
    i64::from_str_radix(s.trim_start_matches("0x"), 16).map_err(|e| format!("{s:?}: {e}"))
}

/// Whether `rookery quickstart` opens the terminal UI.
fn quickstart_tui(no_tui: bool) -> bool {
    !no_tui && std::io::IsTerminal::is_terminal(&std::io::stdout())
}

/// Logs go to stderr, except while a terminal UI owns the screen: then to
/// `--log-file` (tui) or `<data>/tui.log` (quickstart), or nowhere.
fn init_logging(command: &Command, format: LogFormat) -> anyhow::Result<()> {
    let filter = |default: &str| {
        tracing_subscriber::EnvFilter::try_from_env("ROOKERY_LOG")
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default))
    };
    let file = match command {
        Command::Tui { log_file, .. } => match log_file {
            Some(path) => Some(path.clone()),
            None => return Ok(()),
        },
        Command::Quickstart { data, no_tui, .. } if quickstart_tui(*no_tui) => {
            std::fs::create_dir_all(data)
                .with_context(|| format!("creating {}", data.display()))?;
            Some(data.join("tui.log"))
        }
        _ => None,
    };
    let (writer, ansi) = match file {
        Some(path) => {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .with_context(|| format!("opening {}", path.display()))?;
            (
                tracing_subscriber::fmt::writer::BoxMakeWriter::new(std::sync::Mutex::new(f)),
                false,
            )
        }
        None => (
            tracing_subscriber::fmt::writer::BoxMakeWriter::new(std::io::stderr),
            std::io::IsTerminal::is_terminal(&std::io::stderr()),
        ),
    };
    let builder = tracing_subscriber::fmt()
        .with_writer(writer)
        // bench prints its report on stdout; the client library's per-session
        // lines (a warning for every refused or lost connection) would bury
        // it, and bench says itself why it stopped.
        .with_env_filter(filter(if matches!(command, Command::Bench(_)) {
            "warn,zookeeper_client=error"
        } else {
            "info"
        }));
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Human => builder.with_ansi(ansi).init(),
    }
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
