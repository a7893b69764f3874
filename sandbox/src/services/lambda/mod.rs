//! Lambda in a region: the control plane (restJson1 under `/2015-03-31/…`)
//! with AWS's state machine (Pending → Active, InProgress → Successful, 409
//! on a concurrent update), resource policies, reserved concurrency, and
//! `Invoke`, which runs the zip's `bootstrap` for real (see [`runtime`]).

mod operations;
pub mod runtime;

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::credentials::{ACCOUNT_ID, SandboxSecrets};
use crate::door::{Input, Outcome, Reply, ServiceError};
use crate::store::{OpenError, Store, StoreError};
use runtime::{LaunchSpec, PlaceError, Pool};

/// How long a new function stays `Pending`, and an update `InProgress`:
/// long enough that clients must use the waiters, as on AWS.
const SETTLE: Duration = Duration::from_millis(150);

/// A stored function.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Function {
    config: Value,
    /// Directory holding the unpacked code.
    code_dir: PathBuf,
    reserved_concurrency: Option<u32>,
    /// Statements of the resource policy.
    policy: Vec<Value>,
    tags: BTreeMap<String, String>,
    generation: u64,
}

#[derive(Clone, Default, Serialize, Deserialize)]
struct Stored {
    functions: BTreeMap<String, Function>,
}

/// A boxed future: how region services ask the global process things
/// (does this role exist, may it do that) without depending on its client.
pub type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

/// Checks that Lambda can assume a role: it exists in the sandbox's IAM
/// (the global process) and its trust policy names `lambda.amazonaws.com`.
pub type RoleCheck = Arc<dyn Fn(String) -> BoxFuture<bool> + Send + Sync>;

pub struct Lambda {
    region: String,
    endpoint: String,
    dir: PathBuf,
    logs: PathBuf,
    secrets: Arc<SandboxSecrets>,
    state: Store<Stored>,
    pools: Mutex<HashMap<String, Arc<Pool>>>,
    role_exists: RoleCheck,
}

fn now_lambda() -> String {
    OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]+0000"
        ))
        .unwrap_or_default()
}

/// A Lambda error (the door sends `x-amzn-ErrorType` and the body); as
/// an [`Outcome`] or a [`ServiceError`], whichever the caller returns.
fn error<T: From<ServiceError>>(status: StatusCode, code: &str, message: &str) -> T {
    ServiceError::new(status, code, message).into()
}

/// Lambda's answer when the sandbox could not save its state.
fn internal(e: StoreError) -> ServiceError {
    e.into()
}

fn invalid<T: From<ServiceError>>(message: &str) -> T {
    error(
        StatusCode::BAD_REQUEST,
        "InvalidParameterValueException",
        message,
    )
}

fn ok(status: StatusCode, body: &Value) -> Outcome {
    Ok(Reply::json(body).status(status))
}

/// Whether `path` is a Lambda API path.
pub fn is_lambda_path(path: &str) -> bool {
    [
        "/2015-03-31/functions",
        "/2017-10-31/functions",
        "/2019-09-30/functions",
    ]
    .iter()
    .any(|p| path.starts_with(p))
}

/// Percent-decodes a path segment.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(s.get(i + 1..i + 3).unwrap_or("zz"), 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether `name` is a function name Lambda accepts (letters, digits,
/// hyphens, underscores; 1 to 64): nothing else may reach a file path.
fn is_function_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Lambda's `ValidationException` for a function name in a path that is
/// not one (checked before anything is looked up or written).
fn bad_name<T: From<ServiceError>>(raw: &str) -> T {
    error(
        StatusCode::BAD_REQUEST,
        "ValidationException",
        &format!(
            "1 validation error detected: Value '{raw}' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{{2}}(-gov)?-[a-z]+-\\d{{1}}:)?(\\d{{12}}:)?(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?"
        ),
    )
}

/// The function name from a name, partial or full ARN.
pub(crate) fn function_name(raw: &str) -> String {
    let raw = percent_decode(raw);
    match raw.split_once(":function:") {
        Some((_, rest)) => rest.split(':').next().unwrap_or(rest).to_owned(),
        None => raw.split(':').next().unwrap_or(&raw).to_owned(),
    }
}

impl Lambda {
    pub fn open(
        region: &str,
        endpoint: &str,
        dir: PathBuf,
        logs: PathBuf,
        secrets: Arc<SandboxSecrets>,
        role_exists: RoleCheck,
    ) -> Result<Arc<Self>, OpenError> {
        std::fs::create_dir_all(&dir).map_err(OpenError::create_dir(&dir))?;
        let state = Store::open(dir.join("functions.json"))?;
        Ok(Arc::new(Lambda {
            region: region.to_owned(),
            endpoint: endpoint.to_owned(),
            dir,
            logs,
            secrets,
            state,
            pools: Mutex::new(HashMap::new()),
            role_exists,
        }))
    }

    fn arn(&self, name: &str) -> String {
        format!(
            "arn:aws:lambda:{}:{ACCOUNT_ID}:function:{name}",
            self.region
        )
    }

    /// Persists the functions, changed from `before`; a failure undoes
    /// the change and is Lambda's `ServiceException`.
    fn commit(&self, stored: &mut Stored, before: Stored) -> Result<(), ServiceError> {
        self.state.commit(stored, before).map_err(internal)
    }

    fn pool(&self, name: &str) -> Arc<Pool> {
        self.pools
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(name.to_owned())
            .or_default()
            .clone()
    }

    /// Serves one (authenticated) Lambda API request.
    pub async fn handle(self: &Arc<Self>, input: Input) -> Outcome {
        let (method, path) = (&input.method, input.path.as_str());
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        if let [_, "functions", raw, ..] = segments.as_slice()
            && !is_function_name(&function_name(raw))
        {
            return bad_name(raw);
        }
        let request = input.json()?;
        let (headers, body) = (&input.headers, input.body.clone());
        match (method.as_str(), segments.as_slice()) {
            ("POST", ["2015-03-31", "functions"]) => self.create(request).await,
            ("GET", ["2015-03-31", "functions"]) => self.list(),
            ("GET", ["2015-03-31", "functions", name]) => self.get(&function_name(name), true),
            ("GET", ["2015-03-31", "functions", name, "configuration"]) => {
                self.get(&function_name(name), false)
            }
            ("DELETE", ["2015-03-31", "functions", name]) => self.delete(&function_name(name)),
            ("PUT", ["2015-03-31", "functions", name, "code"]) => {
                self.update_code(&function_name(name), request)
            }
            ("PUT", ["2015-03-31", "functions", name, "configuration"]) => {
                self.update_configuration(&function_name(name), request)
                    .await
            }
            ("PUT", ["2017-10-31", "functions", name, "concurrency"]) => {
                self.put_concurrency(&function_name(name), request)
            }
            ("GET", ["2019-09-30", "functions", name, "concurrency"]) => {
                self.get_concurrency(&function_name(name))
            }
            ("DELETE", ["2017-10-31", "functions", name, "concurrency"]) => {
                self.delete_concurrency(&function_name(name))
            }
            ("POST", ["2015-03-31", "functions", name, "policy"]) => {
                self.add_permission(&function_name(name), request)
            }
            ("GET", ["2015-03-31", "functions", name, "policy"]) => {
                self.get_policy(&function_name(name))
            }
            ("DELETE", ["2015-03-31", "functions", name, "policy", sid]) => {
                self.remove_permission(&function_name(name), &percent_decode(sid))
            }
            ("POST", ["2015-03-31", "functions", name, "invocations"]) => {
                self.invoke_api(&function_name(name), headers, body).await
            }
            _ => error(
                StatusCode::NOT_FOUND,
                "ResourceNotFoundException",
                &format!("no Lambda operation {method} {path} in this sandbox"),
            ),
        }
    }

    /// A function's resource policy (its permissions), if it has any.
    pub fn function_policy(&self, name: &str) -> Option<Value> {
        let s = self.state.lock();
        let f = s.functions.get(name)?;
        (!f.policy.is_empty())
            .then(|| serde_json::json!({"Version": "2012-10-17", "Statement": f.policy}))
    }

    pub fn allows(&self, name: &str, service: &str, source_arn: &str) -> bool {
        let s = self.state.lock();
        let Some(f) = s.functions.get(name) else {
            return false;
        };
        f.policy.iter().any(|st| {
            st["Principal"]["Service"] == service
                && matches!(
                    st["Action"].as_str(),
                    Some("lambda:InvokeFunction" | "lambda:*")
                )
                && st["Condition"]["ArnLike"]["AWS:SourceArn"]
                    .as_str()
                    .is_none_or(|pattern| crate::glob::matches(pattern, source_arn))
        })
    }

    fn launch_spec(&self, name: &str) -> Option<(LaunchSpec, Option<u32>)> {
        let s = self.state.lock();
        let f = s.functions.get(name)?;
        let role = f.config["Role"].as_str().unwrap_or_default();
        let timeout = Duration::from_secs(f.config["Timeout"].as_u64().unwrap_or(3));
        let creds = self
            .secrets
            .mint(role, name, None, Duration::from_secs(12 * 3600));
        let mut env: Vec<(String, String)> = f.config["Environment"]["Variables"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        env.extend([
            ("AWS_REGION".to_owned(), self.region.clone()),
            ("AWS_DEFAULT_REGION".to_owned(), self.region.clone()),
            ("AWS_ACCESS_KEY_ID".to_owned(), creds.access_key_id),
            ("AWS_SECRET_ACCESS_KEY".to_owned(), creds.secret_access_key),
            ("AWS_SESSION_TOKEN".to_owned(), creds.session_token),
            ("AWS_ENDPOINT_URL".to_owned(), self.endpoint.clone()),
        ]);
        Some((
            LaunchSpec {
                function_name: name.to_owned(),
                function_arn: self.arn(name),
                code_dir: f.code_dir.clone(),
                env,
                timeout,
                memory_mb: f.config["MemorySize"].as_u64().unwrap_or(128) as u32,
                log_file: self.logs.join(format!("{name}.log")),
                generation: f.generation,
            },
            f.reserved_concurrency,
        ))
    }

    /// Runs the function once. `Err` is a Lambda API error response
    /// (not found, throttled); `Ok` carries the outcome.
    pub async fn invoke(
        &self,
        name: &str,
        payload: Bytes,
    ) -> Result<(String, runtime::Outcome), InvokeError> {
        let Some((spec, reserved)) = self.launch_spec(name) else {
            return Err(InvokeError::NotFound);
        };
        let request_id = uuid::Uuid::new_v4().to_string();
        let pool = self.pool(name);
        match pool
            .invoke(&spec, reserved.map(|n| n as usize), &request_id, payload)
            .await
        {
            Ok(outcome) => Ok((request_id, outcome)),
            Err(PlaceError::Throttled) => Err(InvokeError::Throttled),
            Err(PlaceError::Busy) => Err(InvokeError::Busy),
        }
    }

    /// The function's timeout, for error messages.
    fn timeout_of(&self, name: &str) -> u64 {
        let s = self.state.lock();
        s.functions
            .get(name)
            .and_then(|f| f.config["Timeout"].as_u64())
            .unwrap_or(3)
    }
}

/// Why an invocation was refused before it ran.
#[derive(Debug, PartialEq, Eq)]
pub enum InvokeError {
    NotFound,
    /// Reserved concurrency exhausted.
    Throttled,
    /// The sandbox's concurrency cap reached, and its waiting line full.
    Busy,
}

/// The payload Invoke returns for an outcome, and whether it is a function
/// error (AWS's `X-Amz-Function-Error: Unhandled`).
pub fn outcome_payload(
    request_id: &str,
    outcome: runtime::Outcome,
    timeout_secs: u64,
) -> (Bytes, bool) {
    match outcome {
        runtime::Outcome::Response(body) => (body, false),
        runtime::Outcome::FunctionError(body) => (body, true),
        runtime::Outcome::Timeout => (
            Bytes::from(
                json!({"errorType": "Sandbox.Timedout", "errorMessage": format!("RequestId: {request_id} Error: Task timed out after {timeout_secs}.00 seconds")})
                    .to_string(),
            ),
            true,
        ),
        runtime::Outcome::Crashed(reason) => {
            let (kind, message) = match reason.split_once(": ") {
                Some((k, m)) if k.starts_with("Runtime.") => (k.to_owned(), m.to_owned()),
                _ => ("Runtime.ExitError".to_owned(), reason.clone()),
            };
            (
                Bytes::from(json!({"errorType": kind, "errorMessage": format!("RequestId: {request_id} Error: {message}")}).to_string()),
                true,
            )
        }
    }
}

fn strip(v: &mut Value, keys: &[&str]) {
    if let Some(o) = v.as_object_mut() {
        for k in keys {
            o.remove(*k);
        }
    }
}

/// Unpacks a zip, keeping the executable bits it records.
/// Lambda's limit on a deployment package's unzipped size (250 MB).
pub(crate) const MAX_UNZIPPED: u64 = 262_144_000;

/// Why a code zip could not be unpacked.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UnzipError {
    /// Over [`MAX_UNZIPPED`] once expanded (a zip bomb, or just too big).
    #[error("unzipped size over {MAX_UNZIPPED} bytes")]
    TooLarge,
    #[error("{0}")]
    Bad(String),
}

impl From<std::io::Error> for UnzipError {
    fn from(e: std::io::Error) -> Self {
        UnzipError::Bad(e.to_string())
    }
}

impl From<zip::result::ZipError> for UnzipError {
    fn from(e: zip::result::ZipError) -> Self {
        UnzipError::Bad(e.to_string())
    }
}

/// Unpacks `zip` into `dir` (replacing it), never writing more than
/// [`MAX_UNZIPPED`] bytes whatever the entries claim.
fn unzip(zip: &[u8], dir: &std::path::Path) -> Result<(), UnzipError> {
    use std::os::unix::fs::PermissionsExt;
    let tmp = dir.with_extension("tmp");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    let result = (|| {
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip))?;
        let mut left = MAX_UNZIPPED;
        for i in 0..archive.len() {
            let entry = archive.by_index(i)?;
            let Some(rel) = entry.enclosed_name() else {
                return Err(UnzipError::Bad(format!(
                    "entry {:?} escapes the archive",
                    entry.name_raw()
                )));
            };
            let path = tmp.join(rel);
            if entry.is_dir() {
                std::fs::create_dir_all(&path)?;
                continue;
            }
            if entry.size() > left {
                return Err(UnzipError::TooLarge);
            }
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let mode = entry.unix_mode();
            // Whatever the header says, read at most what is left, plus
            // one byte to tell "exactly" from "more".
            let mut bytes = Vec::new();
            entry.take(left + 1).read_to_end(&mut bytes)?;
            if bytes.len() as u64 > left {
                return Err(UnzipError::TooLarge);
            }
            left -= bytes.len() as u64;
            std::fs::write(&path, bytes)?;
            if let Some(mode) = mode {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode & 0o777))?;
            }
        }
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    let _ = std::fs::remove_dir_all(dir);
    std::fs::rename(&tmp, dir)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_names_and_arns() {
        assert_eq!(function_name("tickets"), "tickets");
        assert_eq!(
            function_name("arn:aws:lambda:eu-west-1:000000000000:function:tickets"),
            "tickets"
        );
        assert_eq!(
            function_name("arn%3Aaws%3Alambda%3Aeu-west-1%3A000000000000%3Afunction%3Atickets"),
            "tickets"
        );
        assert_eq!(function_name("tickets:$LATEST"), "tickets");
    }

    #[test]
    fn timeouts_and_crashes_read_as_aws_reports_them() {
        let (p, err) = outcome_payload("r1", runtime::Outcome::Timeout, 1);
        assert!(err);
        let v: Value = serde_json::from_slice(&p).unwrap();
        assert_eq!(v["errorType"], "Sandbox.Timedout");
        assert_eq!(
            v["errorMessage"],
            "RequestId: r1 Error: Task timed out after 1.00 seconds"
        );
        let (p, _) = outcome_payload(
            "r2",
            runtime::Outcome::Crashed("Runtime exited with error: exit status: 3".into()),
            3,
        );
        let v: Value = serde_json::from_slice(&p).unwrap();
        assert_eq!(v["errorType"], "Runtime.ExitError");
        assert_eq!(
            v["errorMessage"],
            "RequestId: r2 Error: Runtime exited with error: exit status: 3"
        );
        assert!(crate::glob::matches(
            "arn:aws:execute-api:eu-west-1:000000000000:abc/*/*/*",
            "arn:aws:execute-api:eu-west-1:000000000000:abc/prod/GET/tickets"
        ));
    }
}
