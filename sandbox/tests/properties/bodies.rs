//! Request bodies and routing as the door and the services see them:
//! awsJson bodies (`Input::json`), REST-XML bodies (`Input::xml`),
//! awsQuery forms (`QueryRequest::parse`), which service a request is for
//! (`door::identify`) and what it needs from IAM
//! (`authz::actions::needs`, run for governed callers before any
//! operation, on the raw request).

use std::collections::HashMap;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use proptest::prelude::*;
use serde_json::{Value, json};
use wildrydes_sandbox::authz::actions::needs;
use wildrydes_sandbox::door::{self, Destination, Input, Protocol, Service};
use wildrydes_sandbox::query::QueryRequest;

use crate::body_text;

const JSON_SERVICES: &[Service] = &[
    door::DYNAMODB,
    door::ACM,
    door::COGNITO_IDENTITY,
    door::LAMBDA,
    door::APIGATEWAY,
    door::EXECUTE_API,
];
const XML_SERVICES: &[Service] = &[door::S3, door::ROUTE53, door::CLOUDFRONT];
const QUERY_SERVICES: &[Service] = &[door::IAM, door::STS];

fn any_service() -> impl Strategy<Value = Service> {
    prop::sample::select([JSON_SERVICES, XML_SERVICES, QUERY_SERVICES].concat())
}

/// Pieces of JSON syntax, including what parsers trip on (lone
/// surrogates, huge exponents, control characters, BOMs).
fn jsonish() -> impl Strategy<Value = Vec<u8>> {
    const TOKENS: &[&str] = &[
        "{",
        "}",
        "[",
        "]",
        ":",
        ",",
        " ",
        "\n",
        "\"a\"",
        "\"TableName\"",
        "\"\\u00e9\"",
        "\"\\ud800\"",
        "\"\\\"",
        "\"",
        "1e999",
        "-0",
        "0.5",
        "18446744073709551616",
        "true",
        "null",
        "nul",
        "\u{FEFF}",
        "\u{0}",
        "é",
        "{\"S\":\"x\"}",
    ];
    prop::collection::vec(
        prop_oneof![
            4 => prop::sample::select(TOKENS).prop_map(|t| t.as_bytes().to_vec()),
            1 => prop::collection::vec(any::<u8>(), 1..4),
        ],
        0..48,
    )
    .prop_map(|pieces| pieces.concat())
}

/// A JSON value likely to reach what `needs` reads: the fields it looks
/// up, holding either what it expects or anything.
fn request_json() -> impl Strategy<Value = Value> {
    const FIELDS: &[&str] = &[
        "TableName",
        "IndexName",
        "RequestItems",
        "TransactItems",
        "ShardIterator",
        "ResourceArn",
        "StreamArn",
        "FunctionName",
        "Role",
        "CertificateArn",
        "IdentityPoolId",
    ];
    let field_value = prop_oneof![
        "[a-zA-Z0-9:/*_.-]{0,20}".prop_map(Value::from),
        Just(json!("arn:aws:dynamodb:eu-west-1:000000000000:table/t")),
        Just(json!({"t": [], "u": {}})),
        Just(json!([{"Get": {"TableName": "t"}}, {"Put": {"TableName": 1}}, {"Update": null}])),
        // A shard iterator as dynoxide encodes one, and a near miss.
        Just(json!(
            "eyJ0YWJsZV9uYW1lIjoidCIsInNoYXJkX2lkIjoicyIsInBvc2l0aW9uIjoxfQ=="
        )),
        Just(json!("eyJ0YWJsZV9uYW1l")),
        crate::any_json(),
    ];
    prop::collection::vec((prop::sample::select(FIELDS), field_value), 0..5)
        .prop_map(|fields| Value::Object(fields.into_iter().map(|(k, v)| (k.into(), v)).collect()))
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        jsonish(),
        request_json().prop_map(|v| v.to_string().into_bytes()),
        form().prop_map(|f| serde_urlencoded::to_string(f).unwrap().into_bytes()),
    ]
}

/// Form parameters, names mostly from a small pool so that repeats
/// (and the awsQuery names services read) are common.
fn form() -> impl Strategy<Value = Vec<(String, String)>> {
    let name = prop_oneof![
        prop::sample::select(vec![
            "Action",
            "RoleName",
            "RoleArn",
            "Path",
            "Version",
            "Operation",
            "Resource",
            "website",
            "policy",
            "tagging",
            "uploads",
        ])
        .prop_map(str::to_owned),
        "Tags\\.member\\.[0-3]\\.(Key|Value)",
        ".{0,6}",
    ];
    prop::collection::vec((name, ".{0,10}"), 0..6)
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        prop::sample::select(vec![
            Method::GET,
            Method::PUT,
            Method::POST,
            Method::DELETE,
            Method::HEAD,
            Method::PATCH,
        ]),
        "[A-Z]{1,8}".prop_map(|m| Method::from_bytes(m.as_bytes()).unwrap()),
    ]
}

/// Paths under each service's prefixes, with odd segments (escapes,
/// dot-segments, empty ones, non-ASCII).
fn path() -> impl Strategy<Value = String> {
    const PREFIXES: &[&str] = &[
        "",
        "/",
        "/2015-03-31/functions",
        "/2015-03-31/functions/f",
        "/2019-09-30/functions/arn%3Aaws%3Alambda%3Aeu-west-1%3A0%3Afunction%3Af",
        "/2013-04-01/hostedzone",
        "/2013-04-01/hostedzone/Z1/rrset",
        "/2013-04-01/healthcheck/h/status",
        "/2013-04-01/change/c",
        "/2020-05-31/distribution",
        "/2020-05-31/distribution/D/config",
        "/2020-05-31/tagging",
        "/restapis",
        "/restapis/a/resources",
        "/restapis/a/stages/s/_user_request_/x",
        "/domainnames",
        "/tags/arn",
        "/bucket",
        "/bucket/key",
    ];
    let segment = prop_oneof![
        "[a-zA-Z0-9._~-]{0,8}",
        "%[0-9A-Fa-fz]{0,2}",
        Just("..".to_owned()),
        Just(String::new()),
        "\\PC{0,4}",
    ];
    (
        prop::sample::select(PREFIXES),
        prop::collection::vec(segment, 0..4),
    )
        .prop_map(|(prefix, segments)| {
            segments
                .iter()
                .fold(prefix.to_owned(), |p, s| format!("{p}/{s}"))
        })
}

fn headers() -> impl Strategy<Value = HeaderMap> {
    let target = prop_oneof![
        (
            prop::sample::select(vec![
                "DynamoDB_20120810",
                "DynamoDBStreams_20120810",
                "AWSCognitoIdentityService",
                "CertificateManager",
                "",
            ]),
            prop::sample::select(vec![
                "GetItem",
                "BatchWriteItem",
                "TransactWriteItems",
                "Query",
                "GetRecords",
                "GetId",
                "DescribeCertificate",
                "",
            ]),
        )
            .prop_map(|(p, o)| format!("{p}.{o}")),
        "\\PC{0,12}",
    ];
    let authorization = prop_oneof![
        "AWS4-HMAC-SHA256 Credential=AKIA/20240102/eu-west-1/(s3|iam|sts|dynamodb|x)/aws4_request, SignedHeaders=host, Signature=00",
        "[ -~]{0,40}",
    ];
    (prop::option::of(target), prop::option::of(authorization)).prop_map(
        |(target, authorization)| {
            let mut h = HeaderMap::new();
            for (name, value) in [("x-amz-target", target), ("authorization", authorization)] {
                if let Some(v) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
                    h.insert(name, v);
                }
            }
            h
        },
    )
}

fn input(
    service: Service,
    method: Method,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Vec<u8>,
) -> Input {
    Input {
        method,
        path,
        query,
        headers,
        body: Bytes::from(body),
        caller: None,
        service,
    }
}

proptest! {
    #![proptest_config(crate::config(1000))]

    /// An awsJson body is its JSON value, `null` when blank, or the
    /// service's own serialization error (400), which the door encodes
    /// as valid JSON.
    #[test]
    fn json_bodies_parse_or_get_the_services_serialization_error(
        service in prop::sample::select(JSON_SERVICES),
        body in body(),
    ) {
        let input = input(service, Method::POST, "/".into(), None, HeaderMap::new(), body.clone());
        match input.json() {
            Ok(v) if body.iter().all(u8::is_ascii_whitespace) => prop_assert_eq!(v, Value::Null),
            Ok(v) => prop_assert_eq!(Some(v), serde_json::from_slice::<Value>(&body).ok()),
            Err(e) => {
                prop_assert!(serde_json::from_slice::<Value>(&body).is_err());
                prop_assert_eq!(e.status, http::StatusCode::BAD_REQUEST);
                prop_assert_eq!(e.code.as_str(), service.malformed_code);
                let text = body_text(service.respond(Err(e)));
                prop_assert!(serde_json::from_str::<Value>(&text).is_ok(), "{}", text);
            }
        }
    }

    /// A REST-XML body either parses or gets the service's malformed
    /// error, encoded as XML that parses.
    #[test]
    fn xml_bodies_parse_or_get_the_services_malformed_error(
        service in prop::sample::select(XML_SERVICES),
        body in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        let input = input(service, Method::POST, "/".into(), None, HeaderMap::new(), body);
        if let Err(e) = input.xml() {
            prop_assert_eq!(e.code.as_str(), service.malformed_code);
            let text = body_text(service.respond(Err(e)));
            prop_assert!(wildrydes_sandbox::xml::Element::parse(text.as_bytes()).is_some(), "{}", text);
        }
    }

    /// Forms read back what was encoded: the body's parameters over the
    /// query string's, the last of a repeated name winning; `members`
    /// lists `Prefix.member.N.Key/Value` pairs in order.
    #[test]
    fn query_forms_read_back_what_was_encoded(
        in_query in form(),
        in_body in form(),
        tags in prop::collection::vec((".{0,6}", ".{0,6}"), 0..5),
    ) {
        let mut body = in_body.clone();
        for (i, (k, v)) in tags.iter().enumerate() {
            body.push((format!("Tags.member.{}.Key", i + 11), k.clone()));
            body.push((format!("Tags.member.{}.Value", i + 11), v.clone()));
        }
        let query = serde_urlencoded::to_string(&in_query).unwrap();
        let encoded = serde_urlencoded::to_string(&body).unwrap();
        let req = QueryRequest::parse(encoded.as_bytes(), Some(&query));
        let expected: HashMap<String, String> = in_query.into_iter().chain(body).collect();
        prop_assert_eq!(&req.params, &expected);
        // Renumbered from 1 under another prefix, so the generated
        // `Tags.member.N` names cannot interfere.
        let mut renumbered = Vec::new();
        for (i, (k, v)) in tags.iter().enumerate() {
            renumbered.push((format!("T.member.{}.Key", i + 1), k.clone()));
            renumbered.push((format!("T.member.{}.Value", i + 1), v.clone()));
        }
        let encoded = serde_urlencoded::to_string(&renumbered).unwrap();
        prop_assert_eq!(QueryRequest::parse(encoded.as_bytes(), None).members("T"), tags);
    }

    #[test]
    fn arbitrary_forms_never_panic(body in body(), query in prop::option::of("\\PC{0,40}")) {
        let req = QueryRequest::parse(&body, query.as_deref());
        let _ = (req.action(), req.members("Tags"), req.get("RoleArn"));
    }

    /// Deep nesting is a serialization error, not a stack overflow (in
    /// parsing, or in dropping what was parsed).
    #[test]
    fn deeply_nested_json_is_refused(
        service in prop::sample::select(JSON_SERVICES),
        depth in prop_oneof![0usize..200, 0usize..100_000],
        object in any::<bool>(),
        closed in any::<bool>(),
    ) {
        let (open, close) = if object { ("{\"a\":", "}") } else { ("[", "]") };
        let mut body = open.repeat(depth);
        body.push('1');
        if closed {
            body.push_str(&close.repeat(depth));
        }
        let input = input(service, Method::POST, "/".into(), None, HeaderMap::new(), body.into_bytes());
        let parsed = input.json();
        if depth > 1000 {
            prop_assert!(parsed.is_err());
        }
        if depth <= 100 && closed {
            prop_assert!(parsed.is_ok());
        }
    }

    /// Whatever a request holds, the door routes it and names what it
    /// needs without panicking: actions of the service's own namespace
    /// (and `iam:PassRole` for Lambda's roles), and no needs only for
    /// `sts:GetCallerIdentity`, which AWS answers whatever the policies.
    #[test]
    fn every_request_names_what_it_needs(
        service in any_service(),
        method in method(),
        path in path(),
        query in prop::option::of(form().prop_map(|f| serde_urlencoded::to_string(f).unwrap())),
        headers in headers(),
        body in body(),
    ) {
        let destination = door::identify(&method, &path, &headers);
        let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("");
        if target.starts_with("DynamoDB_20120810.") {
            prop_assert_eq!(destination, Some(Destination::DynamoDb));
        }
        let input = input(service, method, path, query, headers, body);
        let _ = (input.params(), input.segments());
        let needs = needs("eu-west-1", &input);
        for need in &needs {
            let own = need.action.starts_with(&format!("{}:", service.signing_name));
            let pass_role = service.signing_name == "lambda" && need.action == "iam:PassRole";
            prop_assert!(own || pass_role, "{:?} for {}", need, service.signing_name);
        }
        if needs.is_empty() {
            let query = matches!(service.protocol, Protocol::Query { .. });
            prop_assert!(query, "no needs for {:?}", service);
            let form = QueryRequest::parse(&input.body, input.query.as_deref());
            prop_assert_eq!(form.action(), "GetCallerIdentity");
        }
    }
}
