//! The UI loop: draws, reads keys (polling the terminal for at most
//! [`INPUT_POLL`] so results from the edges are picked up promptly), feeds
//! every action through the model and hands its effects to the edges.

use crate::client_tls::ClientTls;
use crate::io::{self, editor, poller, zk};
use crate::keys::{self, Key};
use crate::model::{Action, App, Effect};
use crate::terminal::Tui;
use crate::{Error, TuiOptions};
use ratatui::crossterm::event::{self, Event};
use std::time::{Duration, Instant};

/// The longest the loop waits for a key before looking at the channel.
const INPUT_POLL: Duration = Duration::from_millis(50);
/// How often the model gets the time.
const TICK: Duration = Duration::from_secs(1);

pub(crate) fn run(opts: TuiOptions) -> Result<(), Error> {
    let members = crate::members_of(&opts.connect)?;
    if !opts.metrics.is_empty() && opts.metrics.len() != members.len() {
        return Err(Error::Metrics(format!(
            "{} endpoints for {} members; give one per member, in --connect order",
            opts.metrics.len(),
            members.len()
        )));
    }
    for url in &opts.metrics {
        io::net::split_url(url).map_err(Error::Metrics)?;
    }
    let tls = match &opts.tls {
        Some(files) => Some(ClientTls::load(files)?),
        None => None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("rookery-tui-io")
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    let (tx, rx) = std::sync::mpsc::channel();
    rt.spawn(poller::run(
        poller::PollerConfig {
            members: members.clone(),
            metrics: opts.metrics.clone(),
            tls: tls.clone(),
        },
        tx.clone(),
    ));
    let zk = zk::spawn(
        rt.handle(),
        opts.connect.clone(),
        tls,
        opts.read_only,
        tx.clone(),
    );
    let mut app = App::new(
        &opts.connect,
        &members,
        opts.path.as_deref(),
        opts.read_only,
    );
    app.update(Action::Tick {
        now_ms: io::now_ms(),
    });

    let mut tui = Tui::enter()?;
    let size = tui.terminal.size()?;
    let mut pending = app.start();
    pending.extend(app.update(Action::Resize {
        width: size.width,
        height: size.height,
    }));
    let mut last_tick = Instant::now();
    let mut dirty = true;
    while !app.quit {
        for effect in pending.drain(..) {
            match effect {
                Effect::OpenEditor {
                    path,
                    data,
                    version,
                } => {
                    tui.suspend();
                    let result = editor::edit(&path, &data);
                    tui.resume()?;
                    let _ = tx.send(Action::Edited {
                        path,
                        version,
                        result,
                    });
                }
                other => {
                    if zk.send(other).is_err() {
                        return Err(Error::Stopped("the ZooKeeper worker"));
                    }
                }
            }
            dirty = true;
        }
        if dirty {
            tui.terminal.draw(|f| crate::ui::render(f, &app))?;
            dirty = false;
        }
        if event::poll(INPUT_POLL)? {
            let action = match event::read()? {
                Event::Key(k) => Key::from_event(&k).and_then(|k| keys::map(&app, k)),
                Event::Resize(width, height) => Some(Action::Resize { width, height }),
                _ => None,
            };
            if let Some(a) = action {
                pending.extend(app.update(a));
                dirty = true;
            }
        }
        while let Ok(a) = rx.try_recv() {
            pending.extend(app.update(a));
            dirty = true;
        }
        if last_tick.elapsed() >= TICK {
            last_tick = Instant::now();
            pending.extend(app.update(Action::Tick {
                now_ms: io::now_ms(),
            }));
            dirty = true;
        }
    }
    drop(tui);
    rt.shutdown_timeout(Duration::from_millis(500));
    Ok(())
}
