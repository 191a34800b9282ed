//! The tree view: the directory's children (paged), the selected node's
//! data, Stat and ACL.

use super::theme;
use crate::model::node::{hex_id, render_data, NodeData, Stat};
use crate::model::time::{ago, utc};
use crate::model::{App, NodeState};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};
use ratatui::Frame;

/// Draws the view.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let list_width = (area.width * 2 / 5).clamp(24.min(area.width), 60);
    let [left, right] =
        Layout::horizontal([Constraint::Length(list_width), Constraint::Min(10)]).areas(area);
    children(frame, left, app);
    let [data_area, bottom] =
        Layout::vertical([Constraint::Min(4), Constraint::Length(13)]).areas(right);
    let [stat_area, acl_area] =
        Layout::horizontal([Constraint::Min(50), Constraint::Percentage(35)]).areas(bottom);
    match (&app.node_path, &app.node) {
        (Some(path), NodeState::Loaded(n)) => {
            data(frame, data_area, app, path, n);
            stat(frame, stat_area, &n.stat, app.now_ms);
            acl(frame, acl_area, n);
        }
        (path, state) => {
            let text = match state {
                NodeState::Empty => "no node selected".to_string(),
                NodeState::Loading => "loading…".to_string(),
                NodeState::Missing => "no such node (deleted?)".to_string(),
                NodeState::Failed(e) => format!("could not read: {e}"),
                NodeState::Loaded(_) => String::new(),
            };
            let style = if matches!(state, NodeState::Failed(_) | NodeState::Missing) {
                theme::bad()
            } else {
                theme::dim()
            };
            let title = format!(" {} ", path.as_deref().unwrap_or("Data"));
            frame.render_widget(
                Paragraph::new(Line::styled(text, style)).block(Block::bordered().title(title)),
                data_area,
            );
            frame.render_widget(Block::bordered().title(" Stat "), stat_area);
            frame.render_widget(Block::bordered().title(" ACL "), acl_area);
        }
    }
}

fn children(frame: &mut Frame, area: Rect, app: &App) {
    let b = &app.browser;
    let mut title = vec![Span::styled(format!(" {} ", b.dir), theme::header())];
    if !b.filter.is_empty() {
        title.push(Span::styled(format!("/{} ", b.filter), theme::warn()));
    }
    let position = match &b.children {
        None => " loading… ".to_string(),
        Some(_) if b.visible_len() == 0 => format!(" 0 of {} ", b.total_len()),
        Some(_) => format!(
            " {}-{} of {}{} ",
            b.offset + 1,
            (b.offset + b.rows).min(b.visible_len()),
            b.visible_len(),
            if b.filter.is_empty() {
                String::new()
            } else {
                format!(" (filtered from {})", b.total_len())
            }
        ),
    };
    let block = Block::bordered()
        .title(Line::from(title))
        .title_bottom(Line::styled(position, theme::dim()));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if let Some(e) = &b.error {
        frame.render_widget(
            Paragraph::new(Line::styled(e.clone(), theme::bad())).wrap(Wrap { trim: false }),
            inner,
        );
        return;
    }
    if b.children.as_ref().is_some_and(Vec::is_empty) {
        frame.render_widget(
            Paragraph::new(Line::styled("(no children)", theme::dim())),
            inner,
        );
        return;
    }
    let width = inner.width as usize;
    let lines: Vec<Line> = b
        .window()
        .into_iter()
        .map(|(row, name)| {
            let (count, kind) = match b.stats.get(name) {
                Some(s) if s.num_children > 0 => (s.num_children.to_string(), ""),
                Some(s) if s.ephemeral_owner != 0 => (String::new(), "eph"),
                Some(_) => (String::new(), ""),
                None => ("…".to_string(), ""),
            };
            let right = format!("{kind}{count}");
            let name_width = width.saturating_sub(right.len() + 2);
            let shown: String = if name.chars().count() > name_width {
                let cut: String = name.chars().take(name_width.saturating_sub(1)).collect();
                format!("{cut}…")
            } else {
                name.to_string()
            };
            let pad = width.saturating_sub(shown.chars().count() + right.chars().count() + 1);
            let text = format!(" {shown}{}{right}", " ".repeat(pad));
            let style = if row == b.selected {
                theme::selected()
            } else {
                Style::new()
            };
            Line::styled(text, style)
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

fn data(frame: &mut Frame, area: Rect, app: &App, path: &str, n: &NodeData) {
    let rendered = render_data(&n.data, app.data_view);
    let view = if app.data_view == rendered.view {
        rendered.view.as_str().to_string()
    } else {
        format!("{}→{}", app.data_view.as_str(), rendered.view.as_str())
    };
    let title = format!(" {path} · {} bytes · {view} (v) ", n.data.len());
    let mut lines = Vec::new();
    if let Some(w) = &rendered.warning {
        lines.push(Line::styled(format!("⚠ {w}"), theme::warn()));
    }
    if n.data.is_empty() {
        lines.push(Line::styled("(empty)", theme::dim()));
    }
    lines.extend(rendered.lines.into_iter().map(Line::raw));
    frame.render_widget(
        Paragraph::new(lines)
            .block(Block::bordered().title(title))
            .scroll((app.data_scroll, 0)),
        area,
    );
}

fn stat(frame: &mut Frame, area: Rect, s: &Stat, now_ms: u64) {
    let time = |t: i64| {
        let rel = ago(now_ms, t);
        if t == 0 {
            "0".to_string()
        } else if rel.is_empty() {
            utc(t)
        } else {
            format!("{} ({rel})", utc(t))
        }
    };
    let owner = if s.ephemeral_owner == 0 {
        "none (persistent)".to_string()
    } else {
        format!("session {}", hex_id(s.ephemeral_owner))
    };
    let rows = [
        ("ctime", time(s.ctime)),
        ("mtime", time(s.mtime)),
        ("czxid", hex_id(s.czxid)),
        ("mzxid", hex_id(s.mzxid)),
        ("pzxid", hex_id(s.pzxid)),
        ("version", s.version.to_string()),
        ("cversion", s.cversion.to_string()),
        ("aversion", s.aversion.to_string()),
        ("ephemeral", owner),
        ("dataLength", s.data_length.to_string()),
        ("numChildren", s.num_children.to_string()),
    ];
    let lines: Vec<Line> = rows
        .into_iter()
        .map(|(k, v)| {
            Line::from(vec![
                Span::styled(format!("{k:<12}"), theme::dim()),
                Span::raw(v),
            ])
        })
        .collect();
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" Stat (times in UTC) ")),
        area,
    );
}

fn acl(frame: &mut Frame, area: Rect, n: &NodeData) {
    let lines: Vec<Line> = n
        .acl
        .iter()
        .map(|a| {
            Line::from(vec![
                Span::raw(format!("{}:{}", a.scheme, a.id)),
                Span::styled(format!("  {}", a.perms_string()), theme::focus()),
            ])
        })
        .collect();
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(format!(" ACL (version {}) ", n.stat.aversion))),
        area,
    );
}
