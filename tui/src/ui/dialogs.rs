//! Overlays: help, prompts, the create/edit/delete/ACL dialogs and the
//! version-conflict view.

use super::layout::centered;
use super::theme;
use crate::keys::{Scope, BINDINGS, DIALOG_KEYS};
use crate::model::forms::{CreateField, CreateForm, LineInput, WriteOp};
use crate::model::node::{acl_to_text, hex_id, render_data, DataView};
use crate::model::time::{ago, utc};
use crate::model::{AclForm, App, Conflict, DeleteConfirm, EditForm};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};
use ratatui::Frame;

fn popup(frame: &mut Frame, area: Rect, title: &str) -> Rect {
    frame.render_widget(Clear, area);
    let block = Block::bordered()
        .title(Line::styled(title.to_string(), theme::header()))
        .border_style(theme::focus());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    inner
}

/// The input's text with the cursor drawn as a reversed cell.
fn input_spans(l: &LineInput, focused: bool) -> Vec<Span<'static>> {
    if !focused {
        return vec![Span::raw(l.text.clone())];
    }
    let before: String = l.text.chars().take(l.cursor).collect();
    let at: String = l.text.chars().skip(l.cursor).take(1).collect();
    let after: String = l.text.chars().skip(l.cursor + 1).collect();
    vec![
        Span::raw(before),
        Span::styled(
            if at.is_empty() { " ".to_string() } else { at },
            theme::cursor(),
        ),
        Span::raw(after),
    ]
}

fn help_section(scope: Scope, read_only: bool, lines: &mut Vec<Line<'static>>) {
    lines.push(Line::styled(scope.title(), theme::header()));
    for b in BINDINGS.iter().filter(|b| b.scope == scope) {
        let mut help = b.help.to_string();
        if b.writes && read_only {
            help.push_str(" [off]");
        }
        lines.push(Line::from(vec![
            Span::styled(format!("  {:<16}", b.label), theme::focus()),
            Span::raw(help),
        ]));
    }
}

/// The key help overlay, generated from the binding table: two columns
/// when the terminal is wide enough, one otherwise.
pub fn help(frame: &mut Frame, _main: Rect, app: &App) {
    let mut left = Vec::new();
    help_section(Scope::Global, app.read_only, &mut left);
    help_section(Scope::Tree, app.read_only, &mut left);
    let mut right = Vec::new();
    help_section(Scope::Ensemble, app.read_only, &mut right);
    help_section(Scope::Conflict, app.read_only, &mut right);
    right.push(Line::styled("In dialogs", theme::header()));
    for (k, what) in DIALOG_KEYS {
        right.push(Line::from(vec![
            Span::styled(format!("  {k:<16}"), theme::focus()),
            Span::raw(*what),
        ]));
    }
    if app.read_only {
        right.push(Line::default());
        right.push(Line::styled(
            "[off]: disabled by --read-only",
            theme::warn(),
        ));
    }
    let area = frame.area();
    let title = " Keys (any key closes) ";
    if area.width >= 120 {
        let height = (left.len().max(right.len()) as u16 + 2).min(area.height);
        let inner = popup(frame, centered(area, 118, height), title);
        let [l, r] = Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
            .areas(inner);
        frame.render_widget(Paragraph::new(left), l);
        frame.render_widget(Paragraph::new(right), r);
    } else {
        left.extend(right);
        let height = (left.len() as u16 + 2).min(area.height);
        let inner = popup(frame, centered(area, 72, height), title);
        frame.render_widget(Paragraph::new(left), inner);
    }
}

/// A one-line prompt (jump, filter).
pub fn line_prompt(
    frame: &mut Frame,
    area: Rect,
    title: &str,
    label: &str,
    input: &LineInput,
    hint: Option<&str>,
) {
    let rect = centered(area, 64, 4);
    let inner = popup(frame, rect, title);
    let mut spans = vec![Span::styled(label.to_string(), theme::dim())];
    spans.extend(input_spans(input, true));
    let hint = hint.unwrap_or("Enter to go, Esc to cancel");
    frame.render_widget(
        Paragraph::new(vec![
            Line::from(spans),
            Line::styled(hint.to_string(), theme::dim()),
        ]),
        inner,
    );
}

/// The create form.
pub fn create(frame: &mut Frame, area: Rect, f: &CreateForm) {
    let rect = centered(area, 72, 10);
    let inner = popup(frame, rect, " Create a node ");
    let field = |name: &str, which: CreateField, value: Vec<Span<'static>>| {
        let style = if f.focus == which {
            theme::focus()
        } else {
            theme::dim()
        };
        let mut spans = vec![Span::styled(format!("{name:<7}"), style)];
        spans.extend(value);
        Line::from(spans)
    };
    let kind = vec![
        Span::raw("◀ "),
        Span::styled(
            f.kind.as_str(),
            if f.focus == CreateField::Kind {
                theme::cursor()
            } else {
                Style::new()
            },
        ),
        Span::raw(" ▶"),
    ];
    let ttl = if f.kind.has_ttl() {
        input_spans(&f.ttl, f.focus == CreateField::Ttl)
            .into_iter()
            .chain([Span::styled(" ms", theme::dim())])
            .collect()
    } else {
        vec![Span::styled("(only for TTL kinds)", theme::dim())]
    };
    let mut lines = vec![
        field(
            "path",
            CreateField::Path,
            input_spans(&f.path, f.focus == CreateField::Path),
        ),
        field("kind", CreateField::Kind, kind),
        field("ttl", CreateField::Ttl, ttl),
        field(
            "data",
            CreateField::Data,
            input_spans(&f.data, f.focus == CreateField::Data),
        ),
        Line::default(),
        Line::styled(
            "Tab next field · ←/→ kind · Enter create · Esc cancel",
            theme::dim(),
        ),
    ];
    if let Some(e) = &f.error {
        lines.push(Line::styled(e.clone(), theme::bad()));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The in-place editor.
pub fn edit(frame: &mut Frame, area: Rect, e: &EditForm) {
    let rect = centered(
        area,
        area.width.saturating_sub(4),
        area.height.saturating_sub(2),
    );
    let title = format!(
        " Edit {} (version {}) · Ctrl-s save · Esc cancel ",
        e.path, e.version
    );
    let inner = popup(frame, rect, &title);
    let [text_area, foot] =
        Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(inner);
    let height = text_area.height as usize;
    let first = e.area.row.saturating_sub(height.saturating_sub(1));
    let lines: Vec<Line> = e
        .area
        .lines
        .iter()
        .enumerate()
        .skip(first)
        .take(height)
        .map(|(i, l)| {
            if i == e.area.row {
                let input = LineInput {
                    text: l.clone(),
                    cursor: e.area.col.min(l.chars().count()),
                };
                Line::from(input_spans(&input, true))
            } else {
                Line::raw(l.clone())
            }
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), text_area);
    let foot_line = match &e.error {
        Some(err) => Line::styled(err.clone(), theme::bad()),
        None => Line::styled(
            format!("line {}/{}", e.area.row + 1, e.area.lines.len()),
            theme::dim(),
        ),
    };
    frame.render_widget(Paragraph::new(foot_line), foot);
}

/// The delete confirmation.
pub fn delete(frame: &mut Frame, area: Rect, d: &DeleteConfirm) {
    let rect = centered(area, 72, 8);
    let inner = popup(frame, rect, " Delete ");
    let mut lines = vec![Line::from(vec![
        Span::raw("Delete "),
        Span::styled(d.path.clone(), theme::bad()),
        Span::raw(format!(" (version {})?", d.version)),
    ])];
    match (d.descendants, &d.error) {
        (_, Some(e)) => lines.push(Line::styled(
            format!("cannot count descendants: {e}"),
            theme::bad(),
        )),
        (None, None) => lines.push(Line::styled("counting descendants…", theme::dim())),
        (Some(0), None) => {
            lines.push(Line::raw("It has no children."));
            lines.push(Line::styled("y delete · Esc cancel", theme::focus()));
        }
        (Some(n), None) => {
            lines.push(Line::styled(
                format!("It has {n} descendants: {} znodes will be deleted.", n + 1),
                theme::warn(),
            ));
            let mut spans = vec![Span::raw(format!("Type {} and press Enter: ", n + 1))];
            spans.extend(input_spans(&d.typed, true));
            lines.push(Line::from(spans));
            lines.push(Line::styled("Esc cancel", theme::dim()));
        }
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}

/// The ACL editor.
pub fn acl(frame: &mut Frame, area: Rect, a: &AclForm) {
    let rect = centered(area, 80, 7);
    let inner = popup(
        frame,
        rect,
        &format!(" ACL of {} (ACL version {}) ", a.path, a.version),
    );
    let mut lines = vec![
        Line::from(input_spans(&a.input, true)),
        Line::styled(
            "scheme:id:perms, comma-separated; perms from cdrwa (e.g. world:anyone:r)",
            theme::dim(),
        ),
        Line::styled("Enter set · Esc cancel", theme::dim()),
    ];
    if let Some(e) = &a.error {
        lines.push(Line::styled(e.clone(), theme::bad()));
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}

/// The version conflict: mine and the server's, side by side.
pub fn conflict(frame: &mut Frame, area: Rect, c: &Conflict, now_ms: u64) {
    let rect = centered(
        area,
        area.width.saturating_sub(4),
        area.height.saturating_sub(2),
    );
    let title = format!(" Version conflict on {} ", c.op.path());
    let inner = popup(frame, rect, &title);
    let [head, body, foot] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(inner);
    frame.render_widget(
        Paragraph::new(vec![
            Line::styled(
                format!(
                    "The node changed since you read it: {} failed.",
                    c.op.describe()
                ),
                theme::warn(),
            ),
            Line::styled("Nothing was written.", theme::dim()),
        ]),
        head,
    );
    let [mine, theirs] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(body);
    let (mine_title, mine_lines) = match &c.op {
        WriteOp::SetData { data, version, .. } => (
            format!(" Yours (edited from version {version}) "),
            render_data(data, DataView::Auto).lines,
        ),
        WriteOp::Delete { version, .. } => (
            format!(" Yours: delete (you saw version {version}) "),
            vec!["(delete)".to_string()],
        ),
        WriteOp::SetAcl { acl, version, .. } => (
            format!(" Yours: ACL (you saw ACL version {version}) "),
            acl_to_text(acl).split(',').map(str::to_string).collect(),
        ),
        WriteOp::Create { .. } => (" Yours ".to_string(), Vec::new()),
    };
    frame.render_widget(
        Paragraph::new(mine_lines.into_iter().map(Line::raw).collect::<Vec<_>>())
            .block(Block::bordered().title(mine_title)),
        mine,
    );
    let (their_title, their_lines) = match &c.theirs {
        None => (
            " On the server now ".to_string(),
            vec![Line::styled("the node was deleted", theme::bad())],
        ),
        Some(n) => {
            let lines: Vec<Line> = match &c.op {
                WriteOp::SetAcl { .. } => acl_to_text(&n.acl)
                    .split(',')
                    .map(|s| Line::raw(s.to_string()))
                    .collect(),
                _ => render_data(&n.data, DataView::Auto)
                    .lines
                    .into_iter()
                    .map(Line::raw)
                    .collect(),
            };
            let version = match &c.op {
                WriteOp::SetAcl { .. } => format!("ACL version {}", n.stat.aversion),
                _ => format!("version {}", n.stat.version),
            };
            let when = ago(now_ms, n.stat.mtime);
            let mut all = vec![Line::styled(
                format!(
                    "modified {} UTC, mzxid {}",
                    utc(n.stat.mtime),
                    hex_id(n.stat.mzxid)
                ),
                theme::dim(),
            )];
            all.extend(lines);
            (
                format!(
                    " On the server: {version}{} ",
                    if when.is_empty() {
                        String::new()
                    } else {
                        format!(", {when}")
                    }
                ),
                all,
            )
        }
    };
    frame.render_widget(
        Paragraph::new(their_lines).block(Block::bordered().title(their_title)),
        theirs,
    );
    let retry = match &c.theirs {
        Some(_) => "r write mine anyway · ",
        None => "",
    };
    let reedit = if matches!(c.op, WriteOp::SetData { .. }) && c.theirs.is_some() {
        "e edit mine again · "
    } else {
        ""
    };
    frame.render_widget(
        Paragraph::new(Line::styled(
            format!("{retry}{reedit}d/Esc discard mine"),
            theme::focus(),
        )),
        foot,
    );
}
