//! Text inputs and dialogs: a one-line input, a small multi-line editor, the
//! create form, and the write operations they produce.

use super::node::{AclEntry, NodeData};

/// A key as text inputs see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputKey {
    /// A printable character.
    Char(char),
    /// Delete before the cursor.
    Backspace,
    /// Delete at the cursor.
    Delete,
    /// Cursor left.
    Left,
    /// Cursor right.
    Right,
    /// Cursor up (multi-line) / previous choice.
    Up,
    /// Cursor down (multi-line) / next choice.
    Down,
    /// Start of line.
    Home,
    /// End of line.
    End,
    /// Enter: submit (one line) or new line (multi-line).
    Enter,
    /// Next field.
    Tab,
    /// Previous field.
    BackTab,
    /// Ctrl-S: save (multi-line).
    Save,
    /// Esc: cancel.
    Cancel,
    /// Ctrl-U: clear the line.
    Clear,
}

/// A one-line text input.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LineInput {
    /// The text.
    pub text: String,
    /// Cursor position, in chars.
    pub cursor: usize,
}

impl LineInput {
    /// An input holding `text`, cursor at the end.
    pub fn with(text: &str) -> LineInput {
        LineInput {
            text: text.to_string(),
            cursor: text.chars().count(),
        }
    }

    fn byte_at(&self, char_pos: usize) -> usize {
        self.text
            .char_indices()
            .nth(char_pos)
            .map_or(self.text.len(), |(b, _)| b)
    }

    /// Applies an editing key; returns `false` for keys it does not handle.
    pub fn edit(&mut self, key: InputKey) -> bool {
        let len = self.text.chars().count();
        match key {
            InputKey::Char(c) => {
                let at = self.byte_at(self.cursor);
                self.text.insert(at, c);
                self.cursor += 1;
            }
            InputKey::Backspace if self.cursor > 0 => {
                self.cursor -= 1;
                let at = self.byte_at(self.cursor);
                self.text.remove(at);
            }
            InputKey::Delete if self.cursor < len => {
                let at = self.byte_at(self.cursor);
                self.text.remove(at);
            }
            InputKey::Left => self.cursor = self.cursor.saturating_sub(1),
            InputKey::Right => self.cursor = (self.cursor + 1).min(len),
            InputKey::Home => self.cursor = 0,
            InputKey::End => self.cursor = len,
            InputKey::Clear => {
                self.text.clear();
                self.cursor = 0;
            }
            InputKey::Backspace | InputKey::Delete => {}
            _ => return false,
        }
        true
    }
}

/// A small multi-line editor for in-place edits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextArea {
    /// Lines (no newlines inside).
    pub lines: Vec<String>,
    /// Cursor line.
    pub row: usize,
    /// Cursor column, in chars.
    pub col: usize,
}

impl TextArea {
    /// Splits `text` on `\n`, so that [`TextArea::text`] gives it back exactly.
    pub fn from_text(text: &str) -> TextArea {
        TextArea {
            lines: text.split('\n').map(str::to_string).collect(),
            row: 0,
            col: 0,
        }
    }

    /// The text, lines joined with `\n`.
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }

    fn line_len(&self, row: usize) -> usize {
        self.lines.get(row).map_or(0, |l| l.chars().count())
    }

    /// Applies an editing key; returns `false` for keys it does not handle.
    pub fn edit(&mut self, key: InputKey) -> bool {
        if self.lines.is_empty() {
            self.lines.push(String::new());
        }
        self.row = self.row.min(self.lines.len() - 1);
        let text = std::mem::take(&mut self.lines[self.row]);
        let cursor = self.col.min(text.chars().count());
        let mut line = LineInput { text, cursor };
        let handled = match key {
            InputKey::Enter => {
                let at = line.byte_at(line.cursor);
                let rest = line.text.split_off(at);
                self.lines[self.row] = line.text;
                self.lines.insert(self.row + 1, rest);
                self.row += 1;
                self.col = 0;
                return true;
            }
            InputKey::Backspace if line.cursor == 0 && self.row > 0 => {
                let prev_len = self.lines[self.row - 1].chars().count();
                self.lines[self.row - 1].push_str(&line.text);
                self.lines.remove(self.row);
                self.row -= 1;
                self.col = prev_len;
                return true;
            }
            InputKey::Delete
                if line.cursor == line.text.chars().count() && self.row + 1 < self.lines.len() =>
            {
                let next = self.lines.remove(self.row + 1);
                line.text.push_str(&next);
                true
            }
            InputKey::Up => {
                self.lines[self.row] = line.text;
                self.row = self.row.saturating_sub(1);
                self.col = self.col.min(self.line_len(self.row));
                return true;
            }
            InputKey::Down => {
                self.lines[self.row] = line.text;
                self.row = (self.row + 1).min(self.lines.len() - 1);
                self.col = self.col.min(self.line_len(self.row));
                return true;
            }
            other => line.edit(other),
        };
        self.lines[self.row] = line.text;
        self.col = line.cursor;
        handled
    }
}

/// Every kind of znode the create form offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreateKind {
    /// Persistent.
    Persistent,
    /// Persistent, sequential name.
    PersistentSequential,
    /// Ephemeral (gone when this TUI's session ends).
    Ephemeral,
    /// Ephemeral, sequential name.
    EphemeralSequential,
    /// Container (removed by the server when its last child goes).
    Container,
    /// Persistent with a TTL.
    Ttl,
    /// Persistent sequential with a TTL.
    TtlSequential,
}

impl CreateKind {
    /// In the order the form cycles through them.
    pub const ALL: [CreateKind; 7] = [
        CreateKind::Persistent,
        CreateKind::PersistentSequential,
        CreateKind::Ephemeral,
        CreateKind::EphemeralSequential,
        CreateKind::Container,
        CreateKind::Ttl,
        CreateKind::TtlSequential,
    ];

    /// The name shown.
    pub fn as_str(self) -> &'static str {
        match self {
            CreateKind::Persistent => "persistent",
            CreateKind::PersistentSequential => "persistent sequential",
            CreateKind::Ephemeral => "ephemeral",
            CreateKind::EphemeralSequential => "ephemeral sequential",
            CreateKind::Container => "container",
            CreateKind::Ttl => "persistent with TTL",
            CreateKind::TtlSequential => "persistent sequential with TTL",
        }
    }

    /// Whether it needs a TTL.
    pub fn has_ttl(self) -> bool {
        matches!(self, CreateKind::Ttl | CreateKind::TtlSequential)
    }

    fn step(self, by: isize) -> CreateKind {
        let i = CreateKind::ALL.iter().position(|k| *k == self).unwrap_or(0) as isize;
        let n = CreateKind::ALL.len() as isize;
        CreateKind::ALL[(i + by).rem_euclid(n) as usize]
    }
}

/// The create form's fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreateField {
    /// Full path.
    Path,
    /// Kind.
    Kind,
    /// TTL in ms.
    Ttl,
    /// Data (one line of text).
    Data,
}

/// The create form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateForm {
    /// Path of the new node (starts as the current directory + `/`).
    pub path: LineInput,
    /// Kind.
    pub kind: CreateKind,
    /// TTL in ms (TTL kinds only).
    pub ttl: LineInput,
    /// Data, as UTF-8 text.
    pub data: LineInput,
    /// Focused field.
    pub focus: CreateField,
    /// What went wrong with the last submit.
    pub error: Option<String>,
}

impl CreateForm {
    /// A form for a child of `dir`.
    pub fn new(dir: &str) -> CreateForm {
        let prefix = if dir == "/" {
            "/".to_string()
        } else {
            format!("{dir}/")
        };
        CreateForm {
            path: LineInput::with(&prefix),
            kind: CreateKind::Persistent,
            ttl: LineInput::with("60000"),
            data: LineInput::default(),
            focus: CreateField::Path,
            error: None,
        }
    }

    /// Moves focus; the TTL field is skipped for kinds without one.
    pub fn focus_step(&mut self, forward: bool) {
        use CreateField::*;
        let order = [Path, Kind, Ttl, Data];
        let mut i = order.iter().position(|f| *f == self.focus).unwrap_or(0);
        loop {
            i = if forward { (i + 1) % 4 } else { (i + 3) % 4 };
            if order[i] != Ttl || self.kind.has_ttl() {
                break;
            }
        }
        self.focus = order[i];
    }

    /// Applies a key to the focused field.
    pub fn edit(&mut self, key: InputKey) {
        match (self.focus, key) {
            (_, InputKey::Tab) | (_, InputKey::Down) => self.focus_step(true),
            (_, InputKey::BackTab) | (_, InputKey::Up) => self.focus_step(false),
            (CreateField::Kind, InputKey::Left) => self.kind = self.kind.step(-1),
            (CreateField::Kind, InputKey::Right | InputKey::Char(' ')) => {
                self.kind = self.kind.step(1)
            }
            (CreateField::Kind, _) => {}
            (CreateField::Path, k) => {
                self.path.edit(k);
            }
            (CreateField::Ttl, InputKey::Char(c)) if !c.is_ascii_digit() => {}
            (CreateField::Ttl, k) => {
                self.ttl.edit(k);
            }
            (CreateField::Data, k) => {
                self.data.edit(k);
            }
        }
    }
}

/// A write the user asked for, with the version they saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteOp {
    /// Create a node.
    Create {
        /// Path (a prefix for sequential kinds).
        path: String,
        /// Data.
        data: Vec<u8>,
        /// Kind.
        kind: CreateKind,
        /// TTL for TTL kinds, ms.
        ttl_ms: Option<u64>,
    },
    /// Set data, if the version is still the one seen.
    SetData {
        /// Path.
        path: String,
        /// New data.
        data: Vec<u8>,
        /// Data version seen.
        version: i32,
    },
    /// Delete (and with `recursive`, every descendant first).
    Delete {
        /// Path.
        path: String,
        /// Data version seen.
        version: i32,
        /// Delete descendants too.
        recursive: bool,
    },
    /// Set the ACL, if the ACL version is still the one seen.
    SetAcl {
        /// Path.
        path: String,
        /// New ACL.
        acl: Vec<AclEntry>,
        /// ACL version seen.
        version: i32,
    },
}

impl WriteOp {
    /// The node written.
    pub fn path(&self) -> &str {
        match self {
            WriteOp::Create { path, .. }
            | WriteOp::SetData { path, .. }
            | WriteOp::Delete { path, .. }
            | WriteOp::SetAcl { path, .. } => path,
        }
    }

    /// A short description for messages.
    pub fn describe(&self) -> String {
        match self {
            WriteOp::Create { path, kind, .. } => format!("create {path} ({})", kind.as_str()),
            WriteOp::SetData { path, version, .. } => {
                format!("set data of {path} (version {version})")
            }
            WriteOp::Delete {
                path,
                version,
                recursive,
            } => format!(
                "delete {path}{} (version {version})",
                if *recursive { " recursively" } else { "" }
            ),
            WriteOp::SetAcl { path, version, .. } => {
                format!("set ACL of {path} (ACL version {version})")
            }
        }
    }

    /// The same write against what the server has now (`current`).
    pub fn rebased(&self, current: &NodeData) -> WriteOp {
        let mut op = self.clone();
        match &mut op {
            WriteOp::SetData { version, .. } | WriteOp::Delete { version, .. } => {
                *version = current.stat.version
            }
            WriteOp::SetAcl { version, .. } => *version = current.stat.aversion,
            WriteOp::Create { .. } => {}
        }
        op
    }
}

/// How a write ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Done; for a create, the path the server chose.
    Done {
        /// The created path (sequential names resolved).
        created: Option<String>,
    },
    /// BADVERSION: the node changed since the user saw it; what it is now
    /// (`None`: deleted meanwhile).
    Conflict {
        /// The node as the server has it now.
        current: Option<NodeData>,
    },
    /// Any other failure.
    Failed(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_input_edits_unicode() {
        let mut l = LineInput::with("héllo");
        l.edit(InputKey::Left);
        l.edit(InputKey::Backspace);
        assert_eq!(l.text, "hélo");
        l.edit(InputKey::Home);
        l.edit(InputKey::Delete);
        l.edit(InputKey::Char('J'));
        assert_eq!(l.text, "Jélo");
        assert_eq!(l.cursor, 1);
    }

    #[test]
    fn text_area_round_trips_and_edits() {
        let text = "line one\nline two\n";
        let mut a = TextArea::from_text(text);
        assert_eq!(a.text(), text);
        a.edit(InputKey::End);
        a.edit(InputKey::Enter);
        a.edit(InputKey::Char('x'));
        assert_eq!(a.text(), "line one\nx\nline two\n");
        a.edit(InputKey::Home);
        a.edit(InputKey::Backspace);
        assert_eq!(a.text(), "line onex\nline two\n");
        a.edit(InputKey::Down);
        a.edit(InputKey::Down);
        assert_eq!(a.row, 2);
    }

    #[test]
    fn create_form_cycles_kinds_and_skips_ttl() {
        let mut f = CreateForm::new("/app");
        assert_eq!(f.path.text, "/app/");
        f.edit(InputKey::Tab);
        assert_eq!(f.focus, CreateField::Kind);
        f.edit(InputKey::Tab);
        assert_eq!(f.focus, CreateField::Data, "no TTL field for persistent");
        f.edit(InputKey::BackTab);
        f.edit(InputKey::Left);
        assert_eq!(f.kind, CreateKind::TtlSequential);
        f.edit(InputKey::Tab);
        assert_eq!(f.focus, CreateField::Ttl);
        f.edit(InputKey::Char('x'));
        assert_eq!(f.ttl.text, "60000");
    }
}
