//! The drill engine (DESIGN.md, "Drills"): check the steady state (not
//! steady: touch nothing), start the probes, measure a baseline, inject,
//! watch until recovered or the fault's maximum duration, restore, watch
//! failback, stop the probes, let replication settle, classify every
//! acknowledged probe, clean up, report. Rollback always runs once a fault
//! is journalled: on success, a missed objective, an error, a timeout and
//! Ctrl-C (the first Ctrl-C goes straight to the restore; a second stops
//! waiting for failback, never the restore itself).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use tokio::sync::watch;

use super::client::UserClient;
use super::env::Env;
use super::fault::{self, Undo};
use super::playbook::{BlackoutMode, FaultKind, Plan};
use super::probes::{self, Clock, Probes, Recorder};
use super::progress::Progress;
use super::report::{LoginCheck, Phase, Report};
use crate::journal::{self, Journal, JournalFault};

/// What the caller asked for beyond the playbook.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Where this run's files go: `<drills dir>/<run id>/`.
    pub run_id: String,
}

/// Ctrl-C presses so far (0, 1, 2+), as a watch the phases can wait on.
pub type Interrupts = watch::Receiver<u32>;

/// A drill that could not start: nothing was touched.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NotSteady(pub String);

/// The phases as they pass, on the drill's clock, shown as they start.
struct Phases<'a> {
    clock: Clock,
    list: Vec<Phase>,
    progress: &'a Progress,
}

impl Phases<'_> {
    fn enter(&mut self, name: &str) {
        let now = self.clock.now();
        if let Some(last) = self.list.last_mut() {
            last.end_ms = now;
        }
        self.list.push(Phase {
            name: name.into(),
            start_ms: now,
            end_ms: now,
        });
        self.progress.phase(name);
    }

    fn finish(mut self) -> Vec<Phase> {
        if let Some(last) = self.list.last_mut() {
            last.end_ms = self.clock.now();
        }
        self.list
    }
}

/// Runs one drill to the end; faults are always rolled back. Returns the
/// report (also when an objective was missed); `Err` only when the drill
/// could not run at all and touched nothing.
pub async fn run(
    env: &Env,
    plan: &Plan,
    options: &Options,
    interrupts: Interrupts,
    progress: &Progress,
) -> anyhow::Result<Report> {
    let clock = Clock::new();
    let started_at = journal::now();
    let mut phases = Phases {
        clock,
        list: Vec::new(),
        progress,
    };
    phases.enter("steady-state");
    steady_state(env, plan, &interrupts, progress).await?;

    // The drill user and its region-following client, as the web UI.
    // The drill user comes from the primary's pool (steady state: it
    // answers); the outage's new-login check tries every region's.
    let pools = env.pool_ids().await?;
    let (creds, owner) = env
        .drill_user(&pools[0].1, &format!("drill-{}", options.run_id))
        .await?;
    let dns = env.dns(Duration::from_secs(2))?;
    let user = UserClient::new(
        &env.api_base,
        dns.clone(),
        creds,
        &env.config.primary_region,
        plan.request_timeout,
    )?;
    let recorder = Arc::new(Recorder::default());
    let probes = Arc::new(Probes {
        clock,
        recorder: recorder.clone(),
        user: Arc::new(user),
        primary: env.config.primary_region.clone(),
        secondary: env.config.secondary_region.clone(),
        run_id: options.run_id.clone(),
    });
    progress.watch(recorder.clone(), clock);
    let health_check = env.health_check_id().await?;
    let mut running = Running::start(env, plan, &probes, &owner, &health_check, dns);

    phases.enter("baseline");
    let baseline = (plan.writer_interval * 12).max(Duration::from_secs(2));
    let mut errors = Vec::new();
    let (restored, login) = if wait_until(baseline, &interrupts, 1, || false).await {
        let journal_path = journal::dir().join(&options.run_id).join("journal.json");
        let cycle = Cycle {
            env,
            plan,
            probes: &probes,
            pools: &pools,
            journal_path: &journal_path,
            interrupts: &interrupts,
        };
        cycle.run(&started_at, &mut phases, &mut errors).await
    } else {
        errors.push("interrupted before the fault was injected; nothing was changed".into());
        (true, LoginCheck::default())
    };

    phases.enter("settle");
    // A request in flight finishes (and its ticket is counted) first.
    running.stop_users().await;
    let r = recorder.clone();
    wait_until(plan.settle_timeout, &interrupts, 3, || {
        let seen = r.seen.lock().unwrap_or_else(|p| p.into_inner());
        r.tickets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .all(|t| seen.contains_key(&t.id))
    })
    .await;
    running.stop_all().await;

    phases.enter("cleanup");
    if let Err(e) = delete_probe_tickets(env, &owner).await {
        errors.push(format!("deleting the probe tickets: {e:#}"));
    }
    let phases = phases.finish();
    progress.finish();
    Ok(super::measure::report(super::measure::Inputs {
        env,
        plan,
        run_id: &options.run_id,
        started_at,
        clock,
        recorder: &recorder,
        phases,
        errors,
        restored,
        login,
    }))
}

/// The probe tasks: the user and the writer stop before the settle phase;
/// the reader and the watchers run to the end.
struct Running {
    users: tokio::task::JoinSet<()>,
    watchers: tokio::task::JoinSet<()>,
    stop_users: watch::Sender<bool>,
    stop_watchers: watch::Sender<bool>,
}

impl Running {
    fn start(
        env: &Env,
        plan: &Plan,
        probes: &Arc<Probes>,
        owner: &str,
        health_check: &str,
        dns: super::client::AuthoritativeDns,
    ) -> Running {
        let (stop_users, users_rx) = watch::channel(false);
        let (stop_watchers, watchers_rx) = watch::channel(false);
        let mut users = tokio::task::JoinSet::new();
        let mut watchers = tokio::task::JoinSet::new();
        users.spawn(probes::user_loop(
            probes.clone(),
            plan.user_interval,
            users_rx.clone(),
        ));
        users.spawn(probes::writer_loop(
            probes.clone(),
            plan.writer_interval,
            users_rx,
        ));
        watchers.spawn(probes::reader_loop(
            probes.clone(),
            env.clients()
                .region(&env.config.secondary_region)
                .dynamodb
                .clone(),
            env.table(),
            owner.to_owned(),
            plan.reader_interval,
            watchers_rx.clone(),
        ));
        // Every checker's probe seen: several looks per interval.
        let hc_every = Duration::from_millis(
            (u64::from(env.config.health_check_interval_seconds) * 1000 / 4).clamp(100, 2500),
        );
        watchers.spawn(probes::health_loop(
            probes.clone(),
            env.clients().route53.clone(),
            health_check.to_owned(),
            hc_every,
            watchers_rx.clone(),
        ));
        watchers.spawn(probes::dns_loop(
            probes.clone(),
            dns,
            env.config.api_domain(),
            env.config.regions().iter().map(|r| r.to_string()).collect(),
            env.region_addresses.clone(),
            Duration::from_millis(100),
            watchers_rx,
        ));
        Running {
            users,
            watchers,
            stop_users,
            stop_watchers,
        }
    }

    async fn stop_users(&mut self) {
        let _ = self.stop_users.send(true);
        while self.users.join_next().await.is_some() {}
    }

    async fn stop_all(&mut self) {
        self.stop_users().await;
        let _ = self.stop_watchers.send(true);
        while self.watchers.join_next().await.is_some() {}
    }
}

/// Inject, outage, restore, failback: the part of a drill that changes
/// something, and always puts it back.
struct Cycle<'a> {
    env: &'a Env,
    plan: &'a Plan,
    probes: &'a Arc<Probes>,
    pools: &'a [(String, String)],
    journal_path: &'a Path,
    interrupts: &'a Interrupts,
}

impl Cycle<'_> {
    /// Returns whether everything injected was restored, and the
    /// new-login check.
    async fn run(
        &self,
        started_at: &str,
        phases: &mut Phases<'_>,
        errors: &mut Vec<String>,
    ) -> (bool, LoginCheck) {
        let (env, plan, recorder) = (self.env, self.plan, &self.probes.recorder);
        let mut login = LoginCheck {
            detail: "not tried: no fault was injected".into(),
            ..LoginCheck::default()
        };
        phases.enter("inject");
        let undos = match inject(env, plan, self.journal_path, started_at).await {
            Ok(undos) => {
                // T_inject: the fault call returned (DESIGN.md).
                let at = self.probes.clock.now();
                recorder.mark(|m| m.inject_ms = Some(at));
                if let Err(e) = settle_faults(env, &undos).await {
                    errors.push(format!("waiting for the fault to finish applying: {e:#}"));
                }
                phases.enter("outage");
                login = outage(env, plan, self.probes, self.pools, self.interrupts, errors).await;
                undos
            }
            Err((undos, e)) => {
                errors.push(format!("injecting {}: {e:#}", plan.fault.as_str()));
                undos
            }
        };
        if undos.is_empty() {
            return (true, login);
        }
        phases.enter("restore");
        if let Err(e) = restore(env, &undos, self.journal_path).await {
            errors.push(format!(
                "restoring: {e:#} (run `wildrydes failover-test --restore` to retry)"
            ));
            return (false, login);
        }
        let at = self.probes.clock.now();
        recorder.mark(|m| m.restore_ms = Some(at));
        if plan.failback {
            phases.enter("failback");
            let limit = plan.failback_timeout;
            let r = recorder.clone();
            let back = wait_until(limit, self.interrupts, 2, || {
                let m = r.marks();
                m.failback_ms.is_some() && m.failback_dns_ms.is_some()
            })
            .await;
            if !back && *self.interrupts.borrow() < 2 {
                errors.push(format!(
                    "no request was served by {} again within {}",
                    env.config.primary_region,
                    humantime::format_duration(limit)
                ));
            }
        }
        (true, login)
    }
}

/// Waits until `done`, `limit` passes, or `presses` Ctrl-Cs. `true` when
/// it ended by `done` or time, `false` when interrupted.
async fn wait_until(
    limit: Duration,
    interrupts: &Interrupts,
    presses: u32,
    mut done: impl FnMut() -> bool,
) -> bool {
    let deadline = Instant::now() + limit;
    let mut interrupts = interrupts.clone();
    loop {
        if *interrupts.borrow() >= presses {
            return false;
        }
        if done() || Instant::now() >= deadline {
            return true;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(25)) => {}
            _ = interrupts.changed() => {}
        }
    }
}

/// Steady state, or why not: both regions healthy, DNS answering the
/// primary, replication lag under the bound, no fault left behind, no
/// other drill. A fault left behind fails at once; transient conditions
/// (a failback still settling) are waited for up to the playbook's bound.
async fn steady_state(
    env: &Env,
    plan: &Plan,
    interrupts: &Interrupts,
    progress: &Progress,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + plan.steady_timeout;
    loop {
        let report = crate::status::gather_with(
            env.ctx.clone(),
            (env.health_url)(),
            Duration::from_millis(2500),
            plan.max_replication_lag,
        )
        .await?;
        let mut wrong: Vec<String> = Vec::new();
        if let Some(f) = report.faults.first() {
            return Err(NotSteady(format!(
                "not steady: a fault is in place ({} in {}: {}); restore it first (`wildrydes failover-test --restore` for a drill's)",
                f.kind, f.scope, f.detail
            ))
            .into());
        }
        if report.state != crate::status::State::Healthy {
            wrong.push(report.verdict.clone());
        }
        wrong.extend(report.problems.iter().cloned());
        for l in &report.replication {
            match l.p50_ms {
                Some(ms) if ms <= plan.max_replication_lag.as_secs_f64() * 1000.0 => {}
                Some(ms) => wrong.push(format!(
                    "replication {} → {} lags {ms:.0} ms, over the playbook's {}",
                    l.from,
                    l.to,
                    humantime::format_duration(plan.max_replication_lag)
                )),
                None => wrong.push(format!("replication {} → {} did not arrive", l.from, l.to)),
            }
        }
        if wrong.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline || *interrupts.borrow() > 0 {
            return Err(NotSteady(format!(
                "not steady, so nothing was touched: {}",
                wrong.join("; ")
            ))
            .into());
        }
        progress.note(&format!("waiting for a steady state: {}", wrong[0]));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Reads what the fault will change, journals the undo, then injects.
/// On failure returns the undos journalled so far (to be restored).
async fn inject(
    env: &Env,
    plan: &Plan,
    journal_path: &Path,
    started_at: &str,
) -> Result<Vec<Undo>, (Vec<Undo>, anyhow::Error)> {
    let clients = env.clients();
    let region = plan.region.as_str();
    let function = env.function();
    let mut undos = Vec::new();
    let reads: anyhow::Result<Vec<Undo>> = async {
        Ok(match plan.fault {
            FaultKind::HealthEndpointFailure => {
                vec![fault::read_function_fault(clients, region, &function).await?]
            }
            FaultKind::LambdaThrottle => {
                vec![fault::read_concurrency(clients, region, &function).await?]
            }
            FaultKind::HealthCheckInversion => {
                vec![fault::read_inverted(clients, &env.health_check_id().await?).await?]
            }
            FaultKind::ReplicationPause => {
                vec![fault::read_policy(clients, region, &env.table_arn(region)).await?]
            }
            FaultKind::RegionImpairment => vec![
                fault::read_concurrency(clients, region, &function).await?,
                fault::read_policy(clients, region, &env.table_arn(region)).await?,
            ],
            FaultKind::RegionBlackout => vec![Undo::Blackout {
                region: region.into(),
                killed: plan.blackout_mode == BlackoutMode::Kill,
            }],
        })
    }
    .await;
    let planned = reads.map_err(|e| (Vec::new(), e))?;
    let mut journal = Journal {
        drill: plan.name.clone(),
        started_at: started_at.into(),
        faults: Vec::new(),
        stack: Some(env.config.stack.clone()),
    };
    for undo in planned {
        journal.faults.push(JournalFault {
            kind: undo.fault_name().into(),
            scope: undo.scope(),
            injected_at: journal::now(),
            restored_at: None,
            undo: serde_json::to_value(&undo).unwrap_or_default(),
        });
        // Journalled first: a crash between these two lines leaves a
        // journal whose undo puts back what was there anyway.
        if let Err(e) = journal::write(journal_path, &journal) {
            return Err((undos, e));
        }
        undos.push(undo.clone());
        if let Err(e) = apply(env, plan, &undo).await {
            return Err((undos, e));
        }
    }
    Ok(undos)
}

/// Makes the change `undo` knows how to take back.
async fn apply(env: &Env, plan: &Plan, undo: &Undo) -> anyhow::Result<()> {
    let clients = env.clients();
    match undo {
        Undo::FunctionFault {
            region, function, ..
        } => fault::set_function_fault(clients, region, function, Some("health-5xx")).await,
        Undo::Concurrency {
            region, function, ..
        } => fault::set_concurrency(clients, region, function, Some(0)).await,
        Undo::HealthCheckInverted { id, .. } => fault::set_inverted(clients, id, true).await,
        Undo::ResourcePolicy {
            region,
            arn,
            previous,
        } => {
            // Bounded in time like FIS's: a drill that dies cannot pause
            // replication for longer than the playbook allows.
            let until =
                time::OffsetDateTime::now_utc() + plan.max_duration + time::Duration::seconds(60);
            let until = until
                .replace_nanosecond(0)
                .unwrap_or(until)
                .format(&time::format_description::well_known::Rfc3339)?;
            let policy = fault::pause_policy(previous.as_deref(), arn, &until)?;
            fault::put_policy(clients, region, arn, Some(&policy)).await
        }
        Undo::Blackout { region, killed } => {
            let guard = env.sandbox.lock().await;
            let sandbox = guard.as_ref().ok_or_else(|| {
                anyhow::anyhow!("region-blackout needs the sandbox; AWS cannot stop a region")
            })?;
            if *killed {
                sandbox.kill(region)?;
            } else {
                sandbox.freeze(region)?;
            }
            Ok(())
        }
    }
}

/// Waits for what AWS applies after accepting the call (a function
/// update), so the outage phase starts from the fault fully in place.
async fn settle_faults(env: &Env, undos: &[Undo]) -> anyhow::Result<()> {
    for undo in undos {
        if let Undo::FunctionFault {
            region, function, ..
        } = undo
        {
            fault::wait_function_updated(env.clients(), region, function).await?;
        }
    }
    Ok(())
}

/// Puts back what `undo` records.
pub async fn revert(env: &Env, undo: &Undo) -> anyhow::Result<()> {
    let clients = env.clients();
    match undo {
        Undo::FunctionFault {
            region,
            function,
            previous,
        } => {
            fault::set_function_fault(clients, region, function, previous.as_deref()).await?;
            fault::wait_function_updated(clients, region, function).await
        }
        Undo::Concurrency {
            region,
            function,
            previous,
        } => fault::set_concurrency(clients, region, function, *previous).await,
        Undo::HealthCheckInverted { id, previous } => {
            fault::set_inverted(clients, id, *previous).await
        }
        Undo::ResourcePolicy {
            region,
            arn,
            previous,
        } => fault::put_policy(clients, region, arn, previous.as_deref()).await,
        Undo::Blackout { region, killed } => {
            let mut guard = env.sandbox.lock().await;
            let sandbox = guard.as_mut().ok_or_else(|| {
                anyhow::anyhow!("a region-blackout can only be restored on the sandbox")
            })?;
            if *killed {
                sandbox
                    .revive_with(
                        region,
                        &crate::commands::sandbox::serve_command()?,
                        Duration::from_secs(30),
                    )
                    .await?;
            } else {
                sandbox.thaw(region)?;
            }
            Ok(())
        }
    }
}

/// Restores every undo (in reverse), marking each restored in the journal
/// as it goes; tries them all even when one fails.
async fn restore(env: &Env, undos: &[Undo], journal_path: &Path) -> anyhow::Result<()> {
    let mut journal = journal::read(journal_path)?;
    let mut failures = Vec::new();
    for (i, undo) in undos.iter().enumerate().rev() {
        match revert_with_retry(env, undo).await {
            Ok(()) => {
                if let Some(f) = journal.faults.get_mut(i) {
                    f.restored_at = Some(journal::now());
                }
                journal::write(journal_path, &journal)?;
            }
            Err(e) => failures.push(format!("{} in {}: {e:#}", undo.fault_name(), undo.scope())),
        }
    }
    anyhow::ensure!(failures.is_empty(), "{}", failures.join("; "));
    Ok(())
}

/// A restore must not give up on one slow answer: a few tries, backing off.
pub async fn revert_with_retry(env: &Env, undo: &Undo) -> anyhow::Result<()> {
    let mut delay = Duration::from_millis(250);
    let mut last = None;
    for _ in 0..5 {
        match revert(env, undo).await {
            Ok(()) => return Ok(()),
            Err(e) => {
                last = Some(e);
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("restore failed")))
}

/// The outage: until recovered and held (failover drills), for the fault's
/// duration (drills without failover), or until the maximum duration or
/// a Ctrl-C. Once the outage is established it tries one fresh login, and
/// waits for that answer before ending (a login tried after the restore
/// would prove nothing).
async fn outage(
    env: &Env,
    plan: &Plan,
    probes: &Arc<Probes>,
    pools: &[(String, String)],
    interrupts: &Interrupts,
    errors: &mut Vec<String>,
) -> LoginCheck {
    let recorder = &probes.recorder;
    let begun = Instant::now();
    let mut login: Option<
        std::pin::Pin<Box<dyn std::future::Future<Output = LoginCheck> + Send + '_>>,
    > = None;
    let mut result: Option<LoginCheck> = None;
    let mut interrupts = interrupts.clone();
    loop {
        if *interrupts.borrow() >= 1 {
            errors.push("interrupted (Ctrl-C) during the outage: restored early".into());
            break;
        }
        let m = recorder.marks();
        let elapsed = begun.elapsed();
        let recovered_for = m
            .recover_ms
            .map(|r| Duration::from_secs_f64(((probes.clock.now() - r) / 1000.0).max(0.0)));
        let established = if plan.expect_failover {
            m.recover_ms.is_some()
        } else {
            elapsed >= plan.max_duration / 2
        };
        if established && login.is_none() && result.is_none() {
            login = Some(Box::pin(super::login::check(
                env,
                probes.clone(),
                pools.to_vec(),
            )));
        }
        let held = if plan.expect_failover {
            recovered_for.is_some_and(|d| d >= plan.hold)
        } else {
            elapsed >= plan.max_duration
        };
        if held && result.is_some() {
            break;
        }
        if elapsed >= plan.max_duration {
            if plan.expect_failover && m.recover_ms.is_none() {
                errors.push(format!(
                    "no request was served by {} within the fault's maximum duration of {}",
                    env.config.secondary_region,
                    humantime::format_duration(plan.max_duration)
                ));
            }
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(25)) => {}
            _ = interrupts.changed() => {}
            checked = async { login.as_mut().expect("guarded").await }, if login.is_some() => {
                result = Some(checked);
                login = None;
            }
        }
    }
    result.unwrap_or_else(|| LoginCheck {
        attempted: login.is_some(),
        ok: None,
        region: None,
        at_ms: None,
        detail: if login.is_some() {
            "the outage ended before the login attempt was answered".into()
        } else {
            "not tried: the outage never became established".into()
        },
    })
}

/// Deletes every item of the drill user in both regions (replication
/// would carry the deletes too; a dead region's copy goes when it returns).
async fn delete_probe_tickets(env: &Env, owner: &str) -> anyhow::Result<()> {
    let table = env.table();
    for region in env.config.regions() {
        let dynamodb = &env.clients().region(region).dynamodb;
        let ids = probes::owner_ids(dynamodb, &table, owner).await?;
        for id in ids {
            dynamodb
                .delete_item()
                .table_name(&table)
                .key("owner", AttributeValue::S(owner.to_owned()))
                .key("id", AttributeValue::S(id))
                .send()
                .await?;
        }
    }
    Ok(())
}

/// `failover-test --restore`: undoes every fault a journal records as not
/// restored (a drill that died), marking each restored.
pub async fn restore_journals(env: &Env) -> anyhow::Result<Vec<String>> {
    let mut done = Vec::new();
    let mut failures = Vec::new();
    for path in journal::files()? {
        let mut j = journal::read(&path)?;
        if j.stack.as_deref().is_some_and(|s| s != env.config.stack) {
            continue;
        }
        let mut changed = false;
        for i in (0..j.faults.len()).rev() {
            if j.faults[i].restored_at.is_some() {
                continue;
            }
            let what = format!(
                "{} in {} (drill {})",
                j.faults[i].kind, j.faults[i].scope, j.drill
            );
            let undo: Undo = match serde_json::from_value(j.faults[i].undo.clone()) {
                Ok(u) => u,
                Err(e) => {
                    failures.push(format!(
                        "{what}: {} records no usable undo ({e}); restore it by hand",
                        path.display()
                    ));
                    continue;
                }
            };
            match revert_with_retry(env, &undo).await {
                Ok(()) => {
                    j.faults[i].restored_at = Some(journal::now());
                    changed = true;
                    done.push(what);
                }
                Err(e) => failures.push(format!("{what}: {e:#}")),
            }
        }
        if changed {
            journal::write(&path, &j)?;
        }
    }
    anyhow::ensure!(
        failures.is_empty(),
        "could not restore everything: {}",
        failures.join("; ")
    );
    Ok(done)
}
