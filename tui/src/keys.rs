//! Key bindings as data: one table drives both the key map and the help
//! overlay. Vim keys and arrows do the same things; destructive commands are
//! capitals and open a confirmation, never act on their own.

use crate::model::forms::InputKey;
use crate::model::{Action, App, Cmd, Modal, View};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// A key, independent of the terminal library.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    /// A character (with Shift already applied).
    Char(char),
    /// Ctrl + a letter.
    Ctrl(char),
    /// ↑
    Up,
    /// ↓
    Down,
    /// ←
    Left,
    /// →
    Right,
    /// Page Up
    PageUp,
    /// Page Down
    PageDown,
    /// Home
    Home,
    /// End
    End,
    /// Enter
    Enter,
    /// Esc
    Esc,
    /// Tab
    Tab,
    /// Shift-Tab
    BackTab,
    /// Backspace
    Backspace,
    /// Delete
    Delete,
}

impl Key {
    /// From a crossterm event; `None` for releases and keys we do not use.
    pub fn from_event(ev: &KeyEvent) -> Option<Key> {
        if ev.kind == KeyEventKind::Release {
            return None;
        }
        let ctrl = ev.modifiers.contains(KeyModifiers::CONTROL);
        Some(match ev.code {
            KeyCode::Char(c) if ctrl => Key::Ctrl(c.to_ascii_lowercase()),
            KeyCode::Char(c) => Key::Char(c),
            KeyCode::Up => Key::Up,
            KeyCode::Down => Key::Down,
            KeyCode::Left => Key::Left,
            KeyCode::Right => Key::Right,
            KeyCode::PageUp => Key::PageUp,
            KeyCode::PageDown => Key::PageDown,
            KeyCode::Home => Key::Home,
            KeyCode::End => Key::End,
            KeyCode::Enter => Key::Enter,
            KeyCode::Esc => Key::Esc,
            KeyCode::Tab => Key::Tab,
            KeyCode::BackTab => Key::BackTab,
            KeyCode::Backspace => Key::Backspace,
            KeyCode::Delete => Key::Delete,
            _ => return None,
        })
    }
}

/// Where a binding applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Everywhere outside dialogs.
    Global,
    /// The tree view.
    Tree,
    /// The ensemble view.
    Ensemble,
    /// The conflict dialog.
    Conflict,
}

impl Scope {
    /// The heading in the help overlay.
    pub fn title(self) -> &'static str {
        match self {
            Scope::Global => "Everywhere",
            Scope::Tree => "Tree view",
            Scope::Ensemble => "Ensemble view",
            Scope::Conflict => "Version conflict",
        }
    }
}

/// One binding.
pub struct Binding {
    /// Where.
    pub scope: Scope,
    /// The keys.
    pub keys: &'static [Key],
    /// How the help overlay writes the keys.
    pub label: &'static str,
    /// What it does.
    pub help: &'static str,
    /// The command.
    pub cmd: Cmd,
    /// A write (disabled with `--read-only`).
    pub writes: bool,
}

macro_rules! bind {
    ($scope:ident, [$($k:expr),+], $label:expr, $help:expr, $cmd:ident) => {
        Binding { scope: Scope::$scope, keys: &[$($k),+], label: $label, help: $help, cmd: Cmd::$cmd, writes: false }
    };
    ($scope:ident, [$($k:expr),+], $label:expr, $help:expr, $cmd:ident, writes) => {
        Binding { scope: Scope::$scope, keys: &[$($k),+], label: $label, help: $help, cmd: Cmd::$cmd, writes: true }
    };
}

use Key::*;

/// Every binding outside text inputs.
pub static BINDINGS: &[Binding] = &[
    bind!(Global, [Char('?')], "?", "help (this overlay)", Help),
    bind!(Global, [Char('q'), Ctrl('c')], "q  Ctrl-c", "quit", Quit),
    bind!(Global, [Char('1')], "1", "ensemble view", ShowEnsemble),
    bind!(Global, [Char('2')], "2", "tree view", ShowTree),
    bind!(Global, [Tab], "Tab", "switch view", NextView),
    bind!(Global, [Char(':')], ":", "jump to a path", Jump),
    bind!(
        Global,
        [Char('r'), Ctrl('r')],
        "r",
        "refresh what is on screen",
        Refresh
    ),
    bind!(Ensemble, [Char('k'), Up], "k  ↑", "previous member", Up),
    bind!(Ensemble, [Char('j'), Down], "j  ↓", "next member", Down),
    bind!(Tree, [Char('k'), Up], "k  ↑", "up", Up),
    bind!(Tree, [Char('j'), Down], "j  ↓", "down", Down),
    bind!(Tree, [Ctrl('u')], "Ctrl-u", "half a page up", HalfPageUp),
    bind!(
        Tree,
        [Ctrl('d')],
        "Ctrl-d",
        "half a page down",
        HalfPageDown
    ),
    bind!(Tree, [PageUp, Ctrl('b')], "PgUp  Ctrl-b", "page up", PageUp),
    bind!(
        Tree,
        [PageDown, Ctrl('f')],
        "PgDn  Ctrl-f",
        "page down",
        PageDown
    ),
    bind!(Tree, [Char('g'), Home], "g  Home", "first child", Top),
    bind!(Tree, [Char('G'), End], "G  End", "last child", Bottom),
    bind!(
        Tree,
        [Char('l'), Right, Enter],
        "l  →  Enter",
        "open the selected node",
        Open
    ),
    bind!(
        Tree,
        [Char('h'), Left, Backspace],
        "h  ←  Bksp",
        "go to the parent",
        Back
    ),
    bind!(
        Tree,
        [Char('/')],
        "/",
        "filter children (Esc clears)",
        Filter
    ),
    bind!(
        Tree,
        [Char('v')],
        "v",
        "data view: auto/text/json/hex/base64",
        CycleDataView
    ),
    bind!(
        Tree,
        [Char('J'), Ctrl('e')],
        "J  Ctrl-e",
        "scroll data down",
        ScrollDataDown
    ),
    bind!(
        Tree,
        [Char('K'), Ctrl('y')],
        "K  Ctrl-y",
        "scroll data up",
        ScrollDataUp
    ),
    bind!(
        Tree,
        [Char('c')],
        "c",
        "create a node (any mode)",
        Create,
        writes
    ),
    bind!(
        Tree,
        [Char('e')],
        "e",
        "edit data here (Ctrl-s saves)",
        Edit,
        writes
    ),
    bind!(
        Tree,
        [Char('E')],
        "E",
        "edit data in $EDITOR",
        EditExternal,
        writes
    ),
    bind!(Tree, [Char('A')], "A", "edit the ACL", SetAcl, writes),
    bind!(
        Tree,
        [Char('D')],
        "D",
        "delete (asks to confirm)",
        Delete,
        writes
    ),
    bind!(
        Conflict,
        [Char('r')],
        "r",
        "write mine over the new version",
        Retry,
        writes
    ),
    bind!(
        Conflict,
        [Char('e')],
        "e",
        "edit mine again, then save",
        Reedit,
        writes
    ),
    bind!(
        Conflict,
        [Char('d'), Esc],
        "d  Esc",
        "discard mine",
        Discard
    ),
];

/// Keys inside dialogs, for the help overlay.
pub static DIALOG_KEYS: &[(&str, &str)] = &[
    ("Enter", "submit (create, ACL, jump, delete)"),
    ("Ctrl-s", "save (in-place editor)"),
    ("Tab  Shift-Tab", "next / previous field"),
    ("Ctrl-u", "clear the line"),
    ("← →  Space", "change the node kind (create)"),
    ("y", "confirm deleting a leaf node"),
    ("Esc", "cancel"),
];

/// Maps a key to an action for the current state.
pub fn map(app: &App, key: Key) -> Option<Action> {
    if key == Ctrl('c') {
        return Some(Action::Cmd(Cmd::Quit));
    }
    match &app.modal {
        Modal::Help => Some(Action::Cmd(Cmd::Help)),
        Modal::Conflict(_) => lookup(Scope::Conflict, key).map(Action::Cmd),
        Modal::None => {
            let view_scope = match app.view {
                View::Tree => Scope::Tree,
                View::Ensemble => Scope::Ensemble,
            };
            lookup(view_scope, key)
                .or_else(|| lookup(Scope::Global, key))
                .map(Action::Cmd)
        }
        Modal::Edit(_) => input_key(key, true).map(Action::Input),
        _ => input_key(key, false).map(Action::Input),
    }
}

fn lookup(scope: Scope, key: Key) -> Option<Cmd> {
    BINDINGS
        .iter()
        .find(|b| b.scope == scope && b.keys.contains(&key))
        .map(|b| b.cmd)
}

fn input_key(key: Key, multiline: bool) -> Option<InputKey> {
    Some(match key {
        Char(c) => InputKey::Char(c),
        Ctrl('s') => InputKey::Save,
        Ctrl('a') => InputKey::Home,
        Ctrl('e') => InputKey::End,
        Ctrl('h') => InputKey::Backspace,
        Ctrl('u') => InputKey::Clear,
        Ctrl(_) => return None,
        Up => InputKey::Up,
        Down => InputKey::Down,
        Left => InputKey::Left,
        Right => InputKey::Right,
        Home => InputKey::Home,
        End => InputKey::End,
        Enter => InputKey::Enter,
        Esc => InputKey::Cancel,
        Tab if multiline => InputKey::Char('\t'),
        Tab => InputKey::Tab,
        BackTab => InputKey::BackTab,
        Backspace => InputKey::Backspace,
        Delete => InputKey::Delete,
        PageUp | PageDown => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_key_is_bound_twice_in_one_scope() {
        for (i, a) in BINDINGS.iter().enumerate() {
            for b in &BINDINGS[i + 1..] {
                let overlap = a.scope == b.scope && a.keys.iter().any(|k| b.keys.contains(k));
                assert!(!overlap, "{} and {} share a key", a.label, b.label);
            }
        }
    }

    #[test]
    fn destructive_commands_are_never_on_a_lower_case_or_arrow_key() {
        for b in BINDINGS.iter().filter(|b| b.cmd == Cmd::Delete) {
            assert!(b
                .keys
                .iter()
                .all(|k| matches!(k, Char(c) if c.is_ascii_uppercase())));
        }
    }

    #[test]
    fn vim_and_arrows_agree() {
        let app = App::new("h:1", &["h:1".to_string()], Some("/a"), false);
        for (vim, arrow) in [
            (Char('j'), Down),
            (Char('k'), Up),
            (Char('h'), Left),
            (Char('l'), Right),
        ] {
            assert_eq!(map(&app, vim), map(&app, arrow));
        }
    }
}
