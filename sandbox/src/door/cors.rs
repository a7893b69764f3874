//! CORS for the AWS APIs a web page calls itself: Cognito Identity's
//! unsigned `GetId` and `GetCredentialsForIdentity` (the login of the
//! web UI). AWS answers these cross-origin from any page: a preflight
//! (`OPTIONS` naming the method and headers) gets the methods and the
//! awsJson headers allowed for every origin, and each answer carries
//! `Access-Control-Allow-Origin: *` and exposes the request id and error
//! type, so a browser can read both results and errors.
//!
//! Those unauthenticated endpoints (and the Facebook stand-in) answer only
//! requests addressed to this machine by address or as `localhost`: a page
//! that rebinds its own name to 127.0.1.1 sends its own name as `Host`,
//! and gets nothing.

use axum::body::Body;
use axum::response::Response;
use http::{HeaderMap, HeaderName, HeaderValue, Method, header};

/// Headers an awsJson call from a browser sends (and the SDK's own).
const ALLOWED_HEADERS: &str = "content-type,x-amz-target,x-amz-user-agent,x-amz-date,x-amz-security-token,authorization,amz-sdk-invocation-id,amz-sdk-request";
const EXPOSED_HEADERS: &str = "x-amzn-RequestId,x-amzn-ErrorType,x-amzn-ErrorMessage,Date";

/// Whether this is a CORS preflight for an awsJson call (it asks to send
/// `X-Amz-Target`, which no other API on a region's address takes).
pub fn is_aws_json_preflight(method: &Method, headers: &HeaderMap) -> bool {
    *method == Method::OPTIONS
        && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        && headers
            .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(',')
                    .any(|h| h.trim().eq_ignore_ascii_case("x-amz-target"))
            })
}

/// The answer to such a preflight.
pub fn preflight() -> Response {
    with_headers(
        Response::new(Body::empty()),
        &[
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
            (header::ACCESS_CONTROL_ALLOW_METHODS, "POST,OPTIONS"),
            (header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOWED_HEADERS),
            (header::ACCESS_CONTROL_MAX_AGE, "86400"),
        ],
    )
}

/// Lets any page read `resp`.
pub fn allow_any_origin(resp: Response) -> Response {
    with_headers(
        resp,
        &[
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
            (header::ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSED_HEADERS),
        ],
    )
}

fn with_headers(mut resp: Response, headers: &[(HeaderName, &'static str)]) -> Response {
    for (name, value) in headers {
        resp.headers_mut()
            .insert(name.clone(), HeaderValue::from_static(value));
    }
    resp
}

/// Whether the request is addressed to this machine: its `Host` is an IP
/// address, `localhost` or a `*.localhost` name (any port).
pub fn is_loopback_host(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        // [v6]:port
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(n, _)| n),
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name.parse::<std::net::IpAddr>().is_ok() || name == "localhost" || name.ends_with(".localhost")
}

/// The answer to a request for another name (DNS rebinding).
pub fn foreign_host() -> Response {
    let mut resp = Response::new(Body::from(
        "this sandbox endpoint answers only requests addressed to this machine (an IP address or localhost), not another name",
    ));
    *resp.status_mut() = http::StatusCode::FORBIDDEN;
    resp
}
