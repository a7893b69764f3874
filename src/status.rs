//! What `status` finds: both regions, the health check, where DNS points,
//! replication lag measured now, faults left behind and drift from what
//! `up` would make. Everything is gathered concurrently through the AWS
//! APIs (the same calls on both targets), each call under the clients'
//! deadline, so a dead region shows as unreachable instead of hanging.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;

use crate::deploy::{Action, AwsError, Ctx, StepReport};
use crate::journal;
pub use crate::resources::api::ApiState;
pub use crate::resources::domains::DomainState;
pub use crate::resources::function::FunctionState;
pub use crate::resources::health_check::HealthCheckState;
pub use crate::resources::identity_pool::IdentityPoolState;
pub use crate::resources::table::TableState;
pub use crate::resources::zone::DnsState;
use crate::resources::{
    api, domains, function, health_check, identity_pool, regional_api_domain, table, table_arn,
    table_name, zone,
};

/// Version of the JSON `status --json` prints (README, "status").
pub const SCHEMA_VERSION: u32 = 1;
/// The probe items' partition: no Cognito identity looks like this.
pub const PROBE_OWNER: &str = "wildrydes-status-probe";
const PROBES: usize = 3;
const PROBE_DEADLINE: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Probe {
    pub url: String,
    pub status: Option<u16>,
    pub latency_ms: Option<f64>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RegionState {
    pub region: String,
    pub role: &'static str,
    pub reachable: bool,
    pub table: Option<TableState>,
    pub function: Option<FunctionState>,
    pub api: Option<ApiState>,
    pub domains: Vec<DomainState>,
    /// The region's Cognito identity pool: where users log in.
    pub identity_pool: Option<IdentityPoolState>,
    pub health: Probe,
    /// What could not be read, and why.
    pub errors: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Lag {
    pub from: String,
    pub to: String,
    /// Median of the probes that arrived.
    pub p50_ms: Option<f64>,
    pub probes: usize,
    pub arrived: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Fault {
    pub kind: String,
    pub scope: String,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Drift {
    pub scope: String,
    pub resource: String,
    pub differs: String,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    Healthy,
    Degraded,
    FailedOver,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub schema_version: u32,
    pub target: String,
    pub stack: String,
    pub state: State,
    pub verdict: String,
    pub serving_region: Option<String>,
    pub regions: Vec<RegionState>,
    pub health_check: Option<HealthCheckState>,
    pub dns: Option<DnsState>,
    pub replication: Vec<Lag>,
    pub faults: Vec<Fault>,
    /// `None` when it could not be determined in time.
    pub drift: Option<Vec<Drift>>,
    pub problems: Vec<String>,
    pub seconds: f64,
}

/// How to reach a region's own custom domain over HTTP: the URL and the
/// `Host` header to send (the sandbox serves every region on loopback).
pub type HealthUrl = Box<dyn Fn(&str, &str) -> (String, Option<String>) + Send + Sync>;

/// Why a read failed, briefly (`Code: message`, `no answer in time`,
/// `cannot connect`), and whether the region did not answer at all.
fn why(e: &anyhow::Error) -> (String, bool) {
    match AwsError::of(e) {
        Some(a) => (a.reason().to_owned(), a.unreachable()),
        None => (format!("{e:#}"), false),
    }
}

/// The call that failed and why, briefly.
fn brief(e: &anyhow::Error) -> String {
    AwsError::of(e).map_or_else(|| format!("{e:#}"), AwsError::brief)
}

/// GETs a region's `/health` through its own custom domain.
async fn probe_health(
    region: &str,
    own: &str,
    health_url: &HealthUrl,
    http: &reqwest::Client,
) -> Probe {
    let (url, host) = health_url(region, own);
    let mut req = http.get(&url);
    if let Some(h) = host {
        req = req.header(reqwest::header::HOST, h);
    }
    let begun = Instant::now();
    match req.send().await {
        Ok(r) => Probe {
            url,
            status: Some(r.status().as_u16()),
            latency_ms: Some(begun.elapsed().as_secs_f64() * 1000.0),
            error: None,
        },
        Err(e) => Probe {
            url,
            status: None,
            latency_ms: None,
            error: Some(if e.is_timeout() {
                "no answer in time".into()
            } else {
                format!("cannot connect: {e}")
            }),
        },
    }
}

async fn region_state(
    ctx: Arc<Ctx>,
    region: String,
    health_url: Arc<HealthUrl>,
    http: reqwest::Client,
) -> RegionState {
    let role = if region == ctx.config.primary_region {
        "primary"
    } else {
        "secondary"
    };
    let own = regional_api_domain(&ctx, &region);
    let (table, function, api, (domains, domain_errors), pool, health) = tokio::join!(
        table::observe(&ctx, &region),
        function::observe(&ctx, &region),
        api::observe(&ctx, &region),
        domains::observe(&ctx, &region),
        identity_pool::observe(&ctx, &region),
        probe_health(&region, &own, &health_url, &http),
    );
    let mut errors = Vec::new();
    let mut unreachable = false;
    let mut note = |what: &str, e: &anyhow::Error| {
        let (reason, dead) = why(e);
        unreachable |= dead;
        errors.push(format!("{what}: {reason}"));
    };
    let table = table.unwrap_or_else(|e| {
        note("DynamoDB", &e);
        None
    });
    let function = function.unwrap_or_else(|e| {
        note("Lambda", &e);
        None
    });
    let api = api.unwrap_or_else(|e| {
        note("API Gateway", &e);
        None
    });
    let identity_pool = pool.unwrap_or_else(|e| {
        note("Cognito", &e);
        None
    });
    for (name, e) in &domain_errors {
        note(&format!("custom domain {name}"), e);
    }
    RegionState {
        region,
        role,
        reachable: !unreachable,
        table,
        function,
        api,
        domains,
        identity_pool,
        health,
        errors,
    }
}

/// Writes probe items in `from` (concurrently) and times each one's
/// arrival in `to`, reading consistently; deletes them afterwards.
async fn lag(ctx: &Ctx, from: &str, to: &str, deadline: Duration) -> Lag {
    let table = table_name(ctx);
    let writer = &ctx.clients.region(from).dynamodb;
    let reader = &ctx.clients.region(to).dynamodb;
    let key = |id: &str| {
        std::collections::HashMap::from([
            ("owner".to_owned(), AttributeValue::S(PROBE_OWNER.into())),
            ("id".to_owned(), AttributeValue::S(id.to_owned())),
        ])
    };
    let probe = |i: usize| {
        // Unique per call: a `--watch` loop must never read an earlier
        // loop's probe (deleted here, but perhaps not yet replicated).
        let nonce = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let id = format!("{from}-{}-{nonce}-{i}", std::process::id());
        let table = table.clone();
        async move {
            let put = writer
                .put_item()
                .table_name(&table)
                .set_item(Some(key(&id)))
                .send()
                .await;
            let written = Instant::now();
            let mut seen = None;
            // A put that timed out may still have landed: clean up anyway.
            while put.is_ok() && written.elapsed() < deadline {
                let got = reader
                    .get_item()
                    .table_name(&table)
                    .set_key(Some(key(&id)))
                    .consistent_read(true)
                    .send()
                    .await
                    .ok();
                match got {
                    Some(g) if g.item().is_some() => {
                        seen = Some(written.elapsed().as_secs_f64() * 1000.0);
                        break;
                    }
                    Some(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                    None => break,
                }
            }
            let _ = writer
                .delete_item()
                .table_name(&table)
                .set_key(Some(key(&id)))
                .send()
                .await;
            seen
        }
    };
    let mut samples: Vec<f64> = futures::future::join_all((0..PROBES).map(probe))
        .await
        .into_iter()
        .flatten()
        .collect();
    let arrived = samples.len();
    samples.sort_by(f64::total_cmp);
    Lag {
        from: from.to_owned(),
        to: to.to_owned(),
        p50_ms: samples.get(arrived / 2).copied(),
        probes: PROBES,
        arrived,
    }
}

/// Resource policies that deny the replication service on the tables of
/// the `reachable` regions (an unreachable one would only cost a deadline).
async fn replication_pauses(ctx: &Ctx, reachable: &[String]) -> Vec<Fault> {
    let mut out = Vec::new();
    for region in ctx.config.regions() {
        if !reachable.iter().any(|r| r == region) {
            continue;
        }
        let arn = table_arn(ctx, region);
        let Ok(policy) = ctx
            .clients
            .region(region)
            .dynamodb
            .get_resource_policy()
            .resource_arn(&arn)
            .send()
            .await
        else {
            continue;
        };
        let doc: serde_json::Value =
            serde_json::from_str(policy.policy().unwrap_or("{}")).unwrap_or_default();
        let statements = match &doc["Statement"] {
            serde_json::Value::Array(a) => a.clone(),
            other => vec![other.clone()],
        };
        for s in statements {
            let text = s.to_string();
            if s["Effect"] == "Deny" && text.contains("replication.dynamodb.amazonaws.com") {
                let until = s["Condition"]["DateLessThan"]["aws:CurrentTime"]
                    .as_str()
                    .map(str::to_owned);
                out.push(Fault {
                    kind: "replication-pause".into(),
                    scope: region.to_owned(),
                    detail: match until {
                        Some(t) => {
                            format!("a resource policy denies the replication service until {t}")
                        }
                        None => "a resource policy denies the replication service".into(),
                    },
                });
            }
        }
    }
    out
}

/// Drift: the `up` plan run as a dry run (Lambda code and web files are not
/// compared here: `up --dry-run` does that).
async fn drift(ctx: Arc<Ctx>) -> Vec<Drift> {
    let plan: Vec<_> = crate::deploy::up::plan(&ctx)
        .into_iter()
        .filter(|s| s.key != "site")
        .collect();
    let reports: Vec<StepReport> =
        crate::deploy::execute(plan, ctx, &crate::deploy::progress::Silent).await;
    reports
        .into_iter()
        .filter_map(|r| {
            let differs = match (r.action, &r.error) {
                (Some(Action::Unchanged), _) => return None,
                (Some(Action::WouldCreate), _) => "missing".to_owned(),
                (Some(_), _) => r.detail.clone().unwrap_or_else(|| "differs".into()),
                (None, Some(e)) => format!("could not compare: {e}"),
                (None, None) => return None,
            };
            Some(Drift {
                scope: r.scope,
                resource: r.resource,
                differs,
            })
        })
        .collect()
}

/// Gathers the whole report.
pub async fn gather(
    ctx: Arc<Ctx>,
    health_url: HealthUrl,
    deadline: Duration,
) -> anyhow::Result<Report> {
    gather_with(ctx, health_url, deadline, PROBE_DEADLINE).await
}

/// [`gather`], waiting up to `lag_deadline` for each replication probe
/// (a drill's steady-state bound may be longer than `status`'s 2 s).
pub async fn gather_with(
    ctx: Arc<Ctx>,
    health_url: HealthUrl,
    deadline: Duration,
    lag_deadline: Duration,
) -> anyhow::Result<Report> {
    let begun = Instant::now();
    let http = reqwest::Client::builder()
        .timeout(deadline)
        .connect_timeout(deadline)
        .build()?;
    let health_url = Arc::new(health_url);
    let [p, s] = ctx.config.regions();
    let (primary, secondary) = tokio::join!(
        region_state(ctx.clone(), p.to_owned(), health_url.clone(), http.clone()),
        region_state(ctx.clone(), s.to_owned(), health_url.clone(), http.clone()),
    );
    let regions = vec![primary, secondary];
    let nothing = regions.iter().all(|r| {
        r.reachable
            && r.table.is_none()
            && r.function.is_none()
            && r.api.is_none()
            && r.identity_pool.is_none()
    });
    if nothing {
        anyhow::bail!(
            "no stack {} is deployed on the {}: run `wildrydes up`",
            ctx.config.stack,
            ctx.config.target
        );
    }
    let targets: BTreeMap<String, String> = regions
        .iter()
        .filter_map(|r| {
            let d = r
                .domains
                .iter()
                .find(|d| d.name == ctx.config.api_domain())?;
            Some((r.region.clone(), d.target.clone()?))
        })
        .collect();
    let both_up = regions.iter().all(|r| r.reachable && r.table.is_some());
    let reachable: Vec<String> = regions
        .iter()
        .filter(|r| r.reachable)
        .map(|r| r.region.clone())
        .collect();
    let drift_ctx = ctx.clone();
    let (hc, dns, lag_ps, lag_sp, pauses, drift) = tokio::join!(
        health_check::observe(&ctx),
        zone::observe(&ctx, &targets),
        async {
            if both_up {
                Some(lag(&ctx, p, s, lag_deadline).await)
            } else {
                None
            }
        },
        async {
            if both_up {
                Some(lag(&ctx, s, p, lag_deadline).await)
            } else {
                None
            }
        },
        replication_pauses(&ctx, &reachable),
        async {
            if both_up {
                tokio::time::timeout(deadline, drift(drift_ctx)).await.ok()
            } else {
                None
            }
        },
    );
    let mut problems = Vec::new();
    let health_check = hc.unwrap_or_else(|e| {
        problems.push(format!("health check: {}", brief(&e)));
        None
    });
    let dns = dns.unwrap_or_else(|e| {
        problems.push(format!("DNS: {}", brief(&e)));
        None
    });
    let replication: Vec<Lag> = [lag_ps, lag_sp].into_iter().flatten().collect();

    let faults = faults_left_behind(&regions, health_check.as_ref(), pauses, &mut problems);
    problems.extend(problems_of(
        &regions,
        health_check.as_ref(),
        &replication,
        lag_deadline,
        drift.as_deref(),
    ));
    let (state, verdict) = verdict(p, s, dns.as_ref(), &replication, &faults, &problems);
    Ok(Report {
        schema_version: SCHEMA_VERSION,
        target: ctx.config.target.to_string(),
        stack: ctx.config.stack.clone(),
        state,
        verdict,
        serving_region: dns.as_ref().and_then(|d| d.region.clone()),
        regions,
        health_check,
        dns,
        replication,
        faults,
        drift,
        problems,
        seconds: begun.elapsed().as_secs_f64(),
    })
}

/// Faults a drill (or a person) left behind: the `pauses` found, Lambda
/// faults and throttles, an inverted or disabled health check, and the
/// drill journal's unrestored faults.
fn faults_left_behind(
    regions: &[RegionState],
    health_check: Option<&HealthCheckState>,
    pauses: Vec<Fault>,
    problems: &mut Vec<String>,
) -> Vec<Fault> {
    let mut faults = pauses;
    for r in regions {
        if let Some(f) = &r.function {
            if let Some(fault) = &f.fault {
                faults.push(Fault {
                    kind: "function-fault".into(),
                    scope: r.region.clone(),
                    detail: format!("WILDRYDES_FAULT={fault}"),
                });
            }
            if f.reserved_concurrency == Some(0) {
                faults.push(Fault {
                    kind: "lambda-throttle".into(),
                    scope: r.region.clone(),
                    detail: "reserved concurrency 0: every request is throttled".into(),
                });
            }
        }
    }
    if let Some(h) = health_check {
        if h.inverted {
            faults.push(Fault {
                kind: "health-check-inversion".into(),
                scope: "global".into(),
                detail: format!("health check {} is Inverted", h.id),
            });
        }
        if h.disabled {
            faults.push(Fault {
                kind: "health-check-disabled".into(),
                scope: "global".into(),
                detail: format!("health check {} is Disabled", h.id),
            });
        }
    }
    match journal::open_faults() {
        Ok(left) => faults.extend(left.into_iter().map(|f| Fault {
            kind: format!("drill-journal:{}", f.kind),
            scope: f.scope,
            detail: format!(
                "drill {} injected it at {} and never restored it: `wildrydes failover-test --restore`",
                f.drill, f.injected_at
            ),
        })),
        Err(e) => problems.push(format!("drill journal: {e:#}")),
    }

    faults
}

/// What needs attention besides faults: missing resources, unreachable
/// regions, failing /health, an unhealthy check, slow replication, drift.
fn problems_of(
    regions: &[RegionState],
    health_check: Option<&HealthCheckState>,
    replication: &[Lag],
    lag_deadline: Duration,
    drift: Option<&[Drift]>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for r in regions.iter().filter(|r| r.reachable) {
        let missing: Vec<&str> = [
            ("table", r.table.is_none()),
            ("function", r.function.is_none()),
            ("REST API", r.api.is_none()),
            ("custom domains", r.domains.len() < 2),
            ("identity pool", r.identity_pool.is_none()),
        ]
        .into_iter()
        .filter_map(|(what, gone)| gone.then_some(what))
        .collect();
        if !missing.is_empty() {
            problems.push(format!("{}: missing {}", r.region, missing.join(", ")));
        }
    }
    for r in regions {
        if !r.reachable {
            problems.push(format!(
                "{} is unreachable: {}",
                r.region,
                r.errors.join("; ")
            ));
        } else {
            problems.extend(r.errors.iter().map(|e| format!("{}: {e}", r.region)));
        }
        if r.reachable && r.health.status != Some(200) {
            problems.push(format!(
                "{} /health: {}",
                r.region,
                match (&r.health.status, &r.health.error) {
                    (Some(s), _) => format!("HTTP {s}"),
                    (_, Some(e)) => e.clone(),
                    _ => "no answer".into(),
                }
            ));
        }
    }
    if let Some(h) = health_check
        && !h.healthy
    {
        problems.push(format!(
            "the primary's health check is unhealthy ({} of {} checkers healthy)",
            h.checkers_healthy, h.checkers
        ));
    }
    for l in replication {
        if l.arrived < l.probes {
            problems.push(format!(
                "replication {} → {}: {} of {} probes arrived within {:?}",
                l.from, l.to, l.arrived, l.probes, lag_deadline
            ));
        }
    }
    if let Some(d) = drift
        && !d.is_empty()
    {
        problems.push(format!(
            "{} resources differ from what `up` would make",
            d.len()
        ));
    }

    problems
}

/// The state and the one-line verdict: where DNS serves from, the worst
/// replication lag, and the first fault or problem.
fn verdict(
    p: &str,
    s: &str,
    dns: Option<&DnsState>,
    replication: &[Lag],
    faults: &[Fault],
    problems: &[String],
) -> (State, String) {
    let serving = dns.and_then(|d| d.region.clone());
    let worst_lag = replication
        .iter()
        .filter_map(|l| l.p50_ms)
        .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))));
    let lag_text = match worst_lag {
        Some(ms) => format!("replication {:.1} s", ms / 1000.0),
        None => "replication unknown".into(),
    };
    if serving.as_deref() == Some(s) {
        (
            State::FailedOver,
            format!("FAILED OVER: serving from {s}, {lag_text}"),
        )
    } else if problems.is_empty() && faults.is_empty() && serving.as_deref() == Some(p) {
        (
            State::Healthy,
            format!("healthy: serving from {p}, {lag_text}"),
        )
    } else {
        let first = faults
            .first()
            .map(|f| format!("{} in {}", f.kind, f.scope))
            .or_else(|| problems.first().cloned())
            .unwrap_or_else(|| "DNS answers no region".into());
        let serving = serving.unwrap_or_else(|| "no region".into());
        (
            State::Degraded,
            format!("DEGRADED: {first}; serving from {serving}, {lag_text}"),
        )
    }
}
