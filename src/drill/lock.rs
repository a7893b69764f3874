//! One drill per stack at a time: a lock file `<drills dir>/<stack>.lock`
//! naming the running drill's process, run id and playbook. A second drill
//! refuses while that process lives; a lock whose process is gone (a drill
//! that was killed) is taken over, and the dead drill's unrestored faults
//! then stop the new one at its steady-state check.

use std::io::Write;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::journal;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Holder {
    pub pid: u32,
    pub run_id: String,
    pub playbook: String,
    pub started_at: String,
}

/// Held for the drill's lifetime; removed on drop.
#[derive(Debug)]
pub struct DrillLock {
    path: PathBuf,
}

/// Whether `pid` is a live process (not a zombie).
fn alive(pid: u32) -> bool {
    if pid == 0 || pid > i32::MAX as u32 {
        return false;
    }
    // SAFETY: signal 0 only checks that the process exists.
    let exists = unsafe { libc::kill(pid as i32, 0) } == 0
        || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| rest.starts_with('Z')))
        .unwrap_or(false);
    exists && !zombie
}

impl DrillLock {
    /// Takes the stack's lock, or says which drill holds it.
    pub fn acquire(stack: &str, holder: Holder) -> anyhow::Result<DrillLock> {
        let dir = journal::dir();
        std::fs::create_dir_all(&dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
        let path = dir.join(format!("{stack}.lock"));
        for _ in 0..3 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    f.write_all(&serde_json::to_vec(&holder)?)?;
                    f.sync_all()?;
                    return Ok(DrillLock { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let text = std::fs::read_to_string(&path).unwrap_or_default();
                    match serde_json::from_str::<Holder>(&text) {
                        Ok(h) if alive(h.pid) && h.pid != std::process::id() => {
                            anyhow::bail!(
                                "another drill is running on stack {stack}: {} (playbook {}, pid {}, since {}); wait for it or stop it (Ctrl-C rolls it back)",
                                h.run_id,
                                h.playbook,
                                h.pid,
                                h.started_at
                            );
                        }
                        // Dead holder, or a half-written lock: stale.
                        _ => {
                            let _ = std::fs::remove_file(&path);
                        }
                    }
                }
                Err(e) => anyhow::bail!("cannot create {}: {e}", path.display()),
            }
        }
        anyhow::bail!("cannot take the drill lock {}", path.display())
    }
}

impl Drop for DrillLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
