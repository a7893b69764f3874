//! Finishing a replication batch that was cut short, so that a batch is
//! all-or-nothing as peers and clients see it although its writes and its
//! bookkeeping live in two databases.
//!
//! A batch writes items through the engine (dynoxide commits each write
//! with its stream record in one transaction of dynamodb.sqlite) and then
//! records, in replication.sqlite, each item's version, which of its own
//! stream records replication wrote (peers skip those: no echo) and how far
//! it has read. No transaction spans both files: dynoxide 3.2 exposes
//! neither its connection nor a transaction, and a second connection cannot
//! join its transaction. A region killed between the two, or an engine
//! write refused in the middle of a batch, used to leave replicated records
//! that looked like client writes: they were given a new, local version and
//! sent back to the source, where they could overwrite a newer write.
//!
//! The fix is a write-ahead intent log. Before its first engine write a
//! batch commits one intent per write it will make (key, put or delete,
//! incoming version), in order. Afterwards the intents are matched against
//! this region's own stream records after its saved position
//! ([`settle_in`]): the records and the intents are in the same order, each
//! put leaves exactly one record and a delete one or none (an absent item),
//! so a record is the batch's when the next intents, passing over deletes
//! only, hold one of its key and kind. A matched record is marked applied
//! and every intent up to its own gets its version: those writes are
//! proven done. A record nothing matches is a client write and gets a
//! local version, as before. Intents left over get no version (their write
//! may not have happened) unless every write returned success; the source
//! position moves only when the batch finished, so they are read again.
//! Versions therefore only ever describe writes that are in the engine,
//! and a record read again is skipped only when it, or something newer, is.
//!
//! When the matching runs, no other write can be among the records: the
//! batch holds the write side of the gate that client writes and peers'
//! `GetRecords` take the read side of until its intents are settled
//! ([`settle`] retries until they are), and after a kill [`recover_all`]
//! settles them when the region starts, before it serves anything. Every
//! replicated record is therefore marked before any peer can read it.
//!
//! Simpler schemes fall short. One marker per batch, settled by marking
//! every record after the saved position and recording no version, also
//! converges (the batch is read again and decided against the old
//! versions), but it makes again the writes already made: a second stream
//! record of one change, which AWS never shows, and with a third region a
//! window in which an older write lands over a newer one. One version for
//! the whole batch is worse: the newest over-versions, and a write never
//! made is then skipped when read again (lost). Intents keyed by item
//! rather than by order have that flaw when a batch writes an item twice.
//! Matching records to the source's stream by image needs the peer up and
//! cannot tell a client write of the same image.
//!
//! The tests kill processes, the sandbox's outage. Against a power cut,
//! replication.sqlite commits with `synchronous = FULL`, as dynoxide's
//! database does (SQLite's default), so an intent is on disk before the
//! engine write it announces, and a batch's settlement before any later
//! client write.

use std::time::Duration;

use serde_json::{Value, json};

use super::attributes::canonical_key;
use super::meta::{self, Intent, Meta, Version};
use super::replication::{ReplicationError, engine};

/// dynoxide's public sequence numbers are 10^20 + its stored number, which
/// is a microsecond clock (or one past the previous number).
const SEQUENCE_NUMBER_OFFSET: u128 = 100_000_000_000_000_000_000;

/// The microsecond clock a dynoxide sequence number carries.
pub(super) fn seq_micros(seq: &str) -> i64 {
    seq.parse::<u128>()
        .ok()
        .and_then(|n| n.checked_sub(SEQUENCE_NUMBER_OFFSET))
        .and_then(|n| i64::try_from(n).ok())
        .unwrap_or(0)
}

/// What settling found among this region's new stream records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Settled {
    /// Records matched to an intent: marked, never replicated again.
    pub replicated: usize,
    /// Records of client writes.
    pub local: usize,
    /// Intents whose write is not proven: no version, read again.
    pub dropped: usize,
}

/// This region's own stream records of `table` after `after`.
pub(super) fn own_records(
    db: &dynoxide::Database,
    table: &str,
    after: Option<&str>,
) -> Result<Vec<Value>, ReplicationError> {
    let desc = engine(|r| db.describe_table(r), json!({"TableName": table}))?;
    let Some(stream_arn) = desc["Table"]["LatestStreamArn"].as_str().map(str::to_owned) else {
        return Ok(Vec::new());
    };
    let stream = engine(|r| db.describe_stream(r), json!({"StreamArn": stream_arn}))?;
    let Some(shard) = stream["StreamDescription"]["Shards"]
        .as_array()
        .and_then(|s| s.last())
        .and_then(|s| s["ShardId"].as_str())
        .map(str::to_owned)
    else {
        return Ok(Vec::new());
    };
    let request = match after {
        Some(seq) => {
            json!({"StreamArn": stream_arn, "ShardId": shard, "ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": seq})
        }
        None => {
            json!({"StreamArn": stream_arn, "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON"})
        }
    };
    let mut iterator = engine(|r| db.get_shard_iterator(r), request)?["ShardIterator"]
        .as_str()
        .map(str::to_owned);
    let mut out = Vec::new();
    while let Some(it) = iterator {
        let page = engine(
            |r| db.get_records(r),
            json!({"ShardIterator": it, "Limit": 1000}),
        )?;
        let records = page["Records"].as_array().cloned().unwrap_or_default();
        if records.is_empty() {
            break;
        }
        out.extend(records);
        iterator = page["NextShardIterator"].as_str().map(str::to_owned);
    }
    Ok(out)
}

/// Settles `table`'s intents (if any) against this region's new records,
/// as after a batch cut short: intents not matched get no version. With
/// no intents, every new record is a client write; the next batch starts
/// with this.
pub(super) fn reconcile(
    db: &dynoxide::Database,
    meta: &Meta,
    region: &str,
    table: &str,
) -> Result<Settled, ReplicationError> {
    settle_table(db, meta, region, table, None)
}

/// Settles a batch whose every write returned success, and moves the
/// position in `source`'s stream to `position` (its last record) in the
/// same transaction.
pub(super) fn finish(
    db: &dynoxide::Database,
    meta: &Meta,
    region: &str,
    table: &str,
    source: &str,
    position: Option<&str>,
) -> Result<Settled, ReplicationError> {
    settle_table(db, meta, region, table, Some((source, position)))
}

fn settle_table(
    db: &dynoxide::Database,
    meta: &Meta,
    region: &str,
    table: &str,
    finished: Option<(&str, Option<&str>)>,
) -> Result<Settled, ReplicationError> {
    let after = meta.position(region, table)?;
    let records = match own_records(db, table, after.as_deref()) {
        Ok(records) => records,
        // The table is gone (its replica was removed): nothing to settle.
        Err(ReplicationError::Engine(dynoxide::DynoxideError::ResourceNotFoundException(_))) => {
            meta.transaction(|tx| meta::clear_intents(tx, table))?;
            return Ok(Settled::default());
        }
        Err(e) => return Err(e),
    };
    Ok(meta.transaction(|tx| {
        let intents = meta::intents(tx, table)?;
        let settled = settle_in(tx, table, region, &intents, &records, finished.is_some())?;
        if let Some((source, Some(position))) = finished {
            meta::set_position(tx, source, table, position)?;
        }
        Ok(settled)
    })?)
}

/// Matches `records` (this region's, in stream order) to `intents` (in
/// write order), records what is proven and clears the intents.
/// `all_done`: every intent's write returned success.
fn settle_in(
    tx: &rusqlite::Transaction<'_>,
    table: &str,
    region: &str,
    intents: &[Intent],
    records: &[Value],
    all_done: bool,
) -> rusqlite::Result<Settled> {
    let mut settled = Settled::default();
    let mut next = 0;
    for record in records {
        let seq = record["dynamodb"]["SequenceNumber"]
            .as_str()
            .unwrap_or_default();
        let key = canonical_key(&record["dynamodb"]["Keys"]);
        let remove = record["eventName"].as_str() == Some("REMOVE");
        match writer_of(&intents[next..], &key, remove) {
            Some(offset) => {
                // That write and every one before it were made.
                for done in &intents[next..=next + offset] {
                    meta::set_version(tx, table, &done.key, &done.version)?;
                }
                meta::mark_applied(tx, table, seq)?;
                next += offset + 1;
                settled.replicated += 1;
            }
            None => {
                let local = Version {
                    micros: seq_micros(seq),
                    region: region.to_owned(),
                };
                meta::set_version(tx, table, &key, &local)?;
                settled.local += 1;
            }
        }
        meta::set_position(tx, region, table, seq)?;
    }
    let rest = &intents[next..];
    if all_done {
        // Deletes of absent items: made, without a record.
        for done in rest {
            meta::set_version(tx, table, &done.key, &done.version)?;
        }
    } else {
        settled.dropped = rest.len();
    }
    meta::clear_intents(tx, table)?;
    Ok(settled)
}

/// Which of `pending` wrote a record of `key` (a REMOVE if `remove`): the
/// first intent of that key and kind, passing only deletes, since a put
/// always leaves a record and records keep the writes' order.
fn writer_of(pending: &[Intent], key: &str, remove: bool) -> Option<usize> {
    for (offset, intent) in pending.iter().enumerate() {
        if intent.key == key && intent.remove == remove {
            return Some(offset);
        }
        if !intent.remove {
            return None;
        }
    }
    None
}

/// Settles `table`'s intents after a batch that failed part-way, retrying
/// until it can. The caller holds the gate's write side throughout, so no
/// client write lands among the batch's records and no peer reads them
/// unmarked meanwhile. While it cannot, `stuck` is told why (and `None`
/// once it has), for the replication status.
pub(super) fn settle(
    db: &dynoxide::Database,
    meta: &Meta,
    region: &str,
    table: &str,
    stuck: &dyn Fn(Option<String>),
) {
    let mut wait = Duration::from_millis(50);
    let mut waited = false;
    loop {
        match reconcile(db, meta, region, table) {
            Ok(settled) => {
                tracing::info!(%table, ?settled, "settled a replication batch that failed part-way");
                if waited {
                    stuck(None);
                }
                return;
            }
            Err(e) => {
                tracing::warn!(%table, error = %e, "cannot settle a failed replication batch yet; replication and writes here wait");
                stuck(Some(format!(
                    "cannot settle a replication batch into {table} that failed part-way ({e}); every item write and every peer's stream read in this region waits until it can"
                )));
                waited = true;
                std::thread::sleep(wait);
                wait = (wait * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// Settles every batch a killed process left unfinished. Runs when the
/// region starts, before it serves: nothing else writes meanwhile.
pub fn recover_all(
    db: &dynoxide::Database,
    meta: &Meta,
    region: &str,
) -> Result<(), ReplicationError> {
    for table in meta.tables_with_intents()? {
        let settled = reconcile(db, meta, region, &table)?;
        tracing::info!(%table, ?settled, "finished a replication batch cut short by a crash");
    }
    Ok(())
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(in crate::services::dynamodb) const TABLE: &str = "rides";

    const HERE: &str = "ap-southeast-1";
    const SOURCE: &str = "eu-west-1";

    /// A region for unit tests: an engine with [`TABLE`] (streamed, keyed
    /// by `id`) and an empty metadata file.
    pub(in crate::services::dynamodb) struct Region {
        pub db: dynoxide::Database,
        pub meta: Meta,
        pub _dir: tempfile::TempDir,
    }

    pub(in crate::services::dynamodb) fn region() -> Region {
        let db = dynoxide::Database::memory().unwrap();
        engine(
            |r| db.create_table(r),
            json!({
                "TableName": TABLE,
                "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
                "BillingMode": "PAY_PER_REQUEST",
                "StreamSpecification": {"StreamEnabled": true, "StreamViewType": "NEW_AND_OLD_IMAGES"},
            }),
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let meta = Meta::open(&dir.path().join("replication.sqlite")).unwrap();
        Region {
            db,
            meta,
            _dir: dir,
        }
    }

    fn key(id: &str) -> String {
        canonical_key(&json!({"id": {"S": id}}))
    }

    fn intent(id: &str, remove: bool, micros: i64) -> Intent {
        Intent {
            key: key(id),
            remove,
            version: Version {
                micros,
                region: SOURCE.into(),
            },
            source_seq: Some(micros.to_string()),
        }
    }

    /// Records (seq, marked), the versions of k1 and k2, the own position.
    type State = (Vec<(String, bool)>, Vec<Option<Version>>, Option<String>);

    impl Region {
        fn put(&self, id: &str) {
            engine(
                |r| self.db.put_item(r),
                json!({"TableName": TABLE, "Item": {"id": {"S": id}}}),
            )
            .unwrap();
        }

        fn delete(&self, id: &str) {
            engine(
                |r| self.db.delete_item(r),
                json!({"TableName": TABLE, "Key": {"id": {"S": id}}}),
            )
            .unwrap();
        }

        fn begin(&self, intents: &[Intent]) {
            self.meta
                .transaction(|tx| meta::add_intents(tx, TABLE, intents))
                .unwrap();
        }

        fn version(&self, id: &str) -> Option<Version> {
            self.meta
                .transaction(|tx| meta::version(tx, TABLE, &key(id)))
                .unwrap()
        }

        /// (sequence number, marked applied) of every record, oldest first.
        fn records(&self) -> Vec<(String, bool)> {
            own_records(&self.db, TABLE, None)
                .unwrap()
                .iter()
                .map(|r| {
                    let seq = r["dynamodb"]["SequenceNumber"].as_str().unwrap().to_owned();
                    let applied = self.meta.is_applied(TABLE, &seq).unwrap();
                    (seq, applied)
                })
                .collect()
        }

        fn state(&self) -> State {
            (
                self.records(),
                ["k1", "k2"].iter().map(|id| self.version(id)).collect(),
                self.meta.position(HERE, TABLE).unwrap(),
            )
        }
    }

    #[test]
    fn a_batch_cut_short_keeps_what_was_written_and_drops_the_rest() {
        let r = region();
        r.begin(&[intent("k1", false, 10), intent("k2", false, 20)]);
        r.put("k1");
        let settled = reconcile(&r.db, &r.meta, HERE, TABLE).unwrap();
        assert_eq!(
            settled,
            Settled {
                replicated: 1,
                local: 0,
                dropped: 1
            }
        );
        let records = r.records();
        assert_eq!(records.len(), 1);
        assert!(records[0].1, "the replicated record is marked");
        assert_eq!(r.version("k1"), Some(intent("k1", false, 10).version));
        assert_eq!(r.version("k2"), None, "k2 was never written");
        assert_eq!(
            r.meta.position(HERE, TABLE).unwrap().as_deref(),
            Some(records[0].0.as_str())
        );
        assert!(r.meta.tables_with_intents().unwrap().is_empty());
    }

    #[test]
    fn settling_twice_changes_nothing() {
        let r = region();
        r.begin(&[intent("k1", false, 10), intent("k2", false, 20)]);
        r.put("k1");
        reconcile(&r.db, &r.meta, HERE, TABLE).unwrap();
        let once = r.state();
        assert_eq!(
            reconcile(&r.db, &r.meta, HERE, TABLE).unwrap(),
            Settled::default()
        );
        assert_eq!(r.state(), once);
    }

    #[test]
    fn two_writes_of_one_item_are_told_apart_by_their_order() {
        // A then B of one item, killed after A: the record is A's, and B,
        // whose write may never have happened, keeps no version.
        let r = region();
        r.begin(&[intent("k1", false, 10), intent("k1", false, 20)]);
        r.put("k1");
        reconcile(&r.db, &r.meta, HERE, TABLE).unwrap();
        assert_eq!(r.version("k1"), Some(intent("k1", false, 10).version));
    }

    #[test]
    fn deletes_that_found_nothing_are_passed_over_and_versioned_when_proven() {
        let r = region();
        // k2's delete finds nothing (no record); k1's put after it proves it ran.
        r.begin(&[
            intent("k2", true, 10),
            intent("k1", false, 20),
            intent("k2", true, 30),
        ]);
        r.delete("k2");
        r.put("k1");
        r.delete("k2");
        finish(&r.db, &r.meta, HERE, TABLE, SOURCE, Some("42")).unwrap();
        assert_eq!(r.records().len(), 1);
        assert!(r.records()[0].1);
        assert_eq!(r.version("k1"), Some(intent("k1", false, 20).version));
        // The last delete is proven only because every write succeeded.
        assert_eq!(r.version("k2"), Some(intent("k2", true, 30).version));
        assert_eq!(
            r.meta.position(SOURCE, TABLE).unwrap().as_deref(),
            Some("42")
        );
    }

    #[test]
    fn client_writes_keep_local_versions_and_stay_unmarked() {
        let r = region();
        r.put("k1");
        r.begin(&[intent("k2", false, 5)]);
        r.put("k2");
        let settled = finish(&r.db, &r.meta, HERE, TABLE, SOURCE, None).unwrap();
        assert_eq!((settled.local, settled.replicated), (1, 1));
        let records = r.records();
        assert!(!records[0].1 && records[1].1);
        assert_eq!(
            r.version("k1"),
            Some(Version {
                micros: seq_micros(&records[0].0),
                region: HERE.into()
            })
        );
        assert_eq!(r.meta.position(SOURCE, TABLE).unwrap(), None);
    }

    #[test]
    fn intents_of_a_table_that_is_gone_are_cleared_at_start() {
        let r = region();
        r.begin(&[intent("k1", false, 10)]);
        engine(|q| r.db.delete_table(q), json!({"TableName": TABLE})).unwrap();
        recover_all(&r.db, &r.meta, HERE).unwrap();
        assert!(r.meta.tables_with_intents().unwrap().is_empty());
    }

    #[test]
    fn sequence_numbers_carry_microseconds() {
        assert_eq!(seq_micros("100001764453862705905"), 1_764_453_862_705_905);
        assert_eq!(seq_micros("garbage"), 0);
        assert_eq!(seq_micros("5"), 0);
    }
}
