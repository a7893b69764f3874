//! The deploy plan: ensure steps with dependencies, run concurrently where
//! the dependencies allow. Each step reads the current state, decides
//! created / updated / unchanged, acts (unless it is a dry run), and waits
//! until what it made is usable. A failed step stops the steps that depend
//! on it and leaves the others to finish, so a re-run resumes.
//!
//! Nothing here knows the target: it takes [`Clients`] and [`Config`].

pub mod down;
pub mod outputs;
pub mod package;
pub mod progress;
pub mod up;
pub mod writer;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::aws::Clients;
use crate::config::Config;
pub use outputs::Outputs;
use package::LambdaPackage;
pub use writer::Writer;

/// The tag every resource `up` makes carries, valued with the stack name;
/// `down` deletes nothing without it.
pub const STACK_TAG: &str = "wildrydes:stack";

/// What a step did (or, in a dry run, would do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Created,
    Updated,
    Unchanged,
    Deleted,
    /// Already gone (`down`).
    Absent,
    /// Found but not ours (no stack tag): left alone (`down`).
    Kept,
    WouldCreate,
    WouldUpdate,
    WouldDelete,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Created => "created",
            Action::Updated => "updated",
            Action::Unchanged => "unchanged",
            Action::Deleted => "deleted",
            Action::Absent => "absent",
            Action::Kept => "kept (not ours)",
            Action::WouldCreate => "would create",
            Action::WouldUpdate => "would update",
            Action::WouldDelete => "would delete",
        }
    }
}

/// A finished step's result.
#[derive(Debug, Clone)]
pub struct Done {
    pub action: Action,
    /// The resource's id or name.
    pub id: String,
    /// What changed, for updates.
    pub detail: Option<String>,
}

impl Done {
    pub fn new(action: Action, id: impl Into<String>) -> Self {
        Done {
            action,
            id: id.into(),
            detail: None,
        }
    }

    pub fn because(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

/// What the caller sees of one step.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepReport {
    pub step: String,
    /// A region, or `global`.
    pub scope: String,
    pub resource: String,
    pub action: Option<Action>,
    pub id: Option<String>,
    pub detail: Option<String>,
    pub error: Option<String>,
    /// The failed step this one waited for, when it never ran.
    pub blocked_by: Option<String>,
    pub seconds: f64,
}

impl StepReport {
    pub fn ok(&self) -> bool {
        self.error.is_none() && self.blocked_by.is_none()
    }
}

/// Everything a step works with.
pub struct Ctx {
    pub config: Config,
    pub clients: Clients,
    pub dry_run: bool,
    /// The AWS account the stack lives in.
    pub account: String,
    /// The cursor secret both regions' functions share (`up` only; other
    /// commands keep whatever is deployed).
    pub cursor_secret: Option<String>,
    pub outputs: Outputs,
    /// The Lambda to deploy (`up` only).
    pub lambda: Option<LambdaPackage>,
    /// The web UI's files (`up` only): path → bytes.
    pub web: BTreeMap<String, Vec<u8>>,
    /// Where a browser logs in on the sandbox (the Facebook stand-in), or
    /// `None` for Facebook itself.
    pub facebook_login_url: Option<String>,
    /// The API's base URL a browser uses.
    pub api_url: String,
    /// Whether a missing hosted zone may be created (the sandbox), or must
    /// already exist and be delegated (AWS).
    pub create_zone: bool,
    /// The web UI's origin (scheme, host, port) for a distribution domain.
    pub web_origin: Box<dyn Fn(&str) -> String + Send + Sync>,
    /// Where a browser calls Cognito Identity in a region.
    pub cognito_endpoint: Box<dyn Fn(&str) -> String + Send + Sync>,
    /// The longest any one step may take (waits included), if bounded.
    pub step_timeout: Option<Duration>,
}

impl Ctx {
    /// A context for `session`, with the account id looked up (STS).
    pub async fn open(
        config: &Config,
        session: &crate::target::Session,
        dry_run: bool,
        lambda: Option<LambdaPackage>,
        web: BTreeMap<String, Vec<u8>>,
    ) -> anyhow::Result<Ctx> {
        let account = session
            .clients
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| aws_error("GetCallerIdentity (are credentials set up?)", e))?
            .account
            .unwrap_or_default();
        Ok(Ctx {
            config: config.clone(),
            clients: session.clients.clone(),
            dry_run,
            account,
            cursor_secret: None,
            outputs: Outputs::default(),
            lambda,
            web,
            facebook_login_url: session.facebook_login_url.clone(),
            api_url: session.api_url.clone(),
            create_zone: session.create_zone,
            web_origin: session.web_origin(),
            cognito_endpoint: session.cognito_endpoint(),
            step_timeout: None,
        })
    }

    pub fn stack(&self) -> &str {
        &self.config.stack
    }

    /// `<stack>-<suffix>`.
    pub fn name(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.config.stack)
    }
}

pub type StepFuture = Pin<Box<dyn Future<Output = anyhow::Result<Done>> + Send>>;
pub type StepFn = Arc<dyn Fn(Arc<Ctx>) -> StepFuture + Send + Sync>;

/// One ensure (or delete) step.
#[derive(Clone)]
pub struct Step {
    /// Unique key, e.g. `function/eu-west-1`.
    pub key: String,
    /// What it manages, e.g. `Lambda function`.
    pub resource: String,
    /// A region or `global`.
    pub scope: String,
    pub deps: Vec<String>,
    pub run: StepFn,
}

impl Step {
    pub fn new<F, Fut>(
        key: impl Into<String>,
        resource: &str,
        scope: &str,
        deps: &[String],
        f: F,
    ) -> Step
    where
        F: Fn(Arc<Ctx>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<Done>> + Send + 'static,
    {
        Step {
            key: key.into(),
            resource: resource.to_owned(),
            scope: scope.to_owned(),
            deps: deps.to_vec(),
            run: Arc::new(move |ctx| Box::pin(f(ctx))),
        }
    }
}

impl Step {
    /// A step of one region: keyed `<kind>/<region>`, its function given
    /// the region.
    pub fn regional<F, Fut>(kind: &str, resource: &str, region: &str, deps: &[String], f: F) -> Step
    where
        F: Fn(Arc<Ctx>, String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<Done>> + Send + 'static,
    {
        let r = region.to_owned();
        Step::new(key(kind, region), resource, region, deps, move |c| {
            f(c, r.clone())
        })
    }
}

/// Step keys as a dependency list.
pub fn deps(keys: &[&str]) -> Vec<String> {
    keys.iter().map(|k| k.to_string()).collect()
}

/// `<kind>/<region>`, the key of a regional step.
pub fn key(kind: &str, region: &str) -> String {
    format!("{kind}/{region}")
}

/// Whether AWS tags (as a map) mark a resource as `stack`'s.
pub fn tagged(tags: Option<&std::collections::HashMap<String, String>>, stack: &str) -> bool {
    tags.and_then(|t| t.get(STACK_TAG))
        .is_some_and(|v| v == stack)
}

/// What a run shows as it goes.
pub trait Reporter: Send + Sync {
    fn planned(&self, steps: &[Step]);
    fn started(&self, step: &Step);
    fn finished(&self, report: &StepReport);
}

/// Runs `steps`: each once its dependencies succeeded, concurrently, in
/// the order given where several are ready. Returns a report per step, in
/// the order given.
pub async fn execute(steps: Vec<Step>, ctx: Arc<Ctx>, reporter: &dyn Reporter) -> Vec<StepReport> {
    let keys: BTreeSet<&str> = steps.iter().map(|s| s.key.as_str()).collect();
    for s in &steps {
        for d in &s.deps {
            assert!(
                keys.contains(d.as_str()),
                "step {} depends on unknown {d}",
                s.key
            );
        }
    }
    reporter.planned(&steps);
    let mut reports: BTreeMap<String, StepReport> = BTreeMap::new();
    let mut running = tokio::task::JoinSet::new();
    let mut started: BTreeSet<String> = BTreeSet::new();
    loop {
        // Start whatever is ready; mark blocked what cannot run.
        for s in &steps {
            if started.contains(&s.key) {
                continue;
            }
            let failed_dep = s
                .deps
                .iter()
                .find(|d| reports.get(*d).is_some_and(|r| !r.ok()));
            if let Some(dep) = failed_dep {
                started.insert(s.key.clone());
                let report = StepReport {
                    step: s.key.clone(),
                    scope: s.scope.clone(),
                    resource: s.resource.clone(),
                    action: None,
                    id: None,
                    detail: None,
                    error: None,
                    blocked_by: Some(dep.clone()),
                    seconds: 0.0,
                };
                reporter.finished(&report);
                reports.insert(s.key.clone(), report);
                continue;
            }
            if s.deps.iter().all(|d| reports.contains_key(d)) {
                started.insert(s.key.clone());
                reporter.started(s);
                let step = s.clone();
                let ctx = ctx.clone();
                running.spawn(async move {
                    let begun = Instant::now();
                    let result = match ctx.step_timeout {
                        Some(limit) => tokio::time::timeout(limit, (step.run)(ctx.clone()))
                            .await
                            .unwrap_or_else(|_| {
                                Err(anyhow::anyhow!(
                                    "did not finish within the step timeout of {limit:?}"
                                ))
                            }),
                        None => (step.run)(ctx).await,
                    };
                    (step, result, begun.elapsed())
                });
            }
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        let (step, result, elapsed) = match joined {
            Ok(x) => x,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        };
        let report = StepReport {
            step: step.key.clone(),
            scope: step.scope.clone(),
            resource: step.resource.clone(),
            action: result.as_ref().ok().map(|d| d.action),
            id: result.as_ref().ok().map(|d| d.id.clone()),
            detail: result.as_ref().ok().and_then(|d| d.detail.clone()),
            error: result.as_ref().err().map(|e| format!("{e:#}")),
            blocked_by: None,
            seconds: elapsed.as_secs_f64(),
        };
        reporter.finished(&report);
        reports.insert(step.key.clone(), report);
    }
    steps
        .iter()
        .filter_map(|s| reports.remove(&s.key))
        .collect()
}

/// Polls `check` until it gives `Some`, first after `every`, then backing
/// off (doubling, at most 5 s apart), or fails after `timeout` saying what
/// it waited for. (The SDK's own waiters start at their minimum delay, 60 s
/// for ACM, which would make every sandbox deploy wait a minute.)
pub async fn wait_for<T, F, Fut>(
    what: &str,
    timeout: Duration,
    every: Duration,
    mut check: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = Instant::now() + timeout;
    let mut delay = every;
    loop {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        if Instant::now() > deadline {
            anyhow::bail!("gave up waiting {timeout:?} for {what}");
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5)).max(every);
    }
}

/// An AWS call that failed: what was asked, AWS's code and message (or
/// why no answer came), and whether the service could not be reached at
/// all (`status` tells a dead region from a refusing one by this).
#[derive(Debug)]
pub struct AwsError {
    context: String,
    reason: String,
    full: String,
    unreachable: bool,
}

impl AwsError {
    /// Why the call failed, briefly: `Code: message`, `no answer in time`
    /// or `cannot connect`.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The call and the brief reason.
    pub fn brief(&self) -> String {
        format!("{}: {}", self.context, self.reason)
    }

    /// Whether no answer came (timeout, connection refused).
    pub fn unreachable(&self) -> bool {
        self.unreachable
    }

    /// The [`AwsError`] behind `e`, if that is what it is.
    pub fn of(e: &anyhow::Error) -> Option<&AwsError> {
        e.downcast_ref::<AwsError>()
    }
}

impl std::fmt::Display for AwsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.full)
    }
}

impl std::error::Error for AwsError {}

/// An SDK error with AWS's code and message, for step errors.
pub fn aws_error<E, R>(
    context: &str,
    e: aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> anyhow::Error
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata
        + std::error::Error
        + Send
        + Sync
        + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    use aws_smithy_runtime_api::client::result::SdkError;
    let (full, reason, unreachable) = match &e {
        SdkError::ServiceError(s) => {
            let err = s.err();
            let code = err.code().unwrap_or("error");
            (
                format!(
                    "{context}: {code}: {}",
                    err.message().unwrap_or("(no message)")
                ),
                format!("{code}: {}", err.message().unwrap_or("")),
                false,
            )
        }
        other => {
            let full = format!(
                "{context}: {}",
                aws_smithy_types::error::display::DisplayErrorContext(other)
            );
            match other {
                SdkError::TimeoutError(_) => (full, "no answer in time".to_owned(), true),
                SdkError::DispatchFailure(d) if d.is_timeout() => {
                    (full, "no answer in time".to_owned(), true)
                }
                SdkError::DispatchFailure(_) => (full, "cannot connect".to_owned(), true),
                _ => {
                    let reason = format!(
                        "{}",
                        aws_smithy_types::error::display::DisplayErrorContext(other)
                    );
                    (full, reason, false)
                }
            }
        }
    };
    anyhow::Error::new(AwsError {
        context: context.to_owned(),
        reason,
        full,
        unreachable,
    })
}
