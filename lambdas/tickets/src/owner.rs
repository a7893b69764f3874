//! Whose tickets a request may see: the owner key.
//!
//! Identity pools are regional, and each pool gives the same Facebook user
//! its own identity id, so an identity id cannot key a user's tickets once
//! users log in through the secondary's pool while the primary is down.
//! The owner key is the login itself, as API Gateway reports it from the
//! caller's Cognito credentials (`cognitoAuthenticationProvider`,
//! `graph.facebook.com,graph.facebook.com:<app id>:<user id>`): the same
//! in every region's pool, and not something a caller can choose. Callers
//! without such a login (developer-authenticated drill users) keep their
//! identity id.
//!
//! Tickets filed before the owner key changed are kept under the caller's
//! identity id; the first request from that identity moves them under the
//! owner key ([`Migrations`]), one put and one delete per ticket, so a
//! move cut short is finished by the next request and a move repeated
//! changes nothing.

use std::collections::HashSet;
use std::sync::Mutex;

use crate::model::Ticket;
use crate::store::{StoreError, TicketStore};

/// The login providers whose user ids key tickets.
const FACEBOOK: &str = "graph.facebook.com";

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The key the caller's tickets are stored under.
    pub owner: String,
    /// The identity id the caller's older tickets may still be under.
    pub legacy: Option<String>,
}

impl Caller {
    /// From what API Gateway says of the caller's Cognito identity.
    pub fn from_identity(identity_id: &str, provider: Option<&str>) -> Caller {
        let login = provider.and_then(|p| {
            p.split(',').map(str::trim).find(|part| {
                part.strip_prefix(FACEBOOK)
                    .and_then(|rest| rest.strip_prefix(':'))
                    .and_then(|rest| rest.split_once(':'))
                    .is_some_and(|(app, user)| is_id(app) && is_id(user))
            })
        });
        match login {
            Some(key) => Caller {
                owner: key.to_owned(),
                legacy: Some(identity_id.to_owned()),
            },
            None => Caller {
                owner: identity_id.to_owned(),
                legacy: None,
            },
        }
    }
}

fn is_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The identities whose tickets this instance has already moved.
#[derive(Debug, Default)]
pub struct Migrations {
    done: Mutex<HashSet<String>>,
}

/// How many tickets are read per page while moving.
const PAGE: usize = 100;

impl Migrations {
    /// Moves the caller's tickets from their identity id to their owner
    /// key, once per identity per instance. Returns how many moved.
    pub async fn ensure<S: TicketStore>(
        &self,
        store: &S,
        caller: &Caller,
    ) -> Result<usize, StoreError> {
        let Some(legacy) = caller.legacy.as_deref() else {
            return Ok(0);
        };
        if self.is_done(legacy) {
            return Ok(0);
        }
        let mut moved = 0;
        loop {
            // Each pass deletes what it read, so the first page is always
            // the next one.
            let page = store.list(legacy, PAGE, None).await?;
            for old in &page.tickets {
                let ticket = Ticket {
                    owner: caller.owner.clone(),
                    ..old.clone()
                };
                match store.create(&ticket).await {
                    Ok(()) | Err(StoreError::Duplicate(_)) => {}
                    Err(e) => return Err(e),
                }
                store.delete(legacy, &old.id).await?;
                moved += 1;
            }
            if !page.more {
                break;
            }
        }
        self.done
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(legacy.to_owned());
        Ok(moved)
    }

    fn is_done(&self, legacy: &str) -> bool {
        self.done
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(legacy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facebook_logins_key_by_app_and_user_others_by_identity() {
        let c = Caller::from_identity(
            "eu-west-1:abc",
            Some("graph.facebook.com,graph.facebook.com:1234:5678"),
        );
        assert_eq!(c.owner, "graph.facebook.com:1234:5678");
        assert_eq!(c.legacy.as_deref(), Some("eu-west-1:abc"));
        // The same user through the other region's pool: the same owner.
        let other = Caller::from_identity(
            "ap-southeast-1:xyz",
            Some("graph.facebook.com,graph.facebook.com:1234:5678"),
        );
        assert_eq!(other.owner, c.owner);
        for provider in [
            None,
            Some(""),
            Some("graph.facebook.com"),
            Some("graph.facebook.com:1234"),
            Some("graph.facebook.com:12 34:5678"),
            Some(
                "cognito-idp.eu-west-1.amazonaws.com/pool,cognito-idp.eu-west-1.amazonaws.com/pool:CognitoSignIn:sub",
            ),
            Some("evil.example.com:graph.facebook.com:1:2"),
        ] {
            let c = Caller::from_identity("eu-west-1:abc", provider);
            assert_eq!(c.owner, "eu-west-1:abc", "{provider:?}");
            assert_eq!(c.legacy, None);
        }
    }
}
