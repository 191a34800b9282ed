//! Screens rendered into ratatui's `TestBackend` and compared with the
//! snapshots in `src/snapshots/` (insta). The model comes from
//! `fixtures`, with fixed times, so the screens are deterministic.

use crate::fixtures::{self, node};
use crate::model::forms::{InputKey, WriteOp, WriteOutcome};
use crate::model::{Action, App, Cmd, NodeState};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

fn screen(app: &App) -> String {
    let (w, h) = app.size;
    let mut terminal = match Terminal::new(TestBackend::new(w, h)) {
        Ok(t) => t,
        Err(e) => panic!("test terminal: {e}"),
    };
    if let Err(e) = terminal.draw(|f| crate::ui::render(f, app)) {
        panic!("draw: {e}");
    }
    terminal.backend().to_string()
}

fn cmd(app: &mut App, c: Cmd) {
    app.update(Action::Cmd(c));
}

#[test]
fn ensemble_view() {
    let mut app = fixtures::app();
    cmd(&mut app, Cmd::ShowEnsemble);
    insta::assert_snapshot!("ensemble_view", screen(&app));
}

#[test]
fn ensemble_view_during_an_election() {
    let mut app = App::new("c", &fixtures::members(), None, false);
    app.update(Action::Resize {
        width: 120,
        height: 30,
    });
    for r in fixtures::rounds().into_iter().take(4) {
        app.update(Action::Poll(r));
    }
    app.update(Action::Tick {
        now_ms: fixtures::T0 + 4000,
    });
    insta::assert_snapshot!("ensemble_view_election", screen(&app));
}

#[test]
fn tree_view() {
    let app = fixtures::app();
    insta::assert_snapshot!("tree_view", screen(&app));
}

#[test]
fn tree_view_binary_data_as_hex_and_lossy_text() {
    let mut app = fixtures::app();
    app.node = NodeState::Loaded(node(b"\x00\x01binary\xff\xfe payload \x7f", 1, 0));
    insta::assert_snapshot!("tree_view_binary_auto_hex", screen(&app));
    cmd(&mut app, Cmd::CycleDataView); // text
    insta::assert_snapshot!("tree_view_binary_lossy_text", screen(&app));
}

#[test]
fn tree_view_filtered_and_paged() {
    let mut app = fixtures::app();
    cmd(&mut app, Cmd::Filter);
    for c in "job-00".chars() {
        app.update(Action::Input(InputKey::Char(c)));
    }
    app.update(Action::Input(InputKey::Enter));
    cmd(&mut app, Cmd::PageDown);
    insta::assert_snapshot!("tree_view_filtered", screen(&app));
}

#[test]
fn conflict_view() {
    let mut app = fixtures::app();
    let mine = br#"{"db":{"host":"db.internal","port":5433}}"#.to_vec();
    let mut theirs = node(br#"{"db":{"host":"db2.internal","port":5432}}"#, 4, 0);
    theirs.stat.mtime = fixtures::T0 as i64 + 2000;
    app.update(Action::Written {
        op: WriteOp::SetData {
            path: "/app/config".into(),
            data: mine,
            version: 3,
        },
        outcome: WriteOutcome::Conflict {
            current: Some(theirs),
        },
    });
    insta::assert_snapshot!("conflict_view", screen(&app));
}

#[test]
fn help_overlay() {
    let mut app = fixtures::app();
    app.read_only = true;
    app.size = (120, 48);
    cmd(&mut app, Cmd::Help);
    insta::assert_snapshot!("help_overlay", screen(&app));
}

#[test]
fn create_and_delete_dialogs() {
    let mut app = fixtures::app();
    cmd(&mut app, Cmd::Create);
    for k in [
        InputKey::Char('x'),
        InputKey::Tab,
        InputKey::Left,
        InputKey::Tab,
    ] {
        app.update(Action::Input(k));
    }
    insta::assert_snapshot!("create_dialog", screen(&app));
    app.update(Action::Input(InputKey::Cancel));
    app.node = NodeState::Loaded(node(b"", 2, 3));
    cmd(&mut app, Cmd::Delete);
    app.update(Action::Descendants {
        path: "/app/config".into(),
        result: Ok(1234),
    });
    app.update(Action::Input(InputKey::Char('1')));
    insta::assert_snapshot!("delete_dialog", screen(&app));
}
