//! A znode as the tree view shows it: data, Stat and ACL, and the ways to
//! show bytes (text, pretty JSON, hex, base64) with honest warnings.

use base64::Engine;

/// A znode's Stat (the client library's, copied so the model stands alone).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stat {
    /// Zxid of the create.
    pub czxid: i64,
    /// Zxid of the last data change.
    pub mzxid: i64,
    /// Zxid of the last change to the children.
    pub pzxid: i64,
    /// Created, ms since the Unix epoch.
    pub ctime: i64,
    /// Last modified, ms since the Unix epoch.
    pub mtime: i64,
    /// Data version.
    pub version: i32,
    /// Children version.
    pub cversion: i32,
    /// ACL version.
    pub aversion: i32,
    /// Owner session of an ephemeral node (0 otherwise).
    pub ephemeral_owner: i64,
    /// Bytes of data.
    pub data_length: i32,
    /// Number of children.
    pub num_children: i32,
}

/// One ACL entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AclEntry {
    /// Permission bits: READ 1, WRITE 2, CREATE 4, DELETE 8, ADMIN 16.
    pub perms: u32,
    /// `world`, `digest`, `ip`, `sasl`, `auth`, ...
    pub scheme: String,
    /// The id within the scheme.
    pub id: String,
}

impl AclEntry {
    /// `cdrwa`-style permissions, as zkCli prints them.
    pub fn perms_string(&self) -> String {
        [(4, 'c'), (8, 'd'), (1, 'r'), (2, 'w'), (16, 'a')]
            .iter()
            .filter(|(bit, _)| self.perms & bit != 0)
            .map(|(_, c)| *c)
            .collect()
    }
}

/// The ACL list as one line: `world:anyone:cdrwa,digest:bob:xyz=:r`.
pub fn acl_to_text(acl: &[AclEntry]) -> String {
    acl.iter()
        .map(|a| format!("{}:{}:{}", a.scheme, a.id, a.perms_string()))
        .collect::<Vec<_>>()
        .join(",")
}

/// Parses [`acl_to_text`]'s format. The id may itself contain `:` (digest
/// ids do: `user:hash`), so the scheme is the first field and the
/// permissions the last.
pub fn acl_from_text(text: &str) -> Result<Vec<AclEntry>, String> {
    let mut out = Vec::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (scheme, rest) = entry
            .split_once(':')
            .ok_or_else(|| format!("{entry:?}: expected scheme:id:perms"))?;
        let (id, perms) = rest
            .rsplit_once(':')
            .ok_or_else(|| format!("{entry:?}: expected scheme:id:perms"))?;
        let mut bits = 0;
        for c in perms.chars() {
            bits |= match c {
                'r' => 1,
                'w' => 2,
                'c' => 4,
                'd' => 8,
                'a' => 16,
                other => {
                    return Err(format!(
                        "{entry:?}: unknown permission {other:?} (use cdrwa)"
                    ))
                }
            };
        }
        if scheme.is_empty() {
            return Err(format!("{entry:?}: empty scheme"));
        }
        out.push(AclEntry {
            perms: bits,
            scheme: scheme.to_string(),
            id: id.to_string(),
        });
    }
    if out.is_empty() {
        return Err("an ACL needs at least one entry".to_string());
    }
    Ok(out)
}

/// A loaded znode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeData {
    /// The data, as stored.
    pub data: Vec<u8>,
    /// Its Stat.
    pub stat: Stat,
    /// Its ACL.
    pub acl: Vec<AclEntry>,
}

/// How the data pane shows bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataView {
    /// JSON if it parses, text if UTF-8, hex otherwise.
    Auto,
    /// UTF-8 text (lossy, with a warning).
    Text,
    /// Pretty-printed JSON.
    Json,
    /// Hex dump with ASCII.
    Hex,
    /// Base64.
    Base64,
}

impl DataView {
    /// The next view (`v` cycles).
    pub fn next(self) -> DataView {
        match self {
            DataView::Auto => DataView::Text,
            DataView::Text => DataView::Json,
            DataView::Json => DataView::Hex,
            DataView::Hex => DataView::Base64,
            DataView::Base64 => DataView::Auto,
        }
    }

    /// The name shown.
    pub fn as_str(self) -> &'static str {
        match self {
            DataView::Auto => "auto",
            DataView::Text => "text",
            DataView::Json => "json",
            DataView::Hex => "hex",
            DataView::Base64 => "base64",
        }
    }
}

/// Bytes rendered for the data pane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    /// The view actually used (`Auto` resolved).
    pub view: DataView,
    /// Lines to show.
    pub lines: Vec<String>,
    /// A warning to show above them (lossy UTF-8, not JSON).
    pub warning: Option<String>,
}

/// Renders `data` in `view`.
pub fn render_data(data: &[u8], view: DataView) -> Rendered {
    let view = match view {
        DataView::Auto => {
            let trimmed = data.trim_ascii_start();
            let looks_json = matches!(trimmed.first(), Some(b'{' | b'['));
            if looks_json && serde_json::from_slice::<serde_json::Value>(data).is_ok() {
                DataView::Json
            } else if std::str::from_utf8(data).is_ok() {
                DataView::Text
            } else {
                DataView::Hex
            }
        }
        other => other,
    };
    let mut warning = None;
    let lines = match view {
        DataView::Auto | DataView::Text => match std::str::from_utf8(data) {
            Ok(s) => s.lines().map(str::to_string).collect(),
            Err(_) => {
                let lossy = String::from_utf8_lossy(data);
                let replaced = lossy.matches('\u{FFFD}').count();
                warning = Some(format!(
                    "not valid UTF-8: {replaced} sequence(s) shown as \u{FFFD}; \
                     saving from here would change the bytes (v: hex/base64)"
                ));
                lossy.lines().map(str::to_string).collect()
            }
        },
        DataView::Json => match serde_json::from_slice::<serde_json::Value>(data) {
            Ok(v) => serde_json::to_string_pretty(&v)
                .unwrap_or_default()
                .lines()
                .map(str::to_string)
                .collect(),
            Err(e) => {
                warning = Some(format!("not JSON ({e}); shown as text"));
                String::from_utf8_lossy(data)
                    .lines()
                    .map(str::to_string)
                    .collect()
            }
        },
        DataView::Hex => hex_dump(data),
        DataView::Base64 => {
            let encoded = base64::engine::general_purpose::STANDARD.encode(data);
            encoded
                .as_bytes()
                .chunks(64)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect()
        }
    };
    Rendered {
        view,
        lines,
        warning,
    }
}

/// `00000000  7b 22 61 22 3a 31 7d ..  |{"a":1}|`.
pub fn hex_dump(data: &[u8]) -> Vec<String> {
    data.chunks(16)
        .enumerate()
        .map(|(i, chunk)| {
            let mut hex = String::new();
            for (j, b) in chunk.iter().enumerate() {
                if j == 8 {
                    hex.push(' ');
                }
                hex.push_str(&format!("{b:02x} "));
            }
            let ascii: String = chunk
                .iter()
                .map(|b| {
                    if b.is_ascii_graphic() || *b == b' ' {
                        *b as char
                    } else {
                        '.'
                    }
                })
                .collect();
            format!("{:08x}  {hex:<49} |{ascii}|", i * 16)
        })
        .collect()
}

/// `0x1a2b` for session ids and zxids.
pub fn hex_id(v: i64) -> String {
    format!("0x{:x}", v as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_view_picks_json_text_or_hex() {
        assert_eq!(
            render_data(br#"{"a":[1,2]}"#, DataView::Auto).view,
            DataView::Json
        );
        assert_eq!(render_data(b"hello", DataView::Auto).view, DataView::Text);
        assert_eq!(
            render_data(&[0xff, 0x00, 0x12], DataView::Auto).view,
            DataView::Hex
        );
        let json = render_data(br#"{"a":[1,2]}"#, DataView::Auto);
        assert_eq!(json.lines[0], "{");
        assert!(json.warning.is_none());
    }

    #[test]
    fn lossy_text_warns() {
        let r = render_data(&[b'o', b'k', 0xff, b'!'], DataView::Text);
        assert_eq!(r.lines, vec!["ok\u{FFFD}!".to_string()]);
        assert!(r
            .warning
            .as_deref()
            .is_some_and(|w| w.contains("not valid UTF-8")));
    }

    #[test]
    fn bad_json_warns_and_falls_back() {
        let r = render_data(b"not json", DataView::Json);
        assert_eq!(r.lines, vec!["not json".to_string()]);
        assert!(r.warning.is_some());
    }

    #[test]
    fn hex_and_base64() {
        let r = render_data(b"hello, world!\x00\x01\x02xyz", DataView::Hex);
        assert_eq!(
            r.lines[0],
            "00000000  68 65 6c 6c 6f 2c 20 77  6f 72 6c 64 21 00 01 02  |hello, world!...|"
        );
        assert_eq!(r.lines.len(), 2);
        assert_eq!(
            render_data(b"hi", DataView::Base64).lines,
            vec!["aGk=".to_string()]
        );
    }

    #[test]
    fn acl_text_round_trip() {
        let acl = acl_from_text("world:anyone:cdrwa, digest:bob:abc=:r").expect("parse");
        assert_eq!(acl.len(), 2);
        assert_eq!(acl[0].perms, 31);
        assert_eq!(acl[1].id, "bob:abc=");
        assert_eq!(acl[1].perms, 1);
        assert_eq!(acl_to_text(&acl), "world:anyone:cdrwa,digest:bob:abc=:r");
        assert!(acl_from_text("world:anyone:x").is_err());
        assert!(acl_from_text("").is_err());
        assert!(acl_from_text("nocolon").is_err());
    }
}
