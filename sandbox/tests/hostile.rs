//! Hostile input to the unauthenticated endpoints, through raw HTTP:
//! answered with a clear error, never a panic or an overflow.

mod common;

use common::{InProcess, PRIMARY};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facebook_token_lifetimes_are_bounded() {
    let sb = InProcess::start(&[PRIMARY]).await;
    let http = reqwest::Client::new();
    let url = format!("{}/sandbox/facebook/token", sb.url(PRIMARY));
    for expires in [
        serde_json::json!(u64::MAX),
        serde_json::json!(60 * 24 * 3600 + 1),
        serde_json::json!(-1),
        serde_json::json!("3600"),
    ] {
        let resp = http
            .post(&url)
            .json(&serde_json::json!({"appId": "1", "userId": "2", "expiresIn": expires}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{expires}");
        assert!(resp.text().await.unwrap().contains("expiresIn must be"));
    }
    // The longest allowed, and the default, are issued.
    for body in [
        serde_json::json!({"appId": "1", "userId": "2", "expiresIn": 60 * 24 * 3600}),
        serde_json::json!({"appId": "1", "userId": "2"}),
    ] {
        let resp = http.post(&url).json(&body).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{body}");
    }
}

/// A page that rebinds its own name to a region's address sends that name
/// as `Host`: the stand-in and Cognito's unauthenticated calls refuse it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_endpoints_refuse_other_host_names() {
    let sb = InProcess::start(&[PRIMARY]).await;
    let http = reqwest::Client::new();
    let base = sb.url(PRIMARY);
    let port = base.rsplit_once(':').unwrap().1.to_owned();
    for host in [format!("evil.example:{port}"), "evil.example".to_owned()] {
        let token = http
            .post(format!("{base}/sandbox/facebook/token"))
            .header("host", &host)
            .json(&serde_json::json!({"appId": "1", "userId": "2"}))
            .send()
            .await
            .unwrap();
        assert_eq!(token.status(), 403, "{host}");
        let dialog = http
            .get(format!("{base}/sandbox/facebook/dialog/oauth"))
            .header("host", &host)
            .send()
            .await
            .unwrap();
        assert_eq!(dialog.status(), 403, "{host}");
        let get_id = http
            .post(format!("{base}/"))
            .header("host", &host)
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", "AWSCognitoIdentityService.GetId")
            .body(r#"{"IdentityPoolId":"eu-west-1:00000000-0000-0000-0000-000000000000","Logins":{}}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(get_id.status(), 403, "{host}");
    }
    // By address and as localhost they answer.
    for host in [format!("localhost:{port}"), format!("app.localhost:{port}")] {
        let token = http
            .post(format!("{base}/sandbox/facebook/token"))
            .header("host", &host)
            .json(&serde_json::json!({"appId": "1", "userId": "2"}))
            .send()
            .await
            .unwrap();
        assert_eq!(token.status(), 200, "{host}");
    }
    let token = http
        .post(format!("{base}/sandbox/facebook/token"))
        .json(&serde_json::json!({"appId": "1", "userId": "2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 200);
}
