//! The awsQuery protocol IAM and STS speak: form-encoded requests and XML
//! results in each service's namespace (errors: the door's encoder).

use std::collections::HashMap;

use http::StatusCode;

use crate::door::{Outcome, Reply, ServiceError};
use crate::wire::{request_id, xml_escape};

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

/// One awsQuery service's XML conventions.
#[derive(Debug, Clone, Copy)]
pub struct Protocol {
    pub namespace: &'static str,
}

pub const IAM: Protocol = Protocol {
    namespace: "https://iam.amazonaws.com/doc/2010-05-08/",
};
pub const STS: Protocol = Protocol {
    namespace: "https://sts.amazonaws.com/doc/2011-06-15/",
};

impl Protocol {
    /// `<ActionResponse><ActionResult>result</ActionResult>…` (no Result
    /// element when `result` is `None`).
    pub fn ok(&self, action: &str, result: Option<String>) -> Outcome {
        let id = request_id();
        let result = result
            .map(|r| format!("<{action}Result>{r}</{action}Result>"))
            .unwrap_or_default();
        Ok(Reply::new(format!(
            "<{action}Response xmlns=\"{}\">{result}<ResponseMetadata><RequestId>{id}</RequestId></ResponseMetadata></{action}Response>",
            self.namespace
        )))
    }

    /// An error; the door gives it the `ErrorResponse` envelope.
    pub fn error(&self, status: StatusCode, code: &str, message: &str) -> Outcome {
        Err(ServiceError::new(status, code, message))
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
