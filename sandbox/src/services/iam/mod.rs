//! IAM in the global process: roles, their inline and attached policies,
//! and tags; enough for `up` and `down`. Kept in `global/iam.json`.

mod operations;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use crate::door::{Reply, ServiceError};
use http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::authz::regional::RoleDocuments;
use crate::authz::{Context, Denied, Need, managed};
use crate::credentials::{ACCOUNT_ID, Principal};
use crate::door::table::by_name;
use crate::query::{QueryRequest, el, percent_encode};
use crate::store::{Store, StoreError};
use operations::OPERATIONS;

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
        Ok(v) => crate::authz::validate(&v)
            .map_err(|m| err(StatusCode::BAD_REQUEST, "MalformedPolicyDocument", m)),
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

    /// A role's documents: its trust policy and its identity-based
    /// policies (inline, then the AWS managed ones attached); an unknown
    /// role has none.
    pub fn documents(&self, role_arn: &str) -> RoleDocuments {
        let Some(role) = self.role_by_arn(role_arn) else {
            return RoleDocuments::default();
        };
        RoleDocuments {
            exists: true,
            trust: serde_json::from_str(&role.assume_role_policy).ok(),
            policies: role
                .inline
                .values()
                .filter_map(|doc| serde_json::from_str(doc).ok())
                .chain(
                    role.attached
                        .iter()
                        .filter_map(|arn| managed::document(arn)),
                )
                .collect(),
        }
    }

    /// The first of `needs` that `caller` (an assumed role's session) may
    /// not do by its role's identity-based policies and the needs'
    /// resource policies; an unknown role is allowed nothing.
    pub fn authorize(
        &self,
        caller: &Principal,
        needs: &[Need],
        ctx: &Context,
    ) -> Result<(), Denied> {
        let Principal::AssumedRole { role_arn, .. } = caller else {
            return Ok(());
        };
        match crate::authz::first_denied(&self.documents(role_arn).policies, needs, ctx, caller) {
            Some(denied) => Err(denied),
            None => Ok(()),
        }
    }

    /// A role's trust policy, parsed (`None` for no such role).
    pub fn trust_of(&self, role_arn: &str) -> Option<serde_json::Value> {
        self.documents(role_arn).trust
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
            Ok(result) => Ok(Reply::query(&action, result)),
            Err(e) => Err(e),
        }
    }

    fn role_name(req: &QueryRequest) -> Result<&str, ServiceError> {
        req.get("RoleName").ok_or_else(|| {
            err(StatusCode::BAD_REQUEST, "ValidationError", "1 validation error detected: Value null at 'roleName' failed to satisfy constraint: Member must not be null")
        })
    }

    fn dispatch(&self, action: &str, req: &QueryRequest, state: &mut IamState) -> Outcome {
        match by_name(OPERATIONS, action) {
            Some(operation) => (operation.handler)(self, req, state),
            None if action.is_empty() => Err(err(
                StatusCode::BAD_REQUEST,
                "MissingAction",
                "Missing Action",
            )),
            None => Err(err(
                StatusCode::BAD_REQUEST,
                "InvalidAction",
                format!(
                    "Could not find operation {action} for version 2010-05-08 in the sandbox's IAM"
                ),
            )),
        }
    }
}

/// The global process's door asks IAM directly.
#[async_trait::async_trait]
impl crate::door::Policies for Iam {
    async fn authorize(
        &self,
        caller: &Principal,
        needs: &[Need],
        ctx: &Context,
    ) -> Result<(), crate::door::Refusal> {
        Iam::authorize(self, caller, needs, ctx).map_err(crate::door::Refusal::Denied)
    }
}
