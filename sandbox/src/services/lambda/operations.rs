//! Lambda's control-plane operations (create, read, update and delete
//! functions with AWS's state machine; reserved concurrency; resource
//! policies) and the `Invoke` API, as methods the router in the parent
//! module calls with the parsed request.

use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{
    Function, InvokeError, Lambda, MAX_UNZIPPED, SETTLE, UnzipError, error, function_name, invalid,
    is_function_name, now_lambda, ok, outcome_payload, strip, unzip,
};
use crate::door::{Outcome, Reply, ServiceError};

impl Lambda {
    pub(super) fn not_found<T: From<ServiceError>>(&self, name: &str) -> T {
        error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            &format!("Function not found: {}:$LATEST", self.arn(name)),
        )
    }

    /// Unpacks a base64 zip into a code directory; returns (sha256 b64, size, dir).
    fn store_code(
        &self,
        name: &str,
        zip_b64: &str,
    ) -> Result<(String, u64, PathBuf), ServiceError> {
        let zip = STANDARD.decode(zip_b64).map_err(|_| {
            invalid::<ServiceError>(
                "Could not unzip uploaded file. Please check your file, then try to upload again.",
            )
        })?;
        let sha = STANDARD.encode(Sha256::digest(&zip));
        let dir = self
            .dir
            .join("code")
            .join(name)
            .join(hex::encode(&Sha256::digest(&zip)[..8]));
        if !dir.join("bootstrap").exists() {
            unzip(&zip, &dir).map_err(|e| match e {
                UnzipError::TooLarge => invalid::<ServiceError>(&format!(
                    "Unzipped size must be smaller than {MAX_UNZIPPED} bytes"
                )),
                UnzipError::Bad(e) => invalid::<ServiceError>(&format!("Could not unzip uploaded file. Please check your file, then try to upload again. ({e})")),
            })?;
        }
        Ok((sha, zip.len() as u64, dir))
    }

    pub(super) async fn create(self: &Arc<Self>, req: Value) -> Outcome {
        let Some(name) = req["FunctionName"].as_str().map(function_name) else {
            return invalid("FunctionName is required");
        };
        if !is_function_name(&name) {
            return invalid(&format!(
                "1 validation error detected: Value '{name}' at 'functionName' failed to satisfy constraint"
            ));
        }
        let runtime = req["Runtime"].as_str().unwrap_or_default();
        if !matches!(runtime, "provided.al2023" | "provided.al2") {
            return invalid(&format!(
                "The runtime parameter of {runtime} is not supported by this sandbox: use provided.al2023 or provided.al2 with handler bootstrap"
            ));
        }
        check_limits(&req)?;
        let role = req["Role"].as_str().unwrap_or_default().to_owned();
        if !(self.role_exists)(role.clone()).await {
            return invalid("The role defined for the function cannot be assumed by Lambda.");
        }
        if self.state.lock().functions.contains_key(&name) {
            return error(
                StatusCode::CONFLICT,
                "ResourceConflictException",
                &format!("Function already exist: {name}"),
            );
        }
        let Some(zip) = req["Code"]["ZipFile"].as_str() else {
            return invalid(
                "Code.ZipFile is required (the sandbox does not read S3 code locations)",
            );
        };
        let (sha, size, dir) = match self.store_code(&name, zip) {
            Ok(c) => c,
            Err(r) => return Err(r),
        };
        if !dir.join("bootstrap").exists() {
            return invalid(
                "The zip has no bootstrap at its root: a provided runtime needs an executable named bootstrap",
            );
        }
        let config = json!({
            "FunctionName": name,
            "FunctionArn": self.arn(&name),
            "Runtime": runtime,
            "Role": role,
            "Handler": req["Handler"].as_str().unwrap_or("bootstrap"),
            "CodeSize": size,
            "Description": req["Description"].as_str().unwrap_or(""),
            "Timeout": req["Timeout"].as_u64().unwrap_or(3),
            "MemorySize": req["MemorySize"].as_u64().unwrap_or(128),
            "LastModified": now_lambda(),
            "CodeSha256": sha,
            "Version": "$LATEST",
            "Environment": {"Variables": req["Environment"]["Variables"].as_object().cloned().unwrap_or_default()},
            "TracingConfig": {"Mode": "PassThrough"},
            "RevisionId": uuid::Uuid::new_v4().to_string(),
            "State": "Pending",
            "StateReason": "The function is being created.",
            "StateReasonCode": "Creating",
            "PackageType": "Zip",
            "Architectures": req["Architectures"].as_array().cloned().unwrap_or_else(|| vec![json!("x86_64")]),
            "EphemeralStorage": {"Size": 512},
        });
        let tags = crate::wire::string_map(&req["Tags"]);
        {
            let mut s = self.state.lock();
            let before = s.clone();
            s.functions.insert(
                name.clone(),
                Function {
                    config: config.clone(),
                    code_dir: dir,
                    reserved_concurrency: None,
                    policy: Vec::new(),
                    tags,
                    generation: 1,
                },
            );
            self.commit(&mut s, before)?;
        }
        self.settle(&name, |c| {
            c["State"] = json!("Active");
            strip(c, &["StateReason", "StateReasonCode"]);
            c["LastUpdateStatus"] = json!("Successful");
        });
        ok(StatusCode::CREATED, &config)
    }

    /// Applies `f` to the configuration after [`SETTLE`], as AWS finishes
    /// creating or updating in the background.
    fn settle(self: &Arc<Self>, name: &str, f: impl FnOnce(&mut Value) + Send + 'static) {
        let me = self.clone();
        let name = name.to_owned();
        tokio::spawn(async move {
            tokio::time::sleep(SETTLE).await;
            let mut s = me.state.lock();
            if let Some(func) = s.functions.get_mut(&name) {
                f(&mut func.config);
            }
            if let Err(e) = me.state.save(&s) {
                // Settled in memory; the next save persists it.
                tracing::warn!(function = name, "{e}");
            }
        });
    }

    pub(super) fn list(&self) -> Outcome {
        let s = self.state.lock();
        let functions: Vec<&Value> = s.functions.values().map(|f| &f.config).collect();
        ok(StatusCode::OK, &json!({"Functions": functions}))
    }

    pub(super) fn get(&self, name: &str, full: bool) -> Outcome {
        let s = self.state.lock();
        let Some(f) = s.functions.get(name) else {
            return self.not_found(name);
        };
        if !full {
            return ok(StatusCode::OK, &f.config);
        }
        let mut body = json!({
            "Configuration": f.config,
            "Code": {"RepositoryType": "S3"},
            "Tags": f.tags,
        });
        if let Some(n) = f.reserved_concurrency {
            body["Concurrency"] = json!({"ReservedConcurrentExecutions": n});
        }
        ok(StatusCode::OK, &body)
    }

    pub(super) fn delete(&self, name: &str) -> Outcome {
        let mut s = self.state.lock();
        let before = s.clone();
        let Some(f) = s.functions.remove(name) else {
            return self.not_found(name);
        };
        self.commit(&mut s, before)?;
        drop(s);
        if let Some(pool) = self
            .pools
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name)
        {
            pool.retire_all();
        }
        if let Some(parent) = f.code_dir.parent() {
            let _ = std::fs::remove_dir_all(parent);
        }
        Ok(Reply::empty(StatusCode::NO_CONTENT))
    }

    /// Starts an update: refuses while one is in progress (409), as AWS.
    fn begin_update(
        &self,
        name: &str,
        f: impl FnOnce(&mut Function) -> Result<(), ServiceError>,
    ) -> Result<Value, ServiceError> {
        let mut s = self.state.lock();
        let before = s.clone();
        let Some(func) = s.functions.get_mut(name) else {
            return Err(self.not_found(name));
        };
        if func.config["LastUpdateStatus"] == "InProgress" || func.config["State"] == "Pending" {
            return Err(error(
                StatusCode::CONFLICT,
                "ResourceConflictException",
                &format!(
                    "The operation cannot be performed at this time. An update is in progress for resource: {}",
                    self.arn(name)
                ),
            ));
        }
        if let Err(r) = f(func) {
            *s = before;
            return Err(r);
        }
        func.generation += 1;
        func.config["LastModified"] = json!(now_lambda());
        func.config["RevisionId"] = json!(uuid::Uuid::new_v4().to_string());
        func.config["LastUpdateStatus"] = json!("InProgress");
        func.config["LastUpdateStatusReason"] = json!("The function is being created.");
        func.config["LastUpdateStatusReasonCode"] = json!("Creating");
        let config = func.config.clone();
        self.commit(&mut s, before)?;
        drop(s);
        self.pool(name).retire_all();
        Ok(config)
    }

    fn finish_update(self: &Arc<Self>, name: &str) {
        self.settle(name, |c| {
            c["LastUpdateStatus"] = json!("Successful");
            strip(c, &["LastUpdateStatusReason", "LastUpdateStatusReasonCode"]);
        });
    }

    pub(super) fn update_code(self: &Arc<Self>, name: &str, req: Value) -> Outcome {
        let Some(zip) = req["ZipFile"].as_str() else {
            return invalid("ZipFile is required (the sandbox does not read S3 code locations)");
        };
        let (sha, size, dir) = self.store_code(name, zip)?;
        match self.begin_update(name, |f| {
            f.config["CodeSha256"] = json!(sha);
            f.config["CodeSize"] = json!(size);
            f.code_dir = dir.clone();
            Ok(())
        }) {
            Ok(config) => {
                self.finish_update(name);
                ok(StatusCode::OK, &config)
            }
            Err(r) => Err(r),
        }
    }

    pub(super) async fn update_configuration(self: &Arc<Self>, name: &str, req: Value) -> Outcome {
        if let Some(role) = req["Role"].as_str()
            && !(self.role_exists)(role.to_owned()).await
        {
            return invalid("The role defined for the function cannot be assumed by Lambda.");
        }
        match self.begin_update(name, |f| {
            for key in ["Role", "Handler", "Description", "Timeout", "MemorySize", "Runtime"] {
                if !req[key].is_null() {
                    f.config[key] = req[key].clone();
                }
            }
            check_limits(&req)?;
            if !req["Environment"].is_null() {
                f.config["Environment"] = json!({"Variables": req["Environment"]["Variables"].as_object().cloned().unwrap_or_default()});
            }
            Ok(())
        }) {
            Ok(config) => {
                self.finish_update(name);
                ok(StatusCode::OK, &config)
            }
            Err(r) => Err(r),
        }
    }

    /// Changes a function and persists the change.
    fn with_function<T>(
        &self,
        name: &str,
        f: impl FnOnce(&mut Function) -> T,
    ) -> Result<T, ServiceError> {
        let mut s = self.state.lock();
        let before = s.clone();
        let out = match s.functions.get_mut(name) {
            Some(func) => f(func),
            None => return Err(self.not_found(name)),
        };
        self.commit(&mut s, before)?;
        Ok(out)
    }

    /// Reads a function.
    fn read_function<T>(
        &self,
        name: &str,
        f: impl FnOnce(&Function) -> T,
    ) -> Result<T, ServiceError> {
        let s = self.state.lock();
        s.functions
            .get(name)
            .map(f)
            .ok_or_else(|| self.not_found(name))
    }

    pub(super) fn put_concurrency(&self, name: &str, req: Value) -> Outcome {
        let Some(n) = req["ReservedConcurrentExecutions"].as_u64() else {
            return invalid("ReservedConcurrentExecutions is required");
        };
        match self.with_function(name, |f| f.reserved_concurrency = Some(n as u32)) {
            Ok(()) => ok(StatusCode::OK, &json!({"ReservedConcurrentExecutions": n})),
            Err(r) => Err(r),
        }
    }

    pub(super) fn get_concurrency(&self, name: &str) -> Outcome {
        match self.read_function(name, |f| f.reserved_concurrency) {
            Ok(Some(n)) => ok(StatusCode::OK, &json!({"ReservedConcurrentExecutions": n})),
            Ok(None) => ok(StatusCode::OK, &json!({})),
            Err(r) => Err(r),
        }
    }

    pub(super) fn delete_concurrency(&self, name: &str) -> Outcome {
        match self.with_function(name, |f| f.reserved_concurrency = None) {
            Ok(()) => Ok(Reply::empty(StatusCode::NO_CONTENT)),
            Err(r) => Err(r),
        }
    }

    pub(super) fn add_permission(&self, name: &str, req: Value) -> Outcome {
        let (Some(sid), Some(action), Some(principal)) = (
            req["StatementId"].as_str(),
            req["Action"].as_str(),
            req["Principal"].as_str(),
        ) else {
            return invalid("StatementId, Action and Principal are required");
        };
        let arn = self.arn(name);
        let mut statement = json!({
            "Sid": sid,
            "Effect": "Allow",
            "Principal": if principal.contains('.') { json!({"Service": principal}) } else { json!({"AWS": principal}) },
            "Action": action,
            "Resource": arn,
        });
        if let Some(source) = req["SourceArn"].as_str() {
            statement["Condition"] = json!({"ArnLike": {"AWS:SourceArn": source}});
        }
        let result = self.with_function(name, |f| {
            if f.policy.iter().any(|s| s["Sid"] == sid) {
                return Err(error(
                    StatusCode::CONFLICT,
                    "ResourceConflictException",
                    &format!("The statement id ({sid}) provided already exists. Please provide a new statement id, or remove the existing statement."),
                ));
            }
            f.policy.push(statement.clone());
            Ok(())
        });
        match result {
            Ok(Ok(())) => ok(
                StatusCode::CREATED,
                &json!({"Statement": statement.to_string()}),
            ),
            Ok(Err(r)) | Err(r) => Err(r),
        }
    }

    pub(super) fn get_policy(&self, name: &str) -> Outcome {
        match self.read_function(name, |f| f.policy.clone()) {
            Ok(statements) if statements.is_empty() => error(
                StatusCode::NOT_FOUND,
                "ResourceNotFoundException",
                "The resource you requested does not exist.",
            ),
            Ok(statements) => {
                let policy =
                    json!({"Version": "2012-10-17", "Id": "default", "Statement": statements});
                ok(
                    StatusCode::OK,
                    &json!({"Policy": policy.to_string(), "RevisionId": uuid::Uuid::new_v4().to_string()}),
                )
            }
            Err(r) => Err(r),
        }
    }

    pub(super) fn remove_permission(&self, name: &str, sid: &str) -> Outcome {
        match self.with_function(name, |f| {
            let before = f.policy.len();
            f.policy.retain(|s| s["Sid"] != sid);
            before != f.policy.len()
        }) {
            Ok(true) => Ok(Reply::empty(StatusCode::NO_CONTENT)),
            Ok(false) => error(
                StatusCode::NOT_FOUND,
                "ResourceNotFoundException",
                &format!("Statement {sid} is not found in resource policy."),
            ),
            Err(r) => Err(r),
        }
    }

    pub(super) async fn invoke_api(
        self: &Arc<Self>,
        name: &str,
        headers: &HeaderMap,
        payload: Bytes,
    ) -> Outcome {
        let kind = headers
            .get("x-amz-invocation-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("RequestResponse");
        match kind {
            "DryRun" => {
                return if self.launch_spec(name).is_some() {
                    Ok(Reply::empty(StatusCode::NO_CONTENT))
                } else {
                    self.not_found(name)
                };
            }
            "Event" => {
                if self.launch_spec(name).is_none() {
                    return self.not_found(name);
                }
                let me = self.clone();
                let name = name.to_owned();
                tokio::spawn(async move {
                    let _ = me.invoke(&name, payload).await;
                });
                return Ok(Reply::empty(StatusCode::ACCEPTED));
            }
            "RequestResponse" => {}
            other => return invalid(&format!("Invalid InvocationType: {other}")),
        }
        match self.invoke(name, payload).await {
            Err(InvokeError::NotFound) => self.not_found(name),
            Err(InvokeError::Throttled) => Err(ServiceError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequestsException",
                "Rate Exceeded.",
            )
            .with(
                "Reason",
                "ReservedFunctionConcurrentInvocationLimitExceeded",
            )),
            Err(InvokeError::Busy) => Err(ServiceError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequestsException",
                "Rate Exceeded.",
            )
            .with("Reason", "ConcurrentInvocationLimitExceeded")),
            Ok((request_id, outcome)) => {
                let (payload, function_error) =
                    outcome_payload(&request_id, outcome, self.timeout_of(name));
                let reply = Reply::new(payload).header("x-amz-executed-version", "$LATEST");
                Ok(if function_error {
                    reply.header("x-amz-function-error", "Unhandled")
                } else {
                    reply
                })
            }
        }
    }
}

/// Lambda's limits on a function's timeout (1 to 900 s) and memory (128
/// to 10,240 MB), for create and update alike: a value outside them, or
/// not a whole number, is refused rather than stored.
fn check_limits(req: &Value) -> Result<(), ServiceError> {
    for (key, range, what) in [
        ("Timeout", 1..=900, "Timeout must be 1 to 900 seconds"),
        (
            "MemorySize",
            128..=10_240,
            "MemorySize must be 128 to 10240 MB",
        ),
    ] {
        let value = &req[key];
        if !value.is_null() && !value.as_u64().is_some_and(|v| range.contains(&v)) {
            return Err(invalid(what));
        }
    }
    Ok(())
}
