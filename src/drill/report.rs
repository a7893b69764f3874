//! The drill report: what a drill measured, in one versioned, serialisable
//! shape. `report.json` is this struct (schema in the README, "failover-test");
//! the terminal table, `report.md`, `timeline.svg` and the JUnit file are
//! renderings of it (`render`). Every time is milliseconds on the drill's
//! one monotonic clock, counted from the drill's start.

use serde::{Deserialize, Serialize};

/// Version of `report.json` (README, "failover-test").
pub const SCHEMA_VERSION: u32 = 1;

/// How a drill came out; the exit code follows (0, 1, 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Every objective met: exit 0.
    Met,
    /// It ran, and an objective was missed: exit 1.
    Missed,
    /// It could not run (not steady, no stack, an error): exit 2.
    Aborted,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Met => "met",
            Outcome::Missed => "missed",
            Outcome::Aborted => "aborted",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub schema_version: u32,
    pub run_id: String,
    pub stack: String,
    pub target: String,
    pub playbook: PlaybookSummary,
    /// RFC 3339, wall clock, for people; all measurements use `*Ms` fields.
    pub started_at: String,
    pub finished_at: String,
    pub settings: Settings,
    pub outcome: Outcome,
    /// Why the drill was aborted, or errors met on the way.
    pub errors: Vec<String>,
    /// Whether every injected fault was rolled back.
    pub restored: bool,
    pub phases: Vec<Phase>,
    pub marks: Marks,
    /// `None` when no failover was expected or none was seen.
    pub rto: Option<Rto>,
    /// Restore call to the first 2xx served by the primary again.
    pub failback_ms: Option<f64>,
    pub requests: RequestStats,
    /// Steady-state replication lag (before the fault).
    pub baseline_lag: LagStats,
    pub rpo: Rpo,
    pub new_login: LoginCheck,
    pub objectives: Vec<Objective>,
    /// Every user request the probes made.
    pub request_log: Vec<RequestSample>,
    /// Every probe ticket: acknowledged when, seen in the secondary when.
    pub probe_log: Vec<ProbeTicket>,
    pub health_checks: Vec<HealthObservation>,
    pub dns_answers: Vec<DnsObservation>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PlaybookSummary {
    pub name: String,
    pub path: String,
    pub description: String,
    pub fault: String,
    /// The region the fault hits.
    pub region: String,
    pub expect_failover: bool,
}

/// The settings the numbers should be judged against.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    pub primary_region: String,
    pub secondary_region: String,
    pub health_check_interval_s: u32,
    pub health_check_failure_threshold: u32,
    pub dns_ttl_s: u32,
    pub user_interval_ms: f64,
    pub writer_interval_ms: f64,
    pub reader_interval_ms: f64,
    pub request_timeout_ms: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Phase {
    /// `steady-state`, `baseline`, `inject`, `outage`, `restore`,
    /// `failback`, `settle`, `cleanup`.
    pub name: String,
    pub start_ms: f64,
    pub end_ms: f64,
}

/// The moments DESIGN.md ("Drills") defines.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Marks {
    /// The fault call returned.
    pub inject_ms: Option<f64>,
    /// Route 53 first judged the primary unhealthy (its failover answer;
    /// `GetHealthCheckStatus` shows single probes, not the verdict).
    pub detect_ms: Option<f64>,
    /// The authoritative DNS first answered the secondary.
    pub dns_ms: Option<f64>,
    /// The first 2xx through the API name served by the secondary.
    pub recover_ms: Option<f64>,
    /// The restore call returned.
    pub restore_ms: Option<f64>,
    /// The authoritative DNS first answered the primary again.
    pub failback_dns_ms: Option<f64>,
    /// The first 2xx served by the primary again.
    pub failback_ms: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Rto {
    /// `recover - inject`.
    pub total_ms: f64,
    /// `detect - inject`.
    pub detection_ms: Option<f64>,
    /// `dns - detect`.
    pub dns_ms: Option<f64>,
    /// `recover - dns`: the client's cache and retries.
    pub client_ms: Option<f64>,
    /// User requests that failed between inject and recover.
    pub errors_in_window: usize,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RequestStats {
    pub total: usize,
    pub failed: usize,
    /// From inject to the end of the outage phase.
    pub window_total: usize,
    pub window_failed: usize,
    /// Succeeded / total in the window (1.0 with no requests).
    pub window_availability: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LagStats {
    pub samples: usize,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Rpo {
    /// Age at `recover` (or at the end of the outage when there was no
    /// failover) of the oldest acknowledged probe missing from the
    /// secondary; 0 when none was missing.
    pub rpo_ms: Option<f64>,
    /// The writer's interval: the RPO is known to within this.
    pub resolution_ms: f64,
    pub acknowledged: usize,
    /// Acknowledged and missing from the secondary at the RPO moment.
    pub at_risk: usize,
    /// Of those, arrived after it.
    pub arrived_late: usize,
    /// Of those, never arrived (after replication settled).
    pub lost: usize,
    pub at_risk_sequences: Vec<u64>,
    pub lost_sequences: Vec<u64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LoginCheck {
    pub attempted: bool,
    pub ok: Option<bool>,
    /// The region whose Cognito answered.
    pub region: Option<String>,
    pub at_ms: Option<f64>,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Objective {
    /// `rto`, `rpo`, `no-data-lost`, `restored`.
    pub name: String,
    pub target_ms: Option<f64>,
    pub measured_ms: Option<f64>,
    pub met: bool,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RequestSample {
    pub at_ms: f64,
    /// `read` (the user probe's `GET /tickets`) or `write` (a probe ticket).
    pub kind: String,
    pub status: Option<u16>,
    pub ok: bool,
    /// `x-wildrydes-region` of the answer.
    pub served_by: Option<String>,
    /// The region the request was signed for.
    pub signed_for: String,
    pub latency_ms: f64,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ProbeTicket {
    pub sequence: u64,
    pub id: String,
    pub acked_ms: f64,
    pub acked_by: Option<String>,
    /// First seen in the secondary's table.
    pub seen_ms: Option<f64>,
    /// `present`, `arrived-late` or `lost`.
    pub class: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HealthObservation {
    pub at_ms: f64,
    /// Checkers whose last probe succeeded.
    pub success: usize,
    pub checkers: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DnsObservation {
    pub at_ms: f64,
    /// The region the authoritative answer names, when it names one.
    pub region: Option<String>,
    pub answer: String,
}

/// Percentiles of `samples` (nearest rank).
pub fn lag_stats(samples: &[f64]) -> LagStats {
    let mut s: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
    s.sort_by(f64::total_cmp);
    let pick = |q: f64| -> Option<f64> {
        if s.is_empty() {
            return None;
        }
        let rank = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len());
        Some(s[rank - 1])
    };
    LagStats {
        samples: s.len(),
        p50_ms: pick(0.50),
        p95_ms: pick(0.95),
        p99_ms: pick(0.99),
        max_ms: s.last().copied(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let s: Vec<f64> = (1..=100).map(f64::from).collect();
        let l = lag_stats(&s);
        assert_eq!(l.samples, 100);
        assert_eq!(l.p50_ms, Some(50.0));
        assert_eq!(l.p95_ms, Some(95.0));
        assert_eq!(l.p99_ms, Some(99.0));
        assert_eq!(l.max_ms, Some(100.0));
        assert_eq!(lag_stats(&[]).p50_ms, None);
        assert_eq!(lag_stats(&[7.0]).p99_ms, Some(7.0));
    }
}
