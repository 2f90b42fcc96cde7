//! The subject of a client certificate, in RFC 4514 form and by attribute.

/// The subject of a verified client certificate.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PeerSubject {
    /// RFC 4514 form, most significant RDN last (`CN=worker,O=Acme`).
    pub distinguished_name: String,
    pub common_name: Option<String>,
    pub organization: Vec<String>,
    pub organizational_unit: Vec<String>,
}

/// The subject of a DER certificate.
pub fn subject(der: &[u8]) -> Result<PeerSubject, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| e.to_string())?;
    let name = cert.subject();
    let text =
        |a: &x509_parser::x509::AttributeTypeAndValue<'_>| a.as_str().map(str::to_string).ok();
    Ok(PeerSubject {
        distinguished_name: rfc4514(name),
        common_name: name.iter_common_name().next().and_then(text),
        organization: name.iter_organization().filter_map(text).collect(),
        organizational_unit: name.iter_organizational_unit().filter_map(text).collect(),
    })
}

/// RFC 4514: RDNs last-to-first, joined by `,`; several attributes in one RDN by `+`.
fn rfc4514(name: &x509_parser::x509::X509Name<'_>) -> String {
    use std::fmt::Write as _;
    let registry = x509_parser::objects::oid_registry();
    let mut out = String::new();
    let rdns: Vec<_> = name.iter_rdn().collect();
    for (i, rdn) in rdns.iter().rev().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, attr) in rdn.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            let oid = attr.attr_type();
            match x509_parser::objects::oid2abbrev(oid, registry) {
                Ok(abbrev) if RFC4514_NAMES.contains(&abbrev) => out.push_str(abbrev),
                _ => out.push_str(&oid.to_id_string()),
            }
            out.push('=');
            match attr.as_str() {
                Ok(value) => escape_into(&mut out, value),
                Err(_) => {
                    // Not a string type: the DER value in hex, as RFC 4514 §2.4 says.
                    out.push('#');
                    for b in x509_parser::der_parser::asn1_rs::ToDer::to_der_vec(attr.attr_value())
                        .unwrap_or_default()
                    {
                        let _ = write!(out, "{b:02x}");
                    }
                }
            }
        }
    }
    out
}

/// Attribute types RFC 4514 names by their short name (the rest by their OID).
const RFC4514_NAMES: &[&str] = &["CN", "L", "ST", "O", "OU", "C", "STREET", "DC", "UID"];

fn escape_into(out: &mut String, value: &str) {
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, '"' | '+' | ',' | ';' | '<' | '>' | '\\')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        if c == '\0' {
            out.push_str("\\00");
        } else {
            out.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinguished_names_are_escaped() {
        let mut out = String::new();
        escape_into(&mut out, " a,b+c#");
        assert_eq!(out, "\\ a\\,b\\+c#");
    }
}
