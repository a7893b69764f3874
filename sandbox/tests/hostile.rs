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
