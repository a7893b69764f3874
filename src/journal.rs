//! The drill journal. Before a drill injects a fault it writes what it did
//! and how to undo it to `.wildrydes/drills/<drill id>.json`, and marks the
//! fault restored once the rollback has run; a journal with a fault not
//! marked restored means a drill died mid-way. `status` reports such faults
//! and `failover-test --restore` undoes them.
//!
//! Format (one file per drill run):
//!
//! ```json
//! {"drill": "primary-health", "startedAt": "2026-11-30T01:00:00Z",
//!  "faults": [{"kind": "lambda-throttle", "scope": "eu-west-1",
//!              "injectedAt": "2026-11-30T01:00:02Z", "restoredAt": null,
//!              "undo": {…}}]}
//! ```

use std::path::PathBuf;

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

/// Every fault some journal records as injected and not restored.
pub fn open_faults() -> anyhow::Result<Vec<OpenFault>> {
    let dir = dir();
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(anyhow::anyhow!("cannot read {}: {e}", dir.display())),
    };
    let mut out = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let text = std::fs::read_to_string(&path)?;
        let journal: Journal = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{} is not a drill journal: {e}", path.display()))?;
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
