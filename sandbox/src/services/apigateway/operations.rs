//! API Gateway's control-plane operations: one function per API
//! operation, found through the operation table [`OPERATIONS`] by method
//! and path, each given the path's labels, the JSON body and the locked
//! state.

use std::collections::BTreeMap;

use http::StatusCode;
use serde_json::{Value, json};

use super::{
    ApiGateway, DomainName, MethodDef, Resource, RestApi, Stage, State, bad, conflict, dataplane,
    mapping_json, method_json, new_id, not_found, now, ok, stage_json,
};
use crate::door::Outcome;
use crate::door::table::{Labels, Operation, by_route, rest};
use crate::wire::string_map;

/// What an operation gets from the request.
pub(super) struct Request<'a> {
    /// The path's `{restapi_id}`, `{stage_name}`, ….
    labels: Labels,
    body: &'a Value,
}

type Handler = fn(&ApiGateway, &Request, &mut State) -> Outcome;

/// The control plane's operations by HTTP binding, as in the API reference.
#[rustfmt::skip]
pub(super) const OPERATIONS: &[Operation<Handler>] = &[
    rest("CreateRestApi", "POST", "/restapis", create_rest_api),
    rest("GetRestApis", "GET", "/restapis", get_rest_apis),
    rest("GetRestApi", "GET", "/restapis/{restapi_id}", get_rest_api),
    rest("DeleteRestApi", "DELETE", "/restapis/{restapi_id}", delete_rest_api),
    rest("GetResources", "GET", "/restapis/{restapi_id}/resources", get_resources),
    rest("GetResource", "GET", "/restapis/{restapi_id}/resources/{resource_id}", get_resource),
    rest("CreateResource", "POST", "/restapis/{restapi_id}/resources/{parent_id}", create_resource),
    rest("DeleteResource", "DELETE", "/restapis/{restapi_id}/resources/{resource_id}", delete_resource),
    rest("CreateDeployment", "POST", "/restapis/{restapi_id}/deployments", create_deployment),
    rest("GetDeployments", "GET", "/restapis/{restapi_id}/deployments", get_deployments),
    rest("CreateStage", "POST", "/restapis/{restapi_id}/stages", create_stage),
    rest("GetStages", "GET", "/restapis/{restapi_id}/stages", get_stages),
    rest("GetStage", "GET", "/restapis/{restapi_id}/stages/{stage_name}", get_stage),
    rest("UpdateStage", "PATCH", "/restapis/{restapi_id}/stages/{stage_name}", update_stage),
    rest("DeleteStage", "DELETE", "/restapis/{restapi_id}/stages/{stage_name}", delete_stage),
    rest("CreateDomainName", "POST", "/domainnames", create_domain_name),
    rest("GetDomainNames", "GET", "/domainnames", get_domain_names),
    rest("GetDomainName", "GET", "/domainnames/{domain_name}", get_domain_name),
    rest("DeleteDomainName", "DELETE", "/domainnames/{domain_name}", delete_domain_name),
    rest("CreateBasePathMapping", "POST", "/domainnames/{domain_name}/basepathmappings", create_base_path_mapping),
    rest("GetBasePathMappings", "GET", "/domainnames/{domain_name}/basepathmappings", get_base_path_mappings),
    rest("DeleteBasePathMapping", "DELETE", "/domainnames/{domain_name}/basepathmappings/{base_path}", delete_base_path_mapping),
    rest("PutMethod", "PUT", "/restapis/{restapi_id}/resources/{resource_id}/methods/{http_method}", put_method),
    rest("GetMethod", "GET", "/restapis/{restapi_id}/resources/{resource_id}/methods/{http_method}", get_method),
    rest("DeleteMethod", "DELETE", "/restapis/{restapi_id}/resources/{resource_id}/methods/{http_method}", delete_method),
    rest("PutIntegration", "PUT", "/restapis/{restapi_id}/resources/{resource_id}/methods/{http_method}/integration", put_integration),
    rest("GetIntegration", "GET", "/restapis/{restapi_id}/resources/{resource_id}/methods/{http_method}/integration", get_integration),
    rest("PutMethodResponse", "PUT", "/restapis/{restapi_id}/resources/{resource_id}/methods/{http_method}/responses/{status_code}", put_method_response),
    rest("PutIntegrationResponse", "PUT", "/restapis/{restapi_id}/resources/{resource_id}/methods/{http_method}/integration/responses/{status_code}", put_integration_response),
];

/// Serves the operation `method` and the path `seg` name; an unknown one
/// is API Gateway's `NotFoundException`.
pub(super) fn serve(
    gw: &ApiGateway,
    method: &str,
    seg: &[&str],
    body: &Value,
    s: &mut State,
) -> Outcome {
    match by_route(OPERATIONS, method, seg, |_| false) {
        Some((op, labels)) => (op.handler)(gw, &Request { labels, body }, s),
        None => not_found(),
    }
}

/// The resource a method operation's path names, and the method
/// (upper-cased, as API Gateway keys it).
fn method_target<'s>(s: &'s mut State, request: &Request) -> Option<(&'s mut Resource, String)> {
    let resource = s
        .apis
        .get_mut(request.labels.get("restapi_id"))?
        .resources
        .get_mut(request.labels.get("resource_id"))?;
    let method = request.labels.get("http_method").to_ascii_uppercase();
    Some((resource, method))
}

/// The method a method operation's path names, if it is defined.
fn method_def<'s>(s: &'s mut State, request: &Request) -> Option<&'s mut MethodDef> {
    let (resource, method) = method_target(s, request)?;
    resource.methods.get_mut(&method)
}

fn create_rest_api(_gw: &ApiGateway, request: &Request, s: &mut State) -> Outcome {
    let req = request.body;
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

fn get_rest_apis(_gw: &ApiGateway, _request: &Request, s: &mut State) -> Outcome {
    ok(
        StatusCode::OK,
        json!({"item": s.apis.values().map(RestApi::json).collect::<Vec<_>>()}),
    )
}

fn get_rest_api(_gw: &ApiGateway, request: &Request, s: &mut State) -> Outcome {
    let id = request.labels.get("restapi_id");
    s.apis
        .get(id)
        .map_or_else(not_found, |a| ok(StatusCode::OK, a.json()))
}

fn delete_rest_api(_gw: &ApiGateway, request: &Request, s: &mut State) -> Outcome {
    let id = request.labels.get("restapi_id");
    if s.domains
        .values()
        .any(|d| d.mappings.values().any(|(a, _)| a == id))
    {
        return bad(
            "Cannot delete a REST API that a base path mapping uses; delete the mapping first",
        );
    }
    match s.apis.remove(id) {
        Some(_) => ok(StatusCode::ACCEPTED, json!({})),
        None => not_found(),
    }
}

fn get_resources(_gw: &ApiGateway, request: &Request, s: &mut State) -> Outcome {
    let id = request.labels.get("restapi_id");
    match s.apis.get(id) {
        Some(a) => ok(
            StatusCode::OK,
            json!({"item": a.resources.values().map(Resource::json).collect::<Vec<_>>()}),
        ),
        None => not_found(),
    }
}

fn get_resource(_gw: &ApiGateway, request: &Request, s: &mut State) -> Outcome {
    let id = request.labels.get("restapi_id");
    let rid = request.labels.get("resource_id");
    match s.apis.get(id).and_then(|a| a.resources.get(rid)) {
        Some(r) => ok(StatusCode::OK, r.json()),
        None => not_found(),
    }
}

fn create_resource(_gw: &ApiGateway, request: &Request, s: &mut State) -> Outcome {
    let id = request.labels.get("restapi_id");
    let parent = request.labels.get("parent_id");
    let req = request.body;
    let Some(api) = s.apis.get_mut(id) else {
        return not_found();
    };
    let Some(parent_res) = api.resources.get(parent).cloned() else {
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

fn delete_resource(_gw: &ApiGateway, request: &Request, s: &mut State) -> Outcome {
    let id = request.labels.get("restapi_id");
    let rid = request.labels.get("resource_id");
    let Some(api) = s.apis.get_mut(id) else {
        return not_found();
    };
    let Some(res) = api.resources.get(rid).cloned() else {
        return not_found();
    };
    let prefix = format!("{}/", res.path);
    api.resources
        .retain(|_, r| r.id != res.id && !r.path.starts_with(&prefix));
    ok(StatusCode::ACCEPTED, json!({}))
}

fn create_deployment(_gw: &ApiGateway, request: &Request, s: &mut State) -> Outcome {
    let id = request.labels.get("restapi_id");
    let req = request.body;
    let Some(api) = s.apis.get_mut(id) else {
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

fn get_deployments(_gw: &ApiGateway, request: &Request, s: &mut State) -> Outcome {
    let id = request.labels.get("restapi_id");
    match s.apis.get(id) {
        Some(a) => ok(
            StatusCode::OK,
            json!({"item": a.deployments.iter().map(|(d, (c, desc, _))| json!({"id": d, "createdDate": c, "description": desc})).collect::<Vec<_>>()}),
        ),
        None => not_found(),
    }
}

fn create_stage(_gw: &ApiGateway, request: &Request, s: &mut State) -> Outcome {
    let id = request.labels.get("restapi_id");
    let req = request.body;
    let Some(api) = s.apis.get_mut(id) else {
        return not_found();
    };
    let (Some(name), Some(dep)) = (req["stageName"].as_str(), req["deploymentId"].as_str()) else {
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

fn get_stages(_gw: &ApiGateway, request: &Request, s: &mut State) -> Outcome {
    let id = request.labels.get("restapi_id");
    match s.apis.get(id) {
        Some(a) => ok(
            StatusCode::OK,
            json!({"item": a.stages.iter().map(|(n, st)| stage_json(n, st)).collect::<Vec<_>>()}),
        ),
        None => not_found(),
    }
}

fn get_stage(_gw: &ApiGateway, request: &Request, s: &mut State) -> Outcome {
    let id = request.labels.get("restapi_id");
    let name = request.labels.get("stage_name");
    match s.apis.get(id).and_then(|a| a.stages.get(name)) {
        Some(st) => ok(StatusCode::OK, stage_json(name, st)),
        None => not_found(),
    }
}

fn update_stage(_gw: &ApiGateway, request: &Request, s: &mut State) -> Outcome {
    let id = request.labels.get("restapi_id");
    let name = request.labels.get("stage_name");
    let req = request.body;
    let Some(api) = s.apis.get_mut(id) else {
        return not_found();
    };
    let deployments: Vec<String> = api.deployments.keys().cloned().collect();
    let Some(st) = api.stages.get_mut(name) else {
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
            (Some("replace"), "/deploymentId") if deployments.iter().any(|d| d == value) => {
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

fn delete_stage(_gw: &ApiGateway, request: &Request, s: &mut State) -> Outcome {
    let id = request.labels.get("restapi_id");
    let name = request.labels.get("stage_name");
    match s.apis.get_mut(id).and_then(|a| a.stages.remove(name)) {
        Some(_) => ok(StatusCode::ACCEPTED, json!({})),
        None => not_found(),
    }
}

fn create_domain_name(gw: &ApiGateway, request: &Request, s: &mut State) -> Outcome {
    let req = request.body;
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
    if !cert.starts_with(&format!("arn:aws:acm:{}:", gw.region)) || !gw.acm.issued(cert) {
        return bad(&format!(
            "Certificate {cert} in account is not found, not in {}, or not ISSUED",
            gw.region
        ));
    }
    let domain = DomainName {
        regional_domain_name: format!("d-{}.execute-api.{}.amazonaws.com", new_id(10), gw.region),
        name: name.clone(),
        certificate_arn: cert.to_owned(),
        created: now(),
        tags: string_map(&req["tags"]),
        mappings: BTreeMap::new(),
    };
    gw.acm.set_in_use(cert, &name, true)?;
    let v = domain.json(&gw.region);
    s.domains.insert(name, domain);
    ok(StatusCode::CREATED, v)
}

fn get_domain_names(gw: &ApiGateway, _request: &Request, s: &mut State) -> Outcome {
    ok(
        StatusCode::OK,
        json!({"item": s.domains.values().map(|d| d.json(&gw.region)).collect::<Vec<_>>()}),
    )
}

fn get_domain_name(gw: &ApiGateway, request: &Request, s: &mut State) -> Outcome {
    let name = request.labels.get("domain_name");
    s.domains
        .get(name)
        .map_or_else(not_found, |d| ok(StatusCode::OK, d.json(&gw.region)))
}

fn delete_domain_name(gw: &ApiGateway, request: &Request, s: &mut State) -> Outcome {
    let name = request.labels.get("domain_name");
    match s.domains.remove(name) {
        Some(d) => {
            gw.acm.set_in_use(&d.certificate_arn, &d.name, false)?;
            ok(StatusCode::ACCEPTED, json!({}))
        }
        None => not_found(),
    }
}

fn create_base_path_mapping(_gw: &ApiGateway, request: &Request, s: &mut State) -> Outcome {
    let name = request.labels.get("domain_name");
    let req = request.body;
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
    let Some(domain) = s.domains.get_mut(name) else {
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

fn get_base_path_mappings(_gw: &ApiGateway, request: &Request, s: &mut State) -> Outcome {
    let name = request.labels.get("domain_name");
    match s.domains.get(name) {
        Some(d) => ok(
            StatusCode::OK,
            json!({"item": d.mappings.iter().map(|(b, (a, st))| mapping_json(b, a, st)).collect::<Vec<_>>()}),
        ),
        None => not_found(),
    }
}

fn delete_base_path_mapping(_gw: &ApiGateway, request: &Request, s: &mut State) -> Outcome {
    let base = request.labels.get("base_path");
    let name = request.labels.get("domain_name");
    let base = if base == "(none)" { "" } else { base };
    match s
        .domains
        .get_mut(name)
        .and_then(|d| d.mappings.remove(base))
    {
        Some(_) => ok(StatusCode::ACCEPTED, json!({})),
        None => not_found(),
    }
}

fn put_method(_gw: &ApiGateway, request: &Request, s: &mut State) -> Outcome {
    let Some((res, m)) = method_target(s, request) else {
        return not_found();
    };
    let req = request.body;
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

fn get_method(_gw: &ApiGateway, request: &Request, s: &mut State) -> Outcome {
    let Some((res, m)) = method_target(s, request) else {
        return not_found();
    };
    res.methods
        .get(&m)
        .map_or_else(not_found, |d| ok(StatusCode::OK, method_json(&m, d)))
}

fn delete_method(_gw: &ApiGateway, request: &Request, s: &mut State) -> Outcome {
    let Some((res, m)) = method_target(s, request) else {
        return not_found();
    };
    match res.methods.remove(&m) {
        Some(_) => ok(StatusCode::NO_CONTENT, json!({})),
        None => not_found(),
    }
}

fn put_integration(_gw: &ApiGateway, request: &Request, s: &mut State) -> Outcome {
    let Some((res, m)) = method_target(s, request) else {
        return not_found();
    };
    let req = request.body;
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
                return bad("Lambda proxy integrations must use integrationHttpMethod POST");
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

fn get_integration(_gw: &ApiGateway, request: &Request, s: &mut State) -> Outcome {
    let Some((res, m)) = method_target(s, request) else {
        return not_found();
    };
    match res.methods.get(&m).and_then(|d| d.integration.clone()) {
        Some(mut i) => {
            i["integrationResponses"] = json!(res.methods[&m].integration_responses);
            ok(StatusCode::OK, i)
        }
        None => not_found(),
    }
}

fn put_method_response(_gw: &ApiGateway, request: &Request, s: &mut State) -> Outcome {
    let Some(def) = method_def(s, request) else {
        return not_found();
    };
    let status = request.labels.get("status_code");
    let req = request.body;
    let v = json!({"statusCode": status, "responseParameters": req["responseParameters"], "responseModels": req["responseModels"]});
    def.method_responses.insert(status.to_string(), v.clone());
    ok(StatusCode::CREATED, v)
}

fn put_integration_response(_gw: &ApiGateway, request: &Request, s: &mut State) -> Outcome {
    let Some(def) = method_def(s, request) else {
        return not_found();
    };
    let status = request.labels.get("status_code");
    let req = request.body;
    if def.integration.is_none() {
        return not_found();
    }
    let v = json!({"statusCode": status, "selectionPattern": req["selectionPattern"], "responseParameters": req["responseParameters"], "responseTemplates": req["responseTemplates"]});
    def.integration_responses
        .insert(status.to_string(), v.clone());
    ok(StatusCode::CREATED, v)
}
