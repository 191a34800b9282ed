//! `rookery`: the command-line entry point.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

mod quickstart;

#[derive(Parser)]
#[command(
    name = "rookery",
    version,
    about = "A ZooKeeper-compatible coordination service"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a local 3-member ensemble (client ports 2181-2183, data under
    /// ./rookery-data) and keep it running until Ctrl-C.
    Quickstart {
        /// Where the members keep their data and logs.
        #[arg(long, default_value = "rookery-data")]
        data: PathBuf,
        /// First client port; members use it and the next two.
        #[arg(long, default_value_t = 2181)]
        client_port: u16,
    },
    /// Run one member in the foreground, configured by a ZooKeeper zoo.cfg.
    Server {
        /// Path to zoo.cfg (myid is read from its dataDir).
        #[arg(long, short)]
        config: PathBuf,
    },
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ROOKERY_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
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
        Command::Quickstart { data, client_port } => quickstart::run(&data, client_port),
        Command::Server { config } => {
            let cfg = rookery_server::config::Config::load(&config)?;
            for w in &cfg.warnings {
                tracing::warn!("{w}");
            }
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
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
