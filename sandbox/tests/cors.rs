//! A web page calls Cognito Identity itself (the web UI's login): the
//! region answers its CORS preflight and lets any origin read the
//! answers, errors included, as AWS does; other preflights are not
//! answered this way.

mod common;

use common::{InProcess, PRIMARY};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cognito_identity_answers_browsers_from_any_origin() {
    let sb = InProcess::start(&[PRIMARY]).await;
    let http = reqwest::Client::new();
    let url = format!("{}/", sb.url(PRIMARY));

    let pre = http
        .request(reqwest::Method::OPTIONS, &url)
        .header("origin", "http://app.example.test")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,x-amz-target",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(pre.status(), 200);
    assert_eq!(pre.headers()["access-control-allow-origin"], "*");
    let allowed = pre.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(allowed.contains("x-amz-target") && allowed.contains("content-type"));
    assert!(
        pre.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );

    // An unsigned GetId for a pool that does not exist: Cognito's error,
    // readable by the page.
    let resp = http
        .post(&url)
        .header("origin", "http://app.example.test")
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", "AWSCognitoIdentityService.GetId")
        .body(r#"{"IdentityPoolId":"eu-west-1:00000000-0000-0000-0000-000000000000","Logins":{"graph.facebook.com":"not-a-token"}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.headers()["access-control-allow-origin"], "*");
    assert!(
        resp.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .contains("x-amzn-ErrorType")
    );
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(
        body["__type"].as_str().unwrap().ends_with("Exception"),
        "{body}"
    );

    // A preflight for anything else is not Cognito's to answer.
    let other = http
        .request(reqwest::Method::OPTIONS, &url)
        .header("origin", "http://app.example.test")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
}
