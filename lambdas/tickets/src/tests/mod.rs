//! Handler tests: requests built as API Gateway REST (v1) and HTTP (v2)
//! events, run through the real handler against an in-memory store. The
//! check that `openapi.yaml` lists exactly the routes and statuses served
//! is in [`contract`]; whose tickets a caller sees, in [`owners`].

mod contract;
mod owners;

use std::collections::BTreeSet;
use std::time::Duration;

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};

use crate::cursor::CursorCodec;
use crate::fault::Fault;
use crate::handler::{App, Config, FaultSource, MAX_BODY_BYTES, REGION_HEADER, handle};
use crate::store::TicketStore;
use crate::store::memory::MemoryStore;

const ALICE: &str = "eu-west-1:58607b5f-b0e3-42c6-9321-bc83176866bb";
const FB_APP: &str = "1234567890";
const BOB: &str = "eu-west-1:00000000-b0e3-42c6-9321-bc83176866bb";

fn app(fault: Fault) -> App<MemoryStore> {
    App {
        store: MemoryStore::default(),
        cursors: CursorCodec::new(b"test-secret"),
        config: Config {
            region: "eu-west-1".into(),
            table: "wildrydes-tickets".into(),
            allowed_origin: "https://d111.cloudfront.net".into(),
            health_timeout: Duration::from_millis(200),
        },
        faults: FaultSource::Fixed(fault),
        migrations: Default::default(),
    }
}

/// A REST (v1) proxy event, as API Gateway sends it.
#[derive(Clone)]
struct Call {
    method: &'static str,
    path: String,
    resource: &'static str,
    query: Vec<(&'static str, String)>,
    content_type: Option<&'static str>,
    body: Option<String>,
    identity: Option<&'static str>,
    /// `cognitoAuthenticationProvider`: the login behind the identity.
    provider: Option<String>,
}

impl Call {
    fn new(method: &'static str, path: impl Into<String>) -> Self {
        let path = path.into();
        let resource = if path.starts_with("/tickets/") {
            "/tickets/{id}"
        } else if path == "/tickets" {
            "/tickets"
        } else if path == "/health" {
            "/health"
        } else {
            "/{proxy+}"
        };
        Call {
            method,
            path,
            resource,
            query: Vec::new(),
            content_type: None,
            body: None,
            identity: Some(ALICE),
            provider: None,
        }
    }

    /// As a Facebook user, through the identity `identity` of some pool.
    fn facebook(mut self, identity: &'static str, user: &str) -> Self {
        self.identity = Some(identity);
        self.provider = Some(format!(
            "graph.facebook.com,graph.facebook.com:{FB_APP}:{user}"
        ));
        self
    }

    fn by(mut self, identity: Option<&'static str>) -> Self {
        self.identity = identity;
        self
    }

    fn query(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.query.push((name, value.into()));
        self
    }

    fn json(mut self, body: impl Into<String>) -> Self {
        self.content_type = Some("application/json; charset=utf-8");
        self.body = Some(body.into());
        self
    }

    fn content_type(mut self, value: Option<&'static str>) -> Self {
        self.content_type = value;
        self
    }

    fn request(&self) -> Request {
        let mut headers = serde_json::Map::new();
        headers.insert("Host".into(), json!("api.wildrydes.test"));
        if let Some(ct) = self.content_type {
            headers.insert("Content-Type".into(), json!(ct));
        }
        let multi_headers: serde_json::Map<String, Value> = headers
            .iter()
            .map(|(k, v)| (k.clone(), json!([v])))
            .collect();
        let path_params = self
            .path
            .strip_prefix("/tickets/")
            .map(|id| json!({ "id": id }))
            .unwrap_or(Value::Null);
        let (query, multi_query) = if self.query.is_empty() {
            (Value::Null, Value::Null)
        } else {
            (
                self.query
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), json!(v)))
                    .collect(),
                self.query
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), json!([v])))
                    .collect(),
            )
        };
        let event = json!({
            "resource": self.resource,
            "path": self.path,
            "httpMethod": self.method,
            "headers": headers,
            "multiValueHeaders": multi_headers,
            "queryStringParameters": query,
            "multiValueQueryStringParameters": multi_query,
            "pathParameters": path_params,
            "stageVariables": null,
            "requestContext": {
                "resourceId": "abc123",
                "resourcePath": self.resource,
                "httpMethod": self.method,
                "path": format!("/prod{}", self.path),
                "stage": "prod",
                "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
                "accountId": "123456789012",
                "apiId": "a1b2c3",
                "protocol": "HTTP/1.1",
                "identity": {
                    "cognitoIdentityId": self.identity,
                    "cognitoIdentityPoolId": self.identity.map(|_| "eu-west-1:pool"),
                    "cognitoAuthenticationType": self.identity.map(|_| "authenticated"),
                    "cognitoAuthenticationProvider": self.provider,
                    "sourceIp": "127.0.0.1",
                    "userAgent": "test"
                }
            },
            "body": self.body,
            "isBase64Encoded": false
        });
        lambda_http::request::from_str(&event.to_string()).expect("a valid REST v1 event")
    }
}

async fn send(app: &App<MemoryStore>, call: &Call) -> (StatusCode, Value, Response<Body>) {
    let resp = handle(app, call.request())
        .await
        .expect("the handler never errs");
    let body = match resp.body() {
        Body::Text(t) => serde_json::from_str(t).expect("every body is JSON"),
        Body::Empty => Value::Null,
        Body::Binary(_) => panic!("no binary bodies"),
        _ => panic!("unexpected body kind"),
    };
    (resp.status(), body, resp)
}

fn new_ticket(description: &str) -> Call {
    Call::new("POST", "/tickets")
        .json(json!({"description": description, "priority": "high"}).to_string())
}

#[tokio::test]
async fn creates_and_reads_back_a_ticket() {
    let app = app(Fault::None);
    let (status, created, resp) = send(
        &app,
        &Call::new("POST", "/tickets").json(
            json!({"description": "The scooter's brakes squeal", "priority": "medium", "category": "ride"}).to_string(),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["owner"], ALICE);
    assert_eq!(created["status"], "open");
    assert_eq!(created["region"], "eu-west-1");
    assert_eq!(created["category"], "ride");
    let id = created["id"].as_str().unwrap();
    assert_eq!(
        resp.headers()["location"],
        format!("/tickets/{id}").as_str()
    );
    let created_at = time::OffsetDateTime::parse(
        created["createdAt"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    );
    assert!(created_at.is_ok(), "{created}");

    let (status, fetched, _) = send(&app, &Call::new("GET", format!("/tickets/{id}"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched, created);
}

#[tokio::test]
async fn every_response_names_the_region_and_carries_cors() {
    let app = app(Fault::None);
    for call in [
        Call::new("GET", "/health"),
        Call::new("GET", "/tickets"),
        Call::new("GET", "/nope"),
        Call::new("DELETE", "/tickets"),
        Call::new("OPTIONS", "/tickets"),
        Call::new("GET", "/tickets").by(None),
    ] {
        let (_, _, resp) = send(&app, &call).await;
        let h = resp.headers();
        assert_eq!(
            h[REGION_HEADER], "eu-west-1",
            "{} {}",
            call.method, call.path
        );
        assert_eq!(
            h["access-control-allow-origin"],
            "https://d111.cloudfront.net"
        );
        assert!(h.contains_key("access-control-allow-headers"));
        assert_eq!(h["vary"], "Origin");
    }
}

#[tokio::test]
async fn rejects_invalid_tickets_with_400() {
    let app = app(Fault::None);
    for body in [
        "not json",
        "[]",
        "{}",
        r#"{"description": "long enough text", "priority": "urgent"}"#,
        r#"{"description": "short", "priority": "low"}"#,
        r#"{"description": "long enough text", "priority": "low", "category": "unicorns"}"#,
        r#"{"description": "long enough text", "priority": "low", "owner": "someone-else"}"#,
        r#"{"description": 42, "priority": "low"}"#,
        "",
    ] {
        let (status, err, _) = send(&app, &Call::new("POST", "/tickets").json(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {err}");
        assert!(
            err["error"]["code"].is_string() && err["error"]["message"].is_string(),
            "{err}"
        );
    }
    let long = "x".repeat(2001);
    let (status, err, _) = send(&app, &new_ticket(&long)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"]["code"], "invalid_field");
    assert_eq!(err["error"]["field"], "description");
    let body = r#"{"description": "long enough text", "priority": "low", "category": "unicorns"}"#;
    let (_, err, _) = send(&app, &Call::new("POST", "/tickets").json(body)).await;
    assert_eq!(err["error"]["field"], "category", "{err}");
}

#[tokio::test]
async fn oversized_bodies_get_413_and_non_json_415() {
    let app = app(Fault::None);
    let huge = json!({"description": "x".repeat(MAX_BODY_BYTES), "priority": "low"}).to_string();
    let (status, err, _) = send(&app, &Call::new("POST", "/tickets").json(huge)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{err}");

    for ct in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let call = new_ticket("a perfectly fine ticket").content_type(ct);
        let (status, _, _) = send(&app, &call).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ct:?}");
    }
    let call = new_ticket("a perfectly fine ticket").content_type(Some("application/vnd.api+json"));
    assert_eq!(send(&app, &call).await.0, StatusCode::CREATED);
}

#[tokio::test]
async fn ticket_routes_need_an_identity() {
    let app = app(Fault::None);
    for call in [
        new_ticket("a perfectly fine ticket").by(None),
        Call::new("GET", "/tickets").by(None),
        Call::new("GET", "/tickets/01HZX000000000000000000000").by(None),
    ] {
        let (status, err, _) = send(&app, &call).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(err["error"]["code"], "unauthenticated");
    }
    // /health is public.
    assert_eq!(
        send(&app, &Call::new("GET", "/health").by(None)).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn users_never_see_each_others_tickets() {
    let app = app(Fault::None);
    let (_, alices, _) = send(&app, &new_ticket("alice's lost helmet")).await;
    let id = alices["id"].as_str().unwrap();
    let (status, _, _) = send(
        &app,
        &Call::new("GET", format!("/tickets/{id}")).by(Some(BOB)),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, page, _) = send(&app, &Call::new("GET", "/tickets").by(Some(BOB))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["tickets"], json!([]));
    assert_eq!(page["nextCursor"], Value::Null);
}

#[tokio::test]
async fn missing_and_malformed_ids_are_404() {
    let app = app(Fault::None);
    for id in ["01HZX000000000000000000000", "not-a-ulid", "..%2F..%2Fetc"] {
        let (status, err, _) = send(&app, &Call::new("GET", format!("/tickets/{id}"))).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{id}");
        assert_eq!(err["error"]["code"], "not_found");
    }
}

#[tokio::test]
async fn lists_newest_first_with_cursor_paging() {
    let app = app(Fault::None);
    let mut ids = Vec::new();
    for n in 0..5 {
        let (_, t, _) = send(&app, &new_ticket(&format!("ticket number {n}"))).await;
        ids.push(t["id"].as_str().unwrap().to_owned());
        // ULIDs minted in the same millisecond order by their random part;
        // wait for the clock to move so creation order is unambiguous.
        let now = std::time::Instant::now();
        while now.elapsed() < Duration::from_millis(2) {
            std::hint::spin_loop();
        }
    }
    ids.reverse();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut call = Call::new("GET", "/tickets").query("limit", "2");
        if let Some(c) = &cursor {
            call = call.query("cursor", c.clone());
        }
        let (status, page, _) = send(&app, &call).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        pages += 1;
        seen.extend(
            page["tickets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].as_str().unwrap().to_owned()),
        );
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ids);
    assert_eq!(pages, 3, "5 tickets in pages of 2, no empty last page");
}

#[tokio::test]
async fn forged_or_foreign_cursors_and_bad_limits_are_400() {
    let app = app(Fault::None);
    for n in 0..3 {
        send(&app, &new_ticket(&format!("ticket number {n}"))).await;
    }
    let (_, page, _) = send(&app, &Call::new("GET", "/tickets").query("limit", "1")).await;
    let cursor = page["nextCursor"].as_str().unwrap().to_owned();

    // Bob replaying Alice's cursor.
    let call = Call::new("GET", "/tickets")
        .by(Some(BOB))
        .query("cursor", cursor.clone());
    let (status, err, _) = send(&app, &call).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"]["code"], "invalid_cursor");

    // A cursor minted with another key: a forgery.
    let forged = CursorCodec::new(b"guessed").encode(ALICE, "ZZZZZZZZZZZZZZZZZZZZZZZZZZ");
    for bad in [forged.as_str(), "garbage", &cursor[1..]] {
        let (status, _, _) = send(&app, &Call::new("GET", "/tickets").query("cursor", bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }
    for limit in ["0", "101", "-1", "ten", ""] {
        let (status, err, _) =
            send(&app, &Call::new("GET", "/tickets").query("limit", limit)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "limit {limit:?}");
        assert_eq!(err["error"]["code"], "invalid_limit");
    }
}

#[tokio::test]
async fn unknown_routes_404_and_wrong_methods_405() {
    let app = app(Fault::None);
    assert_eq!(
        send(&app, &Call::new("GET", "/")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        send(&app, &Call::new("GET", "/tickets/a/b")).await.0,
        StatusCode::NOT_FOUND
    );
    let (status, _, resp) = send(
        &app,
        &Call::new("DELETE", "/tickets/01HZX000000000000000000000"),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(resp.headers()["allow"], "GET, OPTIONS");
    let (status, _, resp) = send(&app, &Call::new("PUT", "/tickets")).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(resp.headers()["allow"], "GET, POST, OPTIONS");
}

#[tokio::test]
async fn store_failures_are_500_without_internals() {
    let app = app(Fault::None);
    app.store.fail(true);
    for call in [
        new_ticket("a perfectly fine ticket"),
        Call::new("GET", "/tickets"),
        Call::new("GET", "/tickets/01HZX000000000000000000000"),
    ] {
        let (status, err, _) = send(&app, &call).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        let text = err.to_string();
        assert!(
            !text.contains("secret internals") && !text.contains("refused"),
            "{text}"
        );
    }
    let (status, health, _) = send(&app, &Call::new("GET", "/health")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(health["status"], "unhealthy");
}

#[tokio::test]
async fn health_reports_region_table_and_latency() {
    let app = app(Fault::None);
    let (status, body, _) = send(&app, &Call::new("GET", "/health")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["region"], "eu-west-1");
    assert_eq!(body["table"], "wildrydes-tickets");
    assert!(body["latencyMs"].is_u64());
}

#[tokio::test]
async fn fault_hooks_behave_as_documented() {
    let health5xx = app(Fault::Health5xx);
    assert_eq!(
        send(&health5xx, &Call::new("GET", "/health")).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        send(&health5xx, &Call::new("GET", "/tickets")).await.0,
        StatusCode::OK
    );

    let all5xx = app(Fault::All5xx);
    for call in [
        Call::new("GET", "/health"),
        Call::new("GET", "/tickets"),
        new_ticket("a perfectly fine ticket"),
    ] {
        let (status, err, _) = send(&all5xx, &call).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(err["error"]["code"], "fault_injected");
    }
    assert_eq!(
        send(&all5xx, &Call::new("OPTIONS", "/tickets")).await.0,
        StatusCode::NO_CONTENT
    );

    // Latency: measured on tokio's paused clock, so the test waits for nothing.
    tokio::time::pause();
    let slow = app(Fault::Latency(Duration::from_millis(750)));
    let start = tokio::time::Instant::now();
    assert_eq!(
        send(&slow, &Call::new("GET", "/health")).await.0,
        StatusCode::OK
    );
    assert!(start.elapsed() >= Duration::from_millis(750));
}

#[test]
fn config_needs_region_and_table_and_checks_values() {
    let vars = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    };
    let ok =
        Config::from_lookup(vars(&[("AWS_REGION", "eu-west-1"), ("TABLE_NAME", "t")])).unwrap();
    assert_eq!(ok.allowed_origin, "*");
    assert_eq!(ok.health_timeout, Duration::from_millis(1500));
    assert!(
        Config::from_lookup(vars(&[("AWS_REGION", "eu-west-1")]))
            .unwrap_err()
            .contains("TABLE_NAME")
    );
    assert!(
        Config::from_lookup(vars(&[("TABLE_NAME", "t")]))
            .unwrap_err()
            .contains("AWS_REGION")
    );
    let slow = vars(&[
        ("AWS_REGION", "eu-west-1"),
        ("TABLE_NAME", "t"),
        ("HEALTH_TIMEOUT_MS", "0"),
    ]);
    assert!(
        Config::from_lookup(slow)
            .unwrap_err()
            .contains("HEALTH_TIMEOUT_MS")
    );
    let bad_origin = vars(&[
        ("AWS_REGION", "eu-west-1"),
        ("TABLE_NAME", "t"),
        ("ALLOWED_ORIGIN", "a\nb"),
    ]);
    assert!(
        Config::from_lookup(bad_origin)
            .unwrap_err()
            .contains("ALLOWED_ORIGIN")
    );
}

#[tokio::test]
async fn http_api_v2_events_work_too() {
    let app = app(Fault::None);
    let event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/tickets",
        "rawQueryString": "limit=5",
        "headers": {"host": "abc.lambda-url.eu-west-1.on.aws"},
        "queryStringParameters": {"limit": "5"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc",
            "domainName": "abc.lambda-url.eu-west-1.on.aws",
            "domainPrefix": "abc",
            "http": {"method": "GET", "path": "/tickets", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "t"},
            "requestId": "r",
            "routeKey": "$default",
            "stage": "$default",
            "time": "12/Mar/2020:19:03:58 +0000",
            "timeEpoch": 1583348638390u64,
            "authorizer": {"iam": {
                "accessKey": "ASIA", "accountId": "123456789012", "callerId": "AROA:CognitoIdentityCredentials",
                "cognitoIdentity": {"amr": ["authenticated"], "identityId": ALICE, "identityPoolId": "eu-west-1:pool"},
                "principalOrgId": null, "userArn": "arn", "userId": "AROA"
            }}
        },
        "isBase64Encoded": false
    });
    let req = lambda_http::request::from_str(&event.to_string()).unwrap();
    let resp = handle(&app, req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}
