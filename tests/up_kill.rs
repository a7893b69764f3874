//! `up` can be killed anywhere and run again: the real binary is SIGKILLed
//! at seeded random moments of its run, several times over, then run to
//! the end. The stack is then what an uninterrupted `up` makes: a further
//! `up` finds every resource as it wants it (every step "unchanged", which
//! compares each resource's configuration with the desired one), and no
//! kill left a duplicate or an orphan behind (one of each resource, by
//! name, in each region). `down` then leaves nothing.
//!
//! The seed is printed; `WILDRYDES_TEST_SEED=<seed>` replays the schedule.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{APP_ID, PRIMARY, SECONDARY, TestSandbox, ticket_bootstrap};
use serde_json::Value;

const KILLS: u64 = 8;

fn up(sb: &TestSandbox, bootstrap: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wildrydes"));
    cmd.args(["up", "--json"])
        .current_dir(sb.dir.path())
        .env("WILDRYDES_LAMBDA_BINARY", bootstrap)
        .env("WILDRYDES_FACEBOOK_APP_ID", APP_ID)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, _) in std::env::vars() {
        if k.starts_with("WILDRYDES_") && k != "WILDRYDES_TEST_SEED" {
            cmd.env_remove(&k);
        }
    }
    cmd.env("WILDRYDES_LAMBDA_BINARY", bootstrap)
        .env("WILDRYDES_FACEBOOK_APP_ID", APP_ID);
    cmd
}

/// How many resources named like the stack's each kind has, per region.
async fn census(sb: &TestSandbox) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    for region in [PRIMARY, SECONDARY] {
        let apis = sb.apigateway(region).get_rest_apis().send().await.unwrap();
        let n = apis
            .items()
            .iter()
            .filter(|a| a.name() == Some("wildrydes-tickets"))
            .count();
        out.push((format!("{region} REST APIs"), n));
        let functions = sb.lambda(region).list_functions().send().await.unwrap();
        out.push((format!("{region} functions"), functions.functions().len()));
        let cognito = aws_sdk_cognitoidentity::Client::new(&sb.region_config(region));
        let pools = cognito
            .list_identity_pools()
            .max_results(60)
            .send()
            .await
            .unwrap();
        out.push((
            format!("{region} identity pools"),
            pools.identity_pools().len(),
        ));
        let certs = sb.acm(region).list_certificates().send().await.unwrap();
        out.push((
            format!("{region} certificates"),
            certs.certificate_summary_list().len(),
        ));
    }
    let r53 = sb.route53();
    let zones = r53.list_hosted_zones().send().await.unwrap();
    out.push(("hosted zones".into(), zones.hosted_zones().len()));
    let checks = r53.list_health_checks().send().await.unwrap();
    out.push(("health checks".into(), checks.health_checks().len()));
    let cf =
        aws_sdk_cloudfront::Client::new(&sb.config_with("global", "us-east-1", sb.credentials()));
    let dists = cf.list_distributions().send().await.unwrap();
    out.push((
        "distributions".into(),
        dists.distribution_list().map_or(0, |l| l.items().len()),
    ));
    out
}

#[tokio::test]
async fn up_killed_anywhere_and_run_again_makes_the_same_stack() {
    let seed = common::test_seed();
    eprintln!("up_kill seed {seed} (WILDRYDES_TEST_SEED={seed} replays the kill schedule)");
    let sb = TestSandbox::start();
    let bootstrap = ticket_bootstrap();

    // How long an uninterrupted `up` takes here, on a second sandbox: the
    // kills land anywhere within it.
    let reference = TestSandbox::start();
    let started = Instant::now();
    let out = up(&reference, &bootstrap).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let full = started.elapsed().as_millis() as u64;
    let wanted = census(&reference).await;
    drop(reference);

    let mut rng = seed;
    let mut killed = 0;
    for _ in 0..KILLS {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        // Resumed runs are quicker than the first: aim at the first half.
        let after = Duration::from_millis(rng % (full / 2).max(1));
        let mut child = up(&sb, &bootstrap).spawn().unwrap();
        let deadline = Instant::now() + after;
        while Instant::now() < deadline && child.try_wait().unwrap().is_none() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            killed += 1;
        }
        child.wait().unwrap();
    }
    eprintln!("{killed} of {KILLS} runs killed (a full up took {full} ms)");

    let out = up(&sb, &bootstrap).output().unwrap();
    assert!(
        out.status.success(),
        "up after the kills (seed {seed}): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = up(&sb, &bootstrap).output().unwrap();
    assert!(again.status.success());
    let doc: Value = serde_json::from_slice(&again.stdout).unwrap();
    let changed: Vec<String> = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["action"] != "unchanged")
        .map(|s| format!("{}: {}", s["step"], s["action"]))
        .collect();
    assert!(
        changed.is_empty(),
        "after the kills, up still changes (seed {seed}): {changed:?}"
    );
    assert_eq!(
        census(&sb).await,
        wanted,
        "duplicates or orphans (seed {seed})"
    );

    let down = sb.cli(&["down", "--json"]);
    assert!(down.status.success(), "{}", common::text(&down));
    let left: Vec<(String, usize)> = census(&sb)
        .await
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .collect();
    assert!(left.is_empty(), "down left (seed {seed}): {left:?}");
}
