//! What a region knows beyond dynoxide's tables: global-table membership,
//! resource policies, replication positions, item versions for
//! last-writer-wins, which of its own stream records replication wrote, and
//! the intents of the replication batch under way (see
//! [`super::recovery`]). One SQLite file per region, next to the region's
//! database.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};

/// A version for last-writer-wins: microseconds of the write, then the
/// region that made it as the tie-break.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub micros: i64,
    pub region: String,
}

/// One engine write a replication batch is about to make, recorded
/// before it is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    /// The item's key, as [`super::attributes::canonical_key`] writes it.
    pub key: String,
    /// A delete (else a put).
    pub remove: bool,
    /// The incoming version: the source's write time and region.
    pub version: Version,
    /// The source's stream sequence number (`None` for a backfill).
    pub source_seq: Option<String>,
}

/// A replication batch read from a source's stream: the sequence number
/// of its last record and how many records it held (echoes and skipped
/// ones included). Its first record follows the saved position.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchMark {
    pub last_seq: String,
    pub records: u64,
}

/// One region's membership in a global table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replica {
    pub region: String,
    /// `CREATING`, `ACTIVE`, `DELETING`, …
    pub status: String,
}

pub struct Meta {
    conn: Mutex<Connection>,
}

/// A failed read or write of the replication metadata. The cause is part
/// of the message, not a separate source, because callers hand the message
/// on as a service's error text.
#[derive(Debug, thiserror::Error)]
#[error("replication metadata: {0}")]
pub struct MetaError(pub rusqlite::Error);

fn sql_err(e: rusqlite::Error) -> MetaError {
    MetaError(e)
}

impl Meta {
    pub fn open(path: &Path) -> Result<Self, MetaError> {
        let conn = Connection::open(path).map_err(sql_err)?;
        // FULL, as the engine's database runs (SQLite's default): a
        // replication batch's intents reach the disk before the engine
        // writes they announce (see super::recovery).
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             CREATE TABLE IF NOT EXISTS replicas (tbl TEXT NOT NULL, region TEXT NOT NULL, status TEXT NOT NULL, PRIMARY KEY (tbl, region));
             CREATE TABLE IF NOT EXISTS policies (arn TEXT PRIMARY KEY, policy TEXT NOT NULL, revision TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS positions (source TEXT NOT NULL, tbl TEXT NOT NULL, seq TEXT NOT NULL, PRIMARY KEY (source, tbl));
             CREATE TABLE IF NOT EXISTS batches (source TEXT NOT NULL, tbl TEXT NOT NULL, last_seq TEXT NOT NULL, records INTEGER NOT NULL, PRIMARY KEY (source, tbl));
             CREATE TABLE IF NOT EXISTS backfills (source TEXT NOT NULL, tbl TEXT NOT NULL, PRIMARY KEY (source, tbl));
             CREATE TABLE IF NOT EXISTS versions (tbl TEXT NOT NULL, key TEXT NOT NULL, micros INTEGER NOT NULL, region TEXT NOT NULL, PRIMARY KEY (tbl, key));
             CREATE TABLE IF NOT EXISTS applied (tbl TEXT NOT NULL, seq TEXT NOT NULL, PRIMARY KEY (tbl, seq));
             CREATE TABLE IF NOT EXISTS intents (tbl TEXT NOT NULL, ord INTEGER NOT NULL, key TEXT NOT NULL, remove INTEGER NOT NULL, micros INTEGER NOT NULL, region TEXT NOT NULL, source_seq TEXT, PRIMARY KEY (tbl, ord));",
        )
        .map_err(sql_err)?;
        Ok(Meta {
            conn: Mutex::new(conn),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, MetaError> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&conn).map_err(sql_err)
    }

    /// Runs `f` in one transaction.
    pub fn transaction<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, MetaError> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn.transaction().map_err(sql_err)?;
        let out = f(&tx).map_err(sql_err)?;
        tx.commit().map_err(sql_err)?;
        Ok(out)
    }

    // --- membership ---

    /// Every region of `table`'s global table, this one included; empty
    /// when the table is not global.
    pub fn replicas(&self, table: &str) -> Result<Vec<Replica>, MetaError> {
        self.with(|c| {
            let mut st =
                c.prepare("SELECT region, status FROM replicas WHERE tbl = ?1 ORDER BY region")?;
            let rows = st.query_map(params![table], |r| {
                Ok(Replica {
                    region: r.get(0)?,
                    status: r.get(1)?,
                })
            })?;
            rows.collect()
        })
    }

    /// All global tables this region takes part in.
    pub fn global_tables(&self) -> Result<Vec<String>, MetaError> {
        self.with(|c| {
            let mut st = c.prepare("SELECT DISTINCT tbl FROM replicas ORDER BY tbl")?;
            let rows = st.query_map([], |r| r.get(0))?;
            rows.collect()
        })
    }

    pub fn set_replica(&self, table: &str, region: &str, status: &str) -> Result<(), MetaError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO replicas (tbl, region, status) VALUES (?1, ?2, ?3)
                 ON CONFLICT (tbl, region) DO UPDATE SET status = excluded.status",
                params![table, region, status],
            )
            .map(drop)
        })
    }

    pub fn remove_replica(&self, table: &str, region: &str) -> Result<(), MetaError> {
        self.with(|c| {
            c.execute(
                "DELETE FROM replicas WHERE tbl = ?1 AND region = ?2",
                params![table, region],
            )
            .map(drop)
        })
    }

    /// Forgets everything about `table` (it was deleted here).
    pub fn forget_table(&self, table: &str) -> Result<(), MetaError> {
        self.transaction(|tx| {
            for sql in [
                "DELETE FROM replicas WHERE tbl = ?1",
                "DELETE FROM positions WHERE tbl = ?1",
                "DELETE FROM batches WHERE tbl = ?1",
                "DELETE FROM backfills WHERE tbl = ?1",
                "DELETE FROM versions WHERE tbl = ?1",
                "DELETE FROM applied WHERE tbl = ?1",
                "DELETE FROM intents WHERE tbl = ?1",
            ] {
                tx.execute(sql, params![table])?;
            }
            Ok(())
        })
    }

    // --- resource policies ---

    pub fn policy(&self, arn: &str) -> Result<Option<(String, String)>, MetaError> {
        self.with(|c| {
            c.query_row(
                "SELECT policy, revision FROM policies WHERE arn = ?1",
                params![arn],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
        })
    }

    pub fn put_policy(&self, arn: &str, policy: &str, revision: &str) -> Result<(), MetaError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO policies (arn, policy, revision) VALUES (?1, ?2, ?3)
                 ON CONFLICT (arn) DO UPDATE SET policy = excluded.policy, revision = excluded.revision",
                params![arn, policy, revision],
            )
            .map(drop)
        })
    }

    pub fn delete_policy(&self, arn: &str) -> Result<(), MetaError> {
        self.with(|c| {
            c.execute("DELETE FROM policies WHERE arn = ?1", params![arn])
                .map(drop)
        })
    }

    /// Policy documents on ARNs under `prefix` (a table's streams).
    pub fn policies_under(&self, prefix: &str) -> Result<Vec<String>, MetaError> {
        self.with(|c| {
            let mut st = c.prepare("SELECT policy FROM policies WHERE arn LIKE ?1")?;
            let rows = st.query_map(params![format!("{prefix}%")], |r| r.get(0))?;
            rows.collect()
        })
    }

    /// Deletes policies on `table` and its streams.
    pub fn delete_policies_of(&self, table_arn: &str) -> Result<(), MetaError> {
        self.with(|c| {
            c.execute(
                "DELETE FROM policies WHERE arn = ?1 OR arn LIKE ?2",
                params![table_arn, format!("{table_arn}/stream/%")],
            )
            .map(drop)
        })
    }

    // --- replication progress ---

    /// Last stream sequence number processed from `source`'s stream of `table`.
    pub fn position(&self, source: &str, table: &str) -> Result<Option<String>, MetaError> {
        self.with(|c| {
            c.query_row(
                "SELECT seq FROM positions WHERE source = ?1 AND tbl = ?2",
                params![source, table],
                |r| r.get(0),
            )
            .optional()
        })
    }

    /// The last batch from `source`'s stream of `table` whose writes were
    /// begun: its last sequence number and its number of records.
    pub fn last_batch(&self, source: &str, table: &str) -> Result<Option<BatchMark>, MetaError> {
        self.with(|c| {
            c.query_row(
                "SELECT last_seq, records FROM batches WHERE source = ?1 AND tbl = ?2",
                params![source, table],
                |r| {
                    Ok(BatchMark {
                        last_seq: r.get(0)?,
                        records: r.get(1)?,
                    })
                },
            )
            .optional()
        })
    }

    pub fn needs_backfill(&self, source: &str, table: &str) -> Result<bool, MetaError> {
        self.with(|c| {
            c.query_row(
                "SELECT 1 FROM backfills WHERE source = ?1 AND tbl = ?2",
                params![source, table],
                |_| Ok(()),
            )
            .optional()
            .map(|r| r.is_some())
        })
    }

    pub fn set_needs_backfill(
        &self,
        source: &str,
        table: &str,
        needed: bool,
    ) -> Result<(), MetaError> {
        self.with(|c| {
            if needed {
                c.execute(
                    "INSERT OR IGNORE INTO backfills (source, tbl) VALUES (?1, ?2)",
                    params![source, table],
                )
            } else {
                c.execute(
                    "DELETE FROM backfills WHERE source = ?1 AND tbl = ?2",
                    params![source, table],
                )
            }
            .map(drop)
        })
    }

    /// Whether this region's own stream record `seq` of `table` was written
    /// by replication (and so must not be replicated again).
    pub fn is_applied(&self, table: &str, seq: &str) -> Result<bool, MetaError> {
        self.with(|c| {
            c.query_row(
                "SELECT 1 FROM applied WHERE tbl = ?1 AND seq = ?2",
                params![table, seq],
                |_| Ok(()),
            )
            .optional()
            .map(|r| r.is_some())
        })
    }

    /// Tables with a replication batch's intents still recorded.
    pub fn tables_with_intents(&self) -> Result<Vec<String>, MetaError> {
        self.with(|c| {
            let mut st = c.prepare("SELECT DISTINCT tbl FROM intents ORDER BY tbl")?;
            let rows = st.query_map([], |r| r.get(0))?;
            rows.collect()
        })
    }
}

/// Records a batch's intents for `table`, in the order the writes will be
/// made.
pub fn add_intents(
    tx: &rusqlite::Transaction<'_>,
    table: &str,
    intents: &[Intent],
) -> rusqlite::Result<()> {
    let mut st = tx.prepare(
        "INSERT INTO intents (tbl, ord, key, remove, micros, region, source_seq)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for (ord, i) in intents.iter().enumerate() {
        st.execute(params![
            table,
            ord as i64,
            i.key,
            i.remove,
            i.version.micros,
            i.version.region,
            i.source_seq
        ])?;
    }
    Ok(())
}

/// The intents recorded for `table`, in the order they were recorded.
pub fn intents(tx: &rusqlite::Transaction<'_>, table: &str) -> rusqlite::Result<Vec<Intent>> {
    let mut st = tx.prepare(
        "SELECT key, remove, micros, region, source_seq FROM intents WHERE tbl = ?1 ORDER BY ord",
    )?;
    let rows = st.query_map(params![table], |r| {
        Ok(Intent {
            key: r.get(0)?,
            remove: r.get(1)?,
            version: Version {
                micros: r.get(2)?,
                region: r.get(3)?,
            },
            source_seq: r.get(4)?,
        })
    })?;
    rows.collect()
}

pub fn clear_intents(tx: &rusqlite::Transaction<'_>, table: &str) -> rusqlite::Result<()> {
    tx.execute("DELETE FROM intents WHERE tbl = ?1", params![table])
        .map(drop)
}

/// Reads a version inside a transaction.
pub fn version(
    tx: &rusqlite::Transaction<'_>,
    table: &str,
    key: &str,
) -> rusqlite::Result<Option<Version>> {
    tx.query_row(
        "SELECT micros, region FROM versions WHERE tbl = ?1 AND key = ?2",
        params![table, key],
        |r| {
            Ok(Version {
                micros: r.get(0)?,
                region: r.get(1)?,
            })
        },
    )
    .optional()
}

pub fn set_version(
    tx: &rusqlite::Transaction<'_>,
    table: &str,
    key: &str,
    v: &Version,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO versions (tbl, key, micros, region) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (tbl, key) DO UPDATE SET micros = excluded.micros, region = excluded.region",
        params![table, key, v.micros, v.region],
    )
    .map(drop)
}

pub fn set_position(
    tx: &rusqlite::Transaction<'_>,
    source: &str,
    table: &str,
    seq: &str,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO positions (source, tbl, seq) VALUES (?1, ?2, ?3)
         ON CONFLICT (source, tbl) DO UPDATE SET seq = excluded.seq",
        params![source, table, seq],
    )
    .map(drop)
}

/// Records `batch` as begun: in the transaction that commits its intents,
/// or with the position when it makes no write.
pub fn set_last_batch(
    tx: &rusqlite::Transaction<'_>,
    source: &str,
    table: &str,
    batch: &BatchMark,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO batches (source, tbl, last_seq, records) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (source, tbl) DO UPDATE SET last_seq = excluded.last_seq, records = excluded.records",
        params![source, table, batch.last_seq, batch.records],
    )
    .map(drop)
}

pub fn mark_applied(
    tx: &rusqlite::Transaction<'_>,
    table: &str,
    seq: &str,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT OR IGNORE INTO applied (tbl, seq) VALUES (?1, ?2)",
        params![table, seq],
    )
    .map(drop)
}

pub fn position_tx(
    tx: &rusqlite::Transaction<'_>,
    source: &str,
    table: &str,
) -> rusqlite::Result<Option<String>> {
    tx.query_row(
        "SELECT seq FROM positions WHERE source = ?1 AND tbl = ?2",
        params![source, table],
        |r| r.get(0),
    )
    .optional()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_order_by_time_then_region() {
        let a = Version {
            micros: 5,
            region: "ap-southeast-1".into(),
        };
        let b = Version {
            micros: 5,
            region: "eu-west-1".into(),
        };
        let c = Version {
            micros: 6,
            region: "ap-southeast-1".into(),
        };
        assert!(a < b && b < c);
    }

    #[test]
    fn state_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.sqlite");
        {
            let m = Meta::open(&path).unwrap();
            m.set_replica("t", "eu-west-1", "ACTIVE").unwrap();
            m.set_replica("t", "ap-southeast-1", "CREATING").unwrap();
            m.set_replica("t", "ap-southeast-1", "ACTIVE").unwrap();
            m.transaction(|tx| set_position(tx, "eu-west-1", "t", "000000000000000000042"))
                .unwrap();
        }
        let m = Meta::open(&path).unwrap();
        assert_eq!(m.replicas("t").unwrap().len(), 2);
        assert!(
            m.replicas("t")
                .unwrap()
                .iter()
                .all(|r| r.status == "ACTIVE")
        );
        assert_eq!(
            m.position("eu-west-1", "t").unwrap().as_deref(),
            Some("000000000000000000042")
        );
        m.forget_table("t").unwrap();
        assert!(m.replicas("t").unwrap().is_empty());
    }

    #[test]
    fn intents_keep_their_order_until_cleared_or_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.sqlite");
        let intent = |key: &str, remove, micros| Intent {
            key: key.into(),
            remove,
            version: Version {
                micros,
                region: "eu-west-1".into(),
            },
            source_seq: Some(format!("{micros}")),
        };
        let written = vec![intent("b", false, 1), intent("a", true, 2)];
        {
            let m = Meta::open(&path).unwrap();
            m.transaction(|tx| add_intents(tx, "t", &written)).unwrap();
            m.transaction(|tx| add_intents(tx, "u", &written[..1]))
                .unwrap();
        }
        let m = Meta::open(&path).unwrap();
        assert_eq!(m.tables_with_intents().unwrap(), ["t", "u"]);
        assert_eq!(m.transaction(|tx| intents(tx, "t")).unwrap(), written);
        m.transaction(|tx| clear_intents(tx, "t")).unwrap();
        m.forget_table("u").unwrap();
        assert!(m.tables_with_intents().unwrap().is_empty());
    }
}
