//! `openapi.yaml` lists exactly the routes and statuses the handler
//! serves: each one proved by running a request for it.

use super::*;

/// One request per (method, route, status) that the handler can answer,
/// each proved by running it. The spec must list exactly these.
async fn scenarios() -> Vec<(&'static str, &'static str, u16, StatusCode)> {
    let id = "01HZX000000000000000000000";
    let cases: Vec<(&str, &str, u16, Fault, bool, Call)> = vec![
        (
            "post",
            "/tickets",
            201,
            Fault::None,
            false,
            new_ticket("a perfectly fine ticket"),
        ),
        (
            "post",
            "/tickets",
            400,
            Fault::None,
            false,
            Call::new("POST", "/tickets").json("{"),
        ),
        (
            "post",
            "/tickets",
            401,
            Fault::None,
            false,
            new_ticket("a perfectly fine ticket").by(None),
        ),
        (
            "post",
            "/tickets",
            413,
            Fault::None,
            false,
            Call::new("POST", "/tickets").json("x".repeat(MAX_BODY_BYTES + 1)),
        ),
        (
            "post",
            "/tickets",
            415,
            Fault::None,
            false,
            new_ticket("a perfectly fine ticket").content_type(None),
        ),
        (
            "post",
            "/tickets",
            500,
            Fault::None,
            true,
            new_ticket("a perfectly fine ticket"),
        ),
        (
            "post",
            "/tickets",
            503,
            Fault::All5xx,
            false,
            new_ticket("a perfectly fine ticket"),
        ),
        (
            "get",
            "/tickets",
            200,
            Fault::None,
            false,
            Call::new("GET", "/tickets"),
        ),
        (
            "get",
            "/tickets",
            400,
            Fault::None,
            false,
            Call::new("GET", "/tickets").query("limit", "0"),
        ),
        (
            "get",
            "/tickets",
            401,
            Fault::None,
            false,
            Call::new("GET", "/tickets").by(None),
        ),
        (
            "get",
            "/tickets",
            500,
            Fault::None,
            true,
            Call::new("GET", "/tickets"),
        ),
        (
            "get",
            "/tickets",
            503,
            Fault::All5xx,
            false,
            Call::new("GET", "/tickets"),
        ),
        (
            "options",
            "/tickets",
            204,
            Fault::None,
            false,
            Call::new("OPTIONS", "/tickets"),
        ),
        (
            "get",
            "/tickets/{id}",
            200,
            Fault::None,
            false,
            Call::new("GET", "/tickets/CREATED"),
        ),
        (
            "get",
            "/tickets/{id}",
            401,
            Fault::None,
            false,
            Call::new("GET", format!("/tickets/{id}")).by(None),
        ),
        (
            "get",
            "/tickets/{id}",
            404,
            Fault::None,
            false,
            Call::new("GET", format!("/tickets/{id}")),
        ),
        (
            "get",
            "/tickets/{id}",
            500,
            Fault::None,
            true,
            Call::new("GET", format!("/tickets/{id}")),
        ),
        (
            "get",
            "/tickets/{id}",
            503,
            Fault::All5xx,
            false,
            Call::new("GET", format!("/tickets/{id}")),
        ),
        (
            "options",
            "/tickets/{id}",
            204,
            Fault::None,
            false,
            Call::new("OPTIONS", format!("/tickets/{id}")),
        ),
        (
            "get",
            "/health",
            200,
            Fault::None,
            false,
            Call::new("GET", "/health"),
        ),
        (
            "get",
            "/health",
            503,
            Fault::Health5xx,
            false,
            Call::new("GET", "/health"),
        ),
        (
            "options",
            "/health",
            204,
            Fault::None,
            false,
            Call::new("OPTIONS", "/health"),
        ),
    ];
    let mut out = Vec::new();
    for (method, route, documented, fault, failing, mut call) in cases {
        let app = app(fault);
        if call.path == "/tickets/CREATED" {
            let (_, t, _) = send(&app, &new_ticket("a perfectly fine ticket")).await;
            call = Call::new("GET", format!("/tickets/{}", t["id"].as_str().unwrap()));
        }
        app.store.fail(failing);
        let (status, _, _) = send(&app, &call).await;
        out.push((method, route, documented, status));
    }
    out
}

#[tokio::test]
async fn openapi_lists_exactly_the_routes_and_statuses_served() {
    let spec: Value =
        serde_yaml::from_str(include_str!("../../openapi.yaml")).expect("openapi.yaml parses");
    let mut documented = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().unwrap() {
            if method == "parameters" {
                continue;
            }
            for status in op["responses"].as_object().expect("responses").keys() {
                documented.insert((method.clone(), path.clone(), status.parse::<u16>().unwrap()));
            }
        }
    }
    let mut served = BTreeSet::new();
    for (method, route, claimed, actual) in scenarios().await {
        assert_eq!(
            actual.as_u16(),
            claimed,
            "{method} {route} answered {actual}, not {claimed}"
        );
        served.insert((method.to_owned(), route.to_owned(), claimed));
    }
    let missing: Vec<_> = served.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&served).collect();
    assert!(
        missing.is_empty(),
        "served but not in openapi.yaml: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "in openapi.yaml but never served: {extra:?}"
    );
}
