//! The drill journal. Before a drill injects a fault it writes what it is
//! about to do and how to undo it to `.wildrydes/drills/<run id>/journal.json`,
//! and marks the fault restored once the rollback has run; a journal with a
//! fault not marked restored means a drill died mid-way. `status` reports
//! such faults and `failover-test --restore` undoes them. (Journals of the
//! flat form `.wildrydes/drills/<id>.json` are read too.)
//!
//! Format (one file per drill run):
//!
//! ```json
//! {"drill": "primary-health", "startedAt": "2026-11-30T01:00:00Z",
//!  "faults": [{"kind": "lambda-throttle", "scope": "eu-west-1",
//!              "injectedAt": "2026-11-30T01:00:02Z", "restoredAt": null,
//!              "undo": {…}}]}
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct JournalFault {
    pub kind: String,
    pub scope: String,
    pub injected_at: String,
    pub restored_at: Option<String>,
    #[serde(default)]
    pub undo: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Journal {
    pub drill: String,
    pub started_at: String,
    pub faults: Vec<JournalFault>,
    /// The stack the drill ran on (absent in older journals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
}

/// A fault a drill left in place.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenFault {
    pub drill: String,
    pub kind: String,
    pub scope: String,
    pub injected_at: String,
}

/// Where journals live: `WILDRYDES_DRILL_DIR`, else `.wildrydes/drills`.
pub fn dir() -> PathBuf {
    std::env::var_os("WILDRYDES_DRILL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(".wildrydes/drills"))
}

/// Now, as RFC 3339 UTC.
pub fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Every journal file: `<dir>/<id>.json` and `<dir>/<run>/journal.json`.
pub fn files() -> anyhow::Result<Vec<PathBuf>> {
    let dir = dir();
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(anyhow::anyhow!("cannot read {}: {e}", dir.display())),
    };
    let mut out = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path.is_dir() {
            let inner = path.join("journal.json");
            if inner.is_file() {
                out.push(inner);
            }
        } else if path.extension().and_then(|e| e.to_str()) == Some("json") {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// Reads one journal file.
pub fn read(path: &Path) -> anyhow::Result<Journal> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{} is not a drill journal: {e}", path.display()))
}

/// Writes a journal atomically (a crash leaves the old or the new one)
/// and durably (fsync before the fault call it precedes).
pub fn write(path: &Path, journal: &Journal) -> anyhow::Result<()> {
    use std::io::Write;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", parent.display()))?;
    }
    let tmp = path.with_extension("json.tmp");
    let mut f = std::fs::File::create(&tmp)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", tmp.display()))?;
    f.write_all(&serde_json::to_vec_pretty(journal)?)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    if let Some(parent) = path.parent()
        && let Ok(d) = std::fs::File::open(parent)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Every fault some journal records as injected and not restored.
pub fn open_faults() -> anyhow::Result<Vec<OpenFault>> {
    let mut out = Vec::new();
    for path in files()? {
        let journal = read(&path)?;
        out.extend(
            journal
                .faults
                .into_iter()
                .filter(|f| f.restored_at.is_none())
                .map(|f| OpenFault {
                    drill: journal.drill.clone(),
                    kind: f.kind,
                    scope: f.scope,
                    injected_at: f.injected_at,
                }),
        );
    }
    Ok(out)
}
