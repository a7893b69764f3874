//! From what the probes recorded to the report's numbers, exactly as
//! DESIGN.md ("Drills") defines them: RTO and its breakdown, failback,
//! availability, steady-state lag, RPO and each probe's fate, and the
//! objectives met or missed.

use super::env::Env;
use super::playbook::Plan;
use super::probes::{self, Clock, Recorder};
use super::report::{
    self, LoginCheck, Objective, Outcome, Phase, PlaybookSummary, ProbeTicket, Report,
    RequestStats, Rpo, Rto, Settings,
};
use crate::journal;

pub struct Inputs<'a> {
    pub env: &'a Env,
    pub plan: &'a Plan,
    pub run_id: &'a str,
    pub started_at: String,
    pub clock: Clock,
    pub recorder: &'a Recorder,
    pub phases: Vec<Phase>,
    pub errors: Vec<String>,
    /// Every injected fault was rolled back (or none was injected).
    pub restored: bool,
    pub login: LoginCheck,
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub fn report(i: Inputs<'_>) -> Report {
    let Inputs {
        env,
        plan,
        run_id,
        started_at,
        clock,
        recorder,
        phases,
        errors,
        restored,
        login,
    } = i;
    let config = &env.config;
    let mut marks = recorder.marks();
    let checker_probes = lock(&recorder.checker_probes).clone();
    if let Some(inject) = marks.inject_ms {
        // Route 53's verdict from the checkers' probes; the DNS answer
        // shows it too, so the DNS flip bounds it from above.
        let computed = probes::detection(
            &checker_probes,
            &clock,
            inject,
            config.health_check_failure_threshold,
        );
        marks.detect_ms = match (computed, marks.dns_ms) {
            (Some(d), Some(n)) => Some(d.min(n)),
            (d, n) => d.or(n),
        };
    }
    let requests = lock(&recorder.requests).clone();
    let seen = lock(&recorder.seen).clone();
    let mut tickets: Vec<ProbeTicket> = lock(&recorder.tickets).clone();
    for t in &mut tickets {
        t.seen_ms = seen.get(&t.id).copied();
    }
    tickets.sort_by_key(|t| t.sequence);

    let outage_end = phases
        .iter()
        .find(|p| p.name == "outage")
        .map(|p| p.end_ms)
        .or(marks.restore_ms);
    let rto = match (plan.expect_failover, marks.inject_ms, marks.recover_ms) {
        (true, Some(inject), Some(recover)) => Some(Rto {
            total_ms: recover - inject,
            detection_ms: marks.detect_ms.map(|d| d - inject),
            dns_ms: match (marks.dns_ms, marks.detect_ms) {
                (Some(n), Some(d)) => Some(n - d),
                _ => None,
            },
            client_ms: marks.dns_ms.map(|n| recover - n),
            errors_in_window: requests
                .iter()
                .filter(|r| !r.ok && r.at_ms >= inject && r.at_ms <= recover)
                .count(),
        }),
        _ => None,
    };
    let request_stats = request_stats(&requests, marks.inject_ms, outage_end);
    // Steady state: written and replicated before the fault.
    let baseline: Vec<f64> = tickets
        .iter()
        .filter_map(|t| Some((t.acked_ms, t.seen_ms?)))
        .filter(|(_, seen)| marks.inject_ms.is_none_or(|i| *seen < i))
        .map(|(acked, seen)| (seen - acked).max(0.0))
        .collect();

    // The RPO moment: the first request the secondary served (failover
    // drills), else the end of the fault.
    let rpo_at = if plan.expect_failover {
        marks.recover_ms.or(outage_end)
    } else {
        outage_end
    };
    let rpo = classify(
        &mut tickets,
        rpo_at,
        &config.secondary_region,
        plan.writer_interval.as_secs_f64() * 1000.0,
    );

    let failback_ms = match (marks.restore_ms, marks.failback_ms) {
        (Some(r), Some(f)) => Some(f - r),
        _ => None,
    };
    let injected = marks.inject_ms.is_some();
    let objectives = objectives(plan, injected, rto.as_ref(), &rpo, restored, failback_ms);
    let outcome = if !injected {
        Outcome::Aborted
    } else if objectives.iter().all(|o| o.met) {
        Outcome::Met
    } else {
        Outcome::Missed
    };
    Report {
        schema_version: report::SCHEMA_VERSION,
        run_id: run_id.into(),
        stack: config.stack.clone(),
        target: config.target.to_string(),
        playbook: PlaybookSummary {
            name: plan.name.clone(),
            path: plan.path.display().to_string(),
            description: plan.description.clone(),
            fault: plan.fault.as_str().into(),
            region: plan.region.clone(),
            expect_failover: plan.expect_failover,
        },
        started_at,
        finished_at: journal::now(),
        settings: Settings {
            primary_region: config.primary_region.clone(),
            secondary_region: config.secondary_region.clone(),
            health_check_interval_s: config.health_check_interval_seconds,
            health_check_failure_threshold: config.health_check_failure_threshold,
            dns_ttl_s: config.dns_ttl_seconds,
            user_interval_ms: plan.user_interval.as_secs_f64() * 1000.0,
            writer_interval_ms: plan.writer_interval.as_secs_f64() * 1000.0,
            reader_interval_ms: plan.reader_interval.as_secs_f64() * 1000.0,
            request_timeout_ms: plan.request_timeout.as_secs_f64() * 1000.0,
        },
        outcome,
        errors,
        restored,
        phases,
        marks,
        rto,
        failback_ms,
        requests: request_stats,
        baseline_lag: report::lag_stats(&baseline),
        rpo,
        new_login: login,
        objectives,
        request_log: requests,
        probe_log: tickets,
        health_checks: lock(&recorder.health).clone(),
        dns_answers: lock(&recorder.dns).clone(),
    }
}

fn request_stats(
    requests: &[report::RequestSample],
    from: Option<f64>,
    to: Option<f64>,
) -> RequestStats {
    let in_window = |r: &&report::RequestSample| match (from, to) {
        (Some(f), Some(t)) => r.at_ms >= f && r.at_ms <= t,
        _ => false,
    };
    let window_total = requests.iter().filter(in_window).count();
    let window_failed = requests.iter().filter(in_window).filter(|r| !r.ok).count();
    RequestStats {
        total: requests.len(),
        failed: requests.iter().filter(|r| !r.ok).count(),
        window_total,
        window_failed,
        window_availability: if window_total == 0 {
            1.0
        } else {
            (window_total - window_failed) as f64 / window_total as f64
        },
    }
}

/// Marks every acknowledged probe present, arrived late or lost. At risk
/// are those acknowledged by `at` (by a region other than `secondary`,
/// whose own writes are in it at once) and not in the secondary at `at`.
/// The RPO is the span of acknowledged writes the secondary lacked when it
/// took over: from the oldest of them to the last write the other region
/// acknowledged by `at` (0 when none was missing); it is known to within
/// one writer interval (`resolution_ms`).
pub fn classify(
    tickets: &mut [ProbeTicket],
    at: Option<f64>,
    secondary: &str,
    resolution_ms: f64,
) -> Rpo {
    let mut rpo = Rpo {
        resolution_ms,
        acknowledged: tickets.len(),
        ..Rpo::default()
    };
    let mut oldest: Option<f64> = None;
    let mut last_elsewhere: Option<f64> = None;
    for t in tickets.iter_mut() {
        let by_secondary = t.acked_by.as_deref() == Some(secondary);
        let in_time = at.is_some_and(|a| t.acked_ms <= a);
        if in_time && !by_secondary {
            last_elsewhere = Some(last_elsewhere.map_or(t.acked_ms, |l: f64| l.max(t.acked_ms)));
        }
        let at_risk =
            in_time && !by_secondary && at.is_some_and(|a| t.seen_ms.is_none_or(|s| s > a));
        t.class = match (at_risk, t.seen_ms) {
            (_, None) => "lost".into(),
            (true, Some(_)) => "arrived-late".into(),
            (false, Some(_)) => "present".into(),
        };
        if at_risk {
            rpo.at_risk += 1;
            rpo.at_risk_sequences.push(t.sequence);
            oldest = Some(oldest.map_or(t.acked_ms, |o: f64| o.min(t.acked_ms)));
            if t.seen_ms.is_some() {
                rpo.arrived_late += 1;
            }
        }
        if t.seen_ms.is_none() {
            rpo.lost += 1;
            rpo.lost_sequences.push(t.sequence);
        }
    }
    rpo.rpo_ms = at.map(|_| match (oldest, last_elsewhere) {
        (Some(o), Some(l)) => l - o,
        _ => 0.0,
    });
    rpo
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn objectives(
    plan: &Plan,
    injected: bool,
    rto: Option<&Rto>,
    rpo: &Rpo,
    restored: bool,
    failback_ms: Option<f64>,
) -> Vec<Objective> {
    if !injected {
        return Vec::new();
    }
    let mut out = Vec::new();
    if plan.expect_failover {
        let measured = rto.map(|r| r.total_ms);
        out.push(Objective {
            name: "rto".into(),
            target_ms: Some(ms(plan.rto)),
            measured_ms: measured,
            met: measured.is_some_and(|m| m <= ms(plan.rto)),
            detail: match measured {
                Some(_) => "fault to the first request the secondary served".into(),
                None => "the secondary never served a request during the outage".into(),
            },
        });
    }
    out.push(Objective {
        name: "rpo".into(),
        target_ms: Some(ms(plan.rpo)),
        measured_ms: rpo.rpo_ms,
        met: rpo.rpo_ms.is_some_and(|m| m <= ms(plan.rpo)),
        detail: format!(
            "{} of {} acknowledged probe tickets at risk, resolution {:.0} ms",
            rpo.at_risk, rpo.acknowledged, rpo.resolution_ms
        ),
    });
    out.push(Objective {
        name: "no-data-lost".into(),
        target_ms: None,
        measured_ms: None,
        met: rpo.lost == 0,
        detail: format!(
            "{} acknowledged probe tickets never reached the secondary",
            rpo.lost
        ),
    });
    if plan.failback {
        out.push(Objective {
            name: "failback".into(),
            target_ms: Some(ms(plan.failback_timeout)),
            measured_ms: failback_ms,
            met: failback_ms.is_some(),
            detail: "restore to the first request the primary served again".into(),
        });
    }
    out.push(Objective {
        name: "restored".into(),
        target_ms: None,
        measured_ms: None,
        met: restored,
        detail: if restored {
            "every injected fault was rolled back".into()
        } else {
            "a fault is still in place: run `wildrydes failover-test --restore`".into()
        },
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(sequence: u64, acked: f64, seen: Option<f64>) -> ProbeTicket {
        ProbeTicket {
            sequence,
            id: format!("t{sequence}"),
            acked_ms: acked,
            acked_by: Some("eu-west-1".into()),
            seen_ms: seen,
            class: String::new(),
        }
    }

    #[test]
    fn rpo_spans_the_writes_the_secondary_lacked_at_recovery() {
        let mut t = vec![
            ticket(1, 100.0, Some(300.0)),   // present
            ticket(2, 900.0, Some(5000.0)),  // at risk, late
            ticket(3, 950.0, None),          // at risk, lost
            ticket(4, 2000.0, Some(2100.0)), // after the moment
        ];
        let mut by_secondary = ticket(5, 990.0, Some(1100.0));
        by_secondary.acked_by = Some("ap-southeast-1".into());
        t.push(by_secondary);
        let rpo = classify(&mut t, Some(1000.0), "ap-southeast-1", 250.0);
        assert_eq!(rpo.rpo_ms, Some(50.0));
        assert_eq!((rpo.at_risk, rpo.arrived_late, rpo.lost), (2, 1, 1));
        assert_eq!(rpo.at_risk_sequences, [2, 3]);
        let classes: Vec<&str> = t.iter().map(|t| t.class.as_str()).collect();
        assert_eq!(
            classes,
            ["present", "arrived-late", "lost", "present", "present"]
        );
    }

    #[test]
    fn nothing_missing_is_rpo_zero() {
        let mut t = vec![ticket(1, 100.0, Some(150.0))];
        let s = "ap-southeast-1";
        assert_eq!(classify(&mut t, Some(1000.0), s, 250.0).rpo_ms, Some(0.0));
        assert_eq!(classify(&mut t, None, s, 250.0).rpo_ms, None);
    }
}
