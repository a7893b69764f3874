//! Route 53 health checkers: for every health check, eight simulated
//! checker locations (named like Route 53's) probe the endpoint at the
//! configured interval, staggered across it. A checker flips after
//! `FailureThreshold` consecutive results that disagree with it; the check
//! is healthy while more than 18% of checkers say healthy; `Disabled` counts
//! as healthy and `Inverted` flips the result, as on AWS.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{HealthCheckConfig, Route53, State, now_ms};

/// Route 53's checker regions (AWS-BEHAVIOUR §6).
pub const CHECKER_REGIONS: [&str; 8] = [
    "us-east-1",
    "us-west-1",
    "us-west-2",
    "eu-west-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "sa-east-1",
];

const FIREWALL: &str = "The endpoint or the internet connection is down, or requests are being blocked by your firewall. See https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/dns-failover-router-firewall-rules.html";

/// What one checker last saw.
#[derive(Debug, Clone)]
pub struct Observation {
    pub region: String,
    pub checker_ip: String,
    /// AWS's status text of the last probe.
    pub status: String,
    pub checked_ms: i64,
    /// The checker's verdict after the failure threshold.
    pub healthy: bool,
    /// Disagreeing results in a row.
    pub streak: u32,
    pub last_failure: Option<(String, i64)>,
    /// Recent probes (time, healthy), newest last, at most 64.
    pub history: Vec<(i64, bool)>,
    /// Verdict changes (time, healthy), newest last, at most 64.
    pub flips: Vec<(i64, bool)>,
}

#[derive(Default)]
pub struct Checkers {
    tasks: Mutex<HashMap<String, (u64, tokio::task::JoinHandle<()>)>>,
    observations: Mutex<HashMap<String, Vec<Observation>>>,
}

impl Checkers {
    /// Starts, restarts (new version) and stops checkers to match the
    /// health checks that exist.
    pub fn sync(r53: &Arc<Route53>) {
        let checks: Vec<(String, u64)> = {
            let s = r53.state.lock();
            s.health_checks
                .values()
                .map(|h| (h.id.clone(), h.version))
                .collect()
        };
        let me = &r53.checkers;
        let mut tasks = me.tasks.lock().unwrap_or_else(|p| p.into_inner());
        tasks.retain(|id, (version, handle)| {
            let keep = checks.iter().any(|(i, v)| i == id && v == version);
            if !keep {
                handle.abort();
                if !checks.iter().any(|(i, _)| i == id) {
                    me.observations
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(id);
                }
            }
            keep
        });
        for (id, version) in checks {
            if tasks.contains_key(&id) {
                continue;
            }
            let weak = Arc::downgrade(r53);
            let task_id = id.clone();
            tasks.insert(
                id,
                (
                    version,
                    tokio::spawn(async move { run(weak, task_id).await }),
                ),
            );
        }
    }

    pub fn observations(&self, id: &str) -> Vec<Observation> {
        self.observations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
            .unwrap_or_default()
    }

    /// The health check's status now (healthy before any observation).
    pub fn healthy(&self, id: &str, s: &State) -> bool {
        let Some(check) = s.health_checks.get(id) else {
            return false;
        };
        let measured = if check.config.disabled {
            true
        } else {
            let obs = self.observations(id);
            obs.is_empty()
                || (obs.iter().filter(|o| o.healthy).count() as f64 / obs.len() as f64) > 0.18
        };
        measured != check.config.inverted
    }

    fn record(&self, id: &str, index: usize, threshold: u32, ok: bool, status: String) {
        let mut map = self.observations.lock().unwrap_or_else(|p| p.into_inner());
        let obs = map.entry(id.to_owned()).or_insert_with(|| {
            CHECKER_REGIONS
                .iter()
                .map(|r| Observation {
                    region: (*r).to_owned(),
                    checker_ip: "127.0.0.1".to_owned(),
                    status: String::new(),
                    checked_ms: 0,
                    healthy: true,
                    streak: 0,
                    last_failure: None,
                    history: Vec::new(),
                    flips: Vec::new(),
                })
                .collect()
        });
        let o = &mut obs[index];
        let now = now_ms();
        o.status = status.clone();
        o.checked_ms = now;
        if !ok {
            o.last_failure = Some((status, now));
        }
        push_bounded(&mut o.history, (now, ok));
        if ok == o.healthy {
            o.streak = 0;
        } else {
            o.streak += 1;
            if o.streak >= threshold {
                o.healthy = ok;
                o.streak = 0;
                push_bounded(&mut o.flips, (now, ok));
            }
        }
    }
}

fn push_bounded<T>(v: &mut Vec<T>, item: T) {
    if v.len() >= 64 {
        v.remove(0);
    }
    v.push(item);
}

/// The control API's view of a health check: its status and each
/// checker's verdict, probes and flips (what AWS shows only as metrics).
pub fn report(r53: &Route53, id: &str) -> Option<serde_json::Value> {
    let s = r53.state.lock();
    let check = s.health_checks.get(id)?;
    let healthy = r53.checkers.healthy(id, &s);
    let checkers: Vec<serde_json::Value> = r53
        .checkers
        .observations(id)
        .iter()
        .map(|o| {
            serde_json::json!({
                "region": o.region, "healthy": o.healthy, "status": o.status, "checkedMs": o.checked_ms,
                "probes": o.history.iter().map(|(t, ok)| serde_json::json!({"atMs": t, "healthy": ok})).collect::<Vec<_>>(),
                "flips": o.flips.iter().map(|(t, ok)| serde_json::json!({"atMs": t, "healthy": ok})).collect::<Vec<_>>(),
            })
        })
        .collect();
    Some(serde_json::json!({
        "id": id, "healthy": healthy, "intervalSeconds": check.config.interval,
        "failureThreshold": check.config.threshold, "checkers": checkers,
    }))
}

async fn run(r53: Weak<Route53>, id: String) {
    let config = {
        let Some(r) = r53.upgrade() else { return };
        let s = r.state.lock();
        match s.health_checks.get(&id) {
            Some(h) => h.config.clone(),
            None => return,
        }
    };
    let interval = Duration::from_secs(config.interval.into());
    let mut checkers = Vec::new();
    for (index, _) in CHECKER_REGIONS.iter().enumerate() {
        let (r53, id, config) = (r53.clone(), id.clone(), config.clone());
        // Staggered across the interval, as Route 53's locations are.
        let offset = interval * index as u32 / CHECKER_REGIONS.len() as u32;
        checkers.push(tokio::spawn(async move {
            tokio::time::sleep(offset).await;
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // Route 53 sends a probe every interval whether or not the last
            // one has answered (a hung endpoint times out after 4 s + 2 s,
            // longer than a fast interval); dropping the set aborts them.
            let mut in_flight = tokio::task::JoinSet::new();
            loop {
                ticks.tick().await;
                while in_flight.try_join_next().is_some() {}
                if r53.strong_count() == 0 {
                    return;
                }
                if config.disabled {
                    continue;
                }
                let (r53, id, config) = (r53.clone(), id.clone(), config.clone());
                in_flight.spawn(async move {
                    let Some(r) = r53.upgrade() else { return };
                    let (ok, status) = probe(&r, &config).await;
                    r.checkers.record(&id, index, config.threshold, ok, status);
                });
            }
        }));
    }
    // Dropping this task (abort) must stop the checkers too.
    struct AbortAll(Vec<tokio::task::JoinHandle<()>>);
    impl Drop for AbortAll {
        fn drop(&mut self) {
            for h in &self.0 {
                h.abort();
            }
        }
    }
    let guard = AbortAll(checkers);
    std::future::pending::<()>().await;
    drop(guard);
}

/// One probe, with Route 53's rules: connect within 4 s (TCP: 10 s), an
/// HTTP status within 2 s more, 2xx and 3xx healthy.
async fn probe(r53: &Route53, c: &HealthCheckConfig) -> (bool, String) {
    let (ip, resolved_note) = match (&c.ip, &c.fqdn) {
        (Some(ip), _) => match ip.parse::<IpAddr>() {
            Ok(ip) => (ip, String::new()),
            Err(_) => return (false, format!("Failure: invalid IP address {ip}")),
        },
        (None, Some(name)) => match r53.resolve(name).and_then(|(ips, _)| ips.first().copied()) {
            Some(ip) => (ip, format!(". Resolved IP: {ip}")),
            None => return (false, format!("Failure: DNS resolution failed for {name}")),
        },
        (None, None) => return (false, "Failure: no endpoint configured".into()),
    };
    // Sandbox endpoints all listen on the sandbox's port.
    let port = r53
        .topology
        .endpoints()
        .find(|e| e.address == ip)
        .map(|e| e.port)
        .or(c.port)
        .unwrap_or(if c.kind == "HTTPS" { 443 } else { 80 });
    let connect_limit = Duration::from_secs(if c.kind == "TCP" { 10 } else { 4 });
    let mut stream = match tokio::time::timeout(
        connect_limit,
        tokio::net::TcpStream::connect(SocketAddr::new(ip, port)),
    )
    .await
    {
        Err(_) => return (false, format!("Failure: Connection timed out. {FIREWALL}")),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            return (false, format!("Failure: Connection refused. {FIREWALL}"));
        }
        Ok(Err(e)) => return (false, format!("Failure: {e}. {FIREWALL}")),
        Ok(Ok(s)) => s,
    };
    if c.kind == "TCP" {
        return (true, "Success: TCP connection established".into());
    }
    let host = c.fqdn.clone().unwrap_or_else(|| ip.to_string());
    let path = c.path.clone().unwrap_or_else(|| "/".into());
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: Amazon-Route53-Health-Check-Service (ref wildrydes-sandbox)\r\nConnection: close\r\n\r\n"
    );
    let status_line = tokio::time::timeout(Duration::from_secs(2), async {
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut buf = vec![0u8; 512];
        let mut got = 0;
        while !buf[..got].windows(2).any(|w| w == b"\r\n") && got < buf.len() {
            let n = stream.read(&mut buf[got..]).await.ok()?;
            if n == 0 {
                break;
            }
            got += n;
        }
        let text = String::from_utf8_lossy(&buf[..got]).into_owned();
        text.lines().next().map(str::to_owned)
    })
    .await;
    let https_note = if c.kind == "HTTPS" {
        " (HTTPS probed over plain HTTP to the sandbox port)"
    } else {
        ""
    };
    let code = match status_line {
        Err(_) => {
            return (
                false,
                format!(
                    "Failure: The endpoint did not answer within 2 seconds{resolved_note}{https_note}"
                ),
            );
        }
        Ok(line) => line.and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|c| c.parse::<u16>().ok())
        }),
    };
    let Some(code) = code else {
        return (
            false,
            format!("Failure: Received an invalid HTTP response{resolved_note}{https_note}"),
        );
    };
    let reason = http::StatusCode::from_u16(code)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    if (200..400).contains(&code) {
        (
            true,
            format!("Success: HTTP Status Code {code}, {reason}{https_note}"),
        )
    } else {
        (
            false,
            format!("Failure: HTTP Status Code {code}, {reason}{resolved_note}{https_note}"),
        )
    }
}
