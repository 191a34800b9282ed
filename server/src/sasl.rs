//! SASL DIGEST-MD5 (RFC 2831) as ZooKeeper's server speaks it to clients: the
//! realm `zk-sasl-md5`, qop `auth`, users and passwords from the `Server`
//! section of a JAAS file (`user_<name>="<password>"`, ZooKeeper's
//! DigestLoginModule). Pure: the core keeps each connection's nonce.

use md5::{Digest, Md5};
use std::collections::BTreeMap;

/// The realm ZooKeeper uses for DIGEST-MD5 whatever the host.
pub const REALM: &str = "zk-sasl-md5";

/// The server's first message: what the client must answer.
pub fn challenge(nonce: &str) -> String {
    format!("realm=\"{REALM}\",nonce=\"{nonce}\",qop=\"auth\",charset=utf-8,algorithm=md5-sess")
}

/// A fresh nonce for one connection.
pub fn new_nonce() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Checks a client's digest-response against `nonce` and the known users.
/// On success: the authenticated user and the `rspauth=...` message that
/// proves to the client that the server knows its password too.
pub fn verify(
    response: &[u8],
    nonce: &str,
    users: &BTreeMap<String, String>,
) -> Option<(String, String)> {
    let fields = parse(response);
    let get = |k: &str| fields.get(k).map(String::as_str);
    let user = get("username")?;
    let password = users.get(user)?;
    let realm = get("realm").unwrap_or(REALM);
    if get("nonce")? != nonce || get("qop").unwrap_or("auth") != "auth" {
        return None;
    }
    let (cnonce, nc, uri) = (get("cnonce")?, get("nc")?, get("digest-uri")?);
    let ha1 = {
        let key = Md5::digest(format!("{user}:{realm}:{password}").as_bytes());
        let mut a1 = key.to_vec();
        a1.extend_from_slice(format!(":{nonce}:{cnonce}").as_bytes());
        hex(&Md5::digest(&a1))
    };
    let answer = |a2: &str| {
        let ha2 = hex(&Md5::digest(a2.as_bytes()));
        hex(&Md5::digest(
            format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}").as_bytes(),
        ))
    };
    if answer(&format!("AUTHENTICATE:{uri}")) != get("response")? {
        return None;
    }
    Some((
        user.to_string(),
        format!("rspauth={}", answer(&format!(":{uri}"))),
    ))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `key=value,key="quoted, value"` pairs (RFC 2831 §7.1), keys lower-cased.
fn parse(text: &[u8]) -> BTreeMap<String, String> {
    let text = String::from_utf8_lossy(text);
    let mut out = BTreeMap::new();
    let mut chars = text.chars().peekable();
    loop {
        let key: String = chars
            .by_ref()
            .take_while(|c| *c != '=')
            .collect::<String>()
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        if key.is_empty() {
            return out;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            let mut escaped = false;
            for c in chars.by_ref() {
                match (escaped, c) {
                    (false, '\\') => escaped = true,
                    (false, '"') => break,
                    (_, c) => {
                        value.push(c);
                        escaped = false;
                    }
                }
            }
            // Up to the next comma.
            for c in chars.by_ref() {
                if c == ',' {
                    break;
                }
            }
        } else {
            value = chars.by_ref().take_while(|c| *c != ',').collect();
        }
        out.insert(key, value.trim().to_string());
    }
}

/// The users of the `Server` section of a JAAS file (`user_<name>="<password>"`).
pub fn jaas_server_users(text: &str) -> Result<BTreeMap<String, String>, String> {
    let start = text
        .find("Server")
        .ok_or_else(|| "no Server section".to_string())?;
    let body = &text[start..];
    let open = body
        .find('{')
        .ok_or_else(|| "the Server section has no {".to_string())?;
    let close = body[open..]
        .find("};")
        .ok_or_else(|| "the Server section is not closed with };".to_string())?;
    let mut users = BTreeMap::new();
    for word in body[open + 1..open + close].split_whitespace() {
        let word = word.trim_end_matches(';');
        let Some((key, value)) = word.split_once('=') else {
            continue;
        };
        if let Some(name) = key.strip_prefix("user_") {
            users.insert(name.to_string(), value.trim_matches('"').to_string());
        }
    }
    Ok(users)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a DIGEST-MD5 client (puresasl, the Java client) computes.
    fn client_response(user: &str, password: &str, nonce: &str, cnonce: &str) -> String {
        let uri = "zookeeper/zk-sasl-md5";
        let key = Md5::digest(format!("{user}:{REALM}:{password}").as_bytes());
        let mut a1 = key.to_vec();
        a1.extend_from_slice(format!(":{nonce}:{cnonce}").as_bytes());
        let ha1 = hex(&Md5::digest(&a1));
        let ha2 = hex(&Md5::digest(format!("AUTHENTICATE:{uri}").as_bytes()));
        let response = hex(&Md5::digest(
            format!("{ha1}:{nonce}:00000001:{cnonce}:auth:{ha2}").as_bytes(),
        ));
        format!(
            "qop=auth,realm=\"{REALM}\",username=\"{user}\",nonce=\"{nonce}\",cnonce=\"{cnonce}\",\
             nc=00000001,digest-uri=\"{uri}\",response={response}"
        )
    }

    fn users() -> BTreeMap<String, String> {
        jaas_server_users(
            "Server {\n    org.apache.zookeeper.server.auth.DigestLoginModule required\n    \
             user_super=\"super_secret\"\n    user_jaasuser=\"jaas_password\";\n};",
        )
        .unwrap()
    }

    #[test]
    fn reads_zookeepers_jaas_server_section() {
        let u = users();
        assert_eq!(u.get("jaasuser").map(String::as_str), Some("jaas_password"));
        assert_eq!(u.get("super").map(String::as_str), Some("super_secret"));
        assert!(jaas_server_users("Client { x=1; };").is_err());
    }

    #[test]
    fn the_right_password_is_accepted_and_the_server_proves_it_knows_it() {
        let nonce = "abc123";
        let r = client_response("jaasuser", "jaas_password", nonce, "0.42");
        let (user, rspauth) = verify(r.as_bytes(), nonce, &users()).expect("accepted");
        assert_eq!(user, "jaasuser");
        assert!(rspauth.starts_with("rspauth=") && rspauth.len() == 8 + 32);
    }

    #[test]
    fn a_wrong_password_user_or_nonce_is_refused() {
        let u = users();
        let wrong = client_response("jaasuser", "nope", "n1", "c");
        assert!(verify(wrong.as_bytes(), "n1", &u).is_none());
        let unknown = client_response("baduser", "badpassword", "n1", "c");
        assert!(verify(unknown.as_bytes(), "n1", &u).is_none());
        let replayed = client_response("jaasuser", "jaas_password", "old", "c");
        assert!(verify(replayed.as_bytes(), "n1", &u).is_none());
        assert!(verify(b"garbage", "n1", &u).is_none());
    }
}
