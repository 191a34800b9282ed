//! The UI model: all state the screens show, and [`App::update`], which takes
//! an [`Action`] (a key already mapped to a command, or a result from the
//! I/O edges) and changes the state. It returns [`Effect`]s for the edges to
//! carry out (ZooKeeper calls, `$EDITOR`); their results come back as
//! actions. Nothing here reads a clock, a socket or the terminal.

pub mod ensemble;
pub mod forms;
pub mod node;
pub mod time;
pub mod tree;

use ensemble::{EnsembleState, PollRound};
use forms::{CreateForm, InputKey, LineInput, TextArea, WriteOp, WriteOutcome};
use node::{acl_from_text, acl_to_text, DataView, NodeData, Stat};
use tree::Browser;

/// How long a status message stays, ms.
const STATUS_MS: u64 = 10_000;

/// The two screens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    /// Ensemble health.
    Ensemble,
    /// The znode tree.
    Tree,
}

/// Commands bound to keys outside text inputs (see `crate::keys`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmd {
    /// Leave.
    Quit,
    /// Toggle the help overlay.
    Help,
    /// Show the ensemble view.
    ShowEnsemble,
    /// Show the tree view.
    ShowTree,
    /// Switch views.
    NextView,
    /// Selection up.
    Up,
    /// Selection down.
    Down,
    /// A page up.
    PageUp,
    /// A page down.
    PageDown,
    /// Half a page up.
    HalfPageUp,
    /// Half a page down.
    HalfPageDown,
    /// First row.
    Top,
    /// Last row.
    Bottom,
    /// Into the selected node.
    Open,
    /// To the parent.
    Back,
    /// Filter children.
    Filter,
    /// Jump to a path.
    Jump,
    /// Next data view (auto, text, json, hex, base64).
    CycleDataView,
    /// Scroll the data pane up.
    ScrollDataUp,
    /// Scroll the data pane down.
    ScrollDataDown,
    /// Reload what is on screen.
    Refresh,
    /// Create a node.
    Create,
    /// Edit data in place.
    Edit,
    /// Edit data in `$EDITOR`.
    EditExternal,
    /// Delete (asks to confirm).
    Delete,
    /// Edit the ACL.
    SetAcl,
    /// Conflict: write again over the server's version.
    Retry,
    /// Conflict: edit again, starting from my version.
    Reedit,
    /// Conflict: drop my change.
    Discard,
}

/// The ZooKeeper session as the status bar shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Session {
    /// Connecting (first time or after expiry).
    Connecting,
    /// Connected; the session id.
    Connected(i64),
    /// Lost the connection; the client library retries.
    Disconnected,
    /// Could not connect; retrying.
    Failed(String),
}

/// Everything that changes the model.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Wall-clock time (ms since the Unix epoch), about once a second.
    Tick {
        /// Now.
        now_ms: u64,
    },
    /// The terminal size.
    Resize {
        /// Columns.
        width: u16,
        /// Rows.
        height: u16,
    },
    /// A command key.
    Cmd(Cmd),
    /// A key inside a text input or dialog.
    Input(InputKey),
    /// The session changed.
    Session(Session),
    /// A poll of every member.
    Poll(PollRound),
    /// Children of a directory.
    Children {
        /// The directory.
        dir: String,
        /// Names, or why not.
        result: Result<Vec<String>, String>,
    },
    /// Stats of some children (for counts).
    ChildStats {
        /// The directory.
        dir: String,
        /// `(name, stat)`; `None` when the child is gone.
        stats: Vec<(String, Option<Stat>)>,
    },
    /// A node's data, Stat and ACL (`Ok(None)`: no such node).
    Node {
        /// The node.
        path: String,
        /// What was read.
        result: Result<Option<NodeData>, String>,
    },
    /// How many descendants a node has (for the delete confirmation).
    Descendants {
        /// The node.
        path: String,
        /// The count, or why not.
        result: Result<usize, String>,
    },
    /// A watch on a node on screen fired.
    Watched {
        /// The node watched.
        path: String,
    },
    /// A write finished.
    Written {
        /// What was asked.
        op: WriteOp,
        /// How it went.
        outcome: WriteOutcome,
    },
    /// `$EDITOR` returned: new bytes, `None` when unchanged.
    Edited {
        /// The node edited.
        path: String,
        /// The data version the edit started from.
        version: i32,
        /// The result.
        result: Result<Option<Vec<u8>>, String>,
    },
}

/// Work for the I/O edges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// `getChildren(dir)` → [`Action::Children`].
    ListChildren {
        /// The directory.
        dir: String,
    },
    /// `exists` on each child → [`Action::ChildStats`].
    FetchStats {
        /// The directory.
        dir: String,
        /// Child names.
        names: Vec<String>,
    },
    /// `getData` + `getACL` → [`Action::Node`].
    GetNode {
        /// The node.
        path: String,
    },
    /// `getAllChildrenNumber` → [`Action::Descendants`].
    CountDescendants {
        /// The node.
        path: String,
    },
    /// Keep persistent watches on exactly these paths (what is on screen).
    Watch {
        /// The paths.
        paths: Vec<String>,
    },
    /// A write → [`Action::Written`].
    Write(WriteOp),
    /// Edit bytes in `$EDITOR` → [`Action::Edited`].
    OpenEditor {
        /// The node.
        path: String,
        /// Its data.
        data: Vec<u8>,
        /// Its data version.
        version: i32,
    },
}

/// The selected node's pane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeState {
    /// Nothing selected.
    Empty,
    /// Reading.
    Loading,
    /// Read.
    Loaded(NodeData),
    /// No such node.
    Missing,
    /// Reading failed.
    Failed(String),
}

/// The delete confirmation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeleteConfirm {
    /// The node.
    pub path: String,
    /// The data version seen.
    pub version: i32,
    /// Descendants (`None` while counting).
    pub descendants: Option<usize>,
    /// Counting failed.
    pub error: Option<String>,
    /// What the user typed (the count, for a recursive delete).
    pub typed: LineInput,
}

impl DeleteConfirm {
    /// Znodes that will go.
    pub fn total(&self) -> Option<usize> {
        self.descendants.map(|d| d + 1)
    }
}

/// The ACL editor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AclForm {
    /// The node.
    pub path: String,
    /// The ACL version seen.
    pub version: i32,
    /// `scheme:id:perms,...`.
    pub input: LineInput,
    /// Parse or write error.
    pub error: Option<String>,
}

/// The in-place editor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EditForm {
    /// The node.
    pub path: String,
    /// The data version the edit started from.
    pub version: i32,
    /// The text.
    pub area: TextArea,
    /// Write error.
    pub error: Option<String>,
}

/// A BADVERSION: what I tried and what the server has now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// My write (with the version I saw).
    pub op: WriteOp,
    /// The node now (`None`: deleted meanwhile).
    pub theirs: Option<NodeData>,
}

/// What is over the main screen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Modal {
    /// Nothing.
    None,
    /// Key help.
    Help,
    /// Jump to a path.
    Jump(LineInput),
    /// Filter children (applies as you type).
    Filter(LineInput),
    /// Create a node.
    Create(CreateForm),
    /// Edit data in place.
    Edit(EditForm),
    /// Confirm a delete.
    Delete(DeleteConfirm),
    /// Edit the ACL.
    Acl(AclForm),
    /// A version conflict.
    Conflict(Conflict),
}

/// A message in the status bar.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// The text.
    pub text: String,
    /// An error (shown in red).
    pub error: bool,
    /// When it was set (for expiry).
    pub at_ms: u64,
}

/// The whole UI state.
#[derive(Clone, Debug, PartialEq)]
pub struct App {
    /// The connect string (shown in the title).
    pub connect: String,
    /// Writes disabled.
    pub read_only: bool,
    /// Current screen.
    pub view: View,
    /// Ensemble state.
    pub ensemble: EnsembleState,
    /// Tree browser.
    pub browser: Browser,
    /// The node pane's path.
    pub node_path: Option<String>,
    /// The node pane.
    pub node: NodeState,
    /// How data is shown.
    pub data_view: DataView,
    /// Data pane scroll (lines).
    pub data_scroll: u16,
    /// Overlay.
    pub modal: Modal,
    /// Status bar message.
    pub status: Option<Status>,
    /// The ZooKeeper session.
    pub session: Session,
    /// Last wall-clock time seen (ms).
    pub now_ms: u64,
    /// Terminal size.
    pub size: (u16, u16),
    /// Set when the user quits.
    pub quit: bool,
    watched: Vec<String>,
}

impl App {
    /// A model for `members` (client addresses), starting on `path` (tree
    /// view) or on the ensemble view.
    pub fn new(connect: &str, members: &[String], path: Option<&str>, read_only: bool) -> App {
        let (view, dir, select) = match path.map(tree::normalize) {
            Some(Ok(p)) => match tree::split(&p) {
                Some((parent, name)) => (View::Tree, parent, Some(name)),
                None => (View::Tree, "/".to_string(), None),
            },
            _ => (View::Ensemble, "/".to_string(), None),
        };
        let mut browser = Browser::new(&dir);
        browser.select_name = select;
        let mut app = App {
            connect: connect.to_string(),
            read_only,
            view,
            ensemble: EnsembleState::new(members),
            browser,
            node_path: None,
            node: NodeState::Empty,
            data_view: DataView::Auto,
            data_scroll: 0,
            modal: Modal::None,
            status: None,
            session: Session::Connecting,
            now_ms: 0,
            size: (120, 40),
            quit: false,
            watched: Vec::new(),
        };
        if let Some(Err(e)) = path.map(tree::normalize) {
            app.set_status(format!("--path: {e}"), true);
        }
        app
    }

    /// The effects to start with.
    pub fn start(&mut self) -> Vec<Effect> {
        vec![Effect::ListChildren {
            dir: self.browser.dir.clone(),
        }]
    }

    fn set_status(&mut self, text: impl Into<String>, error: bool) {
        self.status = Some(Status {
            text: text.into(),
            error,
            at_ms: self.now_ms,
        });
    }

    /// Applies one action; returns the effects it asks for.
    pub fn update(&mut self, action: Action) -> Vec<Effect> {
        let mut fx = Vec::new();
        match action {
            Action::Tick { now_ms } => {
                self.now_ms = now_ms;
                if self
                    .status
                    .as_ref()
                    .is_some_and(|s| now_ms.saturating_sub(s.at_ms) > STATUS_MS)
                {
                    self.status = None;
                }
            }
            Action::Resize { width, height } => {
                self.size = (width, height);
                let rows = crate::ui::layout::tree_rows(height, self.ensemble.members.len());
                self.browser.set_rows(rows);
                self.after_move(&mut fx);
            }
            Action::Cmd(cmd) => self.command(cmd, &mut fx),
            Action::Input(key) => self.input(key, &mut fx),
            Action::Session(s) => {
                let connected = matches!(s, Session::Connected(_));
                let was_connected = matches!(self.session, Session::Connected(_));
                let new_session = match (&self.session, &s) {
                    (Session::Connected(a), Session::Connected(b)) => a != b,
                    _ => connected,
                };
                self.session = s;
                if connected && (new_session || !was_connected) {
                    // A new session has no watches: set them and reload.
                    self.watched.clear();
                    self.refresh(&mut fx);
                }
            }
            Action::Poll(round) => {
                self.ensemble.apply(&round);
                self.now_ms = self.now_ms.max(round.at_ms);
            }
            Action::Children { dir, result } => {
                if dir == self.browser.dir {
                    let wanted = self.browser.select_name.clone();
                    match result {
                        Ok(names) => {
                            self.browser.set_children(names);
                            if let Some(w) = wanted {
                                if self.browser.selected_name() != Some(w.as_str()) {
                                    let path = tree::join(&dir, &w);
                                    self.set_status(format!("no node {path}"), true);
                                }
                            }
                        }
                        Err(e) => {
                            self.browser.set_error(e.clone());
                            self.set_status(format!("listing {dir}: {e}"), true);
                        }
                    }
                    self.after_move(&mut fx);
                }
            }
            Action::ChildStats { dir, stats } => {
                if dir == self.browser.dir {
                    self.browser.set_stats(stats);
                }
            }
            Action::Node { path, result } => {
                if self.node_path.as_deref() == Some(path.as_str()) {
                    self.node = match result {
                        Ok(Some(n)) => {
                            if let Some(name) = tree::split(&path).map(|(_, n)| n) {
                                self.browser.stats.insert(name, n.stat);
                            }
                            NodeState::Loaded(n)
                        }
                        Ok(None) => NodeState::Missing,
                        Err(e) => NodeState::Failed(e),
                    };
                }
            }
            Action::Descendants { path, result } => {
                if let Modal::Delete(d) = &mut self.modal {
                    if d.path == path {
                        match result {
                            Ok(n) => d.descendants = Some(n),
                            Err(e) => d.error = Some(e),
                        }
                    }
                }
            }
            Action::Watched { path } => {
                if path == self.browser.dir {
                    fx.push(Effect::ListChildren { dir: path.clone() });
                }
                if self.node_path.as_deref() == Some(path.as_str()) {
                    fx.push(Effect::GetNode { path });
                }
            }
            Action::Written { op, outcome } => self.written(op, outcome, &mut fx),
            Action::Edited {
                path,
                version,
                result,
            } => match result {
                Ok(Some(data)) => fx.push(Effect::Write(WriteOp::SetData {
                    path,
                    data,
                    version,
                })),
                Ok(None) => self.set_status(format!("{path}: no change"), false),
                Err(e) => self.set_status(format!("$EDITOR: {e}"), true),
            },
        }
        fx
    }

    /// Reloads the directory and the selected node, and re-sends the watches.
    fn refresh(&mut self, fx: &mut Vec<Effect>) {
        fx.push(Effect::ListChildren {
            dir: self.browser.dir.clone(),
        });
        if let Some(path) = &self.node_path {
            fx.push(Effect::GetNode { path: path.clone() });
        }
        self.watched.clear();
        self.push_watches(fx);
    }

    /// After the selection or directory changed: load the selected node, the
    /// counts on screen, and move the watches.
    fn after_move(&mut self, fx: &mut Vec<Effect>) {
        let selected = self.browser.selected_path();
        if selected != self.node_path {
            self.node_path = selected.clone();
            self.data_scroll = 0;
            self.node = match &selected {
                Some(path) => {
                    fx.push(Effect::GetNode { path: path.clone() });
                    NodeState::Loading
                }
                None => NodeState::Empty,
            };
        }
        let names = self.browser.take_missing_stats();
        if !names.is_empty() {
            fx.push(Effect::FetchStats {
                dir: self.browser.dir.clone(),
                names,
            });
        }
        self.push_watches(fx);
    }

    fn push_watches(&mut self, fx: &mut Vec<Effect>) {
        let mut paths = vec![self.browser.dir.clone()];
        if let Some(p) = &self.node_path {
            if !paths.contains(p) {
                paths.push(p.clone());
            }
        }
        if paths != self.watched {
            self.watched = paths.clone();
            fx.push(Effect::Watch { paths });
        }
    }

    fn open_dir(&mut self, dir: String, select: Option<String>, fx: &mut Vec<Effect>) {
        self.browser.set_dir(&dir, select);
        self.node_path = None;
        self.node = NodeState::Empty;
        fx.push(Effect::ListChildren { dir });
        self.push_watches(fx);
    }

    fn loaded(&self) -> Option<(&str, &NodeData)> {
        match (&self.node_path, &self.node) {
            (Some(p), NodeState::Loaded(n)) => Some((p.as_str(), n)),
            _ => None,
        }
    }

    fn writable(&mut self) -> bool {
        if self.read_only {
            self.set_status("read-only: writes are disabled (--read-only)", true);
        }
        !self.read_only
    }

    fn command(&mut self, cmd: Cmd, fx: &mut Vec<Effect>) {
        if let Modal::Conflict(c) = &self.modal {
            let c = c.clone();
            return self.conflict_command(cmd, c, fx);
        }
        if self.modal == Modal::Help {
            if matches!(cmd, Cmd::Quit) {
                self.quit = true;
            }
            self.modal = Modal::None;
            return;
        }
        let page = self.browser.rows.max(1) as isize;
        match cmd {
            Cmd::Quit => self.quit = true,
            Cmd::Help => self.modal = Modal::Help,
            Cmd::ShowEnsemble => self.view = View::Ensemble,
            Cmd::ShowTree => self.view = View::Tree,
            Cmd::NextView => {
                self.view = match self.view {
                    View::Ensemble => View::Tree,
                    View::Tree => View::Ensemble,
                }
            }
            Cmd::Up | Cmd::Down if self.view == View::Ensemble => {
                let n = self.ensemble.members.len().max(1);
                let s = &mut self.ensemble.selected;
                *s = if cmd == Cmd::Up {
                    (*s + n - 1) % n
                } else {
                    (*s + 1) % n
                };
            }
            _ if self.view == View::Ensemble => {}
            Cmd::Up => self.move_by(-1, fx),
            Cmd::Down => self.move_by(1, fx),
            Cmd::PageUp => self.move_by(-page, fx),
            Cmd::PageDown => self.move_by(page, fx),
            Cmd::HalfPageUp => self.move_by(-(page / 2).max(1), fx),
            Cmd::HalfPageDown => self.move_by((page / 2).max(1), fx),
            Cmd::Top => {
                self.browser.top();
                self.after_move(fx);
            }
            Cmd::Bottom => {
                self.browser.bottom();
                self.after_move(fx);
            }
            Cmd::Open => {
                if let Some(path) = self.browser.selected_path() {
                    self.open_dir(path, None, fx);
                }
            }
            Cmd::Back => {
                if let Some((parent, name)) = tree::split(&self.browser.dir) {
                    self.open_dir(parent, Some(name), fx);
                }
            }
            Cmd::Filter => self.modal = Modal::Filter(LineInput::with(&self.browser.filter)),
            Cmd::Jump => {
                let start = self
                    .node_path
                    .clone()
                    .unwrap_or_else(|| self.browser.dir.clone());
                self.modal = Modal::Jump(LineInput::with(&start));
            }
            Cmd::CycleDataView => {
                self.data_view = self.data_view.next();
                self.data_scroll = 0;
            }
            Cmd::ScrollDataUp => self.data_scroll = self.data_scroll.saturating_sub(5),
            Cmd::ScrollDataDown => self.data_scroll = self.data_scroll.saturating_add(5),
            Cmd::Refresh => self.refresh(fx),
            Cmd::Create => {
                if self.writable() {
                    self.modal = Modal::Create(CreateForm::new(&self.browser.dir));
                }
            }
            Cmd::Edit => self.start_edit(),
            Cmd::EditExternal => {
                if !self.writable() {
                    return;
                }
                if let Some((path, n)) = self.loaded() {
                    fx.push(Effect::OpenEditor {
                        path: path.to_string(),
                        data: n.data.clone(),
                        version: n.stat.version,
                    });
                }
            }
            Cmd::Delete => {
                if !self.writable() {
                    return;
                }
                if let Some((path, n)) = self.loaded() {
                    let counting = n.stat.num_children > 0;
                    let path = path.to_string();
                    if counting {
                        fx.push(Effect::CountDescendants { path: path.clone() });
                    }
                    self.modal = Modal::Delete(DeleteConfirm {
                        path,
                        version: n.stat.version,
                        descendants: (!counting).then_some(0),
                        error: None,
                        typed: LineInput::default(),
                    });
                }
            }
            Cmd::SetAcl => {
                if !self.writable() {
                    return;
                }
                if let Some((path, n)) = self.loaded() {
                    self.modal = Modal::Acl(AclForm {
                        path: path.to_string(),
                        version: n.stat.aversion,
                        input: LineInput::with(&acl_to_text(&n.acl)),
                        error: None,
                    });
                }
            }
            Cmd::Retry | Cmd::Reedit | Cmd::Discard => {}
        }
    }

    fn move_by(&mut self, delta: isize, fx: &mut Vec<Effect>) {
        self.browser.move_by(delta);
        self.after_move(fx);
    }

    fn start_edit(&mut self) {
        if !self.writable() {
            return;
        }
        let Some((path, n)) = self.loaded() else {
            return;
        };
        match std::str::from_utf8(&n.data) {
            Ok(text) => {
                self.modal = Modal::Edit(EditForm {
                    path: path.to_string(),
                    version: n.stat.version,
                    area: TextArea::from_text(text),
                    error: None,
                })
            }
            Err(_) => self.set_status(
                "binary data: edit it with E ($EDITOR), which keeps the bytes as they are",
                true,
            ),
        }
    }

    fn conflict_command(&mut self, cmd: Cmd, c: Conflict, fx: &mut Vec<Effect>) {
        match cmd {
            Cmd::Retry => match &c.theirs {
                Some(theirs) => {
                    fx.push(Effect::Write(c.op.rebased(theirs)));
                    self.modal = Modal::None;
                }
                None => self.set_status("the node is gone: nothing to retry against", true),
            },
            Cmd::Reedit => match (&c.op, &c.theirs) {
                (WriteOp::SetData { path, data, .. }, Some(theirs)) => {
                    self.modal = Modal::Edit(EditForm {
                        path: path.clone(),
                        version: theirs.stat.version,
                        area: TextArea::from_text(&String::from_utf8_lossy(data)),
                        error: None,
                    });
                }
                _ => self.set_status("only a data edit can be edited again", true),
            },
            Cmd::Discard => {
                self.modal = Modal::None;
                self.set_status(format!("discarded: {}", c.op.describe()), false);
                if let Some(p) = self.node_path.clone() {
                    fx.push(Effect::GetNode { path: p });
                }
            }
            Cmd::Quit => self.quit = true,
            Cmd::Help => self.modal = Modal::Help,
            _ => {}
        }
    }

    fn input(&mut self, key: InputKey, fx: &mut Vec<Effect>) {
        let modal = std::mem::replace(&mut self.modal, Modal::None);
        self.modal = match modal {
            Modal::None | Modal::Help | Modal::Conflict(_) => modal,
            Modal::Jump(mut l) => match key {
                InputKey::Cancel => Modal::None,
                InputKey::Enter => {
                    match tree::normalize(&l.text) {
                        Ok(path) => match tree::split(&path) {
                            Some((parent, name)) => self.open_dir(parent, Some(name), fx),
                            None => self.open_dir("/".to_string(), None, fx),
                        },
                        Err(e) => self.set_status(e, true),
                    }
                    self.view = View::Tree;
                    Modal::None
                }
                k => {
                    l.edit(k);
                    Modal::Jump(l)
                }
            },
            Modal::Filter(mut l) => match key {
                InputKey::Cancel => {
                    self.browser.set_filter("");
                    self.after_move(fx);
                    Modal::None
                }
                InputKey::Enter => Modal::None,
                k => {
                    l.edit(k);
                    self.browser.set_filter(&l.text);
                    self.after_move(fx);
                    Modal::Filter(l)
                }
            },
            Modal::Create(mut f) => match key {
                InputKey::Cancel => Modal::None,
                InputKey::Enter | InputKey::Save => match create_op(&f) {
                    Ok(op) => {
                        fx.push(Effect::Write(op));
                        f.error = None;
                        Modal::Create(f)
                    }
                    Err(e) => {
                        f.error = Some(e);
                        Modal::Create(f)
                    }
                },
                k => {
                    f.edit(k);
                    Modal::Create(f)
                }
            },
            Modal::Edit(mut e) => match key {
                InputKey::Cancel => Modal::None,
                InputKey::Save => {
                    fx.push(Effect::Write(WriteOp::SetData {
                        path: e.path.clone(),
                        data: e.area.text().into_bytes(),
                        version: e.version,
                    }));
                    Modal::Edit(e)
                }
                k => {
                    e.area.edit(k);
                    Modal::Edit(e)
                }
            },
            Modal::Delete(mut d) => match key {
                InputKey::Cancel => Modal::None,
                InputKey::Char('y') if d.descendants == Some(0) => {
                    fx.push(Effect::Write(WriteOp::Delete {
                        path: d.path.clone(),
                        version: d.version,
                        recursive: false,
                    }));
                    Modal::None
                }
                InputKey::Enter if d.descendants.is_some_and(|n| n > 0) => {
                    if d.total().map(|t| t.to_string()) == Some(d.typed.text.trim().to_string()) {
                        fx.push(Effect::Write(WriteOp::Delete {
                            path: d.path.clone(),
                            version: d.version,
                            recursive: true,
                        }));
                        Modal::None
                    } else {
                        d.error = Some("type the number of znodes exactly".to_string());
                        Modal::Delete(d)
                    }
                }
                k if d.descendants.is_some_and(|n| n > 0) => {
                    if !matches!(k, InputKey::Char(c) if !c.is_ascii_digit()) {
                        d.typed.edit(k);
                    }
                    Modal::Delete(d)
                }
                _ => Modal::Delete(d),
            },
            Modal::Acl(mut a) => match key {
                InputKey::Cancel => Modal::None,
                InputKey::Enter => match acl_from_text(&a.input.text) {
                    Ok(acl) => {
                        fx.push(Effect::Write(WriteOp::SetAcl {
                            path: a.path.clone(),
                            acl,
                            version: a.version,
                        }));
                        Modal::Acl(a)
                    }
                    Err(e) => {
                        a.error = Some(e);
                        Modal::Acl(a)
                    }
                },
                k => {
                    a.input.edit(k);
                    Modal::Acl(a)
                }
            },
        };
    }

    fn written(&mut self, op: WriteOp, outcome: WriteOutcome, fx: &mut Vec<Effect>) {
        match outcome {
            WriteOutcome::Done { created } => {
                let what = match (&op, &created) {
                    (WriteOp::Create { .. }, Some(p)) => format!("created {p}"),
                    _ => format!("done: {}", op.describe()),
                };
                self.set_status(what, false);
                if matches!(
                    self.modal,
                    Modal::Create(_) | Modal::Edit(_) | Modal::Acl(_)
                ) {
                    self.modal = Modal::None;
                }
                if let Some((parent, name)) = created.as_deref().and_then(tree::split) {
                    if parent == self.browser.dir {
                        self.browser.select_name = Some(name);
                    }
                }
                if let WriteOp::Delete { path, .. } = &op {
                    if self.node_path.as_deref() == Some(path.as_str()) {
                        self.node = NodeState::Missing;
                    }
                }
                self.refresh(fx);
            }
            WriteOutcome::Conflict { current } => {
                self.modal = Modal::Conflict(Conflict {
                    op,
                    theirs: current,
                });
            }
            WriteOutcome::Failed(e) => {
                let msg = format!("{}: {e}", op.describe());
                match &mut self.modal {
                    Modal::Create(f) => f.error = Some(e),
                    Modal::Edit(f) => f.error = Some(e),
                    Modal::Acl(f) => f.error = Some(e),
                    _ => {}
                }
                self.set_status(msg, true);
            }
        }
    }
}

fn create_op(f: &CreateForm) -> Result<WriteOp, String> {
    let path = f.path.text.trim();
    let sequential = matches!(
        f.kind,
        forms::CreateKind::PersistentSequential
            | forms::CreateKind::EphemeralSequential
            | forms::CreateKind::TtlSequential
    );
    // A sequential name may end in `/` (the server appends the counter).
    let checked = if sequential && path.ends_with('/') && path.len() > 1 {
        tree::normalize(path.trim_end_matches('/')).map(|p| format!("{p}/"))
    } else {
        tree::normalize(path)
    }?;
    if checked == "/" {
        return Err("give the new node a name".to_string());
    }
    let ttl_ms = if f.kind.has_ttl() {
        let ttl: u64 = f
            .ttl
            .text
            .parse()
            .map_err(|_| "TTL: a number of milliseconds".to_string())?;
        if ttl == 0 {
            return Err("TTL: more than 0 ms".to_string());
        }
        Some(ttl)
    } else {
        None
    };
    Ok(WriteOp::Create {
        path: checked,
        data: f.data.text.clone().into_bytes(),
        kind: f.kind,
        ttl_ms,
    })
}

#[cfg(test)]
mod tests;
