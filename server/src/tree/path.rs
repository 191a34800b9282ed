//! Path rules (`PathUtils.validatePath`) and path arithmetic.

/// Whether a character is forbidden anywhere in a path. ZooKeeper checks UTF-16
/// code units, so a character beyond U+FFFF (a surrogate pair in Java) is forbidden
/// too: its surrogates fall in U+D800–U+F8FF.
fn forbidden(c: char) -> bool {
    let u = c as u32;
    u <= 0x1F || (0x7F..=0x9F).contains(&u) || (0xD800..=0xF8FF).contains(&u) || u >= 0xFFF0
}

/// Full validation, as ZooKeeper applies it to create's final path, setData, setACL and check.
pub fn is_valid_path(path: &str) -> bool {
    if path.is_empty() || !path.starts_with('/') {
        return false;
    }
    if path == "/" {
        return true;
    }
    if path.ends_with('/') {
        return false;
    }
    if path.chars().any(forbidden) {
        return false;
    }
    path[1..]
        .split('/')
        .all(|seg| !seg.is_empty() && seg != "." && seg != "..")
}

/// The parent of an absolute path; "/" for top-level nodes. `None` for "/" or a path with no '/'.
pub fn parent_of(path: &str) -> Option<&str> {
    let slash = path.rfind('/')?;
    if path == "/" {
        return None;
    }
    Some(if slash == 0 { "/" } else { &path[..slash] })
}

/// The last segment of a path.
pub fn name_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

/// Joins a parent path and a child name.
pub fn join(parent: &str, child: &str) -> String {
    if parent == "/" {
        format!("/{child}")
    } else {
        format!("{parent}/{child}")
    }
}

/// The nodes no client may delete.
pub fn is_system_path(path: &str) -> bool {
    matches!(
        path,
        "/" | "/zookeeper" | "/zookeeper/quota" | "/zookeeper/config"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_matches_zookeeper() {
        for ok in ["/", "/a", "/a/b", "/a.b", "/..a", "/ü", "/a b"] {
            assert!(is_valid_path(ok), "{ok}");
        }
        for bad in [
            "",
            "a",
            "/a/",
            "//a",
            "/a//b",
            "/.",
            "/a/..",
            "/b\u{0}",
            "/b\u{1e}",
            "/\u{fff0}",
            "/\u{e000}",
            "/\u{10000}",
            "/\u{1f600}",
        ] {
            assert!(!is_valid_path(bad), "{bad:?}");
        }
    }

    #[test]
    fn parents_and_names() {
        assert_eq!(parent_of("/a"), Some("/"));
        assert_eq!(parent_of("/a/b"), Some("/a"));
        assert_eq!(parent_of("/"), None);
        assert_eq!(parent_of("abc"), None);
        assert_eq!(name_of("/a/b"), "b");
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/a", "b"), "/a/b");
    }
}
