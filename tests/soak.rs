//! A soak: signed `POST /tickets` and `GET /tickets` from four concurrent
//! users through the primary's API, on a stack `up` deployed to the
//! sandbox, in three parts: a warm-up, a write part (every other request
//! files a ticket, so data accumulates) and a read-only part of the same
//! length (only `GET`s: nothing is stored; measured from 2 s in, once the
//! last writes are answered and replicated). Zero errors throughout.
//!
//! Memory is sampled through the run for every sandbox process: its RSS,
//! split into anonymous and file-backed (with shared) memory, and the bytes
//! its data directory holds on disk. That separates stored data from
//! leaks: in the read-only part nothing is stored, so growth there is
//! growth per request, bounded by `READ_GROWTH_BOUND_KIB`; in the write
//! part, growth is data (SQLite's page caches, bounded per connection) plus
//! any leak, bounded by `WRITE_GROWTH_BOUND_KIB`. CI runs 60 s;
//! `WILDRYDES_SOAK_SECONDS` lengthens it (the README's 10-minute soak is
//! `WILDRYDES_SOAK_SECONDS=600`).

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{PRIMARY, TestSandbox, try_signed_call};
use serde_json::json;

/// Largest growth of any sandbox process's RSS over the write part.
const WRITE_GROWTH_BOUND_KIB: u64 = 32 * 1024;
/// Largest growth of any sandbox process's RSS over the read-only part.
const READ_GROWTH_BOUND_KIB: u64 = 4 * 1024;

/// One process's memory and data at one moment, in KiB.
#[derive(Debug, Clone, Copy, Default)]
struct Memory {
    rss: u64,
    anon: u64,
    /// File-backed and shared (SQLite's WAL index is a shared mapping).
    file: u64,
    data: u64,
}

/// A field of `/proc/<pid>/status`, in KiB.
fn status_kib(status: &str, field: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Bytes of the files under `dir`.
fn disk_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(m) if m.is_dir() => disk_bytes(&entry.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn memory(pid: u32, data_dir: &Path) -> Memory {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    Memory {
        rss: status_kib(&status, "VmRSS:"),
        anon: status_kib(&status, "RssAnon:"),
        file: status_kib(&status, "RssFile:") + status_kib(&status, "RssShmem:"),
        data: disk_bytes(data_dir) / 1024,
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn growth(from: u64, to: u64) -> f64 {
    (to as f64 - from as f64) / 1024.0
}

/// Four signed users through the primary's API until `stop`: while
/// `read_only` is unset every other request files a ticket, then only
/// `GET`s. Counts successes and errors.
fn load(
    sb: &TestSandbox,
    users: Vec<aws_credential_types::Credentials>,
    read_only: &Arc<AtomicBool>,
    stop: &Arc<AtomicBool>,
) -> (Arc<AtomicU64>, Arc<AtomicU64>, tokio::task::JoinSet<()>) {
    let address = sb.sandbox.state.topology.region(PRIMARY).unwrap().url();
    let host = format!("{PRIMARY}.api.wildrydes.test");
    let (done, errors) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut workers = tokio::task::JoinSet::new();
    for creds in users {
        let (stop, read_only) = (stop.clone(), read_only.clone());
        let (done, errors) = (done.clone(), errors.clone());
        let (address, host) = (address.clone(), host.clone());
        workers.spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let body =
                    json!({"description": format!("soak ticket number {n}"), "priority": "low"})
                        .to_string();
                let write = n.is_multiple_of(2) && !read_only.load(Ordering::Relaxed);
                let (method, url, payload) = if write {
                    ("POST", format!("{address}/tickets"), Some(body.as_str()))
                } else {
                    ("GET", format!("{address}/tickets?limit=5"), None)
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
    (done, errors, workers)
}

#[tokio::test]
async fn a_soak_has_no_errors_and_no_growth_without_data() {
    let seconds: u64 = std::env::var("WILDRYDES_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60)
        .max(12);
    let warm_up = 10.min(seconds / 6);
    let write_end = warm_up + (seconds - warm_up) / 2;
    // The read-only part is measured from 2 s after the last write was
    // sent: by then it is answered and replicated (500 ms ± 250 ms).
    let read_start = write_end + 2;
    let sb = TestSandbox::start();
    let doc = common::up_json(&sb);
    let pool = doc["next"]["identityPools"][0]["identityPoolId"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut users = Vec::new();
    for n in 0..4 {
        let (creds, _) =
            common::facebook_login_in(&sb, PRIMARY, &pool, &format!("1000000050{n}")).await;
        users.push(creds);
    }
    let (read_only, stop) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let (done, errors, workers) = load(&sb, users, &read_only, &stop);
    let processes: Vec<(String, u32, std::path::PathBuf)> = sb
        .sandbox
        .state
        .pids
        .iter()
        .map(|(name, pid)| (name.clone(), *pid, sb.sandbox.layout.data_dir(name)))
        .collect();
    let sample = || -> Vec<Memory> {
        processes
            .iter()
            .map(|(_, pid, dir)| memory(*pid, dir))
            .collect()
    };

    // Samples at the part boundaries and about every tenth of the run:
    // (second, part, requests so far, each process's memory).
    let started = Instant::now();
    let step = (seconds / 10).max(1);
    let mut marks: Vec<u64> = (1..=seconds / step).map(|k| k * step).collect();
    marks.extend([warm_up, write_end, read_start, seconds]);
    marks.sort_unstable();
    marks.dedup();
    let mut samples = Vec::new();
    for at in marks {
        tokio::time::sleep(Duration::from_secs(at).saturating_sub(started.elapsed())).await;
        let part = match at {
            t if t <= warm_up => "warm-up",
            t if t <= write_end => "write",
            _ => "read",
        };
        samples.push((at, part, done.load(Ordering::Relaxed), sample()));
        if at == write_end {
            read_only.store(true, Ordering::Relaxed);
        }
    }
    stop.store(true, Ordering::Relaxed);
    workers.join_all().await;

    let total = done.load(Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    eprintln!(
        "soak: {total} requests in {elapsed:.0} s ({:.0}/s), {} errors",
        total as f64 / elapsed,
        errors.load(Ordering::Relaxed)
    );
    for (i, (name, _, _)) in processes.iter().enumerate() {
        eprintln!(
            "  {name}: second, part, requests, RSS (anonymous + file and shared), data on disk"
        );
        for (at, part, requests, memory) in &samples {
            let m = memory[i];
            eprintln!(
                "    {at:>5} s {part:<7} {requests:>7}  RSS {:6.1} MiB ({:6.1} + {:5.1})  data {:6.1} MiB",
                mib(m.rss),
                mib(m.anon),
                mib(m.file),
                mib(m.data)
            );
        }
    }
    let at = |second: u64| {
        samples
            .iter()
            .find(|(t, ..)| *t == second)
            .map(|(_, _, requests, memory)| (*requests, memory.clone()))
            .unwrap()
    };
    let ((warm_requests, warm), (write_requests, written), (end_requests, end)) =
        (at(warm_up), at(write_end), at(seconds));
    let (read_requests, read) = at(read_start);
    for (i, (name, _, _)) in processes.iter().enumerate() {
        let (w, m, r, e) = (warm[i], written[i], read[i], end[i]);
        let reads = end_requests - read_requests;
        eprintln!(
            "  {name:<16} write part: RSS {:+.1} MiB (anonymous {:+.1}) while its data grew {:+.1} MiB over {} requests; \
             read-only part: RSS {:+.1} MiB over {reads} requests ({:+.0} bytes a request), data {:+.1} MiB",
            growth(w.rss, m.rss),
            growth(w.anon, m.anon),
            growth(w.data, m.data),
            write_requests - warm_requests,
            growth(r.rss, e.rss),
            (e.rss as f64 - r.rss as f64) * 1024.0 / reads.max(1) as f64,
            growth(r.data, e.data),
        );
    }

    assert_eq!(
        errors.load(Ordering::Relaxed),
        0,
        "errors under a steady load"
    );
    assert!(total > 100, "too little load to mean anything: {total}");
    for (i, (name, _, _)) in processes.iter().enumerate() {
        let (w, m, r, e) = (warm[i], written[i], read[i], end[i]);
        assert!(w.rss > 0 && m.rss > 0 && e.rss > 0, "{name}: no RSS read");
        assert!(
            m.rss.saturating_sub(w.rss) <= WRITE_GROWTH_BOUND_KIB,
            "{name} grew from {} KiB to {} KiB while tickets were filed",
            w.rss,
            m.rss
        );
        assert!(
            e.rss.saturating_sub(r.rss) <= READ_GROWTH_BOUND_KIB,
            "{name} grew from {} KiB to {} KiB while nothing was stored",
            r.rss,
            e.rss
        );
    }
}
