//! Applying one replication batch in a region: decide which incoming
//! writes are newer than what the region holds, commit their intents with
//! the batch's extent, make the engine writes, and record what they did
//! ([`super::recovery`] settles a batch cut short). Runs on a blocking
//! thread under the write side of the replication gate; the subscriptions
//! that read batches from peers' streams are in [`super::replication`].

use serde_json::{Value, json};

use super::attributes::canonical_key;
use super::meta::{self, BatchMark, Intent, Meta, Version};
use super::recovery;
use super::replication::{ReplicationError, engine, now_micros};

/// One change read from a peer's stream (or a backfill scan).
#[derive(Debug, Clone)]
pub(super) struct Incoming {
    pub(super) seq: Option<String>,
    pub(super) micros: i64,
    pub(super) keys: Value,
    /// `None` for a REMOVE.
    pub(super) new_image: Option<Value>,
    /// Written at the peer by replication: never applied again.
    pub(super) echo: bool,
}

/// Runs `batch` (a batch's work), and if it panics, settles what it did
/// before the panic goes on (and with it the gate): a panic is a bug, but
/// it must not leave replicated records unmarked for a peer to read or
/// client writes to land among them.
pub(super) fn settled_on_panic<T>(
    db: &dynoxide::Database,
    meta: &Meta,
    region: &str,
    table: &str,
    stuck: &dyn Fn(Option<String>),
    batch: impl FnOnce() -> T,
) -> T {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(batch)).unwrap_or_else(|panic| {
        tracing::error!(%table, "a replication batch panicked; settling it");
        recovery::settle(db, meta, region, table, stuck);
        std::panic::resume_unwind(panic)
    })
}

#[allow(clippy::too_many_arguments)]
pub(super) fn apply_blocking(
    db: &dynoxide::Database,
    meta: &Meta,
    region: &str,
    source: &str,
    table: &str,
    batch: Vec<Incoming>,
    position: Option<String>,
    stuck: &dyn Fn(Option<String>),
) -> Result<(usize, Option<f64>), ReplicationError> {
    // 1. Versions of this region's own writes since the last batch.
    recovery::reconcile(db, meta, region, table)?;

    // 2. Decide: strictly newer versions only. The batch changes no
    //    version before it is settled, so every decision reads the same.
    let decided: Vec<(&Incoming, Intent)> = meta.transaction(|tx| {
        let mut decided = Vec::new();
        for rec in batch.iter().filter(|r| !r.echo) {
            let intent = Intent {
                key: canonical_key(&rec.keys),
                remove: rec.new_image.is_none(),
                version: Version {
                    micros: rec.micros,
                    region: source.to_owned(),
                },
                source_seq: rec.seq.clone(),
            };
            let local = meta::version(tx, table, &intent.key)?;
            if local.is_none_or(|l| l < intent.version) {
                decided.push((rec, intent));
            }
        }
        Ok(decided)
    })?;
    let mark = position.as_ref().map(|p| BatchMark {
        last_seq: p.clone(),
        records: batch.len() as u64,
    });
    if decided.is_empty() {
        if let Some(mark) = &mark {
            meta.transaction(|tx| {
                meta::set_position(tx, source, table, &mark.last_seq)?;
                meta::set_last_batch(tx, source, table, mark)
            })?;
        }
        return Ok((0, None));
    }

    // 3. The intents (with the batch's extent), then the writes, then the
    //    record of what they did; a batch cut short here is settled before
    //    the gate opens.
    let intents: Vec<Intent> = decided.iter().map(|(_, i)| i.clone()).collect();
    meta.transaction(|tx| {
        meta::add_intents(tx, table, &intents)?;
        match &mark {
            Some(mark) => meta::set_last_batch(tx, source, table, mark),
            None => Ok(()),
        }
    })?;
    crate::fault::point("replication-after-intent");
    let outcome = write(db, table, &decided).and_then(|lag| {
        recovery::finish(db, meta, region, table, source, position.as_deref())?;
        Ok(lag)
    });
    match outcome {
        Ok(lag) => Ok((decided.len(), lag)),
        Err(e) => {
            recovery::settle(db, meta, region, table, stuck);
            Err(e)
        }
    }
}

/// Makes a batch's decided writes in order, stopping at the first the
/// engine refuses; the lag of the last one that came from a stream.
fn write(
    db: &dynoxide::Database,
    table: &str,
    decided: &[(&Incoming, Intent)],
) -> Result<Option<f64>, ReplicationError> {
    let mut lag = None;
    for (rec, _) in decided {
        match &rec.new_image {
            Some(item) => engine(
                |r| db.put_item(r),
                json!({"TableName": table, "Item": item}),
            )?,
            None => engine(
                |r| db.delete_item(r),
                json!({"TableName": table, "Key": rec.keys}),
            )?,
        };
        crate::fault::point("replication-after-engine-write");
        if rec.seq.is_some() {
            lag = Some((now_micros() - rec.micros) as f64 / 1000.0);
        }
    }
    Ok(lag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::dynamodb::recovery::tests::{Region, TABLE, region};

    fn incoming(id: Value, micros: i64) -> Incoming {
        let keys = json!({ "id": id });
        Incoming {
            seq: Some(format!("1000000000000000{micros:05}")),
            micros,
            new_image: Some(keys.clone()),
            keys,
            echo: false,
        }
    }

    #[test]
    fn a_batch_that_panics_is_settled_before_the_panic_goes_on() {
        let Region { db, meta, _dir } = region();
        let rec = incoming(json!({"S": "k1"}), 10);
        let intent = Intent {
            key: canonical_key(&rec.keys),
            remove: false,
            version: Version {
                micros: 10,
                region: "eu".into(),
            },
            source_seq: rec.seq.clone(),
        };
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            settled_on_panic(&db, &meta, "ap", TABLE, &|_| {}, || {
                meta.transaction(|tx| meta::add_intents(tx, TABLE, std::slice::from_ref(&intent)))
                    .unwrap();
                write(&db, TABLE, &[(&rec, intent.clone())]).unwrap();
                panic!("a bug in the middle of a batch");
            })
        }));
        assert!(panicked.is_err(), "the panic goes on");
        assert!(meta.tables_with_intents().unwrap().is_empty(), "settled");
        let written = recovery::own_records(&db, TABLE, None).unwrap();
        let seq = written[0]["dynamodb"]["SequenceNumber"].as_str().unwrap();
        assert!(
            meta.is_applied(TABLE, seq).unwrap(),
            "k1's record is marked as replication's: no peer takes it for a client write"
        );
        assert_eq!(
            meta.transaction(|tx| meta::version(tx, TABLE, &intent.key))
                .unwrap(),
            Some(intent.version)
        );
    }

    #[test]
    fn a_write_the_engine_refuses_mid_batch_leaves_the_earlier_ones_marked() {
        let Region { db, meta, _dir } = region();
        // The second item's key has the wrong type: the engine refuses it.
        let batch = vec![
            incoming(json!({"S": "k1"}), 10),
            incoming(json!({"N": "2"}), 20),
        ];
        let last = batch[1].seq.clone();
        let last_seq = last.clone().unwrap();
        let err = apply_blocking(&db, &meta, "ap", "eu", TABLE, batch, last, &|_| {}).unwrap_err();
        assert!(matches!(err, ReplicationError::Engine(_)), "{err}");

        let written = recovery::own_records(&db, TABLE, None).unwrap();
        assert_eq!(written.len(), 1);
        let seq = written[0]["dynamodb"]["SequenceNumber"].as_str().unwrap();
        assert!(
            meta.is_applied(TABLE, seq).unwrap(),
            "k1's record is marked"
        );
        assert_eq!(meta.position("eu", TABLE).unwrap(), None, "read again");
        assert_eq!(
            meta.last_batch("eu", TABLE).unwrap(),
            Some(BatchMark {
                last_seq: last_seq.clone(),
                records: 2
            }),
            "the batch read again is known, and its size"
        );
        assert!(meta.tables_with_intents().unwrap().is_empty());
        // The next batch does not take k1's record for a client write.
        apply_blocking(&db, &meta, "ap", "eu", TABLE, Vec::new(), None, &|_| {}).unwrap();
        let k1 = canonical_key(&json!({"id": {"S": "k1"}}));
        assert_eq!(
            meta.transaction(|tx| meta::version(tx, TABLE, &k1))
                .unwrap(),
            Some(Version {
                micros: 10,
                region: "eu".into()
            })
        );
    }
}
