//! Route 53 health checks and DNS benchmark (measurements, not assertions):
//!
//! - From a target failing (and recovering) to the health check's status
//!   flipping and to the DNS answer for a failover record changing, over
//!   20 flips at interval 1 s and threshold 3, against the ideal
//!   (interval × threshold).
//! - The DNS server's queries per second and latency percentiles over UDP,
//!   at 1 and 8 concurrent clients.
//!
//! Run: `cargo bench --bench dns`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet,
    ResourceRecordSetFailover, RrType,
};
use common::{TestSandbox, failover_alias, switchable_target, target_check};

/// A DNS query for `name` A, with id `id`.
fn query(name: &str, id: u16) -> Vec<u8> {
    let mut q = vec![
        (id >> 8) as u8,
        id as u8,
        0x00,
        0x00,
        0,
        1,
        0,
        0,
        0,
        0,
        0,
        0,
    ];
    for label in name.trim_end_matches('.').split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

/// The first A record's address in a response.
fn first_a(resp: &[u8], question_len: usize) -> Option<[u8; 4]> {
    let ancount = u16::from_be_bytes([*resp.get(6)?, *resp.get(7)?]);
    if ancount == 0 {
        return None;
    }
    // The answer's owner name: a compression pointer or labels.
    let mut at = question_len;
    if resp.get(at)? & 0xC0 == 0xC0 {
        at += 2;
    } else {
        while *resp.get(at)? != 0 {
            at += 1 + *resp.get(at)? as usize;
        }
        at += 1;
    }
    let rdata = at + 2 + 2 + 4 + 2; // type, class, ttl, rdlength
    Some([
        *resp.get(rdata)?,
        *resp.get(rdata + 1)?,
        *resp.get(rdata + 2)?,
        *resp.get(rdata + 3)?,
    ])
}

fn resolve(port: u16, name: &str) -> Option<[u8; 4]> {
    let sock = UdpSocket::bind("127.0.0.1:0").ok()?;
    sock.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    let q = query(name, 7);
    sock.send_to(&q, ("127.0.0.1", port)).ok()?;
    let mut buf = [0u8; 512];
    let n = sock.recv(&mut buf).ok()?;
    first_a(&buf[..n], q.len())
}

fn stats(mut v: Vec<f64>) -> String {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let p = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    format!(
        "{:.0} | {:.0} | {:.0} | {:.0}",
        p(0.0),
        p(0.5),
        p(0.9),
        p(1.0)
    )
}

#[tokio::main]
async fn main() {
    let sb = TestSandbox::start();
    let dns_port = sb.sandbox.state.topology.dns_port.unwrap();
    let r53 =
        aws_sdk_route53::Client::new(&sb.config_with("global", "us-east-1", sb.credentials()));
    let zone = r53
        .create_hosted_zone()
        .name("wildrydes.test")
        .caller_reference("bench")
        .send()
        .await
        .unwrap()
        .hosted_zone
        .unwrap()
        .id;
    let healthy = Arc::new(AtomicBool::new(true));
    let target = switchable_target(healthy.clone()).await;
    let check = target_check(&r53, "bench", target, 3).await;
    let record = |id: &str, role, dns: &str, hc: Option<&str>| {
        Change::builder()
            .action(ChangeAction::Create)
            .resource_record_set(failover_alias(id, role, dns, hc))
            .build()
            .unwrap()
    };
    let www = Change::builder()
        .action(ChangeAction::Create)
        .resource_record_set(
            ResourceRecordSet::builder()
                .name("www.wildrydes.test")
                .r#type(RrType::A)
                .ttl(60)
                .resource_records(
                    ResourceRecord::builder()
                        .value("127.0.1.1")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    r53.change_resource_record_sets()
        .hosted_zone_id(&zone)
        .change_batch(
            ChangeBatch::builder()
                .changes(record(
                    "primary",
                    ResourceRecordSetFailover::Primary,
                    "d-a.execute-api.eu-west-1.amazonaws.com",
                    Some(check.id()),
                ))
                .changes(record(
                    "secondary",
                    ResourceRecordSetFailover::Secondary,
                    "d-b.execute-api.ap-southeast-1.amazonaws.com",
                    None,
                ))
                .changes(www)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let control = sb.sandbox.control("global").unwrap();
    let status = || async {
        control.health_check(check.id()).await.unwrap()["healthy"]
            .as_bool()
            .unwrap()
    };
    // Start once every checker has seen the healthy target.
    common::eventually(
        "every checker to probe",
        Duration::from_secs(10),
        || async {
            let r = control.health_check(check.id()).await.ok()?;
            let checkers = r["checkers"].as_array()?;
            (checkers.len() == 8
                && checkers
                    .iter()
                    .all(|c| !c["probes"].as_array().unwrap().is_empty()))
            .then_some(())
        },
    )
    .await;

    let (mut detect_down, mut dns_down, mut detect_up, mut dns_up) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..20 {
        for (to_healthy, detect, dns, ip) in [
            (false, &mut detect_down, &mut dns_down, [127, 0, 1, 2]),
            (true, &mut detect_up, &mut dns_up, [127, 0, 1, 1]),
        ] {
            healthy.store(to_healthy, Ordering::SeqCst);
            let t0 = Instant::now();
            let (mut t_detect, mut t_dns) = (None, None);
            while t_detect.is_none() || t_dns.is_none() {
                if t_detect.is_none() && status().await == to_healthy {
                    t_detect = Some(t0.elapsed());
                }
                if t_dns.is_none() && resolve(dns_port, "api.wildrydes.test") == Some(ip) {
                    t_dns = Some(t0.elapsed());
                }
                assert!(
                    t0.elapsed() < Duration::from_secs(20),
                    "no flip within 20 s"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            detect.push(t_detect.unwrap().as_secs_f64() * 1000.0);
            dns.push(t_dns.unwrap().as_secs_f64() * 1000.0);
        }
    }
    println!(
        "## Health check and DNS failover (20 flips each way; interval 1 s, threshold 3; ideal 3000 ms; polled every 10 ms)\n"
    );
    println!("| measurement | min ms | p50 ms | p90 ms | max ms |");
    println!("|---|---|---|---|---|");
    println!(
        "| target fails → check unhealthy | {} |",
        stats(detect_down)
    );
    println!(
        "| target fails → DNS answers the secondary | {} |",
        stats(dns_down)
    );
    println!("| target recovers → check healthy | {} |", stats(detect_up));
    println!(
        "| target recovers → DNS answers the primary | {} |",
        stats(dns_up)
    );

    // DNS throughput over UDP.
    println!("\n## DNS server over UDP (www.wildrydes.test A)\n");
    println!("| clients | queries | queries/s | p50 µs | p99 µs |");
    println!("|---|---|---|---|---|");
    for clients in [1usize, 8] {
        let per = 20_000 / clients;
        let started = Instant::now();
        let handles: Vec<_> = (0..clients)
            .map(|c| {
                std::thread::spawn(move || {
                    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
                    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                    let mut lat = Vec::with_capacity(per);
                    let mut buf = [0u8; 512];
                    for i in 0..per {
                        let q = query("www.wildrydes.test", (c * per + i) as u16);
                        let t0 = Instant::now();
                        sock.send_to(&q, ("127.0.0.1", dns_port)).unwrap();
                        let n = sock.recv(&mut buf).unwrap();
                        assert!(first_a(&buf[..n], q.len()).is_some());
                        lat.push(t0.elapsed().as_secs_f64() * 1e6);
                    }
                    lat
                })
            })
            .collect();
        let mut all: Vec<f64> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        let elapsed = started.elapsed().as_secs_f64();
        all.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let p = |q: f64| all[((all.len() as f64 - 1.0) * q).round() as usize];
        println!(
            "| {clients} | {} | {:.0} | {:.0} | {:.0} |",
            all.len(),
            all.len() as f64 / elapsed,
            p(0.5),
            p(0.99)
        );
    }
}
