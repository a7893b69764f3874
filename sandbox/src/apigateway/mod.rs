//! API Gateway (REST, v1) in a region: the control plane (restJson1 under
//! `/restapis` and `/domainnames`) and, in [`dataplane`], deployed stages
//! serving requests as Lambda proxy events.

pub mod dataplane;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use http::{Method, StatusCode};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::acm::Acm;
use crate::credentials::SandboxSecrets;
use crate::door::{Input, Outcome, Reply, ServiceError};
use crate::lambda::percent_decode;
use crate::store::{Store, StoreError};
use crate::wire::string_map;

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
                |state| self.route(method.as_str(), &seg, &req, state),
                |response| mutating && response.is_ok(),
            )
            .unwrap_or_else(|e| Err(e.into()))
    }

    fn route(&self, method: &str, seg: &[&str], req: &Value, s: &mut State) -> Outcome {
        match (method, seg) {
            ("POST", ["restapis"]) => {
                let Some(name) = req["name"].as_str() else {
                    return bad("Invalid REST API name specified");
                };
                let id = new_id(10);
                let root = new_id(10);
                let root_res = Resource {
                    id: root.clone(),
                    parent_id: None,
                    path_part: String::new(),
                    path: "/".into(),
                    methods: BTreeMap::new(),
                };
                let api = RestApi {
                    id: id.clone(),
                    name: name.to_owned(),
                    description: req["description"].as_str().unwrap_or("").to_owned(),
                    created: now(),
                    root_id: root.clone(),
                    tags: string_map(&req["tags"]),
                    resources: BTreeMap::from([(root, root_res)]),
                    deployments: BTreeMap::new(),
                    stages: BTreeMap::new(),
                };
                let v = api.json();
                s.apis.insert(id, api);
                ok(StatusCode::CREATED, v)
            }
            ("GET", ["restapis"]) => ok(
                StatusCode::OK,
                json!({"item": s.apis.values().map(RestApi::json).collect::<Vec<_>>()}),
            ),
            ("GET", ["restapis", id]) => s
                .apis
                .get(*id)
                .map_or_else(not_found, |a| ok(StatusCode::OK, a.json())),
            ("DELETE", ["restapis", id]) => {
                if s.domains
                    .values()
                    .any(|d| d.mappings.values().any(|(a, _)| a == id))
                {
                    return bad(
                        "Cannot delete a REST API that a base path mapping uses; delete the mapping first",
                    );
                }
                match s.apis.remove(*id) {
                    Some(_) => ok(StatusCode::ACCEPTED, json!({})),
                    None => not_found(),
                }
            }
            ("GET", ["restapis", id, "resources"]) => match s.apis.get(*id) {
                Some(a) => ok(
                    StatusCode::OK,
                    json!({"item": a.resources.values().map(Resource::json).collect::<Vec<_>>()}),
                ),
                None => not_found(),
            },
            ("GET", ["restapis", id, "resources", rid]) => {
                match s.apis.get(*id).and_then(|a| a.resources.get(*rid)) {
                    Some(r) => ok(StatusCode::OK, r.json()),
                    None => not_found(),
                }
            }
            ("POST", ["restapis", id, "resources", parent]) => {
                let Some(api) = s.apis.get_mut(*id) else {
                    return not_found();
                };
                let Some(parent_res) = api.resources.get(*parent).cloned() else {
                    return not_found();
                };
                let Some(part) = req["pathPart"].as_str() else {
                    return bad("Invalid path part");
                };
                let valid = !part.is_empty()
                    && (part
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c))
                        || (part.starts_with('{') && part.ends_with('}') && part.len() > 2));
                if !valid {
                    return bad(&format!(
                        "Resource's path part only allow a-zA-Z0-9._- and curly braces at the beginning and the end and an optional plus sign before the closing brace, not {part}"
                    ));
                }
                let path = if parent_res.path == "/" {
                    format!("/{part}")
                } else {
                    format!("{}/{part}", parent_res.path)
                };
                if api.resources.values().any(|r| r.path == path) {
                    return conflict(&format!(
                        "Another resource with the same parent already has this name: {part}"
                    ));
                }
                let res = Resource {
                    id: new_id(6),
                    parent_id: Some(parent.to_string()),
                    path_part: part.to_owned(),
                    path,
                    methods: BTreeMap::new(),
                };
                let v = res.json();
                api.resources.insert(res.id.clone(), res);
                ok(StatusCode::CREATED, v)
            }
            ("DELETE", ["restapis", id, "resources", rid]) => {
                let Some(api) = s.apis.get_mut(*id) else {
                    return not_found();
                };
                let Some(res) = api.resources.get(*rid).cloned() else {
                    return not_found();
                };
                let prefix = format!("{}/", res.path);
                api.resources
                    .retain(|_, r| r.id != res.id && !r.path.starts_with(&prefix));
                ok(StatusCode::ACCEPTED, json!({}))
            }
            (verb, ["restapis", id, "resources", rid, "methods", m, rest @ ..]) => {
                let Some(res) = s.apis.get_mut(*id).and_then(|a| a.resources.get_mut(*rid)) else {
                    return not_found();
                };
                self.method_route(verb, m, rest, req, res)
            }
            ("POST", ["restapis", id, "deployments"]) => {
                let Some(api) = s.apis.get_mut(*id) else {
                    return not_found();
                };
                if !api.resources.values().any(|r| !r.methods.is_empty()) {
                    return bad("The REST API doesn't contain any methods");
                }
                if let Some((path, m)) = api
                    .resources
                    .values()
                    .flat_map(|r| {
                        r.methods
                            .iter()
                            .map(move |(m, d)| (r.path.clone(), (m.clone(), d)))
                    })
                    .find(|(_, (_, d))| d.integration.is_none())
                {
                    return bad(&format!("No integration defined for method {} {path}", m.0));
                }
                let dep = new_id(6);
                let created = now();
                api.deployments.insert(
                    dep.clone(),
                    (
                        created,
                        req["description"].as_str().unwrap_or("").to_owned(),
                        api.resources.clone(),
                    ),
                );
                if let Some(stage) = req["stageName"].as_str() {
                    let entry = api.stages.entry(stage.to_owned()).or_insert_with(|| Stage {
                        deployment_id: dep.clone(),
                        created,
                        updated: created,
                        variables: BTreeMap::new(),
                        tags: BTreeMap::new(),
                    });
                    entry.deployment_id = dep.clone();
                    entry.updated = created;
                }
                ok(
                    StatusCode::CREATED,
                    json!({"id": dep, "createdDate": created, "description": req["description"]}),
                )
            }
            ("GET", ["restapis", id, "deployments"]) => match s.apis.get(*id) {
                Some(a) => ok(
                    StatusCode::OK,
                    json!({"item": a.deployments.iter().map(|(d, (c, desc, _))| json!({"id": d, "createdDate": c, "description": desc})).collect::<Vec<_>>()}),
                ),
                None => not_found(),
            },
            ("POST", ["restapis", id, "stages"]) => {
                let Some(api) = s.apis.get_mut(*id) else {
                    return not_found();
                };
                let (Some(name), Some(dep)) =
                    (req["stageName"].as_str(), req["deploymentId"].as_str())
                else {
                    return bad("stageName and deploymentId are required");
                };
                if !api.deployments.contains_key(dep) {
                    return bad("Invalid deployment identifier specified");
                }
                if api.stages.contains_key(name) {
                    return conflict("Stage already exists");
                }
                let stage = Stage {
                    deployment_id: dep.to_owned(),
                    created: now(),
                    updated: now(),
                    variables: string_map(&req["variables"]),
                    tags: string_map(&req["tags"]),
                };
                let v = stage_json(name, &stage);
                api.stages.insert(name.to_owned(), stage);
                ok(StatusCode::CREATED, v)
            }
            ("GET", ["restapis", id, "stages"]) => match s.apis.get(*id) {
                Some(a) => ok(
                    StatusCode::OK,
                    json!({"item": a.stages.iter().map(|(n, st)| stage_json(n, st)).collect::<Vec<_>>()}),
                ),
                None => not_found(),
            },
            ("GET", ["restapis", id, "stages", name]) => {
                match s.apis.get(*id).and_then(|a| a.stages.get(*name)) {
                    Some(st) => ok(StatusCode::OK, stage_json(name, st)),
                    None => not_found(),
                }
            }
            ("PATCH", ["restapis", id, "stages", name]) => {
                let Some(api) = s.apis.get_mut(*id) else {
                    return not_found();
                };
                let deployments: Vec<String> = api.deployments.keys().cloned().collect();
                let Some(st) = api.stages.get_mut(*name) else {
                    return not_found();
                };
                for op in req["patchOperations"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                {
                    let path = op["path"].as_str().unwrap_or_default();
                    let value = op["value"].as_str().unwrap_or_default();
                    match (op["op"].as_str(), path) {
                        (Some("replace"), "/deploymentId")
                            if deployments.iter().any(|d| d == value) =>
                        {
                            st.deployment_id = value.to_owned()
                        }
                        (Some("replace"), "/deploymentId") => {
                            return bad("Invalid deployment identifier specified");
                        }
                        (Some("replace"), p) if p.starts_with("/variables/") => {
                            st.variables.insert(
                                p.trim_start_matches("/variables/").to_owned(),
                                value.to_owned(),
                            );
                        }
                        (Some("remove"), p) if p.starts_with("/variables/") => {
                            st.variables.remove(p.trim_start_matches("/variables/"));
                        }
                        _ => return bad(&format!("Invalid patch path {path}")),
                    }
                }
                st.updated = now();
                ok(StatusCode::OK, stage_json(name, st))
            }
            ("DELETE", ["restapis", id, "stages", name]) => {
                match s.apis.get_mut(*id).and_then(|a| a.stages.remove(*name)) {
                    Some(_) => ok(StatusCode::ACCEPTED, json!({})),
                    None => not_found(),
                }
            }
            ("POST", ["domainnames"]) => {
                let Some(name) = req["domainName"].as_str() else {
                    return bad("domainName is required");
                };
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                if s.domains.contains_key(&name) {
                    return conflict(&format!(
                        "The domain name you provided already exists: {name}"
                    ));
                }
                let Some(cert) = req["regionalCertificateArn"].as_str() else {
                    return bad(
                        "A regional certificate (regionalCertificateArn) is required for a REGIONAL domain name",
                    );
                };
                if !cert.starts_with(&format!("arn:aws:acm:{}:", self.region))
                    || !self.acm.issued(cert)
                {
                    return bad(&format!(
                        "Certificate {cert} in account is not found, not in {}, or not ISSUED",
                        self.region
                    ));
                }
                let domain = DomainName {
                    regional_domain_name: format!(
                        "d-{}.execute-api.{}.amazonaws.com",
                        new_id(10),
                        self.region
                    ),
                    name: name.clone(),
                    certificate_arn: cert.to_owned(),
                    created: now(),
                    tags: string_map(&req["tags"]),
                    mappings: BTreeMap::new(),
                };
                self.acm.set_in_use(cert, &name, true)?;
                let v = domain.json(&self.region);
                s.domains.insert(name, domain);
                ok(StatusCode::CREATED, v)
            }
            ("GET", ["domainnames"]) => ok(
                StatusCode::OK,
                json!({"item": s.domains.values().map(|d| d.json(&self.region)).collect::<Vec<_>>()}),
            ),
            ("GET", ["domainnames", name]) => s
                .domains
                .get(*name)
                .map_or_else(not_found, |d| ok(StatusCode::OK, d.json(&self.region))),
            ("DELETE", ["domainnames", name]) => match s.domains.remove(*name) {
                Some(d) => {
                    self.acm.set_in_use(&d.certificate_arn, &d.name, false)?;
                    ok(StatusCode::ACCEPTED, json!({}))
                }
                None => not_found(),
            },
            ("POST", ["domainnames", name, "basepathmappings"]) => {
                let (Some(api), stage) = (req["restApiId"].as_str(), req["stage"].as_str()) else {
                    return bad("restApiId is required");
                };
                let Some(rest) = s.apis.get(api) else {
                    return bad("Invalid REST API identifier specified");
                };
                if let Some(st) = stage
                    && !rest.stages.contains_key(st)
                {
                    return bad("Invalid stage identifier specified");
                }
                let base = req["basePath"]
                    .as_str()
                    .unwrap_or("")
                    .trim_matches('/')
                    .to_owned();
                let Some(domain) = s.domains.get_mut(*name) else {
                    return not_found();
                };
                if domain.mappings.contains_key(&base) {
                    return conflict("Base path already exists for this domain name");
                }
                domain.mappings.insert(
                    base.clone(),
                    (api.to_owned(), stage.unwrap_or("").to_owned()),
                );
                ok(
                    StatusCode::CREATED,
                    mapping_json(&base, api, stage.unwrap_or("")),
                )
            }
            ("GET", ["domainnames", name, "basepathmappings"]) => match s.domains.get(*name) {
                Some(d) => ok(
                    StatusCode::OK,
                    json!({"item": d.mappings.iter().map(|(b, (a, st))| mapping_json(b, a, st)).collect::<Vec<_>>()}),
                ),
                None => not_found(),
            },
            ("DELETE", ["domainnames", name, "basepathmappings", base]) => {
                let base = if *base == "(none)" { "" } else { *base };
                match s
                    .domains
                    .get_mut(*name)
                    .and_then(|d| d.mappings.remove(base))
                {
                    Some(_) => ok(StatusCode::ACCEPTED, json!({})),
                    None => not_found(),
                }
            }
            _ => not_found(),
        }
    }

    fn method_route(
        &self,
        verb: &str,
        m: &str,
        rest: &[&str],
        req: &Value,
        res: &mut Resource,
    ) -> Outcome {
        let m = m.to_ascii_uppercase();
        match (verb, rest) {
            ("PUT", []) => {
                let auth = req["authorizationType"].as_str().unwrap_or("NONE");
                if !matches!(auth, "NONE" | "AWS_IAM") {
                    return bad(&format!(
                        "The sandbox supports authorizationType NONE or AWS_IAM, not {auth}"
                    ));
                }
                if !matches!(
                    m.as_str(),
                    "GET" | "POST" | "PUT" | "DELETE" | "PATCH" | "HEAD" | "OPTIONS" | "ANY"
                ) {
                    return bad(&format!("Invalid HTTP method {m}"));
                }
                if res.methods.contains_key(&m) {
                    return conflict("Method already exists for this resource");
                }
                let def = MethodDef {
                    authorization_type: auth.to_owned(),
                    ..Default::default()
                };
                let v = method_json(&m, &def);
                res.methods.insert(m, def);
                ok(StatusCode::CREATED, v)
            }
            ("GET", []) => res
                .methods
                .get(&m)
                .map_or_else(not_found, |d| ok(StatusCode::OK, method_json(&m, d))),
            ("DELETE", []) => match res.methods.remove(&m) {
                Some(_) => ok(StatusCode::NO_CONTENT, json!({})),
                None => not_found(),
            },
            ("PUT", ["integration"]) => {
                let Some(def) = res.methods.get_mut(&m) else {
                    return not_found();
                };
                let kind = req["type"].as_str().unwrap_or_default();
                match kind {
                    "AWS_PROXY" => {
                        let uri = req["uri"].as_str().unwrap_or_default();
                        if dataplane::lambda_of_uri(uri).is_none() {
                            return bad(&format!(
                                "AWS ARN for integration must contain path or action: {uri}"
                            ));
                        }
                        if req["httpMethod"].as_str() != Some("POST") {
                            return bad(
                                "Lambda proxy integrations must use integrationHttpMethod POST",
                            );
                        }
                    }
                    "MOCK" => {}
                    other => {
                        return bad(&format!(
                            "The sandbox supports AWS_PROXY and MOCK integrations, not {other}"
                        ));
                    }
                }
                let timeout = req["timeoutInMillis"].as_u64().unwrap_or(29_000);
                if !(50..=29_000).contains(&timeout) {
                    return bad("Timeout should be between 50 ms and 29000 ms");
                }
                let integration = json!({
                    "type": kind, "httpMethod": req["httpMethod"], "uri": req["uri"],
                    "requestTemplates": req["requestTemplates"], "passthroughBehavior": req["passthroughBehavior"].as_str().unwrap_or("WHEN_NO_MATCH"),
                    "timeoutInMillis": timeout, "cacheNamespace": res.id, "cacheKeyParameters": [],
                });
                def.integration = Some(integration.clone());
                ok(StatusCode::CREATED, integration)
            }
            ("GET", ["integration"]) => {
                match res.methods.get(&m).and_then(|d| d.integration.clone()) {
                    Some(mut i) => {
                        i["integrationResponses"] = json!(res.methods[&m].integration_responses);
                        ok(StatusCode::OK, i)
                    }
                    None => not_found(),
                }
            }
            ("PUT", ["responses", status]) => {
                let Some(def) = res.methods.get_mut(&m) else {
                    return not_found();
                };
                let v = json!({"statusCode": status, "responseParameters": req["responseParameters"], "responseModels": req["responseModels"]});
                def.method_responses.insert(status.to_string(), v.clone());
                ok(StatusCode::CREATED, v)
            }
            ("PUT", ["integration", "responses", status]) => {
                let Some(def) = res.methods.get_mut(&m) else {
                    return not_found();
                };
                if def.integration.is_none() {
                    return not_found();
                }
                let v = json!({"statusCode": status, "selectionPattern": req["selectionPattern"], "responseParameters": req["responseParameters"], "responseTemplates": req["responseTemplates"]});
                def.integration_responses
                    .insert(status.to_string(), v.clone());
                ok(StatusCode::CREATED, v)
            }
            _ => not_found(),
        }
    }
}

fn mapping_json(base: &str, api: &str, stage: &str) -> Value {
    json!({"basePath": if base.is_empty() { "(none)" } else { base }, "restApiId": api, "stage": stage})
}
