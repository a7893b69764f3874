//! Response plumbing shared by every service: request ids, the `Date`
//! header SDKs correct their clocks from, and the JSON error envelopes.

use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, StatusCode};
use time::OffsetDateTime;
use time::macros::format_description;

/// A fresh request id, as AWS returns in `x-amzn-RequestId`.
pub fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// RFC 7231 `Date` header value for now.
pub fn http_date() -> String {
    OffsetDateTime::now_utc()
        .format(format_description!(
            "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
        ))
        .expect("UTC dates format")
}

/// A response with `Date`, a request id under `id_header`, and a body.
pub fn respond(
    status: StatusCode,
    content_type: &str,
    id_header: &'static str,
    body: impl Into<Body>,
) -> Response {
    let mut resp = Response::new(body.into());
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_str(content_type).expect("static content types"),
    );
    h.insert(
        http::header::DATE,
        HeaderValue::from_str(&http_date()).expect("dates are ASCII"),
    );
    h.insert(
        id_header,
        HeaderValue::from_str(&request_id()).expect("uuids are ASCII"),
    );
    resp
}

/// A JSON object of strings (tags, login providers, roles) as a map;
/// non-string values and non-objects are ignored.
pub fn string_map(v: &serde_json::Value) -> std::collections::BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// Escapes text for XML element content and attributes. Line-break
/// characters a parser would normalise to `\n` (CR, and XML 1.1's NEL and
/// LINE SEPARATOR) are character references, as the AWS SDKs write them,
/// so they read back as written.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' | '\u{85}' | '\u{2028}' => out.push_str(&format!("&#x{:X};", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Tags as the `<Tag><Key>…</Key><Value>…</Value></Tag>` elements S3's
/// tag set and CloudFront's tag items list.
pub fn tag_elements(tags: &std::collections::BTreeMap<String, String>) -> String {
    tags.iter()
        .map(|(k, v)| {
            format!(
                "<Tag><Key>{}</Key><Value>{}</Value></Tag>",
                xml_escape(k),
                xml_escape(v)
            )
        })
        .collect()
}
