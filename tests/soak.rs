//! A short soak in CI: 60 s of signed `POST /tickets` and `GET /tickets`
//! from four concurrent users through the primary's API, on a stack `up`
//! deployed to the sandbox. Zero errors, and no sandbox process's resident
//! memory grows by more than `RSS_GROWTH_BOUND` between the end of a 10 s
//! warm-up and the end (tickets accumulate in SQLite, whose page cache is
//! bounded, so real growth is small; a leak per request shows as tens of
//! MiB over thousands of requests). `WILDRYDES_SOAK_SECONDS` lengthens it
//! (the README's 10-minute soak is `WILDRYDES_SOAK_SECONDS=600`).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{PRIMARY, TestSandbox, try_signed_call};
use serde_json::json;

/// Largest growth of any sandbox process's RSS over the measured part.
const RSS_GROWTH_BOUND_KIB: u64 = 32 * 1024;

/// VmRSS of `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn a_soak_has_no_errors_and_flat_memory() {
    let seconds: u64 = std::env::var("WILDRYDES_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let sb = TestSandbox::start();
    let doc = common::up_json(&sb);
    let pool = doc["next"]["identityPools"][0]["identityPoolId"]
        .as_str()
        .unwrap()
        .to_owned();
    let address = sb.sandbox.state.topology.region(PRIMARY).unwrap().url();
    let host = format!("{PRIMARY}.api.wildrydes.test");
    let mut users = Vec::new();
    for n in 0..4 {
        let (creds, _) =
            common::facebook_login_in(&sb, PRIMARY, &pool, &format!("1000000050{n}")).await;
        users.push(creds);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let (done, errors) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut workers = tokio::task::JoinSet::new();
    for creds in users {
        let (stop, done, errors) = (stop.clone(), done.clone(), errors.clone());
        let (address, host) = (address.clone(), host.clone());
        workers.spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let body =
                    json!({"description": format!("soak ticket number {n}"), "priority": "low"})
                        .to_string();
                let (method, payload) = if n.is_multiple_of(2) {
                    ("POST", Some(body.as_str()))
                } else {
                    ("GET", None)
                };
                let url = if method == "GET" {
                    format!("{address}/tickets?limit=5")
                } else {
                    format!("{address}/tickets")
                };
                match try_signed_call(&url, method, Some(&host), PRIMARY, &creds, payload).await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    other => {
                        eprintln!("error: {method} {url}: {:?}", other.map(|r| r.status()));
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                n += 1;
            }
        });
    }
    let pids: Vec<(String, u32)> = sb
        .sandbox
        .state
        .pids
        .iter()
        .map(|(name, pid)| (name.clone(), *pid))
        .collect();
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(10.min(seconds / 2))).await;
    let warm: Vec<u64> = pids.iter().map(|(_, pid)| rss_kib(*pid)).collect();
    let warm_done = done.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(seconds).saturating_sub(started.elapsed())).await;
    let end: Vec<u64> = pids.iter().map(|(_, pid)| rss_kib(*pid)).collect();
    stop.store(true, Ordering::Relaxed);
    workers.join_all().await;
    let total = done.load(Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    eprintln!(
        "soak: {total} requests in {elapsed:.0} s ({:.0}/s), {} errors",
        total as f64 / elapsed,
        errors.load(Ordering::Relaxed)
    );
    for (((name, _), w), e) in pids.iter().zip(&warm).zip(&end) {
        eprintln!(
            "  {name:<16} RSS {:.1} MiB after warm-up, {:.1} MiB at the end ({:+.1} MiB over {} requests)",
            *w as f64 / 1024.0,
            *e as f64 / 1024.0,
            (*e as f64 - *w as f64) / 1024.0,
            total - warm_done
        );
    }
    assert_eq!(
        errors.load(Ordering::Relaxed),
        0,
        "errors under a steady load"
    );
    assert!(total > 100, "too little load to mean anything: {total}");
    for (((name, _), w), e) in pids.iter().zip(&warm).zip(&end) {
        assert!(*w > 0 && *e > 0, "{name}: no RSS read");
        assert!(
            e.saturating_sub(*w) <= RSS_GROWTH_BOUND_KIB,
            "{name} grew from {w} KiB to {e} KiB"
        );
    }
}
