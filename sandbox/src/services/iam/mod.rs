//! IAM in the global process: roles, their inline and attached policies,
//! and tags; enough for `up` and `down`. Kept in `global/iam.json`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use crate::door::ServiceError;
use http::StatusCode;
use rand::Rng;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::credentials::ACCOUNT_ID;
use crate::query::{IAM, QueryRequest, el, percent_encode};
use crate::services::dynamodb::policy::{statements, strings};
use crate::store::{Store, StoreError};

/// One IAM role.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Role {
    pub name: String,
    pub id: String,
    pub path: String,
    pub created: String,
    pub assume_role_policy: String,
    pub description: Option<String>,
    pub max_session_duration: u32,
    pub tags: Vec<(String, String)>,
    pub inline: BTreeMap<String, String>,
    pub attached: BTreeSet<String>,
}

impl Role {
    pub fn arn(&self) -> String {
        format!("arn:aws:iam::{ACCOUNT_ID}:role{}{}", self.path, self.name)
    }

    fn xml(&self) -> String {
        let tags = if self.tags.is_empty() {
            String::new()
        } else {
            let members: String = self
                .tags
                .iter()
                .map(|(k, v)| format!("<member>{}{}</member>", el("Key", k), el("Value", v)))
                .collect();
            format!("<Tags>{members}</Tags>")
        };
        format!(
            "<Role>{}{}{}{}{}{}{}{}{tags}</Role>",
            el("Path", &self.path),
            el("RoleName", &self.name),
            el("RoleId", &self.id),
            el("Arn", &self.arn()),
            el("CreateDate", &self.created),
            el(
                "AssumeRolePolicyDocument",
                &percent_encode(&self.assume_role_policy)
            ),
            self.description
                .as_deref()
                .map(|d| el("Description", d))
                .unwrap_or_default(),
            el("MaxSessionDuration", &self.max_session_duration.to_string()),
        )
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct IamState {
    roles: BTreeMap<String, Role>,
}

/// The sandbox's IAM.
pub struct Iam {
    state: Store<IamState>,
}

type Outcome = Result<Option<String>, ServiceError>;

fn err(status: StatusCode, code: &str, message: impl AsRef<str>) -> ServiceError {
    ServiceError::new(status, code, message.as_ref())
}

fn no_such_role(name: &str) -> ServiceError {
    err(
        StatusCode::NOT_FOUND,
        "NoSuchEntity",
        format!("The role with name {name} cannot be found."),
    )
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
}

fn valid_policy(doc: &str) -> Result<(), ServiceError> {
    match serde_json::from_str::<serde_json::Value>(doc) {
        Ok(v) if v.get("Statement").is_some() => Ok(()),
        Ok(_) => Err(err(
            StatusCode::BAD_REQUEST,
            "MalformedPolicyDocument",
            "Syntax errors in policy.",
        )),
        Err(_) => Err(err(
            StatusCode::BAD_REQUEST,
            "MalformedPolicyDocument",
            "This policy contains invalid Json",
        )),
    }
}

impl Iam {
    pub fn open(file: PathBuf) -> Result<Self, StoreError> {
        Ok(Iam {
            state: Store::open(file)?,
        })
    }

    /// A role by ARN, for STS.
    pub fn role_by_arn(&self, arn: &str) -> Option<Role> {
        let state = self.state.lock();
        state.roles.values().find(|r| r.arn() == arn).cloned()
    }

    /// Whether `role_arn`'s policies allow `action` on `resource`: an
    /// explicit Deny wins, then any Allow; AWS-managed AdministratorAccess
    /// allows everything. Only identity policies are modelled.
    pub fn authorize(&self, role_arn: &str, action: &str, resource: &str) -> bool {
        let Some(role) = self.role_by_arn(role_arn) else {
            return false;
        };
        let mut allowed = role
            .attached
            .contains("arn:aws:iam::aws:policy/AdministratorAccess");
        for doc in role.inline.values() {
            let Ok(doc) = serde_json::from_str::<serde_json::Value>(doc) else {
                continue;
            };
            for st in statements(&doc) {
                let action_ok = strings(&st["Action"])
                    .iter()
                    .any(|a| crate::glob::matches_ignore_case(a, action));
                let resource_ok = strings(&st["Resource"])
                    .iter()
                    .any(|r| r == "*" || crate::glob::matches(r, resource));
                if action_ok && resource_ok {
                    match st["Effect"].as_str() {
                        Some("Deny") => return false,
                        Some("Allow") => allowed = true,
                        _ => {}
                    }
                }
            }
        }
        allowed
    }

    fn save(&self, state: &IamState) -> Result<(), ServiceError> {
        Ok(self.state.save(state)?)
    }

    /// Serves one IAM action.
    pub fn handle(&self, req: &QueryRequest) -> crate::door::Outcome {
        let action = req.action().to_owned();
        let mut state = self.state.lock();
        let before = state.clone();
        let outcome = self.dispatch(&action, req, &mut state);
        if outcome.is_err() {
            // Failed actions change nothing, including a failed save.
            *state = before;
        }
        match outcome {
            Ok(result) => IAM.ok(&action, result),
            Err(e) => Err(e),
        }
    }

    fn role_name(req: &QueryRequest) -> Result<&str, ServiceError> {
        req.get("RoleName").ok_or_else(|| {
            err(StatusCode::BAD_REQUEST, "ValidationError", "1 validation error detected: Value null at 'roleName' failed to satisfy constraint: Member must not be null")
        })
    }

    fn dispatch(&self, action: &str, req: &QueryRequest, state: &mut IamState) -> Outcome {
        match action {
            "CreateRole" => {
                let name = Self::role_name(req)?;
                if !valid_name(name) {
                    return Err(err(
                        StatusCode::BAD_REQUEST,
                        "ValidationError",
                        format!("The specified value for roleName is invalid: {name}"),
                    ));
                }
                if state.roles.contains_key(name) {
                    return Err(err(
                        StatusCode::CONFLICT,
                        "EntityAlreadyExists",
                        format!("Role with name {name} already exists."),
                    ));
                }
                let doc = req.get("AssumeRolePolicyDocument").ok_or_else(|| {
                    err(StatusCode::BAD_REQUEST, "ValidationError", "1 validation error detected: Value null at 'assumeRolePolicyDocument' failed to satisfy constraint: Member must not be null")
                })?;
                valid_policy(doc)?;
                let suffix: String = (0..17)
                    .map(|_| {
                        b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[rand::rng().random_range(0..32)] as char
                    })
                    .collect();
                let role = Role {
                    name: name.to_owned(),
                    id: format!("AROA{suffix}"),
                    path: req.get("Path").unwrap_or("/").to_owned(),
                    created: OffsetDateTime::now_utc()
                        .replace_nanosecond(0)
                        .unwrap_or(OffsetDateTime::now_utc())
                        .format(&Rfc3339)
                        .unwrap_or_default(),
                    assume_role_policy: doc.to_owned(),
                    description: req.get("Description").map(str::to_owned),
                    max_session_duration: req
                        .get("MaxSessionDuration")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(3600),
                    tags: req.members("Tags"),
                    inline: BTreeMap::new(),
                    attached: BTreeSet::new(),
                };
                let xml = role.xml();
                state.roles.insert(name.to_owned(), role);
                self.save(state)?;
                Ok(Some(xml))
            }
            "GetRole" => {
                let name = Self::role_name(req)?;
                let role = state.roles.get(name).ok_or_else(|| no_such_role(name))?;
                Ok(Some(role.xml()))
            }
            "DeleteRole" => {
                let name = Self::role_name(req)?;
                let role = state.roles.get(name).ok_or_else(|| no_such_role(name))?;
                if !role.inline.is_empty() {
                    return Err(err(
                        StatusCode::CONFLICT,
                        "DeleteConflict",
                        "Cannot delete entity, must delete policies first.",
                    ));
                }
                if !role.attached.is_empty() {
                    return Err(err(
                        StatusCode::CONFLICT,
                        "DeleteConflict",
                        "Cannot delete entity, must detach all policies first.",
                    ));
                }
                state.roles.remove(name);
                self.save(state)?;
                Ok(None)
            }
            "UpdateAssumeRolePolicy" => {
                let name = Self::role_name(req)?;
                let doc = req.get("PolicyDocument").unwrap_or_default().to_owned();
                valid_policy(&doc)?;
                let role = state
                    .roles
                    .get_mut(name)
                    .ok_or_else(|| no_such_role(name))?;
                role.assume_role_policy = doc;
                self.save(state)?;
                Ok(None)
            }
            "TagRole" => {
                let name = Self::role_name(req)?;
                let role = state
                    .roles
                    .get_mut(name)
                    .ok_or_else(|| no_such_role(name))?;
                for (k, v) in req.members("Tags") {
                    role.tags.retain(|(key, _)| *key != k);
                    role.tags.push((k, v));
                }
                self.save(state)?;
                Ok(None)
            }
            "PutRolePolicy" => {
                let name = Self::role_name(req)?;
                let policy = req.get("PolicyName").unwrap_or_default().to_owned();
                let doc = req.get("PolicyDocument").unwrap_or_default().to_owned();
                if !valid_name(&policy) {
                    return Err(err(
                        StatusCode::BAD_REQUEST,
                        "ValidationError",
                        "The specified value for policyName is invalid",
                    ));
                }
                valid_policy(&doc)?;
                let role = state
                    .roles
                    .get_mut(name)
                    .ok_or_else(|| no_such_role(name))?;
                role.inline.insert(policy, doc);
                self.save(state)?;
                Ok(None)
            }
            "GetRolePolicy" => {
                let name = Self::role_name(req)?;
                let policy = req.get("PolicyName").unwrap_or_default();
                let role = state.roles.get(name).ok_or_else(|| no_such_role(name))?;
                let doc = role.inline.get(policy).ok_or_else(|| {
                    err(
                        StatusCode::NOT_FOUND,
                        "NoSuchEntity",
                        format!("The role policy with name {policy} cannot be found."),
                    )
                })?;
                Ok(Some(format!(
                    "{}{}{}",
                    el("RoleName", name),
                    el("PolicyName", policy),
                    el("PolicyDocument", &percent_encode(doc))
                )))
            }
            "DeleteRolePolicy" => {
                let name = Self::role_name(req)?;
                let policy = req.get("PolicyName").unwrap_or_default();
                let role = state
                    .roles
                    .get_mut(name)
                    .ok_or_else(|| no_such_role(name))?;
                if role.inline.remove(policy).is_none() {
                    return Err(err(
                        StatusCode::NOT_FOUND,
                        "NoSuchEntity",
                        format!("The role policy with name {policy} cannot be found."),
                    ));
                }
                self.save(state)?;
                Ok(None)
            }
            "ListRolePolicies" => {
                let name = Self::role_name(req)?;
                let role = state.roles.get(name).ok_or_else(|| no_such_role(name))?;
                let members: String = role.inline.keys().map(|n| el("member", n)).collect();
                Ok(Some(format!(
                    "<PolicyNames>{members}</PolicyNames><IsTruncated>false</IsTruncated>"
                )))
            }
            "AttachRolePolicy" => {
                let name = Self::role_name(req)?;
                let arn = req.get("PolicyArn").unwrap_or_default().to_owned();
                if !arn.starts_with("arn:aws:iam::aws:policy/") {
                    return Err(err(
                        StatusCode::NOT_FOUND,
                        "NoSuchEntity",
                        format!("Policy {arn} does not exist or is not attachable."),
                    ));
                }
                let role = state
                    .roles
                    .get_mut(name)
                    .ok_or_else(|| no_such_role(name))?;
                role.attached.insert(arn);
                self.save(state)?;
                Ok(None)
            }
            "DetachRolePolicy" => {
                let name = Self::role_name(req)?;
                let arn = req.get("PolicyArn").unwrap_or_default();
                let role = state
                    .roles
                    .get_mut(name)
                    .ok_or_else(|| no_such_role(name))?;
                if !role.attached.remove(arn) {
                    return Err(err(
                        StatusCode::NOT_FOUND,
                        "NoSuchEntity",
                        format!("Policy {arn} was not found."),
                    ));
                }
                self.save(state)?;
                Ok(None)
            }
            "ListAttachedRolePolicies" => {
                let name = Self::role_name(req)?;
                let role = state.roles.get(name).ok_or_else(|| no_such_role(name))?;
                let members: String = role
                    .attached
                    .iter()
                    .map(|arn| {
                        let policy = arn.rsplit('/').next().unwrap_or(arn);
                        format!(
                            "<member>{}{}</member>",
                            el("PolicyName", policy),
                            el("PolicyArn", arn)
                        )
                    })
                    .collect();
                Ok(Some(format!(
                    "<AttachedPolicies>{members}</AttachedPolicies><IsTruncated>false</IsTruncated>"
                )))
            }
            "" => Err(err(
                StatusCode::BAD_REQUEST,
                "MissingAction",
                "Missing Action",
            )),
            other => Err(err(
                StatusCode::BAD_REQUEST,
                "InvalidAction",
                format!(
                    "Could not find operation {other} for version 2010-05-08 in the sandbox's IAM"
                ),
            )),
        }
    }
}
