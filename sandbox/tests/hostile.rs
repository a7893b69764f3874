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
    // (status of a stand-in token, of its dialog, of an unsigned GetId)
    let answers = |host: Option<String>| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let with_host = |r: reqwest::RequestBuilder| match &host {
                Some(h) => r.header("host", h),
                None => r,
            };
            let token = with_host(http.post(format!("{base}/sandbox/facebook/token")))
                .json(&serde_json::json!({"appId": "1", "userId": "2"}))
                .send();
            let dialog =
                with_host(http.get(format!("{base}/sandbox/facebook/dialog/oauth"))).send();
            let get_id = with_host(http.post(format!("{base}/")))
                .header("content-type", "application/x-amz-json-1.1")
                .header("x-amz-target", "AWSCognitoIdentityService.GetId")
                .body(r#"{"IdentityPoolId":"eu-west-1:00000000-0000-0000-0000-000000000000","Logins":{}}"#)
                .send();
            let status = |r: reqwest::Response| r.status().as_u16();
            (
                status(token.await.unwrap()),
                status(dialog.await.unwrap()),
                status(get_id.await.unwrap()),
            )
        }
    };
    for host in [format!("evil.example:{port}"), "evil.example".to_owned()] {
        assert_eq!(answers(Some(host.clone())).await, (403, 403, 403), "{host}");
    }
    // By address and as localhost they answer (GetId: no such pool).
    for host in [
        None,
        Some(format!("localhost:{port}")),
        Some(format!("app.localhost:{port}")),
    ] {
        assert_eq!(answers(host.clone()).await, (200, 200, 400), "{host:?}");
    }
}
