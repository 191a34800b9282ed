//! The tree browser: one directory's children at a time (like a file
//! manager), sorted, filtered and paged. Only the rows on screen get their
//! Stat fetched, so a directory of 100,000 children costs one `getChildren`
//! and one screenful of `exists` calls.

use super::node::Stat;
use std::collections::{HashMap, HashSet};

/// The browser state for the current directory.
#[derive(Clone, Debug, PartialEq)]
pub struct Browser {
    /// The directory whose children are listed (`/` or `/a/b`).
    pub dir: String,
    /// Its children, sorted; `None` while loading.
    pub children: Option<Vec<String>>,
    /// Why the listing failed, if it did.
    pub error: Option<String>,
    /// Case-insensitive substring filter on child names.
    pub filter: String,
    /// Indexes into `children` that pass the filter.
    visible: Vec<usize>,
    /// Selected row (index into the visible rows).
    pub selected: usize,
    /// First row on screen.
    pub offset: usize,
    /// Rows on screen (page size).
    pub rows: usize,
    /// Stats of children, by name (for child counts).
    pub stats: HashMap<String, Stat>,
    requested: HashSet<String>,
    /// A child to select once the listing arrives.
    pub select_name: Option<String>,
}

impl Browser {
    /// A browser on `dir` (children not loaded).
    pub fn new(dir: &str) -> Browser {
        Browser {
            dir: dir.to_string(),
            children: None,
            error: None,
            filter: String::new(),
            visible: Vec::new(),
            selected: 0,
            offset: 0,
            rows: 20,
            stats: HashMap::new(),
            requested: HashSet::new(),
            select_name: None,
        }
    }

    /// Moves to another directory, selecting `select` once loaded.
    pub fn set_dir(&mut self, dir: &str, select: Option<String>) {
        let rows = self.rows;
        *self = Browser::new(dir);
        self.rows = rows;
        self.select_name = select;
    }

    /// The listing arrived (or was refreshed by a watch).
    pub fn set_children(&mut self, mut names: Vec<String>) {
        let keep = self
            .select_name
            .take()
            .or_else(|| self.selected_name().map(str::to_string));
        names.sort_unstable();
        self.children = Some(names);
        self.error = None;
        self.stats.clear();
        self.requested.clear();
        self.refilter();
        match keep {
            Some(name) => self.select_by_name(&name),
            None => self.clamp(),
        }
    }

    /// The listing failed.
    pub fn set_error(&mut self, error: String) {
        self.children = Some(Vec::new());
        self.visible.clear();
        self.error = Some(error);
        self.selected = 0;
        self.offset = 0;
    }

    /// Sets the filter and keeps the selection where it can.
    pub fn set_filter(&mut self, filter: &str) {
        let keep = self.selected_name().map(str::to_string);
        self.filter = filter.to_string();
        self.refilter();
        match keep {
            Some(name) => self.select_by_name(&name),
            None => self.clamp(),
        }
    }

    fn refilter(&mut self) {
        let needle = self.filter.to_lowercase();
        self.visible = match &self.children {
            None => Vec::new(),
            Some(names) if needle.is_empty() => (0..names.len()).collect(),
            Some(names) => names
                .iter()
                .enumerate()
                .filter(|(_, n)| n.to_lowercase().contains(&needle))
                .map(|(i, _)| i)
                .collect(),
        };
    }

    fn select_by_name(&mut self, name: &str) {
        let found = self.children.as_ref().and_then(|names| {
            self.visible
                .iter()
                .position(|&i| names.get(i).is_some_and(|n| n == name))
        });
        if let Some(pos) = found {
            self.selected = pos;
            // Put it a third of the way down the page when it was off screen.
            if pos < self.offset || pos >= self.offset + self.rows.max(1) {
                self.offset = pos.saturating_sub(self.rows / 3);
            }
        }
        self.clamp();
    }

    /// Rows passing the filter.
    pub fn visible_len(&self) -> usize {
        self.visible.len()
    }

    /// Children in the directory (before filtering).
    pub fn total_len(&self) -> usize {
        self.children.as_ref().map_or(0, Vec::len)
    }

    /// The name on visible row `row`.
    pub fn name_at(&self, row: usize) -> Option<&str> {
        let i = *self.visible.get(row)?;
        self.children.as_ref()?.get(i).map(String::as_str)
    }

    /// The selected child's name.
    pub fn selected_name(&self) -> Option<&str> {
        self.name_at(self.selected)
    }

    /// The selected child's full path.
    pub fn selected_path(&self) -> Option<String> {
        self.selected_name().map(|n| join(&self.dir, n))
    }

    /// Moves the selection by `delta` rows.
    pub fn move_by(&mut self, delta: isize) {
        let last = self.visible.len().saturating_sub(1) as isize;
        self.selected = (self.selected as isize + delta).clamp(0, last.max(0)) as usize;
        self.clamp();
    }

    /// First row.
    pub fn top(&mut self) {
        self.selected = 0;
        self.clamp();
    }

    /// Last row.
    pub fn bottom(&mut self) {
        self.selected = self.visible.len().saturating_sub(1);
        self.clamp();
    }

    /// Sets the page size and keeps the selection on screen.
    pub fn set_rows(&mut self, rows: usize) {
        self.rows = rows.max(1);
        self.clamp();
    }

    fn clamp(&mut self) {
        let n = self.visible.len();
        self.selected = self.selected.min(n.saturating_sub(1));
        let rows = self.rows.max(1);
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + rows {
            self.offset = self.selected + 1 - rows;
        }
        self.offset = self.offset.min(n.saturating_sub(rows));
    }

    /// `(row, name)` for the rows on screen.
    pub fn window(&self) -> Vec<(usize, &str)> {
        (self.offset..(self.offset + self.rows).min(self.visible.len()))
            .filter_map(|row| self.name_at(row).map(|n| (row, n)))
            .collect()
    }

    /// Names on screen whose Stat was neither fetched nor asked for; marks
    /// them asked for.
    pub fn take_missing_stats(&mut self) -> Vec<String> {
        let missing: Vec<String> = self
            .window()
            .into_iter()
            .map(|(_, n)| n.to_string())
            .filter(|n| !self.stats.contains_key(n) && !self.requested.contains(n))
            .collect();
        self.requested.extend(missing.iter().cloned());
        missing
    }

    /// Stats arrived for some children.
    pub fn set_stats(&mut self, stats: Vec<(String, Option<Stat>)>) {
        for (name, stat) in stats {
            if let Some(stat) = stat {
                self.stats.insert(name, stat);
            }
        }
    }
}

/// `dir` + `/` + `name`.
pub fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// `(parent, name)` of a path other than `/`.
pub fn split(path: &str) -> Option<(String, String)> {
    if path == "/" {
        return None;
    }
    let (parent, name) = path.rsplit_once('/')?;
    let parent = if parent.is_empty() { "/" } else { parent };
    Some((parent.to_string(), name.to_string()))
}

/// Checks a path typed by the user: absolute, no empty, `.` or `..`
/// components; a trailing `/` is dropped.
pub fn normalize(path: &str) -> Result<String, String> {
    let path = path.trim();
    if !path.starts_with('/') {
        return Err(format!("{path:?}: a path starts with /"));
    }
    if path == "/" {
        return Ok("/".to_string());
    }
    let trimmed = path.trim_end_matches('/');
    for part in trimmed.split('/').skip(1) {
        if part.is_empty() || part == "." || part == ".." {
            return Err(format!("{path:?}: empty, . or .. component"));
        }
    }
    Ok(trimmed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loaded(n: usize) -> Browser {
        let mut b = Browser::new("/big");
        b.set_rows(10);
        b.set_children((0..n).rev().map(|i| format!("n{i:06}")).collect());
        b
    }

    #[test]
    fn paths() {
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/a", "b"), "/a/b");
        assert_eq!(split("/a/b"), Some(("/a".into(), "b".into())));
        assert_eq!(split("/a"), Some(("/".into(), "a".into())));
        assert_eq!(split("/"), None);
        assert_eq!(normalize("/a/b/").as_deref(), Ok("/a/b"));
        assert!(normalize("a").is_err());
        assert!(normalize("/a//b").is_err());
        assert!(normalize("/a/../b").is_err());
    }

    #[test]
    fn hundred_thousand_children_page_and_fetch_only_the_window() {
        let mut b = loaded(100_000);
        assert_eq!(b.name_at(0), Some("n000000"));
        assert_eq!(b.window().len(), 10);
        assert_eq!(b.take_missing_stats().len(), 10);
        assert!(b.take_missing_stats().is_empty(), "asked once only");
        b.move_by(25);
        assert_eq!(b.selected, 25);
        assert_eq!(b.offset, 16);
        assert_eq!(b.take_missing_stats().len(), 10);
        b.bottom();
        assert_eq!(b.selected_name(), Some("n099999"));
        assert_eq!(b.offset, 99_990);
        b.move_by(-1_000_000);
        assert_eq!((b.selected, b.offset), (0, 0));
    }

    #[test]
    fn filter_keeps_the_selection_and_refresh_keeps_it_by_name() {
        let mut b = loaded(100);
        b.move_by(42);
        b.set_filter("4");
        assert_eq!(b.selected_name(), Some("n000042"));
        assert_eq!(b.visible_len(), 19);
        b.set_filter("");
        assert_eq!(b.selected_name(), Some("n000042"));
        // A watch refresh with one child fewer keeps n000042 selected.
        let names = (0..100)
            .filter(|i| *i != 3)
            .map(|i| format!("n{i:06}"))
            .collect();
        b.set_children(names);
        assert_eq!(b.selected_name(), Some("n000042"));
        assert_eq!(b.selected, 41);
    }

    #[test]
    fn select_on_load() {
        let mut b = Browser::new("/");
        b.set_rows(5);
        b.set_dir("/", Some("m".into()));
        b.set_children(vec!["z".into(), "m".into(), "a".into()]);
        assert_eq!(b.selected_path().as_deref(), Some("/m"));
        b.set_error("no node".into());
        assert_eq!(b.selected_name(), None);
    }
}
