//! SigV4 verification (`sigv4::verify`), the first thing every request
//! meets: no header, date or body makes it panic or pass without a
//! genuine signature, genuinely signed requests pass, and every
//! protocol encodes every refusal well-formed.

use std::sync::LazyLock;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4::SigningParams;
use aws_smithy_runtime_api::client::identity::Identity;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use proptest::prelude::*;
use proptest::sample::Index;
use wildrydes_sandbox::credentials::{Principal, SandboxSecrets};
use wildrydes_sandbox::door::{self, Protocol, Service};
use wildrydes_sandbox::sigv4::{self, AuthFailure, Expect, amz_date, verify};

use crate::body_text;

static SECRETS: LazyLock<SandboxSecrets> = LazyLock::new(SandboxSecrets::generate);

const SERVICES: &[Service] = &[
    door::DYNAMODB,
    door::ACM,
    door::COGNITO_IDENTITY,
    door::LAMBDA,
    door::APIGATEWAY,
    door::EXECUTE_API,
    door::S3,
    door::ROUTE53,
    door::CLOUDFRONT,
    door::IAM,
    door::STS,
];

/// The endpoint every request here is verified for.
const REGIONS: &[&str] = &["eu-west-1"];

fn expect(service: &str) -> Expect<'_> {
    Expect {
        regions: REGIONS,
        service,
    }
}

/// A request as a client builds it before signing.
#[derive(Debug, Clone)]
struct Unsigned {
    service: Service,
    method: Method,
    path_and_query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Sign with temporary credentials (a session token) rather than
    /// the operator's key.
    temporary: bool,
    /// S3 clients may send `x-amz-content-sha256`.
    content_sha256: bool,
}

/// Headers the signer or the test sets itself.
const MANAGED: &[&str] = &[
    "host",
    "authorization",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
];

fn unsigned() -> impl Strategy<Value = Unsigned> {
    let segment = prop_oneof![
        "[A-Za-z0-9._~-]{0,6}",
        "%[0-9A-F]{2}",
        Just("..".to_owned()),
        Just(".".to_owned()),
    ];
    let path = prop::collection::vec(segment, 0..5).prop_map(|s| format!("/{}", s.join("/")));
    let query = prop::option::of(prop::collection::vec(
        (
            "[A-Za-z0-9._~-]{1,6}",
            "([A-Za-z0-9._~-]|%[0-9A-F]{2}){0,6}",
        ),
        0..4,
    ));
    let name = prop_oneof![
        prop::sample::select(vec![
            "content-type",
            "x-amz-target",
            "x-amz-meta-a",
            "user-agent",
            "x-amzn-trace-id",
        ])
        .prop_map(str::to_owned),
        "[a-z][a-z0-9-]{0,8}",
    ];
    let headers = prop::collection::vec((name, "[ -~]{0,20}"), 0..5);
    (
        prop::sample::select(SERVICES),
        prop::sample::select(vec![
            Method::GET,
            Method::PUT,
            Method::POST,
            Method::DELETE,
            Method::HEAD,
            Method::PATCH,
        ]),
        path,
        query,
        headers,
        prop::collection::vec(any::<u8>(), 0..64),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(service, method, path, query, headers, body, temporary, sha)| {
                let path_and_query = match query {
                    Some(pairs) => format!(
                        "{path}?{}",
                        pairs
                            .iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join("&")
                    ),
                    None => path,
                };
                let mut headers: Vec<(String, String)> = headers
                    .into_iter()
                    .filter(|(n, _)| !MANAGED.contains(&n.as_str()))
                    .collect();
                headers.insert(0, ("host".into(), "127.0.0.1:4566".into()));
                Unsigned {
                    service,
                    method,
                    path_and_query,
                    headers,
                    body,
                    temporary,
                    content_sha256: sha && service.signing_name == "s3",
                }
            },
        )
}

/// The request as the official signer signs it: its headers, with
/// `Authorization`, `X-Amz-Date` and the rest the signer adds.
fn signed(req: &Unsigned) -> HeaderMap {
    signed_at(req, SystemTime::now())
}

fn signed_at(req: &Unsigned, time: SystemTime) -> HeaderMap {
    let (key, secret, token) = if req.temporary {
        let t = SECRETS.mint(
            "arn:aws:iam::000000000000:role/r",
            "s",
            None,
            Duration::from_secs(3600),
        );
        (t.access_key_id, t.secret_access_key, Some(t.session_token))
    } else {
        (
            SECRETS.access_key_id.clone(),
            SECRETS.secret_access_key.clone(),
            None,
        )
    };
    let mut settings = SigningSettings::default();
    if req.service.signing_name == "s3" {
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        if req.content_sha256 {
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        }
    }
    let identity: Identity = Credentials::new(key, secret, token, None, "properties").into();
    let params = SigningParams::builder()
        .identity(&identity)
        .region(REGIONS[0])
        .name(req.service.signing_name)
        .time(time)
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let signable = SignableRequest::new(
        req.method.as_str(),
        req.path_and_query.as_str(),
        req.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(&req.body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut headers = HeaderMap::new();
    for (k, v) in &req.headers {
        headers.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    let (added, _) = instructions.into_parts();
    for h in added {
        headers.insert(h.name(), HeaderValue::from_str(h.value()).unwrap());
    }
    headers
}

fn verify_request(req: &Unsigned, headers: &HeaderMap) -> Result<Principal, AuthFailure> {
    verify(
        req.method.as_str(),
        &req.path_and_query,
        headers,
        &req.body,
        &SECRETS,
        expect(req.service.signing_name),
    )
    .map(|v| v.principal)
}

/// Every protocol encodes `failure` as its own well-formed error (JSON or
/// XML, 400 or 403), whatever the request held; and routing the request
/// does not panic either.
fn check_encodings(failure: &AuthFailure, headers: &HeaderMap) -> Result<(), TestCaseError> {
    let _ = sigv4::scope(headers);
    let _ = door::identify(&Method::POST, "/", headers);
    for service in SERVICES {
        let error = service.protocol.auth_error(failure, headers);
        prop_assert!(matches!(error.status.as_u16(), 400 | 403), "{error:?}");
        let text = body_text(service.respond(Err(error)));
        match service.protocol {
            Protocol::RestXml { .. } | Protocol::Query { .. } | Protocol::S3Xml => prop_assert!(
                wildrydes_sandbox::xml::Element::parse(text.as_bytes()).is_some(),
                "{}",
                text
            ),
            _ => prop_assert!(
                serde_json::from_str::<serde_json::Value>(&text).is_ok(),
                "{}",
                text
            ),
        }
    }
    Ok(())
}

/// What an `Authorization` value says, read the simplest way: the
/// credential, the signed headers (as a set, any case) and the
/// signature, the last of each winning; `None` when it is not SigV4
/// `key=value` pairs.
fn says(value: &str) -> Option<(String, Vec<String>, String)> {
    let rest = value.strip_prefix("AWS4-HMAC-SHA256 ")?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=')?;
        match k {
            "Credential" => credential = Some(v.to_owned()),
            "SignedHeaders" => signed = Some(v),
            "Signature" => signature = Some(v.to_owned()),
            _ => {}
        }
    }
    let mut signed: Vec<String> = signed?.split(';').map(str::to_ascii_lowercase).collect();
    signed.sort();
    signed.dedup();
    Some((credential?, signed, signature?))
}

/// One change to an `Authorization` value, from the structural (parts
/// reordered, dropped, repeated) to the byte-level.
#[derive(Debug, Clone)]
enum Mutation {
    Shuffle(Vec<Index>),
    Drop(Index),
    Duplicate(Index),
    Repeat(Index, usize),
    ReplaceValue(Index, String),
    RenameKey(Index, String),
    FlipSignature(Index, char),
    ScopeField(Index, String),
    SignedHeaders(String),
    Insert(Index, String),
    Truncate(Index),
    Bytes(Index, Vec<u8>),
}

fn junk() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,12}",
        "\\PC{0,6}",
        prop::sample::select(vec![
            "",
            ",",
            ", ",
            "=",
            "/",
            ";",
            " ",
            "\t",
            "Credential=",
            "Signature=",
            "SignedHeaders=",
            "aws4_request",
            "AWS4-HMAC-SHA256 ",
            "host",
            "é",
        ])
        .prop_map(str::to_owned),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        prop::collection::vec(any::<Index>(), 3).prop_map(Mutation::Shuffle),
        any::<Index>().prop_map(Mutation::Drop),
        any::<Index>().prop_map(Mutation::Duplicate),
        (any::<Index>(), 2usize..3000).prop_map(|(i, n)| Mutation::Repeat(i, n)),
        (any::<Index>(), junk()).prop_map(|(i, s)| Mutation::ReplaceValue(i, s)),
        (
            any::<Index>(),
            prop::sample::select(vec![
                "credential",
                "SIGNATURE",
                "Signedheaders",
                " Signature",
                "Signature ",
                "X",
            ])
        )
            .prop_map(|(i, k)| Mutation::RenameKey(i, k.to_owned())),
        (any::<Index>(), prop::char::range('0', 'g'))
            .prop_map(|(i, c)| Mutation::FlipSignature(i, c)),
        (any::<Index>(), junk()).prop_map(|(i, s)| Mutation::ScopeField(i, s)),
        prop::sample::select(vec![
            "host",
            "x-amz-date",
            "host;x-amz-date;x-amz-date",
            "HOST;X-AMZ-DATE",
            "x-amz-date;host",
            "x-amz-target;host;x-amz-date",
            "HOST;X-Amz-Date;X-AMZ-TARGET",
            "host;x-amz-date;content-type",
            "host;;x-amz-date",
            "",
            "host;é",
            "host;x amz",
        ])
        .prop_map(|s| Mutation::SignedHeaders(s.to_owned())),
        (any::<Index>(), junk()).prop_map(|(i, s)| Mutation::Insert(i, s)),
        any::<Index>().prop_map(Mutation::Truncate),
        (any::<Index>(), prop::collection::vec(any::<u8>(), 1..4))
            .prop_map(|(i, b)| Mutation::Bytes(i, b)),
    ]
}

/// Applies `m` to a header value held as its prefix and its parts.
fn mutate(value: Vec<u8>, m: &Mutation) -> Vec<u8> {
    let text = String::from_utf8_lossy(&value).into_owned();
    let structured = |f: &dyn Fn(&mut Vec<String>)| -> Vec<u8> {
        let Some(rest) = text.strip_prefix("AWS4-HMAC-SHA256 ") else {
            return value.clone();
        };
        let mut parts: Vec<String> = rest.split(", ").map(str::to_owned).collect();
        f(&mut parts);
        format!("AWS4-HMAC-SHA256 {}", parts.join(", ")).into_bytes()
    };
    let in_part = |key: &'static str, f: &dyn Fn(&str) -> String| {
        structured(&|parts| {
            for p in parts.iter_mut() {
                if let Some(v) = p.strip_prefix(key) {
                    *p = format!("{key}{}", f(v));
                }
            }
        })
    };
    match m {
        Mutation::Shuffle(swaps) => structured(&|parts| {
            for w in swaps.windows(2) {
                let (a, b) = (w[0].index(parts.len()), w[1].index(parts.len()));
                parts.swap(a, b);
            }
        }),
        Mutation::Drop(i) => structured(&|parts| {
            parts.remove(i.index(parts.len()));
        }),
        Mutation::Duplicate(i) => structured(&|parts| {
            let p = parts[i.index(parts.len())].clone();
            parts.insert(i.index(parts.len() + 1), p);
        }),
        Mutation::Repeat(i, n) => structured(&|parts| {
            let p = parts[i.index(parts.len())].clone();
            parts.extend(std::iter::repeat_n(p, *n));
        }),
        Mutation::ReplaceValue(i, s) => structured(&|parts| {
            let at = i.index(parts.len());
            let p = &mut parts[at];
            let key = p.split_once('=').map_or("", |(k, _)| k).to_owned();
            *p = format!("{key}={s}");
        }),
        Mutation::RenameKey(i, k) => structured(&|parts| {
            let at = i.index(parts.len());
            let p = &mut parts[at];
            let value = p.split_once('=').map_or("", |(_, v)| v).to_owned();
            *p = format!("{k}={value}");
        }),
        Mutation::FlipSignature(i, c) => in_part("Signature=", &|sig| {
            let mut chars: Vec<char> = sig.chars().collect();
            if !chars.is_empty() {
                let at = i.index(chars.len());
                chars[at] = *c;
            }
            chars.into_iter().collect()
        }),
        Mutation::ScopeField(i, s) => in_part("Credential=", &|cred| {
            let mut fields: Vec<&str> = cred.split('/').collect();
            let at = i.index(fields.len());
            fields[at] = s;
            fields.join("/")
        }),
        Mutation::SignedHeaders(s) => in_part("SignedHeaders=", &|_| s.clone()),
        Mutation::Insert(i, s) => {
            let mut v = value;
            let at = i.index(v.len() + 1);
            v.splice(at..at, s.bytes());
            v
        }
        Mutation::Truncate(i) => value[..i.index(value.len() + 1)].to_vec(),
        Mutation::Bytes(i, b) => {
            let mut v = value;
            let at = i.index(v.len() + 1);
            v.splice(at..at, b.iter().copied());
            v
        }
    }
}

/// A fixed, simple request to mutate the signature of.
fn plain_request() -> Unsigned {
    Unsigned {
        service: door::DYNAMODB,
        method: Method::POST,
        path_and_query: "/".into(),
        headers: vec![
            ("host".into(), "127.0.0.1:4566".into()),
            ("x-amz-target".into(), "DynamoDB_20120810.GetItem".into()),
        ],
        body: br#"{"TableName":"t"}"#.to_vec(),
        temporary: false,
        content_sha256: false,
    }
}

fn authorization(headers: &HeaderMap) -> String {
    headers[http::header::AUTHORIZATION]
        .to_str()
        .unwrap()
        .to_owned()
}

proptest! {
    #![proptest_config(crate::config(1000))]

    /// What the official signer signs verifies, with the right principal.
    #[test]
    fn genuinely_signed_requests_verify(req in unsigned()) {
        let headers = signed(&req);
        let principal = verify_request(&req, &headers);
        prop_assert!(principal.is_ok(), "{:?}\n{:?}", principal, headers);
        let assumed = matches!(principal, Ok(Principal::AssumedRole { .. }));
        prop_assert_eq!(assumed, req.temporary);
    }

    /// Any change to what was signed fails: a body byte, a signature
    /// character, the method, the query, the time.
    #[test]
    fn any_change_to_a_signed_request_fails(
        req in unsigned(),
        at in any::<Index>(),
        flip in 1u8..=255,
        hex in prop::sample::select("0123456789abcdef".chars().collect::<Vec<_>>()),
    ) {
        let headers = signed(&req);
        if !req.body.is_empty() {
            let mut other = req.clone();
            other.body[at.index(req.body.len())] ^= flip;
            let result = verify_request(&other, &headers);
            prop_assert!(result.is_err(), "a changed body byte passed");
            check_encodings(&result.unwrap_err(), &headers)?;
        }
        let auth = authorization(&headers);
        let sig_start = auth.find("Signature=").unwrap() + "Signature=".len();
        let i = sig_start + at.index(auth.len() - sig_start);
        if auth.as_bytes()[i] as char != hex {
            let mut forged = auth.clone();
            forged.replace_range(i..=i, &hex.to_string());
            let mut h = headers.clone();
            h.insert(http::header::AUTHORIZATION, HeaderValue::from_str(&forged).unwrap());
            prop_assert_eq!(verify_request(&req, &h), Err(AuthFailure::BadSignature));
        }
        let mut other = req.clone();
        other.method = if req.method == Method::GET { Method::HEAD } else { Method::GET };
        prop_assert!(verify_request(&other, &headers).is_err(), "another method passed");
        let mut other = req.clone();
        other.path_and_query.push(if req.path_and_query.contains('?') { '&' } else { '?' });
        other.path_and_query.push_str("zz=1");
        prop_assert!(verify_request(&other, &headers).is_err(), "another query passed");
        let date = headers["x-amz-date"].to_str().unwrap();
        let later = time::PrimitiveDateTime::parse(
            date,
            time::macros::format_description!("[year][month][day]T[hour][minute][second]Z"),
        )
        .unwrap()
        .assume_utc()
            + time::Duration::seconds(1);
        let mut h = headers.clone();
        h.insert("x-amz-date", HeaderValue::from_str(&amz_date(later)).unwrap());
        prop_assert!(verify_request(&req, &h).is_err(), "another time passed");
    }

    /// A genuine `Authorization` header, mutated: verification never
    /// panics, and passes only when the header still says exactly what
    /// the genuine one said.
    #[test]
    fn mutated_authorization_headers_pass_only_when_equivalent(
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let req = plain_request();
        let headers = signed(&req);
        let genuine = authorization(&headers);
        let mutated = mutations
            .iter()
            .fold(genuine.clone().into_bytes(), mutate);
        let Ok(value) = HeaderValue::from_bytes(&mutated) else {
            // Not a header any client can send (control characters).
            return Ok(());
        };
        let mut h = headers.clone();
        h.insert(http::header::AUTHORIZATION, value);
        match verify_request(&req, &h) {
            Ok(_) => prop_assert_eq!(
                says(std::str::from_utf8(&mutated).unwrap()),
                says(&genuine),
                "passed: {}", String::from_utf8_lossy(&mutated)
            ),
            Err(failure) => {
                if !mutated.starts_with(b"AWS4-HMAC-SHA256 ") {
                    prop_assert!(matches!(failure, AuthFailure::Incomplete(_)), "{:?}", failure);
                }
                check_encodings(&failure, &h)?;
            }
        }
    }

    /// Arbitrary `Authorization` values, random or built from SigV4's
    /// own pieces, are refused.
    #[test]
    fn arbitrary_authorization_headers_are_refused(
        value in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..200),
            prop::collection::vec(junk(), 0..24).prop_map(|p| p.concat().into_bytes()),
        ],
    ) {
        let req = plain_request();
        let mut headers = signed(&req);
        let Ok(value) = HeaderValue::from_bytes(&value) else {
            return Ok(());
        };
        headers.insert(http::header::AUTHORIZATION, value);
        let result = verify_request(&req, &headers);
        prop_assert!(result.is_err());
        check_encodings(&result.unwrap_err(), &headers)?;
    }

    /// With a known key, every other element arbitrary (scope date,
    /// `X-Amz-Date`, signed header names, content hash, token, body):
    /// refused, never a panic.
    #[test]
    fn arbitrary_dates_headers_and_bodies_are_refused(
        temporary in any::<bool>(),
        scope_date in prop_oneof!["[0-9]{8}", "\\PC{0,10}", Just(amz_date(time::OffsetDateTime::now_utc())[..8].to_owned())],
        amz in prop_oneof![
            Just(None),
            "[0-9]{8}T[0-9]{6}Z".prop_map(Some),
            "[+-]?[0-9]{4,6}[0-9]{4}T[0-9]{6}Z?".prop_map(Some),
            "\\PC{0,20}".prop_map(Some),
            (-2000i64..2000).prop_map(|s| Some(amz_date(time::OffsetDateTime::now_utc() + time::Duration::seconds(s)))),
        ],
        signed_headers in prop_oneof![
            "(host|x-amz-date|content-type|é|Host|HOST|x amz|)(;(host|x-amz-date|x-amz-target|[a-z]{0,3})){0,4}",
            "\\PC{0,12}",
        ],
        content_sha256 in prop_oneof![
            Just(None),
            Just(Some("UNSIGNED-PAYLOAD".to_owned())),
            Just(Some("STREAMING-UNSIGNED-PAYLOAD-TRAILER".to_owned())),
            Just(Some("STREAMING-AWS4-HMAC-SHA256-PAYLOAD".to_owned())),
            "[0-9a-fA-F]{64}".prop_map(Some),
            "[ -~]{0,20}".prop_map(Some),
        ],
        genuine_token in any::<bool>(),
        token in prop::option::of("[ -~]{0,40}"),
        signature in "[0-9a-f]{0,70}",
        service in prop::sample::select(SERVICES),
        body in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let (key, token) = if temporary {
            let t = SECRETS.mint("arn:aws:iam::000000000000:role/r", "s", None, Duration::from_secs(60));
            (t.access_key_id, if genuine_token { Some(t.session_token) } else { token })
        } else {
            (SECRETS.access_key_id.clone(), token)
        };
        let credential = format!("{key}/{scope_date}/{}/{}/aws4_request", REGIONS[0], service.signing_name);
        let value = format!(
            "AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders={signed_headers}, Signature={signature}"
        );
        let mut headers = HeaderMap::new();
        let mut set = |name: &'static str, value: Option<String>| {
            if let Some(v) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
                headers.insert(name, v);
            }
        };
        set("authorization", Some(value));
        set("x-amz-date", amz);
        set("x-amz-content-sha256", content_sha256);
        set("x-amz-security-token", token);
        set("host", Some("127.0.0.1:4566".to_owned()));
        set("content-type", Some("application/x-amz-json-1.0".to_owned()));
        let result = verify("POST", "/", &headers, &body, &SECRETS, expect(service.signing_name));
        prop_assert!(result.is_err());
        check_encodings(&result.unwrap_err(), &headers)?;
    }

    /// Paths and methods no client sends (not even URIs) with an
    /// otherwise genuine request: never a panic, never a pass for a
    /// method that was not signed.
    #[test]
    fn arbitrary_paths_and_methods_never_panic(
        path in prop_oneof!["\\PC{0,30}", "/[ -~]{0,30}"],
        method in prop_oneof!["\\PC{0,8}", Just("POST".to_owned())],
    ) {
        let req = plain_request();
        let headers = signed(&req);
        let result = verify(&method, &path, &headers, &req.body, &SECRETS, expect("dynamodb"));
        prop_assert!(result.is_err() || method == "POST");
    }
}

/// A request signed a day ago, or a day ahead, is out of every window.
#[test]
fn requests_outside_the_skew_window_fail() {
    let req = plain_request();
    let day = Duration::from_secs(86_400);
    for time in [SystemTime::now() - day, SystemTime::now() + day] {
        let headers = signed_at(&req, time);
        assert!(matches!(
            verify_request(&req, &headers),
            Err(AuthFailure::Skew(_))
        ));
    }
}

/// Found by `arbitrary_paths_and_methods_never_panic`: a target that is
/// no path made the signer panic (`adding query should not invalidate
/// URI`).
#[test]
fn a_target_without_a_path_is_refused_not_a_panic() {
    let req = plain_request();
    let headers = signed(&req);
    for target in ["A", "example.com:80", "*", ""] {
        assert_eq!(
            verify(
                "POST",
                target,
                &headers,
                &req.body,
                &SECRETS,
                expect("dynamodb")
            )
            .err(),
            Some(AuthFailure::BadSignature),
            "{target:?}"
        );
    }
}

/// Found by `mutated_authorization_headers_pass_only_when_equivalent`:
/// a credential scope with an empty date (or a prefix of the date)
/// passed, as the date was compared as a prefix.
#[test]
fn a_scope_date_that_is_not_the_date_is_refused() {
    let req = plain_request();
    let headers = signed(&req);
    let genuine = authorization(&headers);
    let today = &headers["x-amz-date"].to_str().unwrap()[..8];
    for claimed in ["", &today[..4], &today[..6]] {
        let forged = genuine.replace(&format!("/{today}/"), &format!("/{claimed}/"));
        let mut h = headers.clone();
        h.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_str(&forged).unwrap(),
        );
        assert!(
            matches!(verify_request(&req, &h), Err(AuthFailure::Skew(_))),
            "{forged}"
        );
    }
    assert!(verify_request(&req, &headers).is_ok());
}
