//! Where a sandbox's processes listen and where it keeps its files.
//!
//! Each region has its own loopback address (127.0.1.1, 127.0.1.2, …) and
//! all share one port; the global process is 127.0.0.1 on that port. A DNS
//! answer therefore names a region by address, as on AWS. Where only
//! 127.0.0.1 exists, every process gets its own port instead.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Name of the global process in state, logs and the control API.
pub const GLOBAL: &str = "global";

/// One process's listening address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// A region name, or [`GLOBAL`].
    pub name: String,
    pub address: IpAddr,
    pub port: u16,
}

impl Endpoint {
    pub fn socket(&self) -> SocketAddr {
        SocketAddr::new(self.address, self.port)
    }

    /// `http://address:port`, what SDK clients use as their endpoint.
    pub fn url(&self) -> String {
        format!("http://{}", self.socket())
    }
}

/// Every process of one sandbox and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topology {
    /// Whether all processes share one port on distinct addresses.
    pub shared_port: bool,
    pub global: Endpoint,
    pub regions: Vec<Endpoint>,
    /// The authoritative DNS server's port on the global address (UDP and TCP).
    #[serde(default)]
    pub dns_port: Option<u16>,
    /// The edge proxy's port on the global address: the API's address for
    /// a browser, following DNS as a real client does.
    #[serde(default)]
    pub edge_port: Option<u16>,
    /// The CloudFront edge's port on the global address.
    #[serde(default)]
    pub cdn_port: Option<u16>,
}

impl Topology {
    /// The endpoint of `region`.
    pub fn region(&self, region: &str) -> Option<&Endpoint> {
        self.regions.iter().find(|e| e.name == region)
    }

    /// Every endpoint, regions first.
    pub fn endpoints(&self) -> impl Iterator<Item = &Endpoint> {
        self.regions.iter().chain(std::iter::once(&self.global))
    }

    /// The endpoint of a process by name (a region or [`GLOBAL`]).
    pub fn endpoint(&self, name: &str) -> Option<&Endpoint> {
        self.endpoints().find(|e| e.name == name)
    }

    /// `http://127.0.0.1:<edge port>`, the edge proxy.
    pub fn edge_url(&self) -> Option<String> {
        self.edge_port
            .map(|p| format!("http://{}:{p}", self.global.address))
    }

    /// `http://127.0.0.1:<cdn port>`, the CloudFront edge.
    pub fn cdn_url(&self) -> Option<String> {
        self.cdn_port
            .map(|p| format!("http://{}:{p}", self.global.address))
    }

    /// Region names in order.
    pub fn region_names(&self) -> Vec<String> {
        self.regions.iter().map(|e| e.name.clone()).collect()
    }
}

/// The loopback address of the `index`-th region (0-based).
pub fn region_address(index: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 1, (index + 1) as u8))
}

/// The state file: who is running, where, since when.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SandboxState {
    /// `wildrydes-sandbox` version that wrote it.
    pub version: String,
    /// RFC 3339.
    pub started_at: String,
    pub topology: Topology,
    /// Process id of each process, by name.
    pub pids: BTreeMap<String, u32>,
}

/// The files of one sandbox under its root (`.wildrydes/sandbox/`).
#[derive(Debug, Clone)]
pub struct Layout {
    pub root: PathBuf,
}

impl Layout {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Layout { root: root.into() }
    }

    pub fn state_file(&self) -> PathBuf {
        self.root.join("state.json")
    }

    pub fn credentials_file(&self) -> PathBuf {
        self.root.join("credentials.json")
    }

    pub fn logs_dir(&self) -> PathBuf {
        self.root.join("logs")
    }

    pub fn log_file(&self, process: &str) -> PathBuf {
        self.logs_dir().join(format!("{process}.log"))
    }

    /// Data of one process (a region or [`GLOBAL`]); survives stop/start.
    pub fn data_dir(&self, process: &str) -> PathBuf {
        self.root.join(process)
    }

    pub fn read_state(&self) -> Result<Option<SandboxState>, StateError> {
        let path = self.state_file();
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|error| StateError::Corrupt { path, error }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StateError::Read { path, source }),
        }
    }

    pub fn write_state(&self, state: &SandboxState) -> Result<(), StateError> {
        let path = self.state_file();
        let text = serde_json::to_string_pretty(state).expect("the state is plain data");
        write_atomic(&path, text.as_bytes(), 0o600)
            .map_err(|source| StateError::Write { path, source })
    }
}

/// Why the sandbox's state file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is corrupt ({error}); stopping the sandbox cleans it up", path.display())]
    Corrupt {
        path: PathBuf,
        error: serde_json::Error,
    },
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Writes `bytes` to `path` via a temporary file and a rename, so a reader
/// sees the old or the new content, never half.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// [`write_atomic`] with mode 0600: for secrets.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic(path, bytes, 0o600)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_files_are_0600_and_replace_atomically() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/creds.json");
        write_private(&path, b"one").unwrap();
        write_private(&path, b"two").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );
    }

    #[test]
    fn regions_get_consecutive_loopback_addresses() {
        assert_eq!(region_address(0).to_string(), "127.0.1.1");
        assert_eq!(region_address(1).to_string(), "127.0.1.2");
    }
}
