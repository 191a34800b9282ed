//! Colours and styles in one place.

use ratatui::style::{Color, Modifier, Style};

/// Titles and headers.
pub fn header() -> Style {
    Style::new().add_modifier(Modifier::BOLD)
}

/// The leader's row.
pub fn leader() -> Style {
    Style::new().fg(Color::Green).add_modifier(Modifier::BOLD)
}

/// Something wrong: down, errors.
pub fn bad() -> Style {
    Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
}

/// Something to watch: looking, behind, warnings.
pub fn warn() -> Style {
    Style::new().fg(Color::Yellow)
}

/// Secondary text.
pub fn dim() -> Style {
    Style::new().fg(Color::DarkGray)
}

/// The selected row.
pub fn selected() -> Style {
    Style::new().add_modifier(Modifier::REVERSED)
}

/// Focus in forms.
pub fn focus() -> Style {
    Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)
}

/// The text cursor drawn inside inputs.
pub fn cursor() -> Style {
    Style::new().add_modifier(Modifier::REVERSED)
}
