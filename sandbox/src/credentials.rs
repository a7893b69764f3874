//! The sandbox's credentials: one long-term key pair for operators (written
//! with mode 0600 next to `state.json`), one for the replication service
//! principal, and temporary credentials that the sandbox's STS mints.
//!
//! Temporary credentials are stateless so that every sandbox process can
//! verify them: the session token carries who and until when, sealed with
//! an HMAC under the sandbox's master key, and the secret key is derived
//! from the access key id under the same key.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The sandbox's AWS account id (dynoxide's own ARNs use it too).
pub const ACCOUNT_ID: &str = "000000000000";
/// The service principal DynamoDB global tables replicate as.
pub const REPLICATION_SERVICE: &str = "replication.dynamodb.amazonaws.com";

/// The replication service-linked role, as AWS names it.
pub fn replication_role_arn() -> String {
    format!(
        "arn:aws:iam::{ACCOUNT_ID}:role/aws-service-role/{REPLICATION_SERVICE}/AWSServiceRoleForDynamoDBReplication"
    )
}

/// The operator identity behind the long-term key.
pub fn operator_arn() -> String {
    format!("arn:aws:iam::{ACCOUNT_ID}:user/wildrydes-sandbox")
}

/// Everything secret about one sandbox. Never printed.
#[derive(Clone, Serialize, Deserialize)]
pub struct SandboxSecrets {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub replication_access_key_id: String,
    pub replication_secret_access_key: String,
    /// Key sealing session tokens and deriving temporary secrets.
    pub master_key: String,
    /// Bearer token of the control API (`/_sandbox/`).
    pub control_token: String,
}

impl std::fmt::Debug for SandboxSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxSecrets")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

fn random_string(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

const UPPER_ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const SECRET_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Why the sandbox's secrets file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("cannot read the sandbox credentials {}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the sandbox credentials {} are corrupt", path.display())]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot write the sandbox credentials {}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl SandboxSecrets {
    /// Fresh keys shaped like AWS's (20-character ids, 40-character secrets).
    pub fn generate() -> Self {
        SandboxSecrets {
            access_key_id: format!("AKIA{}", random_string(UPPER_ALNUM, 16)),
            secret_access_key: random_string(SECRET_CHARS, 40),
            replication_access_key_id: format!("AKIA{}", random_string(UPPER_ALNUM, 16)),
            replication_secret_access_key: random_string(SECRET_CHARS, 40),
            master_key: random_string(SECRET_CHARS, 64),
            control_token: random_string(SECRET_CHARS, 48),
        }
    }

    /// Reads the secrets file.
    pub fn load(path: &Path) -> Result<Self, CredentialsError> {
        let text = std::fs::read_to_string(path).map_err(|source| CredentialsError::Read {
            path: path.to_owned(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| CredentialsError::Corrupt {
            path: path.to_owned(),
            source,
        })
    }

    /// Writes the secrets file with mode 0600, atomically.
    pub fn store(&self, path: &Path) -> Result<(), CredentialsError> {
        let text = serde_json::to_string_pretty(self).expect("the secrets are plain strings");
        crate::topology::write_private(path, text.as_bytes()).map_err(|source| {
            CredentialsError::Write {
                path: path.to_owned(),
                source,
            }
        })
    }

    /// The secret for `access_key_id`, and who it belongs to.
    pub fn resolve(
        &self,
        access_key_id: &str,
        session_token: Option<&str>,
    ) -> Result<(String, Principal), KeyError> {
        if access_key_id == self.access_key_id {
            return Ok((self.secret_access_key.clone(), Principal::Operator));
        }
        if access_key_id == self.replication_access_key_id {
            return Ok((
                self.replication_secret_access_key.clone(),
                Principal::ReplicationService,
            ));
        }
        if access_key_id.starts_with("ASIA") {
            let token = session_token.ok_or(KeyError::Unknown)?;
            let session = self.open_token(token).ok_or(KeyError::Unknown)?;
            if session.access_key_id != access_key_id {
                return Err(KeyError::Unknown);
            }
            if session.expires_at < unix_now() {
                return Err(KeyError::Expired);
            }
            let secret = self.temporary_secret(access_key_id);
            return Ok((
                secret,
                Principal::AssumedRole {
                    role_arn: session.role_arn,
                    session_name: session.session_name,
                    cognito: session.cognito,
                },
            ));
        }
        Err(KeyError::Unknown)
    }

    /// Mints temporary credentials for `role_arn`, valid for `duration`.
    pub fn mint(
        &self,
        role_arn: &str,
        session_name: &str,
        cognito: Option<&CognitoIdentity>,
        duration: Duration,
    ) -> TemporaryCredentials {
        let access_key_id = format!("ASIA{}", random_string(UPPER_ALNUM, 16));
        let expires_at = unix_now() + duration.as_secs();
        let claims = SessionClaims {
            access_key_id: access_key_id.clone(),
            role_arn: role_arn.to_owned(),
            session_name: session_name.to_owned(),
            cognito: cognito.cloned(),
            expires_at,
        };
        let payload =
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).expect("claims serialise"));
        let tag = URL_SAFE_NO_PAD.encode(self.mac(&[b"token:", payload.as_bytes()]));
        TemporaryCredentials {
            secret_access_key: self.temporary_secret(&access_key_id),
            access_key_id,
            session_token: format!("{payload}.{tag}"),
            expires_at,
        }
    }

    fn open_token(&self, token: &str) -> Option<SessionClaims> {
        let (payload, tag) = token.split_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        let expected = self.mac(&[b"token:", payload.as_bytes()]);
        if !bool::from(expected.as_slice().ct_eq(&tag)) {
            return None;
        }
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
    }

    fn temporary_secret(&self, access_key_id: &str) -> String {
        let raw = self.mac(&[b"secret:", access_key_id.as_bytes()]);
        URL_SAFE_NO_PAD.encode(raw)[..40].to_owned()
    }

    fn mac(&self, parts: &[&[u8]]) -> Vec<u8> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(self.master_key.as_bytes()).expect("any key length");
        for p in parts {
            mac.update(p);
        }
        mac.finalize().into_bytes().to_vec()
    }
}

/// Why a key could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyError {
    Unknown,
    Expired,
}

/// Who signed a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The operator's long-term key.
    Operator,
    /// The DynamoDB replication service (the sandbox's own replicators).
    ReplicationService,
    /// Temporary credentials from `AssumeRole` or Cognito.
    AssumedRole {
        role_arn: String,
        session_name: String,
        /// For Cognito sessions: who the identity is.
        cognito: Option<CognitoIdentity>,
    },
}

impl Principal {
    /// The principal's ARN, as `GetCallerIdentity` and policies see it.
    pub fn arn(&self) -> String {
        match self {
            Principal::Operator => operator_arn(),
            Principal::ReplicationService => replication_role_arn(),
            Principal::AssumedRole {
                role_arn,
                session_name,
                ..
            } => {
                let role = role_arn.rsplit('/').next().unwrap_or(role_arn);
                format!("arn:aws:sts::{ACCOUNT_ID}:assumed-role/{role}/{session_name}")
            }
        }
    }

    /// `aws:PrincipalServiceName`, for service principals.
    pub fn service_name(&self) -> Option<&'static str> {
        matches!(self, Principal::ReplicationService).then_some(REPLICATION_SERVICE)
    }
}

#[derive(Serialize, Deserialize)]
struct SessionClaims {
    #[serde(rename = "k")]
    access_key_id: String,
    #[serde(rename = "r")]
    role_arn: String,
    #[serde(rename = "s")]
    session_name: String,
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    cognito: Option<CognitoIdentity>,
    #[serde(rename = "e")]
    expires_at: u64,
}

/// The Cognito identity behind temporary credentials, as API Gateway puts
/// it in `requestContext.identity`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CognitoIdentity {
    #[serde(rename = "i")]
    pub identity_id: String,
    #[serde(rename = "p")]
    pub pool_id: String,
    /// `cognitoAuthenticationProvider`, e.g.
    /// `graph.facebook.com,graph.facebook.com:<app>:<user>`.
    #[serde(rename = "a", default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Whether the identity logged in (else an unauthenticated guest).
    #[serde(rename = "u", default)]
    pub authenticated: bool,
}

/// Credentials returned by `AssumeRole` and friends.
#[derive(Debug, Clone)]
pub struct TemporaryCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    /// Seconds since the epoch.
    pub expires_at: u64,
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_credentials_resolve_until_they_expire() {
        let s = SandboxSecrets::generate();
        let t = s.mint(
            "arn:aws:iam::000000000000:role/r",
            "sess",
            None,
            Duration::from_secs(900),
        );
        let (secret, who) = s.resolve(&t.access_key_id, Some(&t.session_token)).unwrap();
        assert_eq!(secret, t.secret_access_key);
        assert_eq!(who.arn(), "arn:aws:sts::000000000000:assumed-role/r/sess");
        // A token for another key, a tampered token, no token.
        let other = s.mint(
            "arn:aws:iam::000000000000:role/r",
            "x",
            None,
            Duration::from_secs(900),
        );
        assert_eq!(
            s.resolve(&t.access_key_id, Some(&other.session_token)),
            Err(KeyError::Unknown)
        );
        let mut bad = t.session_token.clone();
        bad.insert(3, 'x');
        assert_eq!(
            s.resolve(&t.access_key_id, Some(&bad)),
            Err(KeyError::Unknown)
        );
        assert_eq!(s.resolve(&t.access_key_id, None), Err(KeyError::Unknown));
        // Another sandbox's token.
        assert_eq!(
            SandboxSecrets::generate().resolve(&t.access_key_id, Some(&t.session_token)),
            Err(KeyError::Unknown)
        );
        let expired = s.mint(
            "arn:aws:iam::000000000000:role/r",
            "old",
            None,
            Duration::ZERO,
        );
        let past = SessionClaims {
            access_key_id: expired.access_key_id.clone(),
            role_arn: "r".into(),
            session_name: "old".into(),
            cognito: None,
            expires_at: 1,
        };
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&past).unwrap());
        let tag = URL_SAFE_NO_PAD.encode(s.mac(&[b"token:", payload.as_bytes()]));
        assert_eq!(
            s.resolve(&expired.access_key_id, Some(&format!("{payload}.{tag}"))),
            Err(KeyError::Expired)
        );
    }

    #[test]
    fn long_term_keys_map_to_their_principals() {
        let s = SandboxSecrets::generate();
        assert_eq!(
            s.resolve(&s.access_key_id, None).unwrap().1,
            Principal::Operator
        );
        assert_eq!(
            s.resolve(&s.replication_access_key_id, None).unwrap().1,
            Principal::ReplicationService
        );
        assert_eq!(s.resolve("AKIAUNKNOWN", None), Err(KeyError::Unknown));
        assert!(!format!("{s:?}").contains(&s.secret_access_key));
    }
}
