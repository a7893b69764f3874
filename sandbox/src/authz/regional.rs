//! IAM as a region process sees it: the roles' documents (identity-based
//! policies, trust policy) live in the global process, and a region asks
//! for a role's documents when it needs them, evaluating them itself. The
//! last answer for each role is kept, and used only when the global
//! process cannot answer: a region keeps authorizing its callers through a
//! global outage with what it last knew, as AWS's regional IAM data plane
//! keeps working while IAM's control plane is down. While the global
//! process answers, every decision uses the documents as they are now.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Context, Need, Requester, Verdict, trusts};
use crate::control::{ControlClient, ControlError};
use crate::credentials::Principal;
use crate::door::{Policies, Refusal, ServiceError};
use crate::services::cognito::Cognito;
use crate::services::cognito::operations::Grant;

/// A role's documents, as the global process's IAM holds them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RoleDocuments {
    pub exists: bool,
    /// Its trust policy (`null` when there is no such role).
    pub trust: Option<Value>,
    /// Its identity-based policies: inline ones, then the AWS managed ones
    /// attached.
    #[serde(default)]
    pub policies: Vec<Value>,
}

/// A region's view of IAM.
pub struct RegionalIam {
    global: ControlClient,
    last: Mutex<HashMap<String, RoleDocuments>>,
}

impl RegionalIam {
    pub fn new(global: ControlClient) -> Self {
        RegionalIam {
            global,
            last: Mutex::new(HashMap::new()),
        }
    }

    /// A role's documents now, or, when the global process cannot answer,
    /// as it last answered.
    pub async fn role(&self, arn: &str) -> Result<RoleDocuments, ControlError> {
        let last = |update: Option<&RoleDocuments>| {
            let mut map = self.last.lock().unwrap_or_else(|p| p.into_inner());
            match update {
                Some(docs) => {
                    map.insert(arn.to_owned(), docs.clone());
                    None
                }
                None => map.get(arn).cloned(),
            }
        };
        match self.global.role_documents(arn).await {
            Ok(docs) => {
                last(Some(&docs));
                Ok(docs)
            }
            Err(e) => match last(None) {
                Some(docs) => {
                    tracing::warn!(
                        role = arn,
                        "the global process did not answer ({e}); using the role's last known policies"
                    );
                    Ok(docs)
                }
                None => Err(e),
            },
        }
    }
}

impl RegionalIam {
    /// Whether Lambda can assume a role: it exists and its trust policy
    /// lets the service `lambda.amazonaws.com` assume it.
    pub async fn lambda_can_assume(&self, arn: &str) -> bool {
        let Ok(RoleDocuments {
            trust: Some(trust), ..
        }) = self.role(arn).await
        else {
            return false;
        };
        let lambda = Requester {
            service: Some("lambda.amazonaws.com".into()),
            ..Requester::default()
        };
        trusts(&trust, &lambda, "sts:AssumeRole", &Context::default()) == Verdict::Allow
    }

    /// Cognito hands out a role's credentials only when the role's trust
    /// policy lets `cognito-identity.amazonaws.com` assume it for this
    /// identity (`aud` its pool, `sub` the identity, `amr` how it logged
    /// in), as AWS's STS checks `AssumeRoleWithWebIdentity`; AWS's
    /// `InvalidIdentityPoolConfigurationException` otherwise.
    pub(crate) async fn cognito_can_assume(&self, grant: &Grant) -> Result<(), ServiceError> {
        let trust = self
            .role(&grant.role)
            .await
            .map_err(|e| {
                ServiceError::internal(format!("cannot read {}'s trust policy: {e}", grant.role))
            })?
            .trust
            .ok_or_else(Cognito::untrusted)?;
        let requester = Requester {
            federated: Some("cognito-identity.amazonaws.com".into()),
            ..Requester::default()
        };
        let ctx = Context::default()
            .with(
                "cognito-identity.amazonaws.com:aud",
                [grant.pool_id.as_str()],
            )
            .with(
                "cognito-identity.amazonaws.com:sub",
                [grant.identity.as_str()],
            )
            .with("cognito-identity.amazonaws.com:amr", grant.amr());
        match trusts(&trust, &requester, "sts:AssumeRoleWithWebIdentity", &ctx) {
            Verdict::Allow => Ok(()),
            _ => Err(Cognito::untrusted()),
        }
    }
}

#[async_trait::async_trait]
impl Policies for RegionalIam {
    async fn authorize(
        &self,
        caller: &Principal,
        needs: &[Need],
        ctx: &Context,
    ) -> Result<(), Refusal> {
        let Principal::AssumedRole { role_arn, .. } = caller else {
            return Ok(());
        };
        let docs = self.role(role_arn).await.map_err(|e| {
            Refusal::Unavailable(format!(
                "cannot read {role_arn}'s policies from the global process: {e}"
            ))
        })?;
        match super::first_denied(&docs.policies, needs, ctx, caller) {
            Some(denied) => Err(Refusal::Denied(denied)),
            None => Ok(()),
        }
    }
}
