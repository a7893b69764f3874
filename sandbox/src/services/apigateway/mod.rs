//! API Gateway (REST, v1) in a region: the control plane (restJson1 under
//! `/restapis` and `/domainnames`) and, in [`dataplane`], deployed stages
//! serving requests as Lambda proxy events.

pub mod dataplane;
mod operations;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use http::{Method, StatusCode};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::credentials::SandboxSecrets;
use crate::door::{Input, Outcome, Reply, ServiceError};
use crate::services::acm::Acm;
use crate::services::lambda::percent_decode;
use crate::store::{Store, StoreError};

/// Route 53 hosted-zone ids of regional API Gateway endpoints (AWS-BEHAVIOUR §6).
pub fn regional_zone_id(region: &str) -> &'static str {
    match region {
        "eu-west-1" => "ZLY8HYME6SFDD",
        "ap-southeast-1" => "ZL327KTPIQFUL",
        "us-east-1" => "Z1UJRXOUMOOFQ8",
        "us-west-2" => "Z2OJLYMUO9EFXC",
        _ => "ZSANDBOXREGIONAL",
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MethodDef {
    pub authorization_type: String,
    pub integration: Option<Value>,
    pub method_responses: BTreeMap<String, Value>,
    pub integration_responses: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Resource {
    pub id: String,
    pub parent_id: Option<String>,
    pub path_part: String,
    pub path: String,
    pub methods: BTreeMap<String, MethodDef>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RestApi {
    pub id: String,
    pub name: String,
    pub description: String,
    pub created: i64,
    pub root_id: String,
    pub tags: BTreeMap<String, String>,
    pub resources: BTreeMap<String, Resource>,
    /// Deployment id → the resources as they were deployed.
    pub deployments: BTreeMap<String, (i64, String, BTreeMap<String, Resource>)>,
    /// Stage name → (deployment id, created, updated, variables).
    pub stages: BTreeMap<String, Stage>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stage {
    pub deployment_id: String,
    pub created: i64,
    pub updated: i64,
    pub variables: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DomainName {
    pub name: String,
    pub certificate_arn: String,
    pub regional_domain_name: String,
    pub created: i64,
    pub tags: BTreeMap<String, String>,
    /// Base path ("" for none) → (api id, stage).
    pub mappings: BTreeMap<String, (String, String)>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    pub apis: BTreeMap<String, RestApi>,
    pub domains: BTreeMap<String, DomainName>,
}

pub struct ApiGateway {
    pub region: String,
    secrets: Arc<SandboxSecrets>,
    acm: Arc<Acm>,
    pub state: Store<State>,
}

fn new_id(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| b"abcdefghijklmnopqrstuvwxyz0123456789"[rng.random_range(0..36)] as char)
        .collect()
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// An API Gateway control-plane error (the door sends
/// `x-amzn-ErrorType`, `x-amz-apigw-id` and the body).
pub fn error(status: StatusCode, code: &str, message: &str) -> Outcome {
    Err(ServiceError::new(status, code, message))
}

fn not_found() -> Outcome {
    error(
        StatusCode::NOT_FOUND,
        "NotFoundException",
        "Invalid Resource identifier specified",
    )
}

fn bad(message: &str) -> Outcome {
    error(StatusCode::BAD_REQUEST, "BadRequestException", message)
}

fn conflict(message: &str) -> Outcome {
    error(StatusCode::CONFLICT, "ConflictException", message)
}

fn ok(status: StatusCode, v: Value) -> Outcome {
    Ok(Reply::json(&v).status(status))
}

impl Resource {
    fn json(&self) -> Value {
        let methods: serde_json::Map<String, Value> = self
            .methods
            .iter()
            .map(|(m, def)| (m.clone(), method_json(m, def)))
            .collect();
        let mut v = json!({"id": self.id, "path": self.path});
        if let Some(p) = &self.parent_id {
            v["parentId"] = json!(p);
            v["pathPart"] = json!(self.path_part);
        }
        if !methods.is_empty() {
            v["resourceMethods"] = Value::Object(methods);
        }
        v
    }
}

fn method_json(method: &str, def: &MethodDef) -> Value {
    let mut v = json!({
        "httpMethod": method,
        "authorizationType": def.authorization_type,
        "apiKeyRequired": false,
        "methodResponses": def.method_responses,
    });
    if let Some(i) = &def.integration {
        let mut i = i.clone();
        i["integrationResponses"] = json!(def.integration_responses);
        v["methodIntegration"] = i;
    }
    v
}

impl RestApi {
    fn json(&self) -> Value {
        json!({
            "id": self.id, "name": self.name, "description": self.description, "createdDate": self.created,
            "apiKeySource": "HEADER", "endpointConfiguration": {"types": ["REGIONAL"]},
            "rootResourceId": self.root_id, "tags": self.tags, "disableExecuteApiEndpoint": false,
        })
    }
}

fn stage_json(name: &str, s: &Stage) -> Value {
    json!({"stageName": name, "deploymentId": s.deployment_id, "createdDate": s.created, "lastUpdatedDate": s.updated,
           "variables": s.variables, "tags": s.tags, "cacheClusterEnabled": false, "tracingEnabled": false})
}

impl DomainName {
    fn json(&self, region: &str) -> Value {
        json!({
            "domainName": self.name, "regionalDomainName": self.regional_domain_name,
            "regionalHostedZoneId": regional_zone_id(region), "regionalCertificateArn": self.certificate_arn,
            "endpointConfiguration": {"types": ["REGIONAL"]}, "domainNameStatus": "AVAILABLE",
            "securityPolicy": "TLS_1_2", "tags": self.tags,
        })
    }
}

impl ApiGateway {
    pub fn open(
        region: &str,
        file: PathBuf,
        secrets: Arc<SandboxSecrets>,
        acm: Arc<Acm>,
    ) -> Result<Arc<Self>, StoreError> {
        Ok(Arc::new(ApiGateway {
            region: region.to_owned(),
            secrets,
            acm,
            state: Store::open(file)?,
        }))
    }

    /// Whether `path` belongs to the control plane.
    pub fn is_control_path(path: &str) -> bool {
        (path.starts_with("/restapis")
            && !path.contains("/_user_request_/")
            && !path.ends_with("/_user_request_"))
            || path.starts_with("/domainnames")
            || path.starts_with("/tags/")
    }

    /// Serves one (authenticated) control-plane request.
    pub fn handle(&self, input: &Input) -> Outcome {
        let (method, path) = (&input.method, input.path.as_str());
        let req = input.json()?;
        let seg: Vec<String> = path
            .trim_matches('/')
            .split('/')
            .map(percent_decode)
            .collect();
        let seg: Vec<&str> = seg.iter().map(String::as_str).collect();
        let mutating = matches!(
            *method,
            Method::POST | Method::PUT | Method::PATCH | Method::DELETE
        );
        self.state
            .change(
                |state| operations::serve(self, method.as_str(), &seg, &req, state),
                |response| mutating && response.is_ok(),
            )
            .unwrap_or_else(|e| Err(e.into()))
    }
}

fn mapping_json(base: &str, api: &str, stage: &str) -> Value {
    json!({"basePath": if base.is_empty() { "(none)" } else { base }, "restApiId": api, "stage": stage})
}
