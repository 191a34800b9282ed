//! Screen geometry, shared by the renderer and the model (page size).

use ratatui::layout::{Constraint, Layout, Rect};

/// Rows of the ensemble strip: a border above and below, a header, one row
/// per member.
pub fn strip_height(members: usize) -> u16 {
    members as u16 + 3
}

/// `[title, strip, main, status]`.
pub fn screen(area: Rect, members: usize) -> [Rect; 4] {
    Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(strip_height(members)),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(area)
}

/// Child rows the tree list shows on a terminal `height` rows high.
pub fn tree_rows(height: u16, members: usize) -> usize {
    let main = height.saturating_sub(1 + strip_height(members) + 1);
    main.saturating_sub(2).max(1) as usize
}

/// A rectangle of `width` × `height` centred in `area` (clipped to it).
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}
