//! Where tickets live. The handler speaks to a [`TicketStore`]; production
//! uses [`DynamoStore`] on the region's table, unit tests an in-memory one.

use std::collections::HashMap;
use std::future::Future;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Select};

use crate::model::{Priority, Status, Ticket};

/// Why a store call failed. Callers turn these into 5xx without leaking
/// the detail, which only goes to the log.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A ticket with this key already exists (the put was conditional).
    #[error("a ticket with id {0} already exists")]
    Duplicate(String),
    /// A stored item is not a ticket this code understands.
    #[error("stored item {id} is malformed: {reason}")]
    Malformed { id: String, reason: String },
    /// The backend failed or could not be reached.
    #[error("{0}")]
    Backend(String),
}

/// One page of a caller's tickets, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub tickets: Vec<Ticket>,
    /// Whether older tickets follow the last one in `tickets`.
    pub more: bool,
}

/// The operations the ticket API needs from its table.
pub trait TicketStore: Send + Sync {
    /// Stores a new ticket; fails with [`StoreError::Duplicate`] if its key exists.
    fn create(&self, ticket: &Ticket) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// One of `owner`'s tickets.
    fn get(
        &self,
        owner: &str,
        id: &str,
    ) -> impl Future<Output = Result<Option<Ticket>, StoreError>> + Send;

    /// Up to `limit` of `owner`'s tickets older than `before` (newest first).
    fn list(
        &self,
        owner: &str,
        limit: usize,
        before: Option<&str>,
    ) -> impl Future<Output = Result<Page, StoreError>> + Send;

    /// Deletes one of `owner`'s tickets (nothing if it is not there).
    fn delete(&self, owner: &str, id: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A real read of the table, proving the region can serve.
    fn ping(&self) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Tickets in a DynamoDB table keyed `owner` (S) + `id` (S).
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

/// Key that the health ping reads: never a real owner (identity ids contain `:`).
const PING_OWNER: &str = "__wildrydes_health__";

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
        }
    }

    /// The table this store reads and writes.
    pub fn table(&self) -> &str {
        &self.table
    }
}

fn backend<E>(err: aws_sdk_dynamodb::error::SdkError<E>) -> StoreError
where
    E: std::error::Error + 'static,
{
    StoreError::Backend(aws_sdk_dynamodb::error::DisplayErrorContext(&err).to_string())
}

impl TicketStore for DynamoStore {
    async fn create(&self, ticket: &Ticket) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(ticket)))
            .condition_expression("attribute_not_exists(#id)")
            .expression_attribute_names("#id", "id")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => {
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception())
                {
                    Err(StoreError::Duplicate(ticket.id.clone()))
                } else {
                    Err(backend(err))
                }
            }
        }
    }

    async fn get(&self, owner: &str, id: &str) -> Result<Option<Ticket>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(owner, id)))
            .send()
            .await
            .map_err(backend)?;
        out.item.map(|item| from_item(&item)).transpose()
    }

    async fn delete(&self, owner: &str, id: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(owner, id)))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn list(
        &self,
        owner: &str,
        limit: usize,
        before: Option<&str>,
    ) -> Result<Page, StoreError> {
        // Ask for one more than the page so `more` is exact and the last
        // page never ends with a cursor to an empty page.
        let want = limit + 1;
        let mut tickets = Vec::with_capacity(want);
        let mut start: Option<HashMap<String, AttributeValue>> = before.map(|id| {
            HashMap::from([
                ("owner".to_owned(), AttributeValue::S(owner.to_owned())),
                ("id".to_owned(), AttributeValue::S(id.to_owned())),
            ])
        });
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#owner = :owner")
                .expression_attribute_names("#owner", "owner")
                .expression_attribute_values(":owner", AttributeValue::S(owner.to_owned()))
                .scan_index_forward(false)
                .select(Select::AllAttributes)
                .limit(i32::try_from(want - tickets.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(backend)?;
            for item in out.items.unwrap_or_default() {
                tickets.push(from_item(&item)?);
            }
            match out.last_evaluated_key {
                Some(key) if tickets.len() < want => start = Some(key),
                _ => break,
            }
        }
        let more = tickets.len() > limit;
        tickets.truncate(limit);
        Ok(Page { tickets, more })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.client
            .get_item()
            .table_name(&self.table)
            .key("owner", AttributeValue::S(PING_OWNER.to_owned()))
            .key("id", AttributeValue::S("ping".to_owned()))
            .send()
            .await
            .map(|_| ())
            .map_err(backend)
    }
}

/// The primary key of one of `owner`'s tickets.
fn key(owner: &str, id: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("owner".to_owned(), AttributeValue::S(owner.to_owned())),
        ("id".to_owned(), AttributeValue::S(id.to_owned())),
    ])
}

fn to_item(t: &Ticket) -> HashMap<String, AttributeValue> {
    let mut item = HashMap::from([
        ("owner".to_owned(), AttributeValue::S(t.owner.clone())),
        ("id".to_owned(), AttributeValue::S(t.id.clone())),
        (
            "description".to_owned(),
            AttributeValue::S(t.description.clone()),
        ),
        (
            "priority".to_owned(),
            AttributeValue::S(t.priority.as_str().to_owned()),
        ),
        (
            "status".to_owned(),
            AttributeValue::S(t.status.as_str().to_owned()),
        ),
        (
            "createdAt".to_owned(),
            AttributeValue::S(t.created_at.clone()),
        ),
        ("region".to_owned(), AttributeValue::S(t.region.clone())),
    ]);
    if let Some(category) = &t.category {
        item.insert("category".to_owned(), AttributeValue::S(category.clone()));
    }
    item
}

fn from_item(item: &HashMap<String, AttributeValue>) -> Result<Ticket, StoreError> {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    let id = text("id").unwrap_or_default();
    let malformed = |reason: &str| StoreError::Malformed {
        id: id.clone(),
        reason: reason.to_owned(),
    };
    let required = |name: &'static str| {
        text(name).ok_or_else(|| malformed(&format!("missing string attribute {name}")))
    };
    Ok(Ticket {
        owner: required("owner")?,
        id: required("id")?,
        description: required("description")?,
        priority: Priority::parse(&required("priority")?)
            .ok_or_else(|| malformed("unknown priority"))?,
        category: text("category"),
        status: Status::parse(&required("status")?).ok_or_else(|| malformed("unknown status"))?,
        created_at: required("createdAt")?,
        region: required("region")?,
    })
}

#[cfg(test)]
pub mod memory {
    //! An in-memory [`TicketStore`] for handler tests, with a switch that
    //! makes every call fail like an unreachable table.

    use std::collections::BTreeMap;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    #[derive(Default)]
    pub struct MemoryStore {
        tickets: Mutex<BTreeMap<(String, String), Ticket>>,
        pub failing: AtomicBool,
    }

    impl MemoryStore {
        pub fn fail(&self, failing: bool) {
            self.failing.store(failing, Ordering::SeqCst);
        }

        fn check(&self) -> Result<(), StoreError> {
            if self.failing.load(Ordering::SeqCst) {
                Err(StoreError::Backend(
                    "connection refused (secret internals)".into(),
                ))
            } else {
                Ok(())
            }
        }
    }

    impl TicketStore for MemoryStore {
        async fn create(&self, ticket: &Ticket) -> Result<(), StoreError> {
            self.check()?;
            let mut map = self.tickets.lock().unwrap();
            let key = (ticket.owner.clone(), ticket.id.clone());
            if map.contains_key(&key) {
                return Err(StoreError::Duplicate(ticket.id.clone()));
            }
            map.insert(key, ticket.clone());
            Ok(())
        }

        async fn get(&self, owner: &str, id: &str) -> Result<Option<Ticket>, StoreError> {
            self.check()?;
            Ok(self
                .tickets
                .lock()
                .unwrap()
                .get(&(owner.into(), id.into()))
                .cloned())
        }

        async fn delete(&self, owner: &str, id: &str) -> Result<(), StoreError> {
            self.check()?;
            self.tickets
                .lock()
                .unwrap()
                .remove(&(owner.into(), id.into()));
            Ok(())
        }

        async fn list(
            &self,
            owner: &str,
            limit: usize,
            before: Option<&str>,
        ) -> Result<Page, StoreError> {
            self.check()?;
            let map = self.tickets.lock().unwrap();
            let mut tickets: Vec<Ticket> = map
                .values()
                .rev()
                .filter(|t| t.owner == owner && before.is_none_or(|b| t.id.as_str() < b))
                .take(limit + 1)
                .cloned()
                .collect();
            let more = tickets.len() > limit;
            tickets.truncate(limit);
            Ok(Page { tickets, more })
        }

        async fn ping(&self) -> Result<(), StoreError> {
            self.check()
        }
    }
}
