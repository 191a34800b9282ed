//! `rookery bench`: a load generator for any ZooKeeper-protocol ensemble
//! (Rookery or Apache ZooKeeper), driven through a real client from another
//! project (the zookeeper-client crate); the watch workload's 10,000 watchers
//! are lighter sessions of our own (see `watcher.rs` for why).
//!
//! Sessions are spread over the members one per member in turn. In closed loop
//! each session keeps one request outstanding (maximum throughput); in open
//! loop (`--rate`) requests are sent on a fixed schedule whether or not earlier
//! ones were answered, and latency counts from when a request was due, so a
//! stall shows in the numbers instead of slowing the load (no coordinated
//! omission). Latencies go into HDR histograms and come out as a table, JSON
//! (`--json`) or an SVG plot (`--plot`).

mod fanout;
mod report;
mod requests;
mod watcher;

use anyhow::{bail, Context};
use report::Report;
use requests::{Plan, Shared};
use rookery_tui::client_tls::ClientTls;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use zookeeper_client as zk;

/// What each request does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// Create a new node per request.
    Create,
    /// Set the data of one of `--keys` existing nodes.
    Set,
    /// Get the data of one of `--keys` existing nodes.
    Get,
    /// Gets and sets, `--read-ratio` of them gets.
    Mixed,
    /// Delete a node (each session makes one, then times its delete).
    Delete,
    /// A multi of `--multi-ops` setData on existing nodes.
    Multi,
    /// Watch fan-out: `--watchers` sessions watch one node; each round sets it
    /// and times until every watcher has its event.
    Watch,
    /// Session churn: open a new session (timed) and close it.
    Churn,
    /// Create `--keys` nodes (under 1,000 parents) and keep them: fills an
    /// ensemble for memory and start-up measurements.
    Populate,
}

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Workload::Create => "create",
            Workload::Set => "set",
            Workload::Get => "get",
            Workload::Mixed => "mixed",
            Workload::Delete => "delete",
            Workload::Multi => "multi",
            Workload::Watch => "watch",
            Workload::Churn => "churn",
            Workload::Populate => "populate",
        }
    }
}

/// `rookery bench`'s command line.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// ZooKeeper connect string; sessions go to the members in turn.
    #[arg(long, short, default_value = "127.0.0.1:2181")]
    pub connect: String,
    #[arg(long, value_enum, default_value = "get")]
    pub workload: Workload,
    /// Sessions sending requests.
    #[arg(long, default_value_t = 32)]
    pub sessions: usize,
    /// Measured time, in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Time before the measurement starts, in seconds (JVMs need one).
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Bytes per value written.
    #[arg(long, default_value_t = 100)]
    pub value_size: usize,
    /// Nodes read and written by get, set, mixed and multi; nodes made by populate.
    #[arg(long, default_value_t = 1000)]
    pub keys: usize,
    /// Share of gets in the mixed workload.
    #[arg(long, default_value_t = 0.9)]
    pub read_ratio: f64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Open loop: requests per second over all sessions, sent on schedule.
    /// Without it, closed loop (one request outstanding per session).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Operations in each multi request.
    #[arg(long, default_value_t = 4)]
    pub multi_ops: usize,
    /// Sessions watching the node in the watch workload.
    #[arg(long, default_value_t = 1000)]
    pub watchers: usize,
    /// Send SIGKILL to this process (say, the leader) `--kill-after` seconds into
    /// the measured window. Sessions then get the whole connect string so that
    /// they move to another member; the report's longest gap is the outage.
    #[arg(long)]
    pub kill_pid: Option<i32>,
    #[arg(long, default_value_t = 3.0)]
    pub kill_after: f64,
    /// One JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Write an SVG plot of latency by percentile to this file.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    #[command(flatten)]
    pub tls: crate::tls_args::TlsArgs,
}

fn seconds(s: f64, what: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(s).map_err(|_| anyhow::anyhow!("--{what} {s}: not a duration"))
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    if args.sessions == 0 || args.keys == 0 || args.multi_ops == 0 || args.watchers == 0 {
        bail!("--sessions, --keys, --multi-ops and --watchers must be at least 1");
    }
    if !(0.0..=1.0).contains(&args.read_ratio) {
        bail!("--read-ratio must be between 0 and 1");
    }
    if let Some(rate) = args.rate {
        if !(rate.is_finite() && rate > 0.0) {
            bail!("--rate must be a positive number of requests per second");
        }
        if matches!(
            args.workload,
            Workload::Delete | Workload::Watch | Workload::Churn | Workload::Populate
        ) {
            bail!("--rate (open loop) takes create, set, get, mixed or multi");
        }
    }
    if let Some(files) = args.tls.files() {
        let tls = ClientTls::load(&files)?;
        // Set once, before any session opens; `open` reads it.
        let _ = TLS.set(tls);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let report = rt.block_on(measure(args))?;
    if let Some(path) = &args.plot {
        let title = format!(
            "{} ({} loop, {} sessions{})",
            report.workload,
            report.mode,
            report.sessions,
            report
                .target_rate
                .map(|r| format!(", {r:.0}/s"))
                .unwrap_or_default()
        );
        let svg = report::svg(&title, &[(args.connect.clone(), report.percentile_curve())]);
        std::fs::write(path, svg).with_context(|| format!("writing {}", path.display()))?;
    }
    if args.json {
        println!("{}", report.json());
    } else {
        println!("{}", report.table());
    }
    Ok(())
}

/// The members of a connect string, each with the chroot.
fn members(connect: &str) -> Vec<String> {
    let (hosts, chroot) = match connect.find('/') {
        Some(i) => (&connect[..i], &connect[i..]),
        None => (connect, ""),
    };
    hosts
        .split(',')
        .filter(|h| !h.is_empty())
        .map(|h| format!("{h}{chroot}"))
        .collect()
}

/// The certificates every session uses, when the command line asked for TLS.
static TLS: OnceLock<ClientTls> = OnceLock::new();

/// Opens one session to `connect` (over TLS when asked for).
pub(crate) async fn open(connect: &str) -> Result<zk::Client, zk::Error> {
    let connector = zk::Client::connector().with_session_timeout(Duration::from_secs(30));
    rookery_tui::client_tls::connect(connector, connect, TLS.get()).await
}

pub(crate) async fn session(connect: &str) -> anyhow::Result<zk::Client> {
    open(connect).await.with_context(|| {
        format!(
            "connecting to {connect} (with many sessions, check the server's \
                 maxClientCnxns: ZooKeeper's default allows 60 per client address)"
        )
    })
}

/// Opens `count` sessions, session i on `targets[i % len]`, many at a time.
pub(crate) async fn sessions(targets: &[String], count: usize) -> anyhow::Result<Vec<zk::Client>> {
    let mut clients = Vec::with_capacity(count);
    let mut start = 0;
    while start < count {
        let batch: Vec<_> = (start..count.min(start + 256))
            .map(|i| {
                let target = targets[i % targets.len()].clone();
                tokio::spawn(async move { session(&target).await })
            })
            .collect();
        for handle in batch {
            clients.push(handle.await.context("a connecting task failed")??);
        }
        start += 256;
    }
    Ok(clients)
}

/// The bench's own subtree, removed afterwards (populate's is kept).
fn root(workload: Workload) -> String {
    match workload {
        Workload::Populate => "/rookery-populate".to_string(),
        _ => format!("/rookery-bench-{}", std::process::id()),
    }
}

async fn measure(args: &Args) -> anyhow::Result<Report> {
    let members = members(&args.connect);
    if members.is_empty() {
        bail!("no member in {:?}", args.connect);
    }
    let admin = session(&members[0]).await?;
    let root = root(args.workload);
    let open = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    match admin.create(&root, b"", &open).await {
        Ok(_) => {}
        Err(zk::Error::NodeExists) if args.workload == Workload::Populate => {}
        Err(e) => return Err(e).with_context(|| format!("creating {root}")),
    }
    let shared = Arc::new(Shared {
        root: root.clone(),
        value: vec![b'v'; args.value_size],
        keys: args.keys,
        read_ratio: args.read_ratio,
        multi_ops: args.multi_ops,
    });
    let report = match args.workload {
        Workload::Watch => fanout::measure(args, &admin, &members, &shared).await,
        Workload::Populate => requests::populate(args, &members, &shared).await,
        _ => match prepare_keys(args, &admin, &shared).await {
            Ok(()) => drive(args, &members, &shared).await,
            Err(e) => Err(e),
        },
    };
    if args.workload != Workload::Populate {
        cleanup(&admin, &root).await;
    }
    // A dropped client's session task sends its closeSession; give it the
    // moment it needs before the runtime stops, or the session is left to expire.
    drop(admin);
    tokio::time::sleep(Duration::from_millis(100)).await;
    report
}

/// Nodes to read or set, made before the clock starts.
async fn prepare_keys(args: &Args, admin: &zk::Client, shared: &Shared) -> anyhow::Result<()> {
    if !matches!(
        args.workload,
        Workload::Set | Workload::Get | Workload::Mixed | Workload::Multi
    ) {
        return Ok(());
    }
    let open = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    for chunk in (0..args.keys).collect::<Vec<_>>().chunks(100) {
        let mut multi = admin.new_multi_writer();
        for k in chunk {
            multi.add_create(&shared.key(*k), &shared.value, &open)?;
        }
        multi
            .commit()
            .await
            .map_err(|e| anyhow::anyhow!("creating the keys: {e:?}"))?;
    }
    Ok(())
}

/// What the sessions of a closed- or open-loop run measured.
struct Tally {
    latency_us: hdrhistogram::Histogram<u64>,
    /// When each answer came, in µs from the start of the measured window.
    answers_us: Vec<u64>,
}

/// Runs the request workloads (everything but watch and populate).
async fn drive(args: &Args, members: &[String], shared: &Arc<Shared>) -> anyhow::Result<Report> {
    let warmup = seconds(args.warmup, "warmup")?;
    let duration = seconds(args.duration, "duration")?;
    // With a member to kill, every session knows every member (the client
    // picks one at random) so it can move when its member dies.
    let targets = if args.kill_pid.is_some() {
        vec![args.connect.clone()]
    } else {
        members.to_vec()
    };
    let clients = sessions(&targets, args.sessions).await?;
    let start = Instant::now() + warmup;
    let end = start + duration;
    let errors = Arc::new(AtomicU64::new(0));
    let answered = Arc::new(AtomicU64::new(0));
    let progress = progress_bar(args, start, end, answered.clone());
    if let Some(pid) = args.kill_pid {
        let at = start + seconds(args.kill_after, "kill-after")?;
        tokio::spawn(async move {
            tokio::time::sleep_until(at.into()).await;
            // SAFETY: kill(2) with a pid and a signal number; no memory involved.
            let rc = unsafe { libc::kill(pid, libc::SIGKILL) };
            if rc != 0 {
                eprintln!(
                    "rookery bench: kill -9 {pid}: {}",
                    std::io::Error::last_os_error()
                );
            }
        });
    }
    let mut tasks = Vec::new();
    for (i, client) in clients.into_iter().enumerate() {
        let window = Window {
            start,
            end,
            errors: errors.clone(),
            answered: answered.clone(),
        };
        let plan = Plan::new(
            args.workload,
            shared.clone(),
            i,
            args.seed.wrapping_add(i as u64),
            targets[i % targets.len()].clone(),
        );
        tasks.push(match args.rate {
            None => tokio::spawn(closed_loop(client, plan, window)),
            Some(rate) => {
                let period = Duration::from_secs_f64(args.sessions as f64 / rate);
                tokio::spawn(open_loop(client, plan, window, period))
            }
        });
    }
    let mut latency_us = report::histogram();
    let mut answers_us = Vec::new();
    for t in tasks {
        let tally = t.await.context("a bench session failed")?;
        latency_us.add(tally.latency_us)?;
        answers_us.extend(tally.answers_us);
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    Ok(Report {
        workload: args.workload.name(),
        mode: if args.rate.is_some() {
            "open"
        } else {
            "closed"
        },
        sessions: args.sessions,
        value_size: args.value_size,
        ops: latency_us.len(),
        errors: errors.load(Ordering::Relaxed),
        seconds: duration.as_secs_f64(),
        target_rate: args.rate,
        max_gap_ms: Some(report::longest_gap_ms(
            answers_us,
            duration.as_micros() as u64,
        )),
        latency_us,
        extra: Vec::new(),
    })
}

/// The measured window, shared by a run's sessions.
struct Window {
    start: Instant,
    end: Instant,
    errors: Arc<AtomicU64>,
    answered: Arc<AtomicU64>,
}

impl Window {
    /// Counts one request that was due (or sent) at `due` and answered (or
    /// failed) at `now`.
    fn count(&self, tally: &mut Tally, due: Instant, now: Instant, ok: bool) {
        if due < self.start || due >= self.end {
            return;
        }
        if ok {
            report::record(&mut tally.latency_us, now - due);
            tally.answers_us.push((now - self.start).as_micros() as u64);
            self.answered.fetch_add(1, Ordering::Relaxed);
        } else {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

async fn closed_loop(client: zk::Client, mut plan: Plan, window: Window) -> Tally {
    let mut tally = Tally {
        latency_us: report::histogram(),
        answers_us: Vec::new(),
    };
    while Instant::now() < window.end {
        let request = plan.next();
        match request.send(&client, plan.shared()).await {
            Ok(sent) => window.count(&mut tally, sent, Instant::now(), true),
            Err(_) => {
                let now = Instant::now();
                window.count(&mut tally, now, now, false);
                // The client is reconnecting; do not spin on it.
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }
    tally
}

async fn open_loop(client: zk::Client, mut plan: Plan, window: Window, period: Duration) -> Tally {
    let mut tally = Tally {
        latency_us: report::histogram(),
        answers_us: Vec::new(),
    };
    let mut in_flight = tokio::task::JoinSet::new();
    // Sessions start at different offsets so the load is smooth, not bursts.
    let offset = period.mul_f64(plan.random_fraction());
    let mut due = Instant::now() + offset;
    while due < window.end {
        tokio::time::sleep_until(due.into()).await;
        let (client, request, shared) = (client.clone(), plan.next(), plan.shared().clone());
        in_flight.spawn(async move {
            let ok = request.send(&client, &shared).await.is_ok();
            (due, Instant::now(), ok)
        });
        while let Some(Ok((was_due, answered, ok))) = in_flight.try_join_next() {
            window.count(&mut tally, was_due, answered, ok);
        }
        due += period;
    }
    // Requests still out at the end are waited for (and count), for a while.
    let grace = tokio::time::sleep(Duration::from_secs(30));
    tokio::pin!(grace);
    loop {
        tokio::select! {
            next = in_flight.join_next() => match next {
                Some(Ok((was_due, answered, ok))) => window.count(&mut tally, was_due, answered, ok),
                Some(Err(_)) => {}
                None => break,
            },
            _ = &mut grace => {
                for _ in 0..in_flight.len() {
                    window.errors.fetch_add(1, Ordering::Relaxed);
                }
                break;
            }
        }
    }
    tally
}

/// A progress bar on a terminal (hidden otherwise): time and ops/s so far.
fn progress_bar(
    args: &Args,
    start: Instant,
    end: Instant,
    answered: Arc<AtomicU64>,
) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal as _;
    if args.json || !std::io::stderr().is_terminal() {
        return None;
    }
    let total_ms = (end - start).as_millis() as u64;
    let bar = indicatif::ProgressBar::new(total_ms);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(args.workload.name());
    let ticker = bar.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let now = Instant::now();
            if now < start {
                ticker.set_message("warming up");
                continue;
            }
            let elapsed = (now - start).as_secs_f64().max(1e-3);
            let ops = answered.load(Ordering::Relaxed);
            ticker.set_position((now - start).as_millis() as u64);
            ticker.set_message(format!("{:.0} ops/s", ops as f64 / elapsed));
            if now >= end || ticker.is_finished() {
                break;
            }
        }
    });
    Some(bar)
}

/// Requests the cleanup keeps unanswered at once.
const CLEANUP_WINDOW: usize = 32;

/// Deletes the bench's subtree, deepest nodes first, many deletes per multi,
/// with requests pipelined. Listing every node's children one request at a
/// time was most of the cost: a 10 s create run (~100,000 nodes) took 13 s
/// more before its report, with the members mostly idle.
async fn cleanup(client: &zk::Client, root: &str) {
    // Nodes by depth below the root; a level is deleted only once every node
    // below it is gone.
    let mut levels: Vec<Vec<String>> = vec![vec![root.to_string()]];
    while let Some(last) = levels.last() {
        let listed = pipelined(last.iter().map(|p| client.list_children(p))).await;
        let mut below = Vec::new();
        for (path, children) in last.iter().zip(listed) {
            if let Ok(children) = children {
                below.extend(children.iter().map(|c| format!("{path}/{c}")));
            }
        }
        if below.is_empty() {
            break;
        }
        levels.push(below);
    }
    for level in levels.iter().rev() {
        delete_level(client, level).await;
    }
    if client.check_stat(root).await.ok().flatten().is_some() {
        eprintln!("rookery bench: could not remove {root}");
    }
}

/// Deletes nodes none of which is another's parent. A multi that fails (one
/// node already gone, say) is done again one delete at a time.
async fn delete_level(client: &zk::Client, paths: &[String]) {
    let chunks: Vec<&[String]> = paths.chunks(200).collect();
    let answers = pipelined(chunks.iter().map(|chunk| {
        let mut multi = client.new_multi_writer();
        for path in chunk.iter() {
            let _ = multi.add_delete(path, None);
        }
        multi.commit()
    }))
    .await;
    for (chunk, answer) in chunks.into_iter().zip(answers) {
        if answer.is_err() {
            for path in chunk {
                let _ = client.delete(path, None).await;
            }
        }
    }
}

/// Awaits requests in order with up to [`CLEANUP_WINDOW`] unanswered. The
/// client sends a request when its future is made, so making the next ones
/// before awaiting the first keeps the link busy.
async fn pipelined<F: std::future::Future>(made: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut pending = std::collections::VecDeque::new();
    let mut answers = Vec::new();
    for request in made {
        pending.push_back(request);
        if pending.len() >= CLEANUP_WINDOW {
            if let Some(first) = pending.pop_front() {
                answers.push(first.await);
            }
        }
    }
    while let Some(request) = pending.pop_front() {
        answers.push(request.await);
    }
    answers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_spread_over_the_members_with_the_chroot() {
        assert_eq!(
            members("a:1,b:2/app"),
            vec!["a:1/app".to_string(), "b:2/app".to_string()]
        );
        assert_eq!(members("a:1"), vec!["a:1".to_string()]);
    }
}
