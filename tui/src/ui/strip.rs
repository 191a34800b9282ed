//! The ensemble strip: one line per member, always on screen.

use super::theme;
use crate::model::ensemble::{Lag, MemberState, Role};
use crate::model::node::hex_id;
use crate::model::App;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Block, Cell, Row, Table};
use ratatui::Frame;

/// Column headings.
const HEADER: [&str; 9] = [
    "",
    "MEMBER",
    "ROLE",
    "EPOCH",
    "LAST ZXID",
    "LAG",
    "CONNS",
    "OUTST",
    "P99 MS",
];

/// Draws the strip.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let rows: Vec<Row> = app
        .ensemble
        .members
        .iter()
        .enumerate()
        .map(|(i, m)| row(m, app.ensemble.leader == Some(i)))
        .collect();
    let addr_width = app
        .ensemble
        .members
        .iter()
        .map(|m| m.addr.chars().count())
        .max()
        .unwrap_or(0)
        .max(6) as u16;
    let widths = [
        Constraint::Length(1),
        Constraint::Length(addr_width),
        Constraint::Length(12),
        Constraint::Length(6),
        Constraint::Length(13),
        Constraint::Length(12),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(10),
        Constraint::Fill(1),
    ];
    let quorum = quorum_line(app);
    let table = Table::new(rows, widths)
        .header(Row::new(HEADER).style(theme::header()))
        .block(Block::bordered().title(" Ensemble ").title_bottom(quorum))
        .column_spacing(1);
    frame.render_widget(table, area);
}

fn quorum_line(app: &App) -> Line<'static> {
    let members = &app.ensemble.members;
    let up = members.iter().filter(|m| m.role.is_up()).count();
    let text = match app.ensemble.leader.and_then(|i| members.get(i)) {
        Some(l) => format!(" {up}/{} up · leader {} ", members.len(), l.addr),
        None if app.ensemble.last_poll_ms.is_none() => " polling… ".to_string(),
        None => format!(" {up}/{} up · NO LEADER ", members.len()),
    };
    let style = if app.ensemble.leader.is_some() {
        theme::dim()
    } else {
        theme::bad()
    };
    Line::styled(text, style)
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

fn row(m: &MemberState, is_leader: bool) -> Row<'static> {
    let (mark, style) = match m.role {
        Role::Leader | Role::Standalone if is_leader => ("★", theme::leader()),
        Role::Down => ("✖", theme::bad()),
        Role::Looking => ("?", theme::warn()),
        Role::ReadOnly => ("r", theme::warn()),
        _ if m.behind => ("▲", theme::warn()),
        _ => (" ", Style::new()),
    };
    let lag = match m.lag {
        None => "-".to_string(),
        Some(Lag::Txns(0)) => "0".to_string(),
        Some(Lag::Txns(n)) if m.behind => format!("{n} behind"),
        Some(Lag::Txns(n)) => n.to_string(),
        Some(Lag::OldEpoch) => "old epoch".to_string(),
    };
    let lag_style = if m.behind {
        theme::warn()
    } else {
        Style::new()
    };
    let p99 = match (m.p99_ms, m.avg_ms) {
        (Some(p), _) => format!("{p:.2}"),
        (None, Some(avg)) => format!("avg {avg:.2}"),
        (None, None) => "-".to_string(),
    };
    Row::new(vec![
        Cell::from(mark),
        Cell::from(m.addr.clone()),
        Cell::from(m.role.as_str()),
        Cell::from(opt(m.epoch)),
        Cell::from(m.zxid.map_or_else(|| "-".to_string(), hex_id)),
        Cell::from(lag).style(lag_style),
        Cell::from(opt(m.connections)),
        Cell::from(opt(m.outstanding)),
        Cell::from(p99),
    ])
    .style(style)
}
