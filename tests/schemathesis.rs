//! Bad input at the edge a user touches: Schemathesis (PyPI) generates
//! requests from `lambdas/tickets/openapi.yaml`, valid and invalid, and
//! sends them SigV4-signed (`tests/schemathesis/sigv4_hooks.py`) with a
//! signed-in user's credentials to the ticket API of a stack `up`
//! deployed on the sandbox. Zero 5xx, and every response conforms to the
//! spec: status codes, content types, headers and bodies.
//!
//! The seed is printed; `WILDRYDES_TEST_SEED=<seed>` replays the run.

mod common;

use std::process::Command;

use common::{PRIMARY, TestSandbox};

#[tokio::test]
async fn the_ticket_api_answers_generated_requests_as_its_spec_says() {
    // Schemathesis takes a seed below 2^63.
    let seed = common::test_seed() >> 1;
    eprintln!("schemathesis seed {seed} (WILDRYDES_TEST_SEED={seed} replays it)");
    let sb = TestSandbox::start();
    let doc = common::up_json(&sb);
    let api = doc["next"]["apiUrl"]
        .as_str()
        .unwrap()
        .trim_end_matches('/')
        .to_owned();
    let pool = doc["next"]["identityPools"][0]["identityPoolId"]
        .as_str()
        .unwrap()
        .to_owned();
    let (user, _) = common::facebook_login_in(&sb, PRIMARY, &pool, "10000000077").await;
    let root = env!("CARGO_MANIFEST_DIR");
    let reports = tempfile::tempdir().unwrap();
    let out = Command::new("schemathesis")
        .args(["run", &format!("{root}/lambdas/tickets/openapi.yaml")])
        .args(["--url", &api])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance",
        ])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--max-examples", "30", "--seed", &seed.to_string()])
        .args(["--workers", "1", "--request-timeout", "10"])
        .args(["--report-dir", reports.path().to_str().unwrap()])
        // Its cache and reports stay out of the checkout.
        .current_dir(reports.path())
        .env("SCHEMATHESIS_HOOKS", "sigv4_hooks")
        .env("PYTHONPATH", format!("{root}/tests/schemathesis"))
        .env("WILDRYDES_ST_ACCESS_KEY_ID", user.access_key_id())
        .env("WILDRYDES_ST_SECRET_ACCESS_KEY", user.secret_access_key())
        .env("WILDRYDES_ST_SESSION_TOKEN", user.session_token().unwrap())
        .env("WILDRYDES_ST_REGION", PRIMARY)
        .env("NO_COLOR", "1")
        .output()
        .expect("run schemathesis (python3 -m pip install schemathesis)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "seed {seed}:\n{text}");
}
