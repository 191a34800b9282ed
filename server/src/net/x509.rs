//! The `x509` identity of a TLS client: its certificate's subject, written as
//! Java's `X500Principal.getName()` writes it (RFC 2253), because that string
//! is what ZooKeeper's X509AuthenticationProvider puts in ACLs
//! (`x509:CN=app,OU=ops,O=Example,C=NL`). Only the few DER forms a subject
//! uses are read; anything else makes the certificate give no identity.

/// The subject of a DER certificate in RFC 2253 form, or `None` when the
/// certificate cannot be read.
pub fn subject_name(cert: &[u8]) -> Option<String> {
    let (certificate, _) = element(cert, SEQUENCE)?;
    let (mut tbs, _) = element(certificate, SEQUENCE)?;
    // [0] EXPLICIT version, when present.
    if tbs.first() == Some(&0xa0) {
        tbs = skip(tbs)?;
    }
    for _ in 0..4 {
        // serialNumber, signature, issuer, validity
        tbs = skip(tbs)?;
    }
    let (subject, _) = element(tbs, SEQUENCE)?;
    rfc2253(subject)
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;

/// The contents of the element at the start of `der` if its tag is `tag`, and
/// what follows it.
fn element(der: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&t, rest) = der.split_first()?;
    if t != tag {
        return None;
    }
    contents(rest)
}

/// Skips one element of any tag.
fn skip(der: &[u8]) -> Option<&[u8]> {
    let (_, rest) = der.split_first()?;
    contents(rest).map(|(_, after)| after)
}

/// Splits a DER length and its contents off `der` (definite lengths only).
fn contents(der: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&first, rest) = der.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| rest.split_at(len))
}

/// RDNSequence → "CN=a,O=b": the last RDN first, as RFC 2253 says.
fn rfc2253(mut rdns: &[u8]) -> Option<String> {
    let mut parts = Vec::new();
    while !rdns.is_empty() {
        let (mut set, rest) = element(rdns, SET)?;
        rdns = rest;
        let mut attributes = Vec::new();
        while !set.is_empty() {
            let (attribute, rest) = element(set, SEQUENCE)?;
            set = rest;
            let (oid, value) = element(attribute, OID)?;
            attributes.push(attribute_text(oid, value)?);
        }
        parts.push(attributes.join("+"));
    }
    parts.reverse();
    Some(parts.join(","))
}

/// One `type=value`: a keyword and the string for the types RFC 2253 names,
/// else the dotted OID and `#` with the value's DER in hex.
fn attribute_text(oid: &[u8], value: &[u8]) -> Option<String> {
    let keyword = match oid {
        [0x55, 0x04, 0x03] => Some("CN"),
        [0x55, 0x04, 0x06] => Some("C"),
        [0x55, 0x04, 0x07] => Some("L"),
        [0x55, 0x04, 0x08] => Some("ST"),
        [0x55, 0x04, 0x0a] => Some("O"),
        [0x55, 0x04, 0x0b] => Some("OU"),
        [0x55, 0x04, 0x09] => Some("STREET"),
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19] => Some("DC"),
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01] => Some("UID"),
        _ => None,
    };
    let (&tag, rest) = value.split_first()?;
    let (body, trailing) = contents(rest)?;
    if !trailing.is_empty() {
        return None;
    }
    let text = match tag {
        // UTF8String, PrintableString, TeletexString (as Latin-1), IA5String
        0x0c | 0x13 | 0x16 => std::str::from_utf8(body).ok().map(str::to_string),
        0x14 => Some(body.iter().map(|b| char::from(*b)).collect()),
        // BMPString: UTF-16 big-endian
        0x1e if body.len() % 2 == 0 => String::from_utf16(
            &body
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect::<Vec<_>>(),
        )
        .ok(),
        _ => None,
    };
    Some(match (keyword, text) {
        (Some(k), Some(t)) => format!("{k}={}", escape(&t)),
        _ => format!("{}=#{}", dotted(oid)?, hex(value)),
    })
}

/// RFC 2253 escaping, as Java writes it.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == ' ' || c == '#'))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn dotted(oid: &[u8]) -> Option<String> {
    let (&first, rest) = oid.split_first()?;
    let mut arcs = vec![u64::from(first / 40).min(2), 0];
    arcs[1] = u64::from(first) - arcs[0] * 40;
    let mut arc = 0u64;
    for b in rest {
        arc = arc.checked_mul(128)? | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            arcs.push(arc);
            arc = 0;
        }
    }
    Some(
        arcs.iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join("."),
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DnType, KeyPair};

    fn cert_with(dn: &[(DnType, &str)]) -> Vec<u8> {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        // In the order given (rcgen starts with a CN of its own).
        params.distinguished_name = rcgen::DistinguishedName::new();
        for (t, v) in dn {
            params.distinguished_name.push(t.clone(), *v);
        }
        let key = KeyPair::generate().expect("key");
        params.self_signed(&key).expect("cert").der().to_vec()
    }

    #[test]
    fn the_subject_reads_as_java_writes_it() {
        let der = cert_with(&[
            (DnType::CountryName, "NL"),
            (DnType::OrganizationName, "Example, Inc."),
            (DnType::OrganizationalUnitName, "ops"),
            (DnType::CommonName, "app-1"),
        ]);
        assert_eq!(
            subject_name(&der).as_deref(),
            Some("CN=app-1,OU=ops,O=Example\\, Inc.,C=NL")
        );
    }

    #[test]
    fn odd_values_are_escaped_and_unknown_types_are_hex() {
        let der = cert_with(&[
            (DnType::CommonName, " #lead+trail "),
            (DnType::CustomDnType(vec![2, 5, 4, 5]), "42"),
        ]);
        // serialNumber (2.5.4.5) is not an RFC 2253 keyword: #DER.
        assert_eq!(
            subject_name(&der).as_deref(),
            Some("2.5.4.5=#0c023432,CN=\\ #lead\\+trail\\ ")
        );
    }

    #[test]
    fn garbage_gives_no_identity() {
        assert_eq!(subject_name(b""), None);
        assert_eq!(subject_name(&[0x30, 0x82, 0xff]), None);
        let der = cert_with(&[(DnType::CommonName, "x")]);
        assert_eq!(subject_name(&der[..der.len() / 2]), None);
    }
}
