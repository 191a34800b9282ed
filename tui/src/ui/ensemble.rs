//! The ensemble view: the selected member's sparklines, the election
//! timeline and the event log.

use super::theme;
use crate::model::ensemble::{EventKind, MemberState, Role};
use crate::model::time::{clock, duration};
use crate::model::App;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Sparkline, Wrap};
use ratatui::Frame;
use std::collections::VecDeque;

/// Draws the view.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(area);
    match app.ensemble.members.get(app.ensemble.selected) {
        Some(m) => member(frame, left, m),
        None => frame.render_widget(Block::bordered().title(" Member "), left),
    }
    let timeline_height =
        (2 * app.ensemble.elections.len() as u16 + 2).clamp(3, (right.height / 2).max(3));
    let [top, bottom] =
        Layout::vertical([Constraint::Length(timeline_height), Constraint::Min(3)]).areas(right);
    elections(frame, top, app);
    events(frame, bottom, app);
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{v:.2} ms"))
}

fn count(v: Option<u64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

fn member(frame: &mut Frame, area: Rect, m: &MemberState) {
    let title = format!(" {} · {} (j/k: other members) ", m.addr, m.role.as_str());
    let block = Block::bordered().title(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let h = &m.history;
    let series: [(&str, String, &VecDeque<u64>); 6] = [
        (
            "requests/s",
            m.requests_per_s
                .map_or_else(|| "-".to_string(), |r| format!("{r:.1}")),
            &h.requests,
        ),
        ("p50 latency", ms(m.p50_ms), &h.p50_us),
        ("p99 latency", ms(m.p99_ms), &h.p99_us),
        ("fsync p99", ms(m.fsync_p99_ms), &h.fsync_p99_us),
        ("sessions", count(m.sessions), &h.sessions),
        ("watches", count(m.watches), &h.watches),
    ];
    // Give the sparklines what the three info lines leave, 2 to 4 rows each.
    let each = (inner.height.saturating_sub(3) / series.len() as u16).clamp(2, 4);
    let mut constraints = vec![Constraint::Length(each); series.len()];
    constraints.push(Constraint::Min(1));
    let rows = Layout::vertical(constraints).split(inner);
    for (i, (label, value, data)) in series.iter().enumerate() {
        let [text, spark] =
            Layout::horizontal([Constraint::Length(24), Constraint::Min(4)]).areas(rows[i]);
        frame.render_widget(
            Paragraph::new(vec![
                Line::styled(format!("{label:<12}{value:>11}"), theme::header()),
                Line::default(),
            ]),
            text,
        );
        let tail: Vec<u64> = data
            .iter()
            .skip(data.len().saturating_sub(spark.width as usize))
            .copied()
            .collect();
        frame.render_widget(
            Sparkline::default().data(&tail).style(theme::focus()),
            spark,
        );
    }
    let mut info = vec![Line::from(vec![
        Span::styled("znodes ", theme::dim()),
        Span::raw(count(m.znodes)),
        Span::styled("  latency from ", theme::dim()),
        Span::raw(m.latency_source.as_str()),
    ])];
    info.push(Line::from(vec![
        Span::styled("metrics ", theme::dim()),
        Span::raw(
            m.metrics_url
                .clone()
                .unwrap_or_else(|| "none (four-letter words only)".to_string()),
        ),
    ]));
    if let Some(why) = &m.down_reason {
        info.push(Line::styled(format!("down: {why}"), theme::bad()));
    } else if m.role == Role::Looking {
        info.push(Line::styled(
            "looking: not serving requests (election)",
            theme::warn(),
        ));
    }
    if let Some(area) = rows.last() {
        frame.render_widget(Paragraph::new(info), *area);
    }
}

fn elections(frame: &mut Frame, area: Rect, app: &App) {
    let mut lines: Vec<Line> = Vec::new();
    for e in app.ensemble.elections.iter().rev() {
        let from = e.previous.as_deref().unwrap_or("-");
        let when = Span::styled(format!("{} ", clock(e.started_ms)), theme::dim());
        match (&e.leader, e.observed_ms()) {
            (Some(to), Some(took)) => {
                lines.push(Line::from(vec![
                    when,
                    Span::raw(format!("{from} → ")),
                    Span::styled(to.clone(), theme::leader()),
                ]));
                let mut detail = vec![e
                    .epoch
                    .map_or("epoch ?".to_string(), |e| format!("epoch {e}"))];
                detail.push(if took == 0 {
                    "between two polls".to_string()
                } else {
                    format!("took ~{}", duration(took))
                });
                if let Some(r) = e.reported_ms {
                    detail.push(format!("member says {}", duration(r.round() as u64)));
                }
                lines.push(Line::styled(
                    format!("         {}", detail.join(" · ")),
                    theme::dim(),
                ));
            }
            _ => {
                lines.push(Line::from(vec![
                    when,
                    Span::styled(format!("leader {from} gone"), theme::bad()),
                ]));
                lines.push(Line::styled(
                    format!(
                        "         electing for {}",
                        duration(app.now_ms.saturating_sub(e.started_ms))
                    ),
                    theme::bad(),
                ));
            }
        }
    }
    if lines.is_empty() {
        lines.push(Line::styled("no leadership change seen", theme::dim()));
    }
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" Elections (newest first) ")),
        area,
    );
}

fn events(frame: &mut Frame, area: Rect, app: &App) {
    let lines: Vec<Line> = app
        .ensemble
        .events
        .iter()
        .rev()
        .take(area.height as usize)
        .map(|e| {
            let style = match &e.kind {
                EventKind::MemberLost { .. } | EventKind::ElectionStarted { .. } => theme::bad(),
                EventKind::ExpirySpike { .. } | EventKind::Behind { .. } => theme::warn(),
                EventKind::LeaderChanged { .. } => theme::leader(),
                _ => Style::new(),
            };
            Line::from(vec![
                Span::styled(format!("{} ", clock(e.at_ms)), theme::dim()),
                Span::styled(e.kind.to_string(), style),
            ])
        })
        .collect();
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(" Events (newest first) ")),
        area,
    );
}
