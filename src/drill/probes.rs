//! The drill's probes, all stamping one monotonic clock into one
//! [`Recorder`]: the user probe (a signed-in user listing their tickets
//! through the API name, following the serving region), the writer
//! (sequence-numbered probe tickets, each acknowledgement recorded), the
//! reader (polling the secondary's replica table directly), the
//! health-check watcher and the DNS watcher.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;
use tokio::sync::watch;

use super::client::{AuthoritativeDns, Exchange, UserClient, answer_region};
use super::report::{DnsObservation, HealthObservation, Marks, ProbeTicket, RequestSample};

/// The drill's one clock: monotonic, with the wall time it started at
/// (to place AWS's wall-clock timestamps on it).
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub start: Instant,
    pub start_wall_ms: i64,
}

impl Clock {
    pub fn new() -> Self {
        Clock {
            start: Instant::now(),
            start_wall_ms: wall_ms(SystemTime::now()),
        }
    }

    /// Milliseconds since the drill started.
    pub fn ms(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.start).as_secs_f64() * 1000.0
    }

    pub fn now(&self) -> f64 {
        self.ms(Instant::now())
    }

    /// A wall-clock time (ms since the epoch) on this clock.
    pub fn on_clock(&self, wall: i64) -> f64 {
        (wall - self.start_wall_ms) as f64
    }
}

fn wall_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Everything the probes saw.
#[derive(Default)]
pub struct Recorder {
    pub requests: Mutex<Vec<RequestSample>>,
    pub tickets: Mutex<Vec<ProbeTicket>>,
    /// Ticket id → first seen in the secondary (ms).
    pub seen: Mutex<HashMap<String, f64>>,
    pub health: Mutex<Vec<HealthObservation>>,
    /// Checker address → (checked time, wall ms) → success.
    pub checker_probes: Mutex<BTreeMap<String, BTreeMap<i64, bool>>>,
    pub dns: Mutex<Vec<DnsObservation>>,
    pub marks: Mutex<Marks>,
    /// The region that served the last successful request.
    pub serving: Mutex<Option<String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Recorder {
    pub fn marks(&self) -> Marks {
        lock(&self.marks).clone()
    }

    pub fn mark(&self, f: impl FnOnce(&mut Marks)) {
        f(&mut lock(&self.marks));
    }

    pub fn serving(&self) -> Option<String> {
        lock(&self.serving).clone()
    }

    pub fn failed_requests(&self) -> usize {
        lock(&self.requests).iter().filter(|r| !r.ok).count()
    }

    /// Records an exchange and the recovery / failback moments it marks.
    fn record(&self, clock: &Clock, kind: &str, ex: &Exchange, primary: &str, secondary: &str) {
        let at = clock.ms(ex.sent);
        let done = at + ex.latency.as_secs_f64() * 1000.0;
        let ok = ex.ok();
        lock(&self.requests).push(RequestSample {
            at_ms: at,
            kind: kind.into(),
            status: ex.status,
            ok,
            served_by: ex.served_by.clone(),
            signed_for: ex.signed_for.clone(),
            latency_ms: ex.latency.as_secs_f64() * 1000.0,
            error: ex.error.clone(),
        });
        if !ok {
            return;
        }
        if let Some(r) = &ex.served_by {
            *lock(&self.serving) = Some(r.clone());
        }
        let mut m = lock(&self.marks);
        let served = ex.served_by.as_deref();
        // A request sent before the fault took effect proves nothing.
        if let Some(inject) = m.inject_ms
            && at >= inject
            && m.restore_ms.is_none()
            && served == Some(secondary)
            && m.recover_ms.is_none_or(|r| done < r)
        {
            m.recover_ms = Some(done);
        }
        if let Some(restore) = m.restore_ms
            && at >= restore
            && served == Some(primary)
            && m.failback_ms.is_none_or(|r| done < r)
        {
            m.failback_ms = Some(done);
        }
    }
}

/// What every probe loop shares.
pub struct Probes {
    pub clock: Clock,
    pub recorder: Arc<Recorder>,
    pub user: Arc<UserClient>,
    pub primary: String,
    pub secondary: String,
    pub run_id: String,
}

/// A loop that runs `tick` every `every` until `stop` says so.
async fn every<F, Fut>(every: Duration, mut stop: watch::Receiver<bool>, mut tick: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut timer = tokio::time::interval(every);
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = timer.tick() => {
                if *stop.borrow() {
                    return;
                }
                tick().await;
            }
        }
    }
}

/// The user probe: `GET /tickets` as the web UI's list page does.
pub async fn user_loop(p: Arc<Probes>, interval: Duration, stop: watch::Receiver<bool>) {
    every(interval, stop, || async {
        for ex in p.user.call("GET", "/tickets?limit=5", None).await {
            p.recorder
                .record(&p.clock, "read", &ex, &p.primary, &p.secondary);
        }
    })
    .await;
}

/// The writer: one probe ticket per interval, each acknowledgement kept.
pub async fn writer_loop(p: Arc<Probes>, interval: Duration, stop: watch::Receiver<bool>) {
    let seq = Mutex::new(0u64);
    every(interval, stop, || async {
        let n = {
            let mut s = lock(&seq);
            *s += 1;
            *s
        };
        let body = serde_json::json!({
            "description": format!("wildrydes drill probe {} #{n}", p.run_id),
            "priority": "low",
            "category": "other",
        })
        .to_string();
        for ex in p.user.call("POST", "/tickets", Some(&body)).await {
            p.recorder
                .record(&p.clock, "write", &ex, &p.primary, &p.secondary);
            if ex.status == Some(201)
                && let Ok(doc) = serde_json::from_str::<serde_json::Value>(&ex.body)
                && let Some(id) = doc["id"].as_str()
            {
                lock(&p.recorder.tickets).push(ProbeTicket {
                    sequence: n,
                    id: id.to_owned(),
                    acked_ms: p.clock.ms(ex.sent + ex.latency),
                    acked_by: ex.served_by.clone(),
                    seen_ms: None,
                    class: String::new(),
                });
            }
        }
    })
    .await;
}

/// The reader: the drill user's items in the secondary's table, read
/// consistently; a ticket's arrival is placed midway between the last
/// read without it and the first with it.
pub async fn reader_loop(
    p: Arc<Probes>,
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
    owner: String,
    interval: Duration,
    stop: watch::Receiver<bool>,
) {
    let previous = Mutex::new(None::<f64>);
    every(interval, stop, || async {
        let sent = p.clock.now();
        let Ok(ids) = owner_ids(&dynamodb, &table, &owner).await else {
            *lock(&previous) = None;
            return;
        };
        let at = match lock(&previous).replace(sent) {
            Some(before) => (before + sent) / 2.0,
            None => sent,
        };
        let mut seen = lock(&p.recorder.seen);
        for id in ids {
            seen.entry(id).or_insert(at);
        }
    })
    .await;
}

/// Every item id of `owner` in `table` (paged, consistent).
pub async fn owner_ids(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    owner: &str,
) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    let mut start = None;
    loop {
        let page = dynamodb
            .query()
            .table_name(table)
            .key_condition_expression("#o = :o")
            .expression_attribute_names("#o", "owner")
            .expression_attribute_values(":o", AttributeValue::S(owner.to_owned()))
            .projection_expression("id")
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await?;
        out.extend(
            page.items()
                .iter()
                .filter_map(|i| i.get("id").and_then(|v| v.as_s().ok()).cloned()),
        );
        match page.last_evaluated_key() {
            Some(k) if !k.is_empty() => start = Some(k.clone()),
            _ => return Ok(out),
        }
    }
}

/// The health-check watcher: every checker's last probe, each distinct
/// probe kept (by its checked time) so detection can be placed where
/// Route 53's verdict turned (see [`detection`]).
pub async fn health_loop(
    p: Arc<Probes>,
    route53: aws_sdk_route53::Client,
    id: String,
    interval: Duration,
    stop: watch::Receiver<bool>,
) {
    every(interval, stop, || async {
        let at = p.clock.now();
        let Ok(out) = route53
            .get_health_check_status()
            .health_check_id(&id)
            .send()
            .await
        else {
            return;
        };
        let mut success = 0;
        let obs = out.health_check_observations();
        let mut probes = lock(&p.recorder.checker_probes);
        for o in obs {
            let Some(report) = o.status_report() else {
                continue;
            };
            let ok = report.status().is_some_and(|s| s.starts_with("Success"));
            success += usize::from(ok);
            // A checker is its location and address together (several
            // may share an address, as the sandbox's do).
            let checker = format!(
                "{}/{}",
                o.region().map(|r| r.as_str()).unwrap_or("?"),
                o.ip_address().unwrap_or("?")
            );
            if let Some(t) = report.checked_time() {
                let wall = t.secs() * 1000 + i64::from(t.subsec_nanos() / 1_000_000);
                probes.entry(checker).or_default().insert(wall, ok);
            }
        }
        lock(&p.recorder.health).push(HealthObservation {
            at_ms: at,
            success,
            checkers: obs.len(),
        });
    })
    .await;
}

/// When Route 53's verdict on the primary first turned unhealthy at or
/// after `from_ms`: each checker turns unhealthy at its `threshold`-th
/// failed probe in a row, and Route 53 calls the endpoint unhealthy once
/// no more than 18% of checkers still say healthy. `None` when the
/// observed probes never get there (or too few were seen).
pub fn detection(
    probes: &BTreeMap<String, BTreeMap<i64, bool>>,
    clock: &Clock,
    from_ms: f64,
    threshold: u32,
) -> Option<f64> {
    let total = probes.len();
    if total == 0 {
        return None;
    }
    let mut flips: Vec<f64> = probes
        .values()
        .filter_map(|history| {
            let mut run = 0;
            for (wall, ok) in history {
                let at = clock.on_clock(*wall);
                if at < from_ms {
                    continue;
                }
                if *ok {
                    run = 0;
                } else {
                    run += 1;
                    if run >= threshold {
                        return Some(at);
                    }
                }
            }
            None
        })
        .collect();
    flips.sort_by(f64::total_cmp);
    // Unhealthy once healthy*100 <= 18*total.
    (0..=total)
        .find(|unhealthy| (total - unhealthy) * 100 <= 18 * total)
        .and_then(|needed| flips.get(needed.checked_sub(1)?).copied())
}

/// The DNS watcher: the authoritative answer for the API name, kept when
/// it changes; marks the DNS flip and the flip back.
pub async fn dns_loop(
    p: Arc<Probes>,
    dns: AuthoritativeDns,
    name: String,
    regions: Vec<String>,
    addresses: HashMap<IpAddr, String>,
    interval: Duration,
    stop: watch::Receiver<bool>,
) {
    every(interval, stop, || async {
        let at = p.clock.now();
        let (region, answer) = match dns.query(&name).await {
            Ok(a) => (answer_region(&a, &regions, &addresses), a.records.join(" ")),
            Err(e) => (None, format!("error: {e}")),
        };
        {
            // Kept when it changes; the marks below look at every answer.
            let mut log = lock(&p.recorder.dns);
            if !log
                .last()
                .is_some_and(|l| l.region == region && l.answer == answer)
            {
                log.push(DnsObservation {
                    at_ms: at,
                    region: region.clone(),
                    answer,
                });
            }
        }
        p.recorder.mark(|m| {
            if let Some(inject) = m.inject_ms
                && m.dns_ms.is_none()
                && m.restore_ms.is_none()
                && at >= inject
                && region.as_deref() == Some(p.secondary.as_str())
            {
                m.dns_ms = Some(at);
            }
            if let Some(restore) = m.restore_ms
                && m.failback_dns_ms.is_none()
                && at >= restore
                && region.as_deref() == Some(p.primary.as_str())
            {
                m.failback_dns_ms = Some(at);
            }
        });
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock() -> Clock {
        Clock {
            start: Instant::now(),
            start_wall_ms: 1_000_000,
        }
    }

    #[test]
    fn detection_waits_for_the_threshold_and_the_18_percent_rule() {
        let c = clock();
        // Eight checkers probing every 1000 ms from wall 1_000_000 (ms 0);
        // all fail from ms 2000 on; checker i probes at i*100 offsets.
        let mut probes = BTreeMap::new();
        for i in 0..8i64 {
            let mut h = BTreeMap::new();
            for k in 0..8i64 {
                let t = 1_000_000 + k * 1000 + i * 100;
                h.insert(t, t - 1_000_000 < 2000);
            }
            probes.insert(format!("15.177.0.{i}"), h);
        }
        // Threshold 3: checker i flips at ms 4000 + i*100. Healthy while
        // more than 18% (1.44 of 8) say so: unhealthy once 7 have flipped.
        let d = detection(&probes, &c, 0.0, 3).unwrap();
        assert_eq!(d, 4600.0);
        assert_eq!(detection(&probes, &c, 0.0, 9), None);
        assert_eq!(detection(&BTreeMap::new(), &c, 0.0, 3), None);
    }
}
