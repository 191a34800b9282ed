//! ACL checks, the digest scheme and ACL normalisation (`fixupACL`).

use crate::proto::{perms, Acl, Id};
use base64::Engine;
use sha1::{Digest, Sha1};
use std::net::IpAddr;

/// `user:base64(sha1("user:password"))`, ZooKeeper's digest identity for credentials.
pub fn digest_identity(credentials: &str) -> String {
    let user = credentials.split(':').next().unwrap_or("");
    let hash = Sha1::digest(credentials.as_bytes());
    format!(
        "{user}:{}",
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
}

/// Whether the identities may do `wanted` on a node with this ACL (`checkACL`).
pub fn allowed(acl: &[Acl], wanted: i32, ids: &[Id]) -> bool {
    if acl.is_empty() || ids.iter().any(|i| i.scheme == "super") {
        return true;
    }
    acl.iter().filter(|a| a.perms & wanted != 0).any(|a| {
        (a.id.scheme == "world" && a.id.id == "anyone")
            || ids
                .iter()
                .filter(|i| i.scheme == a.id.scheme)
                .any(|i| id_matches(&a.id, i))
    })
}

fn id_matches(pattern: &Id, identity: &Id) -> bool {
    match pattern.scheme.as_str() {
        "ip" => ip_matches(&pattern.id, &identity.id),
        _ => pattern.id == identity.id,
    }
}

/// Parses `addr` or `addr/bits`.
fn parse_ip_pattern(pattern: &str) -> Option<(IpAddr, u32)> {
    let (addr, bits) = match pattern.split_once('/') {
        Some((a, b)) => (a, Some(b.parse::<u32>().ok()?)),
        None => (pattern, None),
    };
    let addr: IpAddr = addr.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let bits = bits.unwrap_or(max);
    (bits <= max).then_some((addr, bits))
}

fn ip_matches(pattern: &str, client: &str) -> bool {
    let Some((net, bits)) = parse_ip_pattern(pattern) else {
        return false;
    };
    let Ok(client) = client.parse::<IpAddr>() else {
        return false;
    };
    let (a, b, width) = match (net, client) {
        (IpAddr::V4(n), IpAddr::V4(c)) => (u32::from(n) as u128, u32::from(c) as u128, 32),
        (IpAddr::V6(n), IpAddr::V6(c)) => (u128::from(n), u128::from(c), 128),
        _ => return false,
    };
    if bits == 0 {
        return true;
    }
    let shift = width - bits;
    (a >> shift) == (b >> shift)
}

/// Whether an identity is one that the `auth` pseudo-scheme expands to.
fn is_authenticated(id: &Id) -> bool {
    matches!(id.scheme.as_str(), "digest" | "sasl" | "x509")
}

/// Validates and normalises an ACL list for create or setACL: expands `auth`,
/// rejects unknown schemes and malformed ids, drops duplicates. `None` is INVALIDACL.
pub fn fixup(acl: &[Acl], ids: &[Id]) -> Option<Vec<Acl>> {
    if acl.is_empty() {
        return None;
    }
    let mut out: Vec<Acl> = Vec::with_capacity(acl.len());
    let mut push = |a: Acl| {
        if !out.contains(&a) {
            out.push(a);
        }
    };
    for a in acl {
        match a.id.scheme.as_str() {
            "world" => {
                if a.id.id != "anyone" {
                    return None;
                }
                push(a.clone());
            }
            "auth" => {
                let mut any = false;
                for id in ids.iter().filter(|i| is_authenticated(i)) {
                    any = true;
                    push(Acl {
                        perms: a.perms,
                        id: id.clone(),
                    });
                }
                if !any {
                    return None;
                }
            }
            "digest" => {
                // Java's split(":") drops trailing empty parts: "a:" is one part.
                let parts: Vec<&str> = a.id.id.trim_end_matches(':').split(':').collect();
                if parts.len() != 2 {
                    return None;
                }
                push(a.clone());
            }
            "ip" => {
                parse_ip_pattern(&a.id.id)?;
                push(a.clone());
            }
            "sasl" | "x509" => push(a.clone()),
            _ => return None,
        }
    }
    Some(out)
}

/// The ACL getACL returns: digest hashes hidden unless the caller has ADMIN.
pub fn redact_for(acl: &[Acl], ids: &[Id]) -> Vec<Acl> {
    if allowed(acl, perms::ADMIN, ids) {
        return acl.to_vec();
    }
    acl.iter()
        .map(|a| {
            if a.id.scheme == "digest" {
                let user = a.id.id.split(':').next().unwrap_or("");
                Acl {
                    perms: a.perms,
                    id: Id::new("digest", &format!("{user}:x")),
                }
            } else {
                a.clone()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(perms: i32, scheme: &str, id: &str) -> Acl {
        Acl {
            perms,
            id: Id::new(scheme, id),
        }
    }

    #[test]
    fn digests_match_zookeeper() {
        assert_eq!(
            digest_identity("super:test"),
            "super:D/InIHSb7yEEbrWz8b9l71RjZJU="
        );
        assert_eq!(
            digest_identity("bob:xyz"),
            "bob:NhT/eZBWLXwGI1jisA3HxYffNgo="
        );
    }

    #[test]
    fn checks_follow_scheme_and_perms() {
        let bob = Id::new("digest", &digest_identity("bob:xyz"));
        let list = vec![acl(perms::READ, "digest", &bob.id)];
        assert!(allowed(&list, perms::READ, std::slice::from_ref(&bob)));
        assert!(!allowed(&list, perms::WRITE, std::slice::from_ref(&bob)));
        assert!(!allowed(&list, perms::READ, &[Id::new("ip", "127.0.0.1")]));
        assert!(allowed(&list, perms::WRITE, &[Id::new("super", "")]));
        let ip = vec![acl(perms::ALL, "ip", "10.0.0.0/8")];
        assert!(allowed(&ip, perms::READ, &[Id::new("ip", "10.1.2.3")]));
        assert!(!allowed(&ip, perms::READ, &[Id::new("ip", "11.1.2.3")]));
    }

    #[test]
    fn fixup_expands_auth_and_drops_duplicates() {
        let bob = Id::new("digest", "bob:h");
        let ids = vec![Id::new("ip", "127.0.0.1"), bob.clone()];
        let fixed = fixup(&[acl(31, "auth", ""), acl(31, "auth", "")], &ids).unwrap();
        assert_eq!(fixed, vec![Acl { perms: 31, id: bob }]);
        assert_eq!(
            fixup(&[acl(31, "auth", "")], &[Id::new("ip", "1.2.3.4")]),
            None
        );
        assert_eq!(fixup(&[], &ids), None);
        assert_eq!(fixup(&[acl(31, "world", "foo")], &ids), None);
        assert_eq!(fixup(&[acl(31, "nope", "x")], &ids), None);
        assert_eq!(fixup(&[acl(31, "digest", "a:")], &ids), None);
        let dup = fixup(
            &[acl(31, "world", "anyone"), acl(31, "world", "anyone")],
            &ids,
        )
        .unwrap();
        assert_eq!(dup.len(), 1);
    }
}
