//! The Facebook stand-in (`/sandbox/facebook/…`): the login dialog a
//! person picks a user id and name in, and a token API for tests; both
//! issue the signed, expiring access tokens Cognito accepts as Facebook
//! logins.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::response::Response;
use http::{HeaderValue, StatusCode};
use serde_json::{Value, json};

use super::Cognito;
use crate::wire::{respond, xml_escape};

/// The longest a stand-in token may live: Facebook's long-lived tokens
/// last 60 days.
const MAX_TOKEN_SECONDS: u64 = 60 * 24 * 3600;

impl Cognito {
    /// The Facebook stand-in: the login dialog and a token API.
    pub fn facebook(
        &self,
        method: &http::Method,
        path: &str,
        query: Option<&str>,
        body: &[u8],
    ) -> Response {
        let form: BTreeMap<String, String> =
            serde_urlencoded::from_bytes(if *method == http::Method::GET {
                query.unwrap_or("").as_bytes()
            } else {
                body
            })
            .unwrap_or_default();
        let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
        match (method.as_str(), path.trim_end_matches('/')) {
            ("GET", "/sandbox/facebook" | "/sandbox/facebook/dialog/oauth") => {
                let page = format!(
                    r#"<!doctype html><html><head><meta charset="utf-8"><title>Log in with Facebook (sandbox)</title>
<style>body{{font-family:sans-serif;max-width:28em;margin:4em auto}}label{{display:block;margin:.8em 0}}input{{width:100%;padding:.4em}}button{{padding:.5em 1.5em}}</style></head>
<body><h1>Facebook (sandbox stand-in)</h1><p>Pick who you are. The token this issues works only in this sandbox.</p>
<form method="post" action="/sandbox/facebook/login">
<label>Facebook user id <input name="user_id" required pattern="[0-9]{{1,20}}" value="10000000001"></label>
<label>Name <input name="name" required value="Alice Rider"></label>
<input type="hidden" name="client_id" value="{}"><input type="hidden" name="redirect_uri" value="{}"><input type="hidden" name="state" value="{}">
<button type="submit" id="login">Log in</button></form></body></html>"#,
                    xml_escape(get("client_id")),
                    xml_escape(get("redirect_uri")),
                    xml_escape(get("state"))
                );
                respond(
                    StatusCode::OK,
                    "text/html; charset=utf-8",
                    "x-fb-trace-id",
                    page,
                )
            }
            ("POST", "/sandbox/facebook/login") => {
                let (user, name, app, redirect) = (
                    get("user_id"),
                    get("name"),
                    get("client_id"),
                    get("redirect_uri"),
                );
                if user.is_empty() || !user.chars().all(|c| c.is_ascii_digit()) || user.len() > 20 {
                    return respond(
                        StatusCode::BAD_REQUEST,
                        "text/plain",
                        "x-fb-trace-id",
                        "user_id must be 1 to 20 digits",
                    );
                }
                if !(redirect.starts_with("http://") || redirect.starts_with("https://")) {
                    return respond(
                        StatusCode::BAD_REQUEST,
                        "text/plain",
                        "x-fb-trace-id",
                        "redirect_uri must be an http(s) URL",
                    );
                }
                let token = self.facebook_token(app, user, name, Duration::from_secs(3600));
                let location = format!(
                    "{redirect}#access_token={token}&expires_in=3600&state={}&user_id={user}",
                    serde_urlencoded::to_string([("s", get("state"))])
                        .unwrap_or_default()
                        .trim_start_matches("s=")
                );
                let mut resp = respond(StatusCode::FOUND, "text/plain", "x-fb-trace-id", "");
                resp.headers_mut().insert(
                    http::header::LOCATION,
                    HeaderValue::from_str(&location).unwrap_or(HeaderValue::from_static("/")),
                );
                resp
            }
            ("POST", "/sandbox/facebook/token") => {
                let req: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
                let (Some(app), Some(user)) = (req["appId"].as_str(), req["userId"].as_str())
                else {
                    return respond(
                        StatusCode::BAD_REQUEST,
                        "application/json",
                        "x-fb-trace-id",
                        r#"{"error":"appId and userId are required"}"#,
                    );
                };
                // Facebook's long-lived tokens last 60 days; nothing longer
                // (and no number that overflows a deadline) is issued.
                let ttl = match &req["expiresIn"] {
                    Value::Null => 3600,
                    v => match v.as_u64().filter(|s| *s <= MAX_TOKEN_SECONDS) {
                        Some(s) => s,
                        None => {
                            return respond(
                                StatusCode::BAD_REQUEST,
                                "application/json",
                                "x-fb-trace-id",
                                format!(
                                    r#"{{"error":"expiresIn must be 0 to {MAX_TOKEN_SECONDS} seconds"}}"#
                                ),
                            );
                        }
                    },
                };
                let ttl = Duration::from_secs(ttl);
                let token = self.facebook_token(app, user, req["name"].as_str().unwrap_or(""), ttl);
                respond(
                    StatusCode::OK,
                    "application/json",
                    "x-fb-trace-id",
                    json!({"accessToken": token, "expiresIn": ttl.as_secs()}).to_string(),
                )
            }
            _ => respond(
                StatusCode::NOT_FOUND,
                "text/plain",
                "x-fb-trace-id",
                "no such page",
            ),
        }
    }
}
