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

/// A Python runtime that echoes, fails, sleeps, crashes or starts a child
/// (which keeps every descriptor it has) on request.
const SCRIPT: &str = r#"#!/usr/bin/python3
import json, os, subprocess, sys, time, urllib.error, urllib.request
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
    if action == "spawn":
        event["child"] = subprocess.Popen(["sleep", "600"], close_fds=False).pid
    if action == "big":
        body = json.dumps("x" * event["bytes"]).encode()
        try:
            urllib.request.urlopen(urllib.request.Request(f"{base}/{rid}/response", data=body, method="POST"))
        except urllib.error.HTTPError as e:
            print(f"response refused: {e.code}", flush=True)
        continue
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
    // What `up` grants the function: its table, the four actions it uses.
    sb.iam()
        .put_role_policy()
        .role_name("tickets-role")
        .policy_name("tickets")
        .policy_document(
            json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow",
                "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:DeleteItem"],
                "Resource": "arn:aws:dynamodb:eu-west-1:000000000000:table/tickets"}})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
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

/// A zip whose one entry, `bootstrap`, expands to `size` zero bytes.
fn zip_of_zeros(size: usize) -> Vec<u8> {
    use std::io::Write;
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(size > u32::MAX as usize)
        .unix_permissions(0o755);
    zip.start_file("bootstrap", options).unwrap();
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..size / chunk.len() {
        zip.write_all(&chunk).unwrap();
    }
    zip.finish().unwrap();
    out.into_inner()
}

/// Hostile input to the Lambda API: a function name that is a path,
/// timeouts and memory sizes outside Lambda's limits, and a zip that
/// expands past Lambda's 250 MB limit. Both are refused with
/// Lambda's errors before anything is written, and the function keeps
/// its code.
#[tokio::test]
async fn path_names_and_zip_bombs_are_refused_before_anything_is_written() {
    let sb = TestSandbox::start();
    let lambda = create(&sb, "hostile", zip_bootstrap(SCRIPT.as_bytes()), 3, &[]).await;
    let escape = std::env::temp_dir().join(format!("wildrydes-escape-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&escape);
    for name in [escape.to_str().unwrap(), "../../../../escape", "a/b"] {
        let err = lambda
            .update_function_code()
            .function_name(name)
            .zip_file(Blob::new(zip_bootstrap(SCRIPT.as_bytes())))
            .send()
            .await
            .expect_err("a path is no function name");
        let service = err.into_service_error();
        assert_eq!(
            aws_sdk_lambda::error::ProvideErrorMetadata::code(&service),
            Some("ValidationException"),
            "{name}: {service:?}"
        );
    }
    assert!(!escape.exists(), "the zip was unpacked outside the sandbox");

    // Limits Lambda has: timeout 1 to 900 s, memory 128 to 10,240 MB.
    let role = sb.lambda_role("limits-role").await;
    for (timeout, memory) in [
        (0, 128),
        (901, 128),
        (i32::MAX, 128),
        (-1, 128),
        (3, 64),
        (3, i32::MAX),
    ] {
        let err = lambda
            .create_function()
            .function_name("limits")
            .runtime(Runtime::Providedal2023)
            .handler("bootstrap")
            .role(&role)
            .timeout(timeout)
            .memory_size(memory)
            .code(
                FunctionCode::builder()
                    .zip_file(Blob::new(zip_bootstrap(SCRIPT.as_bytes())))
                    .build(),
            )
            .send()
            .await
            .expect_err("outside Lambda's limits");
        assert!(
            err.into_service_error()
                .is_invalid_parameter_value_exception(),
            "timeout {timeout}, memory {memory}"
        );
    }
    let err = lambda
        .update_function_configuration()
        .function_name("hostile")
        .timeout(100_000)
        .send()
        .await
        .expect_err("outside Lambda's limits");
    assert!(
        err.into_service_error()
            .is_invalid_parameter_value_exception()
    );

    // 300 MB of zeros in a zip of a few hundred KB.
    let bomb = zip_of_zeros(300 << 20);
    assert!(bomb.len() < 2 << 20, "{} bytes", bomb.len());
    let err = lambda
        .update_function_code()
        .function_name("hostile")
        .zip_file(Blob::new(bomb))
        .send()
        .await
        .expect_err("over the unzipped limit");
    let service = err.into_service_error();
    assert!(
        service.is_invalid_parameter_value_exception(),
        "{service:?}"
    );
    assert_eq!(
        aws_sdk_lambda::error::ProvideErrorMetadata::message(&service),
        Some("Unzipped size must be smaller than 262144000 bytes")
    );
    // Nothing half-unpacked is left, and the function still runs its code.
    let code_dirs = sb.root.join(PRIMARY).join("lambda/code/hostile");
    assert!(code_dirs.is_dir(), "{code_dirs:?}");
    let leftovers: Vec<_> = std::fs::read_dir(&code_dirs)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        leftovers
            .iter()
            .all(|n| !n.to_string_lossy().ends_with(".tmp")),
        "{leftovers:?}"
    );
    let (error, body) = invoke(&lambda, "hostile", json!({"x": 1})).await;
    assert_eq!(error, None, "{body}");
    assert_eq!(body["echo"]["x"], 1);

    // Responses: 3 MiB is fine; over Lambda's 6 MB fails at once with
    // Lambda's error instead of hanging until the timeout.
    let (error, body) = invoke(
        &lambda,
        "hostile",
        json!({"action": "big", "bytes": 3 << 20}),
    )
    .await;
    assert_eq!(error, None);
    assert_eq!(body.as_str().map(str::len), Some(3 << 20));
    lambda
        .update_function_configuration()
        .function_name("hostile")
        .timeout(120)
        .send()
        .await
        .unwrap();
    lambda
        .wait_until_function_updated_v2()
        .function_name("hostile")
        .wait(WAIT)
        .await
        .unwrap();
    let begun = std::time::Instant::now();
    let (error, body) = invoke(
        &lambda,
        "hostile",
        json!({"action": "big", "bytes": 7_000_000}),
    )
    .await;
    assert_eq!(error.as_deref(), Some("Unhandled"), "{body}");
    assert_eq!(body["errorType"], "Function.ResponseSizeTooLarge", "{body}");
    // Not the 120 s timeout (a generous bound; this is no speed claim).
    assert!(
        begun.elapsed() < Duration::from_secs(60),
        "it waited for the timeout"
    );
    let (error, _) = invoke(&lambda, "hostile", json!({"x": 2})).await;
    assert_eq!(error, None, "the instance serves on");
}

/// A function's children die with its instance, and none of them holds
/// the region's listening socket: the region can be killed and revived on
/// its port while a function's grandchild is still around.
#[tokio::test]
async fn an_instance_dies_with_its_children_and_leaks_no_listener() {
    let mut sb = TestSandbox::start();
    let lambda = create(&sb, "spawner", zip_bootstrap(SCRIPT.as_bytes()), 1, &[]).await;
    let spawn = json!({"action": "spawn"});
    let (error, body) = invoke(&lambda, "spawner", spawn.clone()).await;
    assert_eq!(error, None, "{body}");
    let child = body["echo"]["child"].as_u64().unwrap();
    // The region's listening socket, as its process sees it.
    let region_pid = sb.sandbox.state.pids[PRIMARY];
    let listener = std::fs::read_link(format!("/proc/{region_pid}/fd/3")).unwrap();
    assert!(
        listener.to_string_lossy().starts_with("socket:"),
        "{listener:?}"
    );
    let child_fds: Vec<_> = std::fs::read_dir(format!("/proc/{child}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .collect();
    assert!(
        !child_fds.contains(&listener),
        "the function's child holds the region's listener: {child_fds:?}"
    );
    // A timeout kills the instance, and its child with it.
    let (error, _) = invoke(&lambda, "spawner", json!({"action": "sleep", "seconds": 5})).await;
    assert_eq!(error.as_deref(), Some("Unhandled"));
    let alive = |pid: u64| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| s.split(' ').nth(2).is_none_or(|state| state != "Z"))
            .unwrap_or(false)
    };
    eventually("the child to die with its instance", WAIT, || async {
        (!alive(child)).then_some(())
    })
    .await;

    // Another child outlives nothing: kill the region and revive it on
    // the same port.
    let (_, body) = invoke(&lambda, "spawner", spawn).await;
    let second = body["echo"]["child"].as_u64().unwrap();
    assert!(alive(second));
    sb.kill(PRIMARY);
    sb.revive(PRIMARY).await;
    let lambda = sb.lambda(PRIMARY);
    let (error, body) = invoke(&lambda, "spawner", json!({})).await;
    assert_eq!(error, None, "{body}");
    // A killed region takes its instances (they get SIGKILL when their
    // parent dies) but not their children, which hold no port; clean up.
    let _ = std::process::Command::new("kill")
        .args(["-9", &second.to_string()])
        .status();
}

/// Past the sandbox's concurrency cap, at most `MAX_WAITING` invocations
/// wait for an instance; the rest are throttled at once, as AWS throttles
/// past the account's concurrency, so a flood cannot queue without bound.
#[tokio::test]
async fn invocations_past_the_cap_and_the_waiting_line_are_throttled() {
    use wildrydes_sandbox::services::lambda::runtime::{MAX_WAITING, SANDBOX_CONCURRENCY_CAP};
    let sb = TestSandbox::start();
    let lambda = create(&sb, "flood", zip_bootstrap(SCRIPT.as_bytes()), 30, &[]).await;
    let extra = 8;
    let total = SANDBOX_CONCURRENCY_CAP + MAX_WAITING + extra;
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..total {
        let lambda = lambda.clone();
        calls.spawn(async move {
            lambda
                .invoke()
                .function_name("flood")
                .payload(Blob::new(
                    json!({"action": "sleep", "seconds": 3}).to_string(),
                ))
                .send()
                .await
        });
    }
    let results = calls.join_all().await;
    let mut throttled = 0;
    for result in &results {
        match result {
            Ok(out) => assert_eq!(out.function_error(), None, "a served call ran whole"),
            Err(e) => {
                let e = e.as_service_error().expect("a service error");
                assert!(e.is_too_many_requests_exception(), "{e:?}");
                let aws_sdk_lambda::operation::invoke::InvokeError::TooManyRequestsException(t) = e
                else {
                    panic!("{e:?}");
                };
                assert_eq!(
                    t.reason(),
                    Some(&aws_sdk_lambda::types::ThrottleReason::ConcurrentInvocationLimitExceeded)
                );
                throttled += 1;
            }
        }
    }
    // Every call was sent before the first could finish (3 s), so exactly
    // the cap runs, the line waits, and the rest are refused; a slow
    // sender can only let more through, never fewer.
    assert!(
        (1..=extra).contains(&throttled),
        "{throttled} of {total} throttled"
    );
}

/// A function's Runtime API answers its owner's processes only: another
/// user on the machine cannot take or answer invocations. (Run as root,
/// the test also connects as `nobody`; otherwise it checks the owner's
/// side alone and says so.)
#[tokio::test]
async fn the_runtime_api_answers_only_its_owners_processes() {
    const ADDRESS: &str = r#"#!/usr/bin/python3
import json, os, urllib.request
api = os.environ["AWS_LAMBDA_RUNTIME_API"]
base = f"http://{api}/2018-06-01/runtime/invocation"
while True:
    r = urllib.request.urlopen(f"{base}/next")
    rid = r.headers["Lambda-Runtime-Aws-Request-Id"]
    r.read()
    body = json.dumps({"api": api}).encode()
    urllib.request.urlopen(urllib.request.Request(f"{base}/{rid}/response", data=body, method="POST"))
"#;
    let sb = TestSandbox::start();
    let lambda = create(
        &sb,
        "runtime-owner",
        zip_bootstrap(ADDRESS.as_bytes()),
        10,
        &[],
    )
    .await;
    let (error, body) = invoke(&lambda, "runtime-owner", json!({})).await;
    assert_eq!(error, None, "{body}");
    let api = body["api"].as_str().unwrap().to_owned();
    // Answering an invocation that does not exist: the API's own refusal.
    let probe = format!(
        "import urllib.request, urllib.error, sys\ntry:\n    urllib.request.urlopen(urllib.request.Request('http://{api}/2018-06-01/runtime/invocation/none/response', data=b'{{}}', method='POST'), timeout=5)\nexcept urllib.error.HTTPError as e:\n    print(e.code); sys.exit(0)\nexcept Exception as e:\n    print(type(e).__name__); sys.exit(1)\n"
    );
    let run = |as_nobody: bool| {
        let mut cmd = std::process::Command::new("python3");
        cmd.args(["-c", &probe]);
        if as_nobody {
            use std::os::unix::process::CommandExt;
            // SAFETY: only async-signal-safe libc calls between fork and exec.
            unsafe {
                cmd.pre_exec(|| {
                    if libc::setgid(65534) != 0 || libc::setuid(65534) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        cmd.output().expect("run python3")
    };
    let owner = run(false);
    assert!(
        owner.status.success(),
        "the owner is answered: {}",
        String::from_utf8_lossy(&owner.stdout)
    );
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("not root: the other-user half of this test needs root to run as nobody");
        return;
    }
    let other = run(true);
    let said = String::from_utf8_lossy(&other.stdout);
    assert!(
        !other.status.success()
            && ["RemoteDisconnected", "ConnectionResetError", "URLError"]
                .iter()
                .any(|e| said.contains(e)),
        "another user was answered, or the probe failed otherwise: {said} {}",
        String::from_utf8_lossy(&other.stderr)
    );
    // The function still serves its owner.
    let (error, _) = invoke(&lambda, "runtime-owner", json!({})).await;
    assert_eq!(error, None);
}
