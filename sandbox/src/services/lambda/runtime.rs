//! The Lambda execution environment: a pool of real `bootstrap` processes
//! per function, each with its own Lambda Runtime API endpoint
//! (`AWS_LAMBDA_RUNTIME_API`), as the AWS runtime interface emulator serves
//! it: `/next` long-polls for an event, `/response` and `/error` complete
//! it, `/init/error` reports a failed start.
//!
//! Instances start lazily (cold start), are reused warm, and scale out under
//! concurrent load up to the reserved concurrency or a sandbox-wide cap. A
//! timeout or a crash kills the instance; the next invocation starts a new
//! one. New code or configuration retires every old instance.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use tokio::sync::{Notify, mpsc, oneshot};

/// Largest response a function may return (6 MB, as AWS).
pub const MAX_RESPONSE: usize = 6_291_556;

/// What the pool needs to start an instance of a function.
#[derive(Debug, Clone)]
pub struct LaunchSpec {
    pub function_name: String,
    pub function_arn: String,
    pub code_dir: PathBuf,
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
    pub memory_mb: u32,
    pub log_file: PathBuf,
    /// Changes whenever code or configuration does.
    pub generation: u64,
}

/// How one invocation ended.
#[derive(Debug)]
pub enum Outcome {
    /// The function's response payload.
    Response(Bytes),
    /// The function reported an error (`/error`): its JSON payload.
    FunctionError(Bytes),
    /// It ran past its timeout; the instance was killed.
    Timeout,
    /// The process exited (or failed to start) before answering.
    Crashed(String),
}

struct Invocation {
    request_id: String,
    payload: Bytes,
    deadline_ms: u64,
    done: oneshot::Sender<Outcome>,
}

/// The Runtime API state of one instance.
struct RuntimeApi {
    function_arn: String,
    queue: tokio::sync::Mutex<mpsc::Receiver<Invocation>>,
    pending: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    init_error: Mutex<Option<String>>,
}

struct Instance {
    generation: u64,
    sender: mpsc::Sender<Invocation>,
    api: Arc<RuntimeApi>,
    pid: u32,
    /// Set by the task that reaps the process, with its exit status.
    exit: Arc<Mutex<Option<std::process::ExitStatus>>>,
    exited: Arc<Notify>,
    dead: Arc<std::sync::atomic::AtomicBool>,
    server: tokio::task::JoinHandle<()>,
}

impl Instance {
    fn kill(&self) {
        // Only while unreaped: a reaped pid may already belong to another process.
        if self
            .exit
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_none()
        {
            // The whole process group: whatever `bootstrap` started dies
            // with it, as everything in a Lambda execution environment does.
            unsafe { libc::kill(-(self.pid as i32), libc::SIGKILL) };
        }
        self.server.abort();
        self.dead.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    fn is_dead(&self) -> bool {
        self.dead.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Why an invocation could not be placed.
#[derive(Debug, PartialEq, Eq)]
pub enum PlaceError {
    /// Reserved concurrency is exhausted.
    Throttled,
    /// The sandbox cap is reached and [`MAX_WAITING`] invocations already
    /// wait for an instance (AWS's account concurrency limit).
    Busy,
}

#[derive(Default)]
struct PoolState {
    idle: Vec<Arc<Instance>>,
    busy: usize,
    /// Invocations waiting for an instance to be released.
    waiting: usize,
}

/// Invocations of one function that may wait for an instance once
/// [`SANDBOX_CONCURRENCY_CAP`] run; more are throttled, so a flood cannot
/// queue without bound.
pub const MAX_WAITING: usize = 64;

/// A place in the waiting line, given back on drop (also when the caller
/// gives up).
struct Waiter<'a>(&'a Pool);

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        let mut s = self.0.state.lock().unwrap_or_else(|p| p.into_inner());
        s.waiting = s.waiting.saturating_sub(1);
    }
}

/// All instances of one function.
#[derive(Default)]
pub struct Pool {
    state: Mutex<PoolState>,
    released: Notify,
}

/// Upper bound on instances per function when no reserved concurrency is
/// set (this machine has 2 cores; AWS's account default is 1000).
pub const SANDBOX_CONCURRENCY_CAP: usize = 16;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Pool {
    /// Retires every instance (new code or configuration).
    pub fn retire_all(&self) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        for i in s.idle.drain(..) {
            i.kill();
        }
    }

    /// How many instances exist (idle and busy).
    pub fn size(&self) -> (usize, usize) {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        (s.idle.len(), s.busy)
    }

    /// Runs one invocation: on a warm instance if one is idle, else on a
    /// new one while under `limit`, else waits for one to be released
    /// (`None` limit: the sandbox cap).
    pub async fn invoke(
        &self,
        spec: &LaunchSpec,
        limit: Option<usize>,
        request_id: &str,
        payload: Bytes,
    ) -> Result<Outcome, PlaceError> {
        let cap = limit.unwrap_or(SANDBOX_CONCURRENCY_CAP);
        if cap == 0 {
            return Err(PlaceError::Throttled);
        }
        let mut slot = loop {
            let reuse = {
                let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
                s.idle
                    .retain(|i| !i.is_dead() && i.generation == spec.generation);
                if let Some(i) = s.idle.pop() {
                    s.busy += 1;
                    Some(Ok(i))
                } else if s.busy < cap {
                    s.busy += 1;
                    Some(Err(()))
                } else if limit.is_some() {
                    // Reserved concurrency exhausted: AWS throttles at once.
                    return Err(PlaceError::Throttled);
                } else if s.waiting >= MAX_WAITING {
                    return Err(PlaceError::Busy);
                } else {
                    s.waiting += 1;
                    None
                }
            };
            match reuse {
                Some(Ok(i)) => break Slot::new(self, Some(i)),
                Some(Err(())) => {
                    // The slot is taken from here on: whatever happens to
                    // this future (a caller that gives up drops it), the
                    // slot is given back.
                    let mut slot = Slot::new(self, None);
                    match start_instance(spec).await {
                        Ok(i) => {
                            slot.instance = Some(Arc::new(i));
                            break slot;
                        }
                        Err(e) => {
                            return Ok(Outcome::Crashed(format!("Runtime.InvalidEntrypoint: {e}")));
                        }
                    }
                }
                None => {
                    let _waiter = Waiter(self);
                    self.released.notified().await;
                }
            }
        };
        let Some(instance) = slot.instance.clone() else {
            return Ok(Outcome::Crashed(
                "Runtime exited without providing a reason".into(),
            ));
        };
        let outcome = run_on(&instance, spec, request_id, payload).await;
        let reusable = matches!(outcome, Outcome::Response(_) | Outcome::FunctionError(_))
            && !instance.is_dead();
        if !reusable {
            instance.kill();
        }
        slot.reusable = reusable;
        Ok(outcome)
    }

    fn release(&self, instance: Option<Arc<Instance>>) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.busy = s.busy.saturating_sub(1);
        if let Some(i) = instance {
            s.idle.push(i);
        }
        drop(s);
        self.released.notify_one();
    }
}

/// A taken concurrency slot, given back on drop: when the invocation ends,
/// and also when the caller gives up on it (API Gateway's integration
/// timeout, a client that disconnects) and drops the invoke future, so a
/// slot can never leak and wedge the function. The instance goes back to
/// the idle pool only when the invocation finished and left it reusable;
/// otherwise it is killed.
struct Slot<'a> {
    pool: &'a Pool,
    instance: Option<Arc<Instance>>,
    reusable: bool,
}

impl<'a> Slot<'a> {
    fn new(pool: &'a Pool, instance: Option<Arc<Instance>>) -> Self {
        Slot {
            pool,
            instance,
            reusable: false,
        }
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let instance = self.instance.take();
        if !self.reusable
            && let Some(i) = &instance
        {
            i.kill();
        }
        self.pool.release(instance.filter(|_| self.reusable));
    }
}

async fn run_on(
    instance: &Instance,
    spec: &LaunchSpec,
    request_id: &str,
    payload: Bytes,
) -> Outcome {
    let (done, result) = oneshot::channel();
    let invocation = Invocation {
        request_id: request_id.to_owned(),
        payload,
        deadline_ms: now_ms() + spec.timeout.as_millis() as u64,
        done,
    };
    if instance.sender.send(invocation).await.is_err() {
        return Outcome::Crashed("Runtime exited without providing a reason".into());
    }
    tokio::select! {
        r = result => r.unwrap_or_else(|_| Outcome::Crashed("Runtime exited without providing a reason".into())),
        _ = tokio::time::sleep(spec.timeout) => Outcome::Timeout,
        _ = instance.exited.notified() => {
            let status = *instance.exit.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(e) = instance.api.init_error.lock().unwrap_or_else(|p| p.into_inner()).clone() {
                return Outcome::Crashed(format!("Runtime.InitError: {e}"));
            }
            Outcome::Crashed(match status {
                Some(s) if !s.success() => format!("Runtime exited with error: {s}"),
                _ => "Runtime exited without providing a reason".into(),
            })
        }
    }
}

/// Starts one instance of the function; its error text becomes the
/// invocation's `Runtime.InvalidEntrypoint` message.
async fn start_instance(spec: &LaunchSpec) -> std::io::Result<Instance> {
    let (sender, receiver) = mpsc::channel(1);
    let api = Arc::new(RuntimeApi {
        function_arn: spec.function_arn.clone(),
        queue: tokio::sync::Mutex::new(receiver),
        pending: Mutex::new(HashMap::new()),
        init_error: Mutex::new(None),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let router = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(api.clone());
    let server = tokio::spawn(async move {
        let _ = axum::serve(crate::limits::OwnerOnlyListener::new(listener), router).await;
    });

    if let Some(dir) = spec.log_file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&spec.log_file)?;
    let bootstrap = spec.code_dir.join("bootstrap");
    let mut cmd = tokio::process::Command::new(&bootstrap);
    cmd.current_dir(&spec.code_dir)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("LANG", "C.UTF-8")
        .env("TZ", ":UTC")
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", &spec.function_name)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env(
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            spec.memory_mb.to_string(),
        )
        .env(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", spec.function_name),
        )
        .env(
            "AWS_LAMBDA_LOG_STREAM_NAME",
            uuid::Uuid::new_v4().simple().to_string(),
        )
        .env("LAMBDA_TASK_ROOT", &spec.code_dir)
        .env("_HANDLER", "bootstrap")
        .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        // Its own process group, so an instance is killed with its children.
        .process_group(0);
    // SAFETY: prctl is async-signal-safe. The instance dies with the region
    // process, as a function's sandbox does with its host.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot start {}: {e}", bootstrap.display()),
        )
    })?;
    let pid = child
        .id()
        .ok_or_else(|| std::io::Error::other(format!("{} exited at once", bootstrap.display())))?;
    let exited = Arc::new(Notify::new());
    let dead = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let exit = Arc::new(Mutex::new(None));
    // The reaper owns the child; it records the status and wakes waiters.
    let (watch_exited, watch_dead, watch_exit) = (exited.clone(), dead.clone(), exit.clone());
    tokio::spawn(async move {
        let status = child.wait().await.ok();
        *watch_exit.lock().unwrap_or_else(|p| p.into_inner()) = status;
        watch_dead.store(true, std::sync::atomic::Ordering::SeqCst);
        watch_exited.notify_waiters();
        watch_exited.notify_one();
    });
    Ok(Instance {
        generation: spec.generation,
        sender,
        api,
        pid,
        exit,
        exited,
        dead,
        server,
    })
}

fn runtime_error(status: StatusCode, kind: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"errorMessage": message, "errorType": kind})),
    )
        .into_response()
}

async fn next(State(api): State<Arc<RuntimeApi>>) -> Response {
    let mut queue = api.queue.lock().await;
    let Some(inv) = queue.recv().await else {
        return runtime_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Runtime.Shutdown",
            "the instance is retired",
        );
    };
    drop(queue);
    api.pending
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(inv.request_id.clone(), inv.done);
    let trace = format!(
        "Root=1-{:08x}-{};Parent={};Sampled=0",
        now_ms() / 1000,
        &uuid::Uuid::new_v4().simple().to_string()[..24],
        &uuid::Uuid::new_v4().simple().to_string()[..16]
    );
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .header("lambda-runtime-aws-request-id", &inv.request_id)
        .header("lambda-runtime-deadline-ms", inv.deadline_ms.to_string())
        .header("lambda-runtime-invoked-function-arn", &api.function_arn)
        .header("lambda-runtime-trace-id", trace)
        .body(axum::body::Body::from(inv.payload))
        .expect("valid headers")
}

fn complete(api: &RuntimeApi, id: &str, outcome: Outcome) -> Response {
    match api
        .pending
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(id)
    {
        Some(done) => {
            let _ = done.send(outcome);
            (StatusCode::ACCEPTED, axum::Json(json!({"status": "OK"}))).into_response()
        }
        None => runtime_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestID",
            &format!("Invalid request ID: {id}"),
        ),
    }
}

/// A runtime's response or error body, read up to Lambda's payload limit:
/// `None` when it is larger (the rest is never buffered).
async fn bounded(body: axum::body::Body) -> Option<Bytes> {
    axum::body::to_bytes(body, MAX_RESPONSE).await.ok()
}

/// Lambda's answer to a payload over the limit: the invocation fails with
/// `Function.ResponseSizeTooLarge`, the runtime gets a 413.
fn too_large(api: &RuntimeApi, id: &str) -> Response {
    let _ = complete(
        api,
        id,
        Outcome::FunctionError(Bytes::from(
            json!({"errorMessage": format!("Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE} bytes)."), "errorType": "Function.ResponseSizeTooLarge"}).to_string(),
        )),
    );
    runtime_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "RequestEntityTooLarge",
        &format!("Exceeded maximum allowed payload size ({MAX_RESPONSE} bytes)."),
    )
}

async fn response(
    State(api): State<Arc<RuntimeApi>>,
    Path(id): Path<String>,
    body: axum::body::Body,
) -> Response {
    match bounded(body).await {
        Some(body) => complete(&api, &id, Outcome::Response(body)),
        None => too_large(&api, &id),
    }
}

async fn error(
    State(api): State<Arc<RuntimeApi>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let Some(body) = bounded(body).await else {
        return too_large(&api, &id);
    };
    let body = if body.is_empty() {
        let kind = headers
            .get("lambda-runtime-function-error-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("Unhandled");
        Bytes::from(json!({"errorMessage": "", "errorType": kind}).to_string())
    } else {
        body
    };
    complete(&api, &id, Outcome::FunctionError(body))
}

async fn init_error(State(api): State<Arc<RuntimeApi>>, body: Bytes) -> Response {
    let message = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["errorMessage"].as_str().map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
    *api.init_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(message);
    (StatusCode::ACCEPTED, axum::Json(json!({"status": "OK"}))).into_response()
}
