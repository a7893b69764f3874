//! Sandbox benchmarks, measured side by side in one run (not assertions):
//!
//! - PutItem and GetItem throughput and p50/p99 latency through a sandbox
//!   region endpoint, against the bare dynoxide HTTP server and, when
//!   `WILDRYDES_BENCH_MOTO_URL` is set, moto's server; same SDK client.
//! - Replication lag p50/p99 at delay 0 and at the default 500 ± 250 ms,
//!   measured from the write's ack to the first read that sees it in the
//!   other region.
//! - Wall time of `wildrydes sandbox start` to ready.
//!
//! Run: `scripts/bench-sandbox.sh` (installs moto in a venv first), or
//! `cargo bench --bench sandbox` without moto.

use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, CreateReplicationGroupMemberAction,
    KeySchemaElement, KeyType, ReplicationGroupUpdate, ScalarAttributeType,
};
use wildrydes_sandbox::launcher::Sandbox;
use wildrydes_sandbox::services::dynamodb::replication::Settings;

const OPS: usize = 3000;
const CLIENTS: usize = 4;

fn client(endpoint: &str, region: &str, key: &str, secret: &str) -> Client {
    let config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            key, secret, None, None, "bench",
        )))
        .endpoint_url(endpoint)
        .build();
    Client::new(&config)
}

async fn create_table(c: &Client, name: &str) {
    c.create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("create table");
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

struct Stats {
    ops_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
}

async fn run_ops(c: &Client, table: &str, put: bool) -> Stats {
    let c = Arc::new(c.clone());
    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..CLIENTS {
        let c = c.clone();
        let table = table.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(OPS / CLIENTS);
            for i in 0..OPS / CLIENTS {
                let pk = AttributeValue::S(format!("item-{t}-{i}"));
                let t0 = Instant::now();
                if put {
                    let item = HashMap::from([
                        ("pk".to_owned(), pk),
                        ("body".to_owned(), AttributeValue::S("x".repeat(200))),
                    ]);
                    c.put_item()
                        .table_name(&table)
                        .set_item(Some(item))
                        .send()
                        .await
                        .expect("put");
                } else {
                    c.get_item()
                        .table_name(&table)
                        .key("pk", pk)
                        .send()
                        .await
                        .expect("get");
                }
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
    Stats {
        ops_per_sec: all.len() as f64 / elapsed.as_secs_f64(),
        p50_ms: percentile(&all, 0.5),
        p99_ms: percentile(&all, 0.99),
    }
}

async fn throughput(name: &str, c: &Client) -> (Stats, Stats) {
    let table = format!("bench-{}", name.replace(' ', "-"));
    create_table(c, &table).await;
    // Warm the connection pool and the engine.
    for i in 0..50 {
        c.put_item()
            .table_name(&table)
            .item("pk", AttributeValue::S(format!("warm-{i}")))
            .send()
            .await
            .unwrap();
    }
    let put = run_ops(c, &table, true).await;
    let get = run_ops(c, &table, false).await;
    (put, get)
}

fn wildrydes(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_wildrydes"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run wildrydes")
}

async fn replication_lag(
    sandbox: &Sandbox,
    eu: &Client,
    ap: &Client,
    table: &str,
    settings: Settings,
    samples: usize,
) -> (f64, f64) {
    for region in ["eu-west-1", "ap-southeast-1"] {
        sandbox.set_replication(region, settings).await.unwrap();
    }
    let mut lags = Vec::new();
    for i in 0..samples {
        let pk = format!("lag-{}-{i}", settings.delay_ms);
        eu.put_item()
            .table_name(table)
            .item("pk", AttributeValue::S(pk.clone()))
            .send()
            .await
            .unwrap();
        let acked = Instant::now();
        loop {
            let got = ap
                .get_item()
                .table_name(table)
                .key("pk", AttributeValue::S(pk.clone()))
                .send()
                .await
                .unwrap();
            if got.item.is_some() {
                lags.push(acked.elapsed());
                break;
            }
            assert!(
                acked.elapsed() < Duration::from_secs(10),
                "item {pk} never replicated"
            );
        }
    }
    lags.sort();
    (percentile(&lags, 0.5), percentile(&lags, 0.99))
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".wildrydes/sandbox");

    // 1. Start to ready.
    let mut starts = Vec::new();
    for _ in 0..7 {
        let t0 = Instant::now();
        let out = wildrydes(dir.path(), &["sandbox", "start", "--port", "0"]);
        starts.push(t0.elapsed());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        wildrydes(dir.path(), &["sandbox", "stop"]);
    }
    starts.sort();
    let out = wildrydes(dir.path(), &["sandbox", "start", "--port", "0"]);
    assert!(out.status.success());
    let sandbox = Sandbox::open(&root).unwrap().unwrap();
    let s = &sandbox.secrets;
    let eu_url = sandbox.state.topology.region("eu-west-1").unwrap().url();
    let ap_url = sandbox
        .state
        .topology
        .region("ap-southeast-1")
        .unwrap()
        .url();
    let eu = client(&eu_url, "eu-west-1", &s.access_key_id, &s.secret_access_key);
    let ap = client(
        &ap_url,
        "ap-southeast-1",
        &s.access_key_id,
        &s.secret_access_key,
    );

    // 2. Throughput, side by side.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bare_url = format!("http://{}", listener.local_addr().unwrap());
    let bare_dir = tempfile::tempdir().unwrap();
    let bare_db =
        dynoxide::Database::new(bare_dir.path().join("bare.sqlite").to_str().unwrap()).unwrap();
    tokio::spawn(dynoxide::server::serve_on(listener, bare_db));
    let mut rows = vec![
        ("sandbox", throughput("sandbox", &eu).await),
        (
            "bare dynoxide",
            throughput("bare", &client(&bare_url, "eu-west-1", "AKIDBENCH", "x")).await,
        ),
    ];
    if let Ok(moto) = std::env::var("WILDRYDES_BENCH_MOTO_URL") {
        rows.push((
            "moto",
            throughput("moto", &client(&moto, "eu-west-1", "AKIDBENCH", "x")).await,
        ));
    }

    println!(
        "## DynamoDB throughput ({OPS} ops per kind, {CLIENTS} concurrent clients, official SDK)\n"
    );
    println!(
        "| endpoint | PutItem/s | Put p50 ms | Put p99 ms | GetItem/s | Get p50 ms | Get p99 ms |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (name, (p, g)) in &rows {
        println!(
            "| {name} | {:.0} | {:.2} | {:.2} | {:.0} | {:.2} | {:.2} |",
            p.ops_per_sec, p.p50_ms, p.p99_ms, g.ops_per_sec, g.p50_ms, g.p99_ms
        );
    }
    let base = &rows[1].1;
    println!(
        "\nsandbox / bare dynoxide: PutItem {:.2}x, GetItem {:.2}x",
        rows[0].1.0.ops_per_sec / base.0.ops_per_sec,
        rows[0].1.1.ops_per_sec / base.1.ops_per_sec
    );
    if let Some((_, moto)) = rows.get(2) {
        println!(
            "sandbox / moto: PutItem {:.1}x, GetItem {:.1}x",
            rows[0].1.0.ops_per_sec / moto.0.ops_per_sec,
            rows[0].1.1.ops_per_sec / moto.1.ops_per_sec
        );
    }

    // 3. Replication lag.
    create_table(&eu, "bench-global").await;
    eu.update_table()
        .table_name("bench-global")
        .replica_updates(
            ReplicationGroupUpdate::builder()
                .create(
                    CreateReplicationGroupMemberAction::builder()
                        .region_name("ap-southeast-1")
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let (p50_0, p99_0) = replication_lag(
        &sandbox,
        &eu,
        &ap,
        "bench-global",
        Settings {
            delay_ms: 0,
            jitter_ms: 0,
        },
        300,
    )
    .await;
    let default = Settings::default();
    let (p50_d, p99_d) = replication_lag(&sandbox, &eu, &ap, "bench-global", default, 60).await;
    println!("\n## Replication lag (write ack in eu-west-1 to first read in ap-southeast-1)\n");
    println!("| delay setting | samples | p50 ms | p99 ms |");
    println!("|---|---|---|---|");
    println!("| 0 | 300 | {p50_0:.1} | {p99_0:.1} |");
    println!(
        "| {} ± {} ms | 60 | {p50_d:.1} | {p99_d:.1} |",
        default.delay_ms, default.jitter_ms
    );

    println!("\n## `wildrydes sandbox start` to ready (7 runs)\n");
    println!(
        "median {:.0} ms, min {:.0} ms, max {:.0} ms",
        starts[starts.len() / 2].as_secs_f64() * 1000.0,
        starts[0].as_secs_f64() * 1000.0,
        starts[starts.len() - 1].as_secs_f64() * 1000.0
    );
    wildrydes(dir.path(), &["sandbox", "stop"]);
}
