//! Lambda in the sandbox through the official SDK client: the control plane
//! and its state machine, real `bootstrap` processes behind the Runtime
//! API, throttling, timeouts, crashes and recovery, and the ticket Lambda
//! reaching its region's DynamoDB with its role's credentials.

mod common;

use std::time::Duration;

use aws_sdk_lambda::client::Waiters;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Environment, FunctionCode, InvocationType, Runtime};
use common::{PRIMARY, TestSandbox, eventually, ticket_bootstrap, zip_bootstrap};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

/// A Python runtime that echoes, fails, sleeps or crashes on request.
const SCRIPT: &str = r#"#!/usr/bin/python3
import json, os, sys, time, urllib.request
api = os.environ["AWS_LAMBDA_RUNTIME_API"]
base = f"http://{api}/2018-06-01/runtime/invocation"
while True:
    r = urllib.request.urlopen(f"{base}/next")
    rid = r.headers["Lambda-Runtime-Aws-Request-Id"]
    event = json.loads(r.read() or b"null") or {}
    if isinstance(event.get("body"), str):
        event = json.loads(event["body"] or "null") or {}
    action = event.get("action")
    if action == "sleep":
        time.sleep(event["seconds"])
    if action == "crash":
        sys.exit(3)
    if action == "fail":
        body = json.dumps({"errorMessage": "boom", "errorType": "Boom"}).encode()
        urllib.request.urlopen(urllib.request.Request(f"{base}/{rid}/error", data=body, method="POST"))
        continue
    body = json.dumps({"echo": event, "greeting": os.environ.get("GREETING"), "pid": os.getpid(),
                       "region": os.environ.get("AWS_REGION"), "deadline": r.headers["Lambda-Runtime-Deadline-Ms"]}).encode()
    urllib.request.urlopen(urllib.request.Request(f"{base}/{rid}/response", data=body, method="POST"))
"#;

async fn create(
    sb: &TestSandbox,
    name: &str,
    code: Vec<u8>,
    timeout: i32,
    env: &[(&str, &str)],
) -> aws_sdk_lambda::Client {
    let role = sb.lambda_role(&format!("{name}-role")).await;
    let lambda = sb.lambda(PRIMARY);
    let mut vars = Environment::builder();
    for (k, v) in env {
        vars = vars.variables(*k, *v);
    }
    let created = lambda
        .create_function()
        .function_name(name)
        .runtime(Runtime::Providedal2023)
        .handler("bootstrap")
        .role(role)
        .timeout(timeout)
        .environment(vars.build())
        .tags("wildrydes:stack", "test")
        .code(FunctionCode::builder().zip_file(Blob::new(code)).build())
        .send()
        .await
        .expect("create function");
    assert_eq!(created.state().map(|s| s.as_str()), Some("Pending"));
    lambda
        .wait_until_function_active_v2()
        .function_name(name)
        .wait(WAIT)
        .await
        .expect("the function becomes Active");
    lambda
}

async fn invoke(
    lambda: &aws_sdk_lambda::Client,
    name: &str,
    payload: Value,
) -> (Option<String>, Value) {
    let out = lambda
        .invoke()
        .function_name(name)
        .payload(Blob::new(payload.to_string()))
        .send()
        .await
        .expect("invoke");
    let body = out
        .payload
        .map(|b| serde_json::from_slice(b.as_ref()).unwrap())
        .unwrap_or(Value::Null);
    (out.function_error, body)
}

#[tokio::test]
async fn functions_run_warm_time_out_crash_and_recover() {
    let sb = TestSandbox::start();
    let name = "echo";
    let lambda = create(
        &sb,
        name,
        zip_bootstrap(SCRIPT.as_bytes()),
        1,
        &[("GREETING", "hello")],
    )
    .await;

    let (err, body) = invoke(&lambda, name, json!({"n": 1})).await;
    assert_eq!(err, None, "{body}");
    assert_eq!(body["echo"]["n"], 1);
    assert_eq!(body["greeting"], "hello");
    assert_eq!(body["region"], PRIMARY);
    let first_pid = body["pid"].clone();
    let (_, body) = invoke(&lambda, name, json!({"n": 2})).await;
    assert_eq!(
        body["pid"], first_pid,
        "the second call reuses the warm instance"
    );

    // A function error: 200 with X-Amz-Function-Error.
    let (err, body) = invoke(&lambda, name, json!({"action": "fail"})).await;
    assert_eq!(err.as_deref(), Some("Unhandled"));
    assert_eq!(body["errorType"], "Boom");

    // A timeout kills the instance and reports as AWS does.
    let (err, body) = invoke(&lambda, name, json!({"action": "sleep", "seconds": 5})).await;
    assert_eq!(err.as_deref(), Some("Unhandled"));
    assert_eq!(body["errorType"], "Sandbox.Timedout");
    assert!(
        body["errorMessage"]
            .as_str()
            .unwrap()
            .ends_with("Task timed out after 1.00 seconds"),
        "{body}"
    );
    let (err, body) = invoke(&lambda, name, json!({"n": 3})).await;
    assert_eq!(err, None);
    assert_ne!(
        body["pid"], first_pid,
        "a new instance replaced the timed-out one"
    );

    // A crash is reported and the pool recovers.
    let (err, body) = invoke(&lambda, name, json!({"action": "crash"})).await;
    assert_eq!(err.as_deref(), Some("Unhandled"));
    assert_eq!(body["errorType"], "Runtime.ExitError", "{body}");
    assert!(
        body["errorMessage"]
            .as_str()
            .unwrap()
            .contains("exit status: 3"),
        "{body}"
    );
    let (err, _) = invoke(&lambda, name, json!({"n": 4})).await;
    assert_eq!(err, None);

    // Asynchronous invocation is accepted at once.
    let out = lambda
        .invoke()
        .function_name(name)
        .invocation_type(InvocationType::Event)
        .payload(Blob::new("{}"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status_code, 202);
}

#[tokio::test]
async fn control_plane_follows_aws_state_machine_and_throttles() {
    let sb = TestSandbox::start();
    let name = "ctl";
    let lambda = create(
        &sb,
        name,
        zip_bootstrap(SCRIPT.as_bytes()),
        3,
        &[("GREETING", "one")],
    )
    .await;
    let got = lambda
        .get_function()
        .function_name(name)
        .send()
        .await
        .unwrap();
    assert_eq!(got.tags().unwrap()["wildrydes:stack"], "test");
    let sha = got
        .configuration()
        .unwrap()
        .code_sha256()
        .unwrap()
        .to_owned();
    assert_eq!(
        lambda
            .list_functions()
            .send()
            .await
            .unwrap()
            .functions()
            .len(),
        1
    );

    // A role that does not exist is refused, as AWS checks.
    let err = lambda
        .create_function()
        .function_name("no-role")
        .runtime(Runtime::Providedal2023)
        .handler("bootstrap")
        .role("arn:aws:iam::000000000000:role/missing")
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(zip_bootstrap(SCRIPT.as_bytes())))
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert!(
        err.into_service_error()
            .is_invalid_parameter_value_exception()
    );

    // Configuration updates: InProgress, a second update refused, then Successful.
    let updated = lambda
        .update_function_configuration()
        .function_name(name)
        .environment(Environment::builder().variables("GREETING", "two").build())
        .send()
        .await
        .unwrap();
    assert_eq!(
        updated.last_update_status().map(|s| s.as_str()),
        Some("InProgress")
    );
    let conflict = lambda
        .update_function_configuration()
        .function_name(name)
        .timeout(5)
        .send()
        .await
        .unwrap_err();
    assert!(
        conflict
            .into_service_error()
            .is_resource_conflict_exception()
    );
    lambda
        .wait_until_function_updated_v2()
        .function_name(name)
        .wait(WAIT)
        .await
        .unwrap();
    let (_, body) = invoke(&lambda, name, json!({})).await;
    assert_eq!(
        body["greeting"], "two",
        "new configuration retires old instances"
    );

    // New code: a new CodeSha256, and only the new code runs.
    let v2 = SCRIPT.replace("\"greeting\"", "\"version\": 2, \"greeting\"");
    let out = lambda
        .update_function_code()
        .function_name(name)
        .zip_file(Blob::new(zip_bootstrap(v2.as_bytes())))
        .send()
        .await
        .unwrap();
    assert_ne!(out.code_sha256().unwrap(), sha);
    lambda
        .wait_until_function_updated_v2()
        .function_name(name)
        .wait(WAIT)
        .await
        .unwrap();
    let (_, body) = invoke(&lambda, name, json!({})).await;
    assert_eq!(body["version"], 2);

    // Reserved concurrency 0 throttles with AWS's error.
    lambda
        .put_function_concurrency()
        .function_name(name)
        .reserved_concurrent_executions(0)
        .send()
        .await
        .unwrap();
    let got = lambda
        .get_function_concurrency()
        .function_name(name)
        .send()
        .await
        .unwrap();
    assert_eq!(got.reserved_concurrent_executions(), Some(0));
    let err = lambda
        .invoke()
        .function_name(name)
        .payload(Blob::new("{}"))
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_too_many_requests_exception());
    lambda
        .delete_function_concurrency()
        .function_name(name)
        .send()
        .await
        .unwrap();
    let (err, _) = invoke(&lambda, name, json!({})).await;
    assert_eq!(err, None);

    // Permissions.
    let api_arn = "arn:aws:execute-api:eu-west-1:000000000000:abc123/*/*/*";
    lambda
        .add_permission()
        .function_name(name)
        .statement_id("apigw")
        .action("lambda:InvokeFunction")
        .principal("apigateway.amazonaws.com")
        .source_arn(api_arn)
        .send()
        .await
        .unwrap();
    let policy: Value = serde_json::from_str(
        lambda
            .get_policy()
            .function_name(name)
            .send()
            .await
            .unwrap()
            .policy()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        policy["Statement"][0]["Condition"]["ArnLike"]["AWS:SourceArn"],
        api_arn
    );
    let dup = lambda
        .add_permission()
        .function_name(name)
        .statement_id("apigw")
        .action("lambda:InvokeFunction")
        .principal("apigateway.amazonaws.com")
        .send()
        .await
        .unwrap_err();
    assert!(dup.into_service_error().is_resource_conflict_exception());
    lambda
        .remove_permission()
        .function_name(name)
        .statement_id("apigw")
        .send()
        .await
        .unwrap();

    lambda
        .delete_function()
        .function_name(name)
        .send()
        .await
        .unwrap();
    let gone = lambda
        .get_function()
        .function_name(name)
        .send()
        .await
        .unwrap_err();
    assert!(gone.into_service_error().is_resource_not_found_exception());
}

#[tokio::test]
async fn the_ticket_lambda_serves_health_from_its_regions_table() {
    let sb = TestSandbox::start();
    let bootstrap = std::fs::read(ticket_bootstrap()).expect("the ticket Lambda binary");
    // Its table, in the function's own region.
    let ddb = sb.dynamodb(PRIMARY);
    common::create_table(&ddb, "tickets", false).await;
    let lambda = create(
        &sb,
        "tickets",
        zip_bootstrap(&bootstrap),
        10,
        &[("TABLE_NAME", "tickets")],
    )
    .await;
    let event = |path: &str, method: &str, identity: Option<&str>, body: Option<&str>| {
        json!({
            "resource": path, "path": path, "httpMethod": method,
            "headers": {"content-type": "application/json"}, "multiValueHeaders": {"content-type": ["application/json"]},
            "queryStringParameters": null, "multiValueQueryStringParameters": null, "pathParameters": null, "stageVariables": null,
            "requestContext": {"resourcePath": path, "httpMethod": method, "stage": "prod", "requestId": "r", "accountId": "000000000000", "apiId": "a",
                "identity": {"cognitoIdentityId": identity, "sourceIp": "127.0.0.1"}},
            "body": body, "isBase64Encoded": false
        })
    };
    let (err, resp) = invoke(&lambda, "tickets", event("/health", "GET", None, None)).await;
    assert_eq!(err, None, "{resp}");
    assert_eq!(resp["statusCode"], 200, "{resp}");
    let body: Value = serde_json::from_str(resp["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["region"], PRIMARY);

    // A ticket written through the function lands in the region's table.
    let ticket = r#"{"description":"the scooter will not unlock","priority":"high"}"#;
    let (_, resp) = invoke(
        &lambda,
        "tickets",
        event("/tickets", "POST", Some("eu-west-1:alice"), Some(ticket)),
    )
    .await;
    assert_eq!(resp["statusCode"], 201, "{resp}");
    let count = eventually("the ticket in DynamoDB", WAIT, || async {
        let out = ddb.scan().table_name("tickets").send().await.ok()?;
        (out.count == 1).then_some(out.count)
    })
    .await;
    assert_eq!(count, 1);
}

/// A REST API whose `{proxy+}` resource sends everything to `function`,
/// with an integration timeout of `timeout_ms`; returns the stage URL.
async fn proxy_api(sb: &TestSandbox, function: &str, timeout_ms: i32) -> String {
    let apigw = sb.apigateway(PRIMARY);
    let api = apigw.create_rest_api().name("proxy").send().await.unwrap();
    let id = api.id.unwrap();
    let proxy = apigw
        .create_resource()
        .rest_api_id(&id)
        .parent_id(api.root_resource_id.unwrap())
        .path_part("{proxy+}")
        .send()
        .await
        .unwrap()
        .id
        .unwrap();
    apigw
        .put_method()
        .rest_api_id(&id)
        .resource_id(&proxy)
        .http_method("ANY")
        .authorization_type("NONE")
        .send()
        .await
        .unwrap();
    let arn = format!("arn:aws:lambda:{PRIMARY}:000000000000:function:{function}");
    apigw
        .put_integration()
        .rest_api_id(&id)
        .resource_id(&proxy)
        .http_method("ANY")
        .r#type(aws_sdk_apigateway::types::IntegrationType::AwsProxy)
        .integration_http_method("POST")
        .uri(format!(
            "arn:aws:apigateway:{PRIMARY}:lambda:path/2015-03-31/functions/{arn}/invocations"
        ))
        .timeout_in_millis(timeout_ms)
        .send()
        .await
        .unwrap();
    sb.lambda(PRIMARY)
        .add_permission()
        .function_name(function)
        .statement_id("apigateway")
        .action("lambda:InvokeFunction")
        .principal("apigateway.amazonaws.com")
        .send()
        .await
        .unwrap();
    apigw
        .create_deployment()
        .rest_api_id(&id)
        .stage_name("prod")
        .send()
        .await
        .unwrap();
    let endpoint = sb.sandbox.state.topology.region(PRIMARY).unwrap().url();
    format!("{endpoint}/restapis/{id}/prod/_user_request_")
}

#[tokio::test]
async fn the_gateway_maps_function_failures_as_api_gateway_does() {
    let sb = TestSandbox::start();
    // The echo script answers with its own JSON, which is not a proxy
    // response (no statusCode): malformed output.
    create(&sb, "echo", zip_bootstrap(SCRIPT.as_bytes()), 5, &[]).await;
    let base = proxy_api(&sb, "echo", 300).await;
    let http = reqwest::Client::new();
    let expect = |status: u16| {
        move |resp: reqwest::Response| {
            assert_eq!(resp.status(), status);
            assert_eq!(
                resp.headers()["x-amzn-errortype"],
                "InternalServerErrorException"
            );
            assert!(resp.headers().contains_key("x-amzn-requestid"));
        }
    };
    expect(502)(
        http.post(format!("{base}/anything"))
            .body("{}")
            .send()
            .await
            .unwrap(),
    );
    // An unhandled function error: 502.
    expect(502)(
        http.post(format!("{base}/x"))
            .body(r#"{"action":"fail"}"#)
            .send()
            .await
            .unwrap(),
    );
    // Past the integration timeout (300 ms here; 29 s by default): 504.
    let resp = http
        .post(format!("{base}/x"))
        .body(r#"{"action":"sleep","seconds":2}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 504);
    assert_eq!(
        resp.text().await.unwrap(),
        r#"{"message": "Endpoint request timed out"}"#
    );
}
