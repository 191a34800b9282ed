//! `$EDITOR` round-trips: the bytes go to a private temporary file as they
//! are (never re-encoded), the editor runs on the real terminal, and the
//! file's bytes come back.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

/// The editor command: `$VISUAL`, else `$EDITOR`, else `vi`.
pub fn editor_command() -> String {
    ["VISUAL", "EDITOR"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "vi".to_string())
}

fn temp_path(node: &str, data: &[u8]) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let base: String = node
        .rsplit('/')
        .next()
        .unwrap_or("node")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    let ext = if serde_json::from_slice::<serde_json::Value>(data).is_ok() {
        ".json"
    } else {
        ""
    };
    std::env::temp_dir().join(format!(
        "rookery-tui-{}-{}-{base}{ext}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Runs the editor on `data` (the terminal must be released first).
/// `Ok(None)` when the bytes did not change.
pub fn edit(node: &str, data: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let path = temp_path(node, data);
    let result = edit_at(&path, data);
    let _ = std::fs::remove_file(&path);
    result
}

fn edit_at(path: &PathBuf, data: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    file.write_all(data)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    drop(file);
    let editor = editor_command();
    // Through sh so that EDITOR="code --wait" works.
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(path)
        .status()
        .map_err(|e| format!("running {editor}: {e}"))?;
    if !status.success() {
        return Err(format!("{editor} exited with {status}; nothing written"));
    }
    let edited = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((edited != data).then_some(edited))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_safe_and_distinct() {
        let a = temp_path("/x/../we ird", b"{}");
        let b = temp_path("/x/../we ird", b"{}");
        assert_ne!(a, b);
        let name = a.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        assert!(name.ends_with("we_ird.json"), "{name}");
    }
}
