//! Rendering: `render(frame, &app)` draws the whole screen from the model.
//! Nothing here changes state or does I/O.

pub mod dialogs;
pub mod ensemble;
pub mod layout;
pub mod strip;
pub mod theme;
pub mod tree;

use crate::model::{App, Modal, Session, View};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

/// Draws the screen.
pub fn render(frame: &mut Frame, app: &App) {
    let [title, strip, main, status] = layout::screen(frame.area(), app.ensemble.members.len());
    render_title(frame, title, app);
    strip::render(frame, strip, app);
    match app.view {
        View::Ensemble => ensemble::render(frame, main, app),
        View::Tree => tree::render(frame, main, app),
    }
    render_status(frame, status, app);
    match &app.modal {
        Modal::None => {}
        Modal::Help => dialogs::help(frame, main, app),
        Modal::Jump(l) => dialogs::line_prompt(frame, main, " Jump to path ", "path: ", l, None),
        Modal::Filter(l) => dialogs::line_prompt(
            frame,
            main,
            " Filter children ",
            "contains: ",
            l,
            Some("Enter keeps the filter, Esc clears it"),
        ),
        Modal::Create(f) => dialogs::create(frame, main, f),
        Modal::Edit(e) => dialogs::edit(frame, main, e),
        Modal::Delete(d) => dialogs::delete(frame, main, d),
        Modal::Acl(a) => dialogs::acl(frame, main, a),
        Modal::Conflict(c) => dialogs::conflict(frame, main, c, app.now_ms),
    }
}

fn render_title(frame: &mut Frame, area: Rect, app: &App) {
    let tab = |n: &str, name: &str, on: bool| {
        let text = format!(" {n} {name} ");
        if on {
            Span::styled(text, theme::selected())
        } else {
            Span::raw(text)
        }
    };
    let mut spans = vec![
        Span::styled(" Rookery ", theme::header()),
        Span::styled(app.connect.clone(), theme::dim()),
        Span::raw("  "),
        tab("1", "Ensemble", app.view == View::Ensemble),
        Span::raw("│"),
        tab("2", "Tree", app.view == View::Tree),
    ];
    if app.read_only {
        spans.push(Span::styled("  READ-ONLY", theme::warn()));
    }
    if let Some(at) = app.ensemble.last_poll_ms {
        spans.push(Span::styled(
            format!("  polled {} UTC", crate::model::time::clock(at)),
            theme::dim(),
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn render_status(frame: &mut Frame, area: Rect, app: &App) {
    let session = match &app.session {
        Session::Connecting => Span::styled("○ connecting", theme::warn()),
        Session::Connected(id) => {
            Span::raw(format!("● session {}", crate::model::node::hex_id(*id)))
        }
        Session::Disconnected => Span::styled("○ disconnected, retrying", theme::bad()),
        Session::Failed(e) => Span::styled(format!("○ {e}"), theme::bad()),
    };
    let mut spans = vec![Span::raw(" "), session, Span::raw("  ")];
    if let Some(s) = &app.status {
        let style = if s.error {
            theme::bad()
        } else {
            theme::leader()
        };
        spans.push(Span::styled(s.text.clone(), style));
    } else {
        spans.push(Span::styled(
            "? help  q quit  Tab switch view  : jump",
            theme::dim(),
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
