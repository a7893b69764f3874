//! SigV4 verification for every AWS API request the sandbox serves, with
//! the `aws-sigv4` crate recomputing the signature (no home-made signer).
//!
//! This module decides *whether* a request is authentic and why not; each
//! service renders an [`AuthFailure`] in its own wire format and status, as
//! AWS does (DynamoDB 400 with `com.amazon.coral.service#…`, IAM/STS 403
//! XML, Lambda and execute-api 403 JSON; see AWS-BEHAVIOUR.md §2).

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PercentEncodingMode, SignableBody, SignableRequest, SigningSettings, UriPathNormalizationMode,
    sign,
};
use aws_sigv4::sign::v4::SigningParams;
use aws_smithy_runtime_api::client::identity::Identity;
use http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;
use time::macros::format_description;

use crate::credentials::{KeyError, Principal, SandboxSecrets};

/// The window AWS allows between a request's time and its own clock.
pub fn skew_window(service: &str) -> Duration {
    match service {
        "lambda" | "execute-api" => Duration::from_secs(5 * 60),
        _ => Duration::from_secs(15 * 60),
    }
}

/// The credential scope a request claims, read without verifying anything:
/// how the region process dispatches, as AWS's front ends do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub access_key_id: String,
    pub date: String,
    pub region: String,
    pub service: String,
}

/// What verification learned about an authentic request.
#[derive(Debug, Clone)]
pub struct Verified {
    pub principal: Principal,
    pub access_key_id: String,
    pub region: String,
    pub service: String,
}

/// Why a request is not authentic; each service renders these its way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
    /// No `Authorization` header.
    Missing,
    /// An `Authorization` header that is not SigV4 `key=value` pairs.
    Incomplete(String),
    /// An access key (or session token) this sandbox never issued.
    UnknownKey,
    /// Temporary credentials past their expiry.
    ExpiredToken,
    /// The signature does not match.
    BadSignature,
    /// Outside the clock-skew window, or scope date ≠ request date.
    Skew(String),
    /// Scope names another region or service.
    WrongScope(String),
    /// `x-amz-content-sha256` does not match the body.
    BodyHash,
}

impl AuthFailure {
    /// The error code JSON-protocol services (DynamoDB, Lambda, API
    /// Gateway, ACM, Cognito) give for this failure.
    pub fn exception_code(&self) -> &'static str {
        match self {
            AuthFailure::Missing => "MissingAuthenticationTokenException",
            AuthFailure::Incomplete(_) => "IncompleteSignatureException",
            AuthFailure::UnknownKey => "UnrecognizedClientException",
            AuthFailure::ExpiredToken => "ExpiredTokenException",
            AuthFailure::BadSignature
            | AuthFailure::Skew(_)
            | AuthFailure::WrongScope(_)
            | AuthFailure::BodyHash => "InvalidSignatureException",
        }
    }

    /// The message AWS gives (services may prefix or reshape it).
    pub fn message(&self) -> String {
        match self {
            AuthFailure::Missing => "Request is missing Authentication Token".into(),
            AuthFailure::Incomplete(m) | AuthFailure::Skew(m) | AuthFailure::WrongScope(m) => m.clone(),
            AuthFailure::UnknownKey => "The security token included in the request is invalid.".into(),
            AuthFailure::ExpiredToken => "The security token included in the request is expired".into(),
            AuthFailure::BadSignature => "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.".into(),
            AuthFailure::BodyHash => "The provided 'x-amz-content-sha256' header does not match what was computed.".into(),
        }
    }
}

struct ParsedAuthorization {
    scope: Scope,
    signed_headers: Vec<String>,
    signature: String,
}

fn parse_authorization(value: &str) -> Result<ParsedAuthorization, AuthFailure> {
    let incomplete = |detail: String| AuthFailure::Incomplete(detail);
    let rest = value.strip_prefix("AWS4-HMAC-SHA256 ").ok_or_else(|| {
        let token = value.split_whitespace().last().unwrap_or(value);
        incomplete(format!(
            "'{token}' not a valid key=value pair (missing equal-sign) in Authorization header: '{value}'."
        ))
    })?;
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((key, val)) = part.split_once('=') else {
            return Err(incomplete(format!(
                "'{part}' not a valid key=value pair (missing equal-sign) in Authorization header: '{value}'."
            )));
        };
        match key {
            "Credential" => credential = Some(val),
            "SignedHeaders" => signed_headers = Some(val),
            "Signature" => signature = Some(val),
            _ => {}
        }
    }
    let missing = |name: &str| {
        incomplete(format!(
            "Authorization header requires '{name}' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization=AWS4-HMAC-SHA256 {rest}"
        ))
    };
    let credential = credential.ok_or_else(|| missing("Credential"))?;
    let signed_headers = signed_headers.ok_or_else(|| missing("SignedHeaders"))?;
    let signature = signature.ok_or_else(|| missing("Signature"))?;
    let parts: Vec<&str> = credential.split('/').collect();
    let [key, date, region, service, "aws4_request"] = parts.as_slice() else {
        return Err(incomplete(format!(
            "Credential should be scoped to a valid region. Credential should be scoped with a valid terminator: 'aws4_request', not '{}'. ",
            parts.last().unwrap_or(&"")
        )));
    };
    Ok(ParsedAuthorization {
        scope: Scope {
            access_key_id: (*key).to_owned(),
            date: (*date).to_owned(),
            region: (*region).to_owned(),
            service: (*service).to_owned(),
        },
        signed_headers: signed_headers
            .split(';')
            .map(|h| h.to_ascii_lowercase())
            .collect(),
        signature: signature.to_owned(),
    })
}

/// The scope a request claims, if it carries a SigV4 `Authorization`.
pub fn scope(headers: &HeaderMap) -> Option<Scope> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    parse_authorization(value).ok().map(|p| p.scope)
}

/// Formats a time as SigV4's basic ISO 8601 (`20240102T030405Z`).
pub fn amz_date(t: OffsetDateTime) -> String {
    t.format(format_description!(
        "[year][month][day]T[hour][minute][second]Z"
    ))
    .expect("UTC times format")
}

fn parse_amz_date(s: &str) -> Option<OffsetDateTime> {
    let fmt = format_description!("[year][month][day]T[hour][minute][second]Z");
    time::PrimitiveDateTime::parse(s, fmt)
        .ok()
        .map(|t| t.assume_utc())
}

/// What the endpoint that received the request expects.
#[derive(Debug, Clone, Copy)]
pub struct Expect<'a> {
    /// Regions a scope may name (the region process's own; `us-east-1` for
    /// global services).
    pub regions: &'a [&'a str],
    /// The service name the scope must carry.
    pub service: &'a str,
}

/// Verifies a request's SigV4 signature. `path_and_query` and `headers` must
/// be exactly as the client sent them (Host with its port).
pub fn verify(
    method: &str,
    path_and_query: &str,
    headers: &HeaderMap,
    body: &[u8],
    secrets: &SandboxSecrets,
    expect: Expect<'_>,
) -> Result<Verified, AuthFailure> {
    let Some(auth) = headers.get(http::header::AUTHORIZATION) else {
        return Err(AuthFailure::Missing);
    };
    let auth = auth
        .to_str()
        .map_err(|_| AuthFailure::Incomplete("Authorization header is not valid text".into()))?;
    let parsed = parse_authorization(auth)?;
    let scope = &parsed.scope;

    let token = headers
        .get("x-amz-security-token")
        .and_then(|v| v.to_str().ok());
    let (secret, principal) = match secrets.resolve(&scope.access_key_id, token) {
        Ok(found) => found,
        Err(KeyError::Unknown) => return Err(AuthFailure::UnknownKey),
        Err(KeyError::Expired) => return Err(AuthFailure::ExpiredToken),
    };

    check_scope(scope, &expect)?;
    let request_time = check_time(headers, scope)?;

    // aws-sigv4 panics on a request without `host` among its signed headers
    // when the URI has no authority: AWS requires `host` signed anyway.
    if !parsed.signed_headers.iter().any(|h| h == "host") {
        return Err(AuthFailure::BadSignature);
    }
    let payload_hash = payload_hash(headers, body, scope)?;

    let mut signed: Vec<(&str, &str)> = Vec::new();
    for name in &parsed.signed_headers {
        let values: Vec<&str> = headers
            .get_all(name.as_str())
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if values.is_empty() {
            return Err(AuthFailure::BadSignature);
        }
        for v in values {
            signed.push((name.as_str(), v));
        }
    }

    let expected = signature_for(
        method,
        path_and_query,
        signed,
        payload_hash,
        scope,
        &secret,
        request_time,
    )?;
    if !bool::from(expected.as_bytes().ct_eq(parsed.signature.as_bytes())) {
        return Err(AuthFailure::BadSignature);
    }
    Ok(Verified {
        principal,
        access_key_id: scope.access_key_id.clone(),
        region: scope.region.clone(),
        service: scope.service.clone(),
    })
}

/// The credential scope names a region and the service this endpoint serves.
fn check_scope(scope: &Scope, expect: &Expect<'_>) -> Result<(), AuthFailure> {
    let mut wrong = String::new();
    if !expect.regions.contains(&scope.region.as_str()) {
        wrong.push_str(&format!(
            "Credential should be scoped to a valid region, not '{}'. ",
            scope.region
        ));
    }
    if scope.service != expect.service {
        wrong.push_str(&format!(
            "Credential should be scoped to correct service: '{}'. ",
            expect.service
        ));
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(AuthFailure::WrongScope(wrong))
    }
}

/// The request's `X-Amz-Date`: well formed, on the scope's date, and
/// within the service's clock-skew window.
fn check_time(headers: &HeaderMap, scope: &Scope) -> Result<OffsetDateTime, AuthFailure> {
    let date_text = headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| AuthFailure::Incomplete("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.".into()))?;
    let request_time = parse_amz_date(date_text).ok_or_else(|| {
        AuthFailure::Incomplete(format!(
            "X-Amz-Date '{date_text}' is not in ISO 8601 basic format"
        ))
    })?;
    // The signer takes the scope's date from the request time, so the date
    // the header claims is compared here, whole (a prefix such as `2024` or
    // an empty one is not the date).
    let day = date_text.get(..8).unwrap_or(date_text);
    if day != scope.date {
        return Err(AuthFailure::Skew(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{day}', from '{date_text}'.",
            scope.date,
        )));
    }
    let now = OffsetDateTime::now_utc();
    let window = skew_window(&scope.service);
    let minutes = window.as_secs() / 60;
    if request_time < now - window {
        return Err(AuthFailure::Skew(format!(
            "Signature expired: {date_text} is now earlier than {} ({} - {minutes} min.)",
            amz_date(now - window),
            amz_date(now)
        )));
    }
    if request_time > now + window {
        return Err(AuthFailure::Skew(format!(
            "Signature not yet current: {date_text} is still later than {} ({} + {minutes} min.)",
            amz_date(now + window),
            amz_date(now)
        )));
    }
    Ok(request_time)
}

/// The payload hash to sign with: the body's own, or S3's unsigned forms;
/// a claimed hash that is not the body's is refused.
fn payload_hash(headers: &HeaderMap, body: &[u8], scope: &Scope) -> Result<String, AuthFailure> {
    let body_hash = hex::encode(Sha256::digest(body));
    Ok(
        match headers
            .get("x-amz-content-sha256")
            .and_then(|v| v.to_str().ok())
        {
            Some("UNSIGNED-PAYLOAD") if scope.service == "s3" => "UNSIGNED-PAYLOAD".to_owned(),
            // aws-chunked with a trailing checksum and unsigned chunks: the
            // signature covers the headers only (S3 decodes the body).
            Some("STREAMING-UNSIGNED-PAYLOAD-TRAILER") if scope.service == "s3" => {
                "STREAMING-UNSIGNED-PAYLOAD-TRAILER".to_owned()
            }
            Some(claimed) if claimed.starts_with("STREAMING-") => {
                return Err(AuthFailure::BodyHash);
            }
            Some(claimed) if !claimed.eq_ignore_ascii_case(&body_hash) => {
                return Err(AuthFailure::BodyHash);
            }
            _ => body_hash,
        },
    )
}

/// The signature the holder of `secret` computes for this request, by the
/// official crate (S3 signs paths encoded once and unnormalised).
fn signature_for(
    method: &str,
    path_and_query: &str,
    signed: Vec<(&str, &str)>,
    payload_hash: String,
    scope: &Scope,
    secret: &str,
    request_time: OffsetDateTime,
) -> Result<String, AuthFailure> {
    let mut settings = SigningSettings::default();
    settings.excluded_headers = Some(Vec::<Cow<'static, str>>::new());
    if scope.service == "s3" {
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    }
    // A target that is no path (`host:80`, `*`) is signed by no client,
    // and the signer panics on a URI without a path.
    if !path_and_query.starts_with('/') {
        return Err(AuthFailure::BadSignature);
    }
    let identity: Identity =
        Credentials::new(&scope.access_key_id, secret, None, None, "sandbox").into();
    let params = SigningParams::builder()
        .identity(&identity)
        .region(&scope.region)
        .name(&scope.service)
        .time(SystemTime::from(request_time))
        .settings(settings)
        .build()
        .map_err(|_| AuthFailure::BadSignature)?
        .into();
    let signable = SignableRequest::new(
        method,
        path_and_query,
        signed.into_iter(),
        SignableBody::Precomputed(payload_hash),
    )
    .map_err(|_| AuthFailure::BadSignature)?;
    let output = sign(signable, &params).map_err(|_| AuthFailure::BadSignature)?;
    Ok(output.signature().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_scope_and_rejects_malformed_headers() {
        let p = parse_authorization(
            "AWS4-HMAC-SHA256 Credential=AKIA/20240102/eu-west-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc",
        )
        .unwrap();
        assert_eq!(p.scope.region, "eu-west-1");
        assert_eq!(p.signed_headers, ["host", "x-amz-date"]);
        let err = parse_authorization("Bearer tok").err().unwrap();
        assert_eq!(
            err.message(),
            "'tok' not a valid key=value pair (missing equal-sign) in Authorization header: 'Bearer tok'."
        );
        assert!(matches!(
            parse_authorization("AWS4-HMAC-SHA256 SignedHeaders=host, Signature=x"),
            Err(AuthFailure::Incomplete(_))
        ));
    }

    #[test]
    fn the_scope_date_is_the_request_date_whole() {
        let now = amz_date(OffsetDateTime::now_utc());
        let mut headers = HeaderMap::new();
        headers.insert("x-amz-date", now.parse().unwrap());
        let scope = |date: &str| Scope {
            access_key_id: "AKIA".into(),
            date: date.into(),
            region: "eu-west-1".into(),
            service: "dynamodb".into(),
        };
        assert!(check_time(&headers, &scope(&now[..8])).is_ok());
        for claimed in ["", &now[..4], &now[..7], "20000101"] {
            assert!(
                matches!(
                    check_time(&headers, &scope(claimed)),
                    Err(AuthFailure::Skew(_))
                ),
                "{claimed:?}"
            );
        }
    }

    #[test]
    fn skew_windows_follow_aws() {
        assert_eq!(skew_window("dynamodb"), Duration::from_secs(900));
        assert_eq!(skew_window("lambda"), Duration::from_secs(300));
        assert_eq!(
            amz_date(OffsetDateTime::from_unix_timestamp(0).unwrap()),
            "19700101T000000Z"
        );
    }
}
