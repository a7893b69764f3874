//! The awsQuery protocol IAM and STS speak: form-encoded requests, and
//! helpers for the XML of their results (the envelopes, results' and
//! errors', are the door's encoder's: [`crate::door::Reply::query`]).

use std::collections::HashMap;

use crate::wire::xml_escape;

/// A parsed awsQuery request: `Action` and its parameters.
#[derive(Debug, Clone, Default)]
pub struct QueryRequest {
    pub params: HashMap<String, String>,
}

impl QueryRequest {
    pub fn parse(body: &[u8], query: Option<&str>) -> Self {
        let mut params: HashMap<String, String> = HashMap::new();
        for source in [query.map(str::as_bytes).unwrap_or_default(), body] {
            if let Ok(pairs) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(source) {
                params.extend(pairs);
            }
        }
        QueryRequest { params }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub fn action(&self) -> &str {
        self.get("Action").unwrap_or_default()
    }

    /// `Prefix.member.N.Key`/`.Value` pairs, in order (e.g. `Tags`).
    pub fn members(&self, prefix: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for n in 1.. {
            let key = self.params.get(&format!("{prefix}.member.{n}.Key"));
            let value = self.params.get(&format!("{prefix}.member.{n}.Value"));
            match (key, value) {
                (Some(k), v) => out.push((k.clone(), v.cloned().unwrap_or_default())),
                _ => break,
            }
        }
        out
    }
}

/// RFC 3986 percent-encoding, as IAM returns policy documents.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Text as an XML element, escaped.
pub fn el(name: &str, value: &str) -> String {
    format!("<{name}>{}</{name}>", xml_escape(value))
}
