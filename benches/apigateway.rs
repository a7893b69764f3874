//! API Gateway data-plane benchmark (not assertions): requests per second
//! and p50/p99 latency of `GET /health` and `POST /tickets` through the
//! sandbox's REST data plane to the real ticket Lambda (release build),
//! with warm instances, at 1 and 16 concurrent clients; the CPU split
//! between the region process (gateway + Runtime API emulator) and the
//! function processes; and the cold start of an instance.
//!
//! Run: `cargo bench --bench apigateway`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_lambda::client::Waiters;
use aws_sdk_lambda::types::Environment;
use common::{PRIMARY, TestSandbox, deploy, facebook_user, signed_call};

/// CPU seconds (user + system) a process has used.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: f64 = fields
        .get(11)
        .and_then(|u| u.parse::<f64>().ok())
        .unwrap_or(0.0)
        + fields
            .get(12)
            .and_then(|s| s.parse::<f64>().ok())
            .unwrap_or(0.0);
    ticks / 100.0
}

/// Pids whose parent is `pid` (the function instances of a region).
fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, r)| r.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) {
            out.push(child);
        }
    }
    out
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "wildrydes-tickets",
            "--bin",
            "bootstrap",
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_wildrydes"))
        .parent()
        .unwrap()
        .to_path_buf();
    let bootstrap = bin_dir.join("bootstrap");

    let sb = TestSandbox::start();
    let d = deploy(&sb, &bootstrap).await;
    let (creds, _) = facebook_user(&sb, &d.api, "10000000001").await;
    let region_pid = sb.sandbox.state.pids[PRIMARY];
    let creds = Arc::new(creds);
    let body = r#"{"description":"benchmarking the ticket API","priority":"low"}"#;

    println!("## API Gateway data plane → ticket Lambda (release), warm instances\n");
    println!(
        "| route | clients | requests | req/s | p50 ms | p99 ms | region process CPU ms/req | function CPU ms/req |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (route, method, clients, total) in [
        ("GET /health", "GET", 1, 400),
        ("GET /health", "GET", 16, 1600),
        ("POST /tickets", "POST", 1, 300),
        ("POST /tickets", "POST", 16, 1200),
    ] {
        let url = if method == "GET" {
            format!("{}/health", d.base)
        } else {
            format!("{}/tickets", d.base)
        };
        // Warm up to `clients` instances.
        let mut warm = Vec::new();
        for _ in 0..clients {
            let (url, creds) = (url.clone(), creds.clone());
            warm.push(tokio::spawn(async move {
                signed_call(
                    &url,
                    method,
                    None,
                    PRIMARY,
                    &creds,
                    (method == "POST").then_some(body),
                )
                .await
                .status()
            }));
        }
        for w in warm {
            w.await.unwrap();
        }
        let fn_pids = children(region_pid);
        let (region_before, fn_before) = (
            cpu_seconds(region_pid),
            fn_pids.iter().map(|p| cpu_seconds(*p)).sum::<f64>(),
        );
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..clients {
            let (url, creds) = (url.clone(), creds.clone());
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                for _ in 0..total / clients {
                    let t0 = Instant::now();
                    let resp = signed_call(
                        &url,
                        method,
                        None,
                        PRIMARY,
                        &creds,
                        (method == "POST").then_some(body),
                    )
                    .await;
                    assert!(resp.status().is_success(), "{}", resp.status());
                    lat.push(t0.elapsed());
                }
                lat
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        let elapsed = started.elapsed();
        all.sort();
        let fn_pids = children(region_pid);
        let region_cpu = cpu_seconds(region_pid) - region_before;
        let fn_cpu = fn_pids.iter().map(|p| cpu_seconds(*p)).sum::<f64>() - fn_before;
        println!(
            "| {route} | {clients} | {} | {:.0} | {:.2} | {:.2} | {:.3} | {:.3} |",
            all.len(),
            all.len() as f64 / elapsed.as_secs_f64(),
            percentile(&all, 0.5),
            percentile(&all, 0.99),
            region_cpu * 1000.0 / all.len() as f64,
            fn_cpu.max(0.0) * 1000.0 / all.len() as f64,
        );
    }

    // Cold starts: a configuration change retires every instance; the next
    // request pays for a new one.
    let lambda = sb.lambda(PRIMARY);
    let mut cold = Vec::new();
    let mut warm = Vec::new();
    for i in 0..7 {
        lambda
            .update_function_configuration()
            .function_name(&d.function)
            .environment(
                Environment::builder()
                    .variables("TABLE_NAME", "tickets")
                    .variables("BENCH_ROUND", i.to_string())
                    .build(),
            )
            .send()
            .await
            .unwrap();
        lambda
            .wait_until_function_updated_v2()
            .function_name(&d.function)
            .wait(Duration::from_secs(20))
            .await
            .unwrap();
        let t0 = Instant::now();
        assert!(
            reqwest::get(format!("{}/health", d.base))
                .await
                .unwrap()
                .status()
                .is_success()
        );
        cold.push(t0.elapsed());
        let t0 = Instant::now();
        assert!(
            reqwest::get(format!("{}/health", d.base))
                .await
                .unwrap()
                .status()
                .is_success()
        );
        warm.push(t0.elapsed());
    }
    cold.sort();
    warm.sort();
    println!(
        "\n## Cold start (7 rounds)\n\nfirst GET /health after new configuration: median {:.1} ms; the next one (warm): median {:.1} ms; cold-start cost ≈ {:.1} ms",
        percentile(&cold, 0.5),
        percentile(&warm, 0.5),
        percentile(&cold, 0.5) - percentile(&warm, 0.5)
    );
}
