//! Global-table replication into this region: for every global table and
//! every peer region, a subscription pulls the peer's stream through the
//! DynamoDB Streams API (the official SDK client, signed as the replication
//! service) and applies it here with last-writer-wins.
//!
//! - Versions: a write's version is its stream sequence number (a
//!   microsecond clock) plus its region as the tie-break. This region's own
//!   writes get theirs by reading its own stream before each batch.
//! - No echo: writes replication makes here are recorded by their own
//!   stream sequence numbers; this region serves those records with the
//!   replication service as `userIdentity`, and peers skip them.
//! - Atomicity: a batch runs under the write side of the gate that client
//!   writes and peers' `GetRecords` hold the read side of, so no client
//!   write interleaves and no peer reads a batch's records before they are
//!   marked.
//! - Durability: the engine's writes and this bookkeeping live in two
//!   files that no transaction spans, so a batch commits its intents
//!   before its first write and settles them after its last
//!   ([`super::recovery`]); a batch cut short (an engine error, a kill) is
//!   settled before the gate opens or, after a kill, before the region
//!   serves again. Versions are recorded only for writes proven to be in
//!   the engine and the source position moves only with a finished batch,
//!   so a crash re-applies at most one batch (each batch's extent is
//!   committed with its intents, and a subscription reports where it
//!   resumed and the one it reads again), and a re-applied record changes
//!   nothing (its version is not newer).
//! - Pause: a resource policy here denying `WriteDataForReplication`, or
//!   one at the peer denying `ReadDataForReplication`, holds the batch.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::apply::{Incoming, apply_blocking, settled_on_panic};
use super::attributes::{key_of, stream_item, table_item};
use super::meta::{BatchMark, Meta, MetaError};
use super::recovery::seq_micros;
use crate::control::ControlClient;
use crate::credentials::REPLICATION_SERVICE;

/// Delay and jitter added to every replicated write, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    pub delay_ms: u64,
    pub jitter_ms: u64,
}

impl Default for Settings {
    /// "Usually within a second" on AWS: 500 ms ± 250 ms.
    fn default() -> Self {
        Settings {
            delay_ms: 500,
            jitter_ms: 250,
        }
    }
}

/// What one subscription is doing, for the control API and `status`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionStatus {
    pub source: String,
    pub table: String,
    /// Why records are held, if they are.
    pub paused: Option<String>,
    pub last_error: Option<String>,
    /// Records applied (not skipped) since the process started.
    pub applied: u64,
    /// Write-to-apply lag of the last applied record, in milliseconds.
    pub last_lag_ms: Option<f64>,
    /// Whether the last poll found the peer's stream drained.
    pub caught_up: bool,
    /// Where this subscription began reading the peer's stream; set when
    /// it opens its first iterator.
    pub resumed: Option<Resume>,
}

/// Where a subscription began reading its source's stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resume {
    /// The sequence number its first iterator read after: the position
    /// saved with the last finished batch (`None`: the stream's start).
    pub after: Option<String>,
    /// The sequence number of the first record it read (`None` until one
    /// is read): the record right after `after` in the source's stream.
    pub first_read: Option<String>,
    /// The batch begun before the subscription started and not finished (a
    /// kill between its intents and its position): its records follow
    /// `after`, and they are all that is read again.
    pub unfinished_batch: Option<BatchMark>,
}

/// A subscription's place in its source's stream.
struct Cursor {
    iterator: Option<String>,
    /// The batch left unfinished when the subscription started, until the
    /// first iterator is opened and [`Resume`] reported.
    unreported: Option<Option<BatchMark>>,
    /// Until the first record is read and reported.
    first_read_pending: bool,
}

/// The clients that reach one peer region.
pub struct Peer {
    pub dynamo: aws_sdk_dynamodb::Client,
    pub streams: aws_sdk_dynamodbstreams::Client,
    pub control: ControlClient,
}

pub struct Replicator {
    region: String,
    db: dynoxide::Database,
    meta: Arc<Meta>,
    /// Client writes and peers' `GetRecords` hold the read side;
    /// replication batches the write side, until their intents are settled.
    pub gate: Arc<tokio::sync::RwLock<()>>,
    settings: RwLock<Settings>,
    settings_file: PathBuf,
    peers: BTreeMap<String, Peer>,
    tasks: Mutex<HashMap<(String, String), tokio::task::JoinHandle<()>>>,
    status: Mutex<BTreeMap<(String, String), SubscriptionStatus>>,
    wake: tokio::sync::Notify,
    me: Weak<Replicator>,
}

pub(super) fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

impl Replicator {
    pub fn new(
        region: &str,
        db: dynoxide::Database,
        meta: Arc<Meta>,
        settings_file: PathBuf,
        peers: BTreeMap<String, Peer>,
    ) -> Arc<Self> {
        let settings = std::fs::read_to_string(&settings_file)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        Arc::new_cyclic(|me| Replicator {
            region: region.to_owned(),
            db,
            meta,
            gate: Arc::new(tokio::sync::RwLock::new(())),
            settings: RwLock::new(settings),
            settings_file,
            peers,
            tasks: Mutex::new(HashMap::new()),
            status: Mutex::new(BTreeMap::new()),
            wake: tokio::sync::Notify::new(),
            me: me.clone(),
        })
    }

    pub fn settings(&self) -> Settings {
        *self.settings.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Changes delay and jitter; kept across restarts.
    pub fn set_settings(&self, settings: Settings) -> Result<(), ReplicationError> {
        let text = serde_json::to_string(&settings).expect("settings are plain numbers");
        crate::topology::write_atomic(&self.settings_file, text.as_bytes(), 0o644).map_err(
            |source| ReplicationError::Write {
                path: self.settings_file.clone(),
                source,
            },
        )?;
        *self.settings.write().unwrap_or_else(|p| p.into_inner()) = settings;
        self.wake();
        Ok(())
    }

    pub fn statuses(&self) -> Vec<SubscriptionStatus> {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Wakes subscriptions that wait (for a pause to lift, say).
    pub fn wake(&self) {
        self.wake.notify_waiters();
    }

    /// Updates a subscription's status only if it is still listed (one
    /// stopped meanwhile is not brought back).
    fn update_existing_status(
        &self,
        source: &str,
        table: &str,
        f: impl FnOnce(&mut SubscriptionStatus),
    ) {
        let mut map = self.status.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = map.get_mut(&(source.to_owned(), table.to_owned())) {
            f(entry);
        }
    }

    fn update_status(&self, source: &str, table: &str, f: impl FnOnce(&mut SubscriptionStatus)) {
        let mut map = self.status.lock().unwrap_or_else(|p| p.into_inner());
        let entry = map
            .entry((source.to_owned(), table.to_owned()))
            .or_insert_with(|| SubscriptionStatus {
                source: source.to_owned(),
                table: table.to_owned(),
                ..Default::default()
            });
        f(entry);
    }

    /// Starts and stops subscriptions to match global-table membership.
    pub fn refresh(&self) {
        let Some(me) = self.me.upgrade() else { return };
        let mut wanted = Vec::new();
        for table in self.meta.global_tables().unwrap_or_default() {
            let members = self.meta.replicas(&table).unwrap_or_default();
            if !members.iter().any(|r| r.region == self.region) {
                continue;
            }
            for r in members
                .iter()
                .filter(|r| r.region != self.region && self.peers.contains_key(&r.region))
            {
                wanted.push((r.region.clone(), table.clone()));
            }
        }
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        tasks.retain(|key, handle| {
            let keep = wanted.contains(key) && !handle.is_finished();
            if !keep {
                handle.abort();
                self.status
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(key);
            }
            keep
        });
        for key in wanted {
            if !tasks.contains_key(&key) {
                let (source, table) = key.clone();
                let me = me.clone();
                tasks.insert(
                    key,
                    tokio::spawn(async move { me.subscribe(source, table).await }),
                );
            }
        }
    }

    async fn idle(&self, wait: Duration) {
        let _ = tokio::time::timeout(wait, self.wake.notified()).await;
    }

    /// Pulls `source`'s stream of `table` forever.
    async fn subscribe(self: Arc<Self>, source: String, table: String) {
        let mut backoff = Duration::from_millis(50);
        let last_batch = self.meta.last_batch(&source, &table).unwrap_or_else(|e| {
            tracing::warn!(%source, %table, error = %e, "cannot read the last replication batch begun");
            None
        });
        let mut cursor = Cursor {
            iterator: None,
            unreported: Some(last_batch),
            first_read_pending: true,
        };
        // Read, not yet due: they count as still in the source region.
        let mut pending: Vec<Incoming> = Vec::new();
        loop {
            match self.poll(&source, &table, &mut cursor, &mut pending).await {
                Ok(drained) => {
                    backoff = Duration::from_millis(50);
                    self.update_status(&source, &table, |s| {
                        s.last_error = None;
                        s.caught_up = drained;
                    });
                    if drained {
                        self.maybe_activate(&source, &table).await;
                        self.idle(Duration::from_millis(10)).await;
                    }
                }
                Err(e) => {
                    // Read again from the saved position.
                    cursor.iterator = None;
                    pending.clear();
                    let message = format!("{e:#}");
                    tracing::debug!(%source, %table, error = %message, "replication poll failed");
                    self.update_status(&source, &table, |s| {
                        s.last_error = Some(message);
                        s.caught_up = false;
                    });
                    self.idle(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            }
        }
    }

    /// One round: backfill if due, then one `GetRecords`. `Ok(true)` when
    /// the peer's stream is drained.
    async fn poll(
        &self,
        source: &str,
        table: &str,
        cursor: &mut Cursor,
        pending: &mut Vec<Incoming>,
    ) -> Result<bool, ReplicationError> {
        let peer = &self.peers[source];
        if self.meta.needs_backfill(source, table)? {
            self.backfill(peer, source, table).await?;
            self.meta.set_needs_backfill(source, table, false)?;
        }
        if cursor.iterator.is_none() {
            let (iterator, after) = self.open_iterator(peer, source, table).await?;
            if let Some(last) = cursor.unreported.take() {
                // Begun after the saved position and not finished: read again.
                let unfinished_batch =
                    last.filter(|b| after.as_deref().is_none_or(|p| seq_after(&b.last_seq, p)));
                self.update_status(source, table, |s| {
                    s.resumed = Some(Resume {
                        after,
                        first_read: None,
                        unfinished_batch,
                    })
                });
            }
            cursor.iterator = Some(iterator);
        }
        let out = match peer
            .streams
            .get_records()
            .shard_iterator(cursor.iterator.clone().unwrap_or_default())
            .limit(1000)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let denied = e.raw_response().is_some_and(|r| {
                    std::str::from_utf8(r.body().bytes().unwrap_or_default())
                        .is_ok_and(|b| b.contains("AccessDenied"))
                });
                if denied {
                    self.update_status(source, table, |s| {
                        s.paused = Some(format!(
                            "a resource policy in {source} denies reading for replication"
                        ))
                    });
                    self.idle(Duration::from_millis(100)).await;
                    return Ok(false);
                }
                return Err(ReplicationError::Peer(
                    aws_sdk_dynamodbstreams::error::DisplayErrorContext(e).to_string(),
                ));
            }
        };
        cursor.iterator = out.next_shard_iterator.clone();
        let records = out.records.unwrap_or_default();
        if let Some(first) = records.first().filter(|_| cursor.first_read_pending) {
            cursor.first_read_pending = false;
            let seq = first
                .dynamodb
                .as_ref()
                .and_then(|d| d.sequence_number.clone());
            self.update_status(source, table, |s| {
                if let Some(resumed) = &mut s.resumed {
                    resumed.first_read = seq;
                }
            });
        }
        if records.is_empty() && pending.is_empty() {
            self.update_status(source, table, |s| s.paused = None);
            return Ok(true);
        }
        let incoming: Vec<Incoming> = records
            .iter()
            .filter_map(|r| {
                let d = r.dynamodb.as_ref()?;
                let seq = d.sequence_number.clone()?;
                let remove = r.event_name.as_ref().map(|e| e.as_str()) == Some("REMOVE");
                Some(Incoming {
                    micros: seq_micros(&seq),
                    seq: Some(seq),
                    keys: stream_item(d.keys.as_ref()?),
                    new_image: if remove {
                        None
                    } else {
                        d.new_image.as_ref().map(stream_item)
                    },
                    echo: r
                        .user_identity
                        .as_ref()
                        .and_then(|u| u.principal_id.as_deref())
                        == Some(REPLICATION_SERVICE),
                })
            })
            .collect();
        tracing::debug!(%source, %table, records = incoming.len(), "replicating");
        pending.extend(incoming);
        // The source just answered, so what is due by now may leave it;
        // the rest stays pending, and only a later answer from the source
        // releases it: a source that stops keeps the writes it has not
        // replicated, as a region that goes dark does.
        if let Some(due) = self.deliver(source, table, pending).await? {
            let wait = (due - now_micros()).clamp(0, 1_000_000);
            self.idle(Duration::from_micros(wait as u64)).await;
        }
        Ok(false)
    }

    /// An iterator after the saved position (or at the stream's start),
    /// and that position.
    async fn open_iterator(
        &self,
        peer: &Peer,
        source: &str,
        table: &str,
    ) -> Result<(String, Option<String>), ReplicationError> {
        let desc = peer
            .dynamo
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| {
                ReplicationError::Peer(format!(
                    "describe {table} in {source}: {}",
                    aws_sdk_dynamodb::error::DisplayErrorContext(e)
                ))
            })?;
        let stream_arn = desc
            .table
            .and_then(|t| t.latest_stream_arn)
            .ok_or_else(|| ReplicationError::Peer(format!("{table} in {source} has no stream")))?;
        let stream = peer
            .streams
            .describe_stream()
            .stream_arn(&stream_arn)
            .send()
            .await
            .map_err(|e| {
                ReplicationError::Peer(format!(
                    "describe stream in {source}: {}",
                    aws_sdk_dynamodbstreams::error::DisplayErrorContext(e)
                ))
            })?;
        let shard = stream
            .stream_description
            .and_then(|d| d.shards)
            .and_then(|s| s.last().and_then(|s| s.shard_id.clone()))
            .ok_or_else(|| {
                ReplicationError::Peer(format!("the stream of {table} in {source} has no shard"))
            })?;
        use aws_sdk_dynamodbstreams::types::ShardIteratorType;
        let position = self.meta.position(source, table)?;
        let request = peer
            .streams
            .get_shard_iterator()
            .stream_arn(&stream_arn)
            .shard_id(shard);
        let request = match &position {
            Some(seq) => request
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .sequence_number(seq),
            None => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
        };
        let out = request.send().await.map_err(|e| {
            ReplicationError::Peer(format!(
                "shard iterator in {source}: {}",
                aws_sdk_dynamodbstreams::error::DisplayErrorContext(e)
            ))
        })?;
        let iterator = out
            .shard_iterator
            .ok_or_else(|| ReplicationError::Peer(format!("no shard iterator from {source}")))?;
        Ok((iterator, position))
    }

    /// Copies the peer's current items (for a new replica), versioned at
    /// the scan's start so stream records older than the scan are skipped.
    async fn backfill(
        &self,
        peer: &Peer,
        source: &str,
        table: &str,
    ) -> Result<(), ReplicationError> {
        let started = now_micros();
        let keys = self.key_names(table)?;
        let mut pages = peer.dynamo.scan().table_name(table).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                ReplicationError::Peer(format!(
                    "backfill scan of {table} in {source}: {}",
                    aws_sdk_dynamodb::error::DisplayErrorContext(e)
                ))
            })?;
            let incoming = page
                .items
                .unwrap_or_default()
                .iter()
                .map(|item| {
                    let image = table_item(item);
                    Incoming {
                        seq: None,
                        micros: started,
                        keys: key_of(&image, &keys),
                        new_image: Some(image),
                        echo: false,
                    }
                })
                .collect();
            self.apply(source, table, incoming, None).await?;
        }
        Ok(())
    }

    fn key_names(&self, table: &str) -> Result<Vec<String>, ReplicationError> {
        let desc = engine(|r| self.db.describe_table(r), json!({"TableName": table}))?;
        Ok(desc["Table"]["KeySchema"]
            .as_array()
            .map(|ks| {
                ks.iter()
                    .filter_map(|k| k["AttributeName"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Applies the pending records already due (write time + delay +
    /// jitter, never reordered), holding them while a policy pauses
    /// replication; returns when the first one left is due.
    async fn deliver(
        &self,
        source: &str,
        table: &str,
        pending: &mut Vec<Incoming>,
    ) -> Result<Option<i64>, ReplicationError> {
        let settings = self.settings();
        let now = now_micros();
        let mut due_at = 0i64;
        let mut next_due = None;
        let mut ready = 0;
        for rec in pending.iter() {
            let due =
                (rec.micros + settings.delay_ms as i64 * 1000 + jitter(rec, &settings)).max(due_at);
            due_at = due;
            if due > now {
                next_due = Some(due);
                break;
            }
            ready += 1;
        }
        if ready > 0 {
            let batch: Vec<Incoming> = pending.drain(..ready).collect();
            let last = batch.last().and_then(|r| r.seq.clone());
            self.apply(source, table, batch, last).await?;
        }
        Ok(next_due)
    }

    /// Applies one batch under the gate, which stays shut until the
    /// batch's versions, marks and position are recorded.
    async fn apply(
        &self,
        source: &str,
        table: &str,
        batch: Vec<Incoming>,
        position: Option<String>,
    ) -> Result<(), ReplicationError> {
        let arn = super::table_arn(&self.region, table);
        loop {
            if super::replication_denied(&self.meta, &arn, &["dynamodb:WriteDataForReplication"]) {
                self.update_status(source, table, |s| {
                    s.paused = Some(format!(
                        "a resource policy on {table} in {} denies replication writes",
                        self.region
                    ))
                });
                self.idle(Duration::from_millis(100)).await;
                continue;
            }
            break;
        }
        self.update_status(source, table, |s| s.paused = None);
        let gate = self.gate.clone().write_owned().await;
        let db = self.db.clone();
        let meta = self.meta.clone();
        let (region, source_owned, table_owned) =
            (self.region.clone(), source.to_owned(), table.to_owned());
        let me = self.me.clone();
        let (applied, lag) = tokio::task::spawn_blocking(move || {
            // Released when the batch is settled, even if this subscription
            // is stopped (its task aborted) meanwhile.
            let _gate = gate;
            let stuck = |problem: Option<String>| {
                if let Some(me) = me.upgrade() {
                    me.update_existing_status(&source_owned, &table_owned, |s| {
                        s.last_error = problem
                    });
                }
            };
            settled_on_panic(&db, &meta, &region, &table_owned, &stuck, || {
                apply_blocking(
                    &db,
                    &meta,
                    &region,
                    &source_owned,
                    &table_owned,
                    batch,
                    position,
                    &stuck,
                )
            })
        })
        .await??;
        tracing::debug!(%source, %table, applied, "applied a batch");
        if applied > 0 {
            self.update_status(source, table, |s| {
                s.applied += applied as u64;
                s.last_lag_ms = lag;
            });
        }
        Ok(())
    }

    /// A replica still CREATING here becomes ACTIVE once its backfill is
    /// done and its source drained; its peers are told.
    async fn maybe_activate(&self, source: &str, table: &str) {
        let members = self.meta.replicas(table).unwrap_or_default();
        let creating = members
            .iter()
            .any(|r| r.region == self.region && r.status == "CREATING");
        if !creating || self.meta.needs_backfill(source, table).unwrap_or(true) {
            return;
        }
        for r in members.iter().filter(|r| r.region != self.region) {
            if let Some(peer) = self.peers.get(&r.region)
                && peer
                    .control
                    .replica_status(table, &self.region, "ACTIVE")
                    .await
                    .is_err()
            {
                return;
            }
        }
        let _ = self.meta.set_replica(table, &self.region, "ACTIVE");
    }
}

/// Whether stream sequence number `a` comes after `b` (both decimal).
fn seq_after(a: &str, b: &str) -> bool {
    match (a.parse::<u128>(), b.parse::<u128>()) {
        (Ok(a), Ok(b)) => a > b,
        _ => (a.len(), a) > (b.len(), b),
    }
}

/// A record's jitter in microseconds, within ±`jitter_ms`: derived from its
/// sequence number, so a record read again is due at the same moment.
fn jitter(rec: &Incoming, settings: &Settings) -> i64 {
    if settings.jitter_ms == 0 {
        return 0;
    }
    let span = settings.jitter_ms as i64 * 1000;
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in rec.seq.as_deref().unwrap_or_default().bytes() {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    (hash % (2 * span as u64 + 1)) as i64 - span
}

/// Why a replication step, or a change to a replica, failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplicationError {
    #[error(transparent)]
    Metadata(#[from] MetaError),
    /// The region's own engine refused an operation.
    #[error("{0}")]
    Engine(dynoxide::DynoxideError),
    /// A replica was to be created where a table of that name already
    /// exists (the control API answers 409 Conflict for it, and only it).
    #[error("table {0} already exists")]
    TableExists(String),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// A peer region's answer was an error, or lacked what replication
    /// needs (a stream, a shard, an iterator).
    #[error("{0}")]
    Peer(String),
    /// The blocking part of an apply panicked or was cancelled.
    #[error(transparent)]
    Task(#[from] tokio::task::JoinError),
    #[error("cannot save {}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Calls an engine operation with a JSON request and returns JSON.
pub fn engine<Req, Resp>(
    f: impl FnOnce(Req) -> dynoxide::Result<Resp>,
    request: Value,
) -> Result<Value, ReplicationError>
where
    Req: serde::de::DeserializeOwned,
    Resp: Serialize,
{
    let req: Req = serde_json::from_value(request)?;
    let resp = f(req).map_err(ReplicationError::Engine)?;
    Ok(serde_json::to_value(resp)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_compare_as_numbers() {
        assert!(seq_after("100000000000000000020", "100000000000000000019"));
        assert!(seq_after("1000", "999"));
        assert!(!seq_after("999", "1000"));
        assert!(!seq_after("42", "42"));
    }
}
