//! Why starting, stopping or signalling a sandbox fails, typed so that
//! callers can tell "already running" from a port in use or a process
//! that never became ready.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::control::ControlError;
use crate::credentials::CredentialsError;
use crate::topology::StateError;

/// Why starting, stopping or signalling a sandbox failed.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// A healthy sandbox with other regions runs at the root: stop it
    /// first to change regions.
    #[error(
        "a sandbox with regions {} is already running at {}; stop it first to change regions",
        running.join(", "),
        root.display()
    )]
    AlreadyRunning { running: Vec<String>, root: PathBuf },
    /// A port the caller asked for is taken.
    #[error("cannot listen {on}: {error}; choose another port")]
    PortInUse { on: String, error: std::io::Error },
    /// A listener could not be bound (`on` says where and for what).
    #[error("cannot listen {on}")]
    Listen { on: String, source: std::io::Error },
    /// Free ports kept being taken between two binds.
    #[error("found no port free {0} after 20 tries")]
    NoFreePort(&'static str),
    #[error("the {process} process exited while starting; its log {} ends:\n{tail}", log.display())]
    Exited {
        process: String,
        log: PathBuf,
        tail: String,
    },
    #[error("the {process} process did not become ready within {timeout:?}; see {}:\n{tail}", log.display())]
    NotReady {
        process: String,
        timeout: Duration,
        log: PathBuf,
        tail: String,
    },
    #[error("this sandbox has no process {process:?} (it runs {})", running.join(", "))]
    NoProcess {
        process: String,
        running: Vec<String>,
    },
    #[error("{process} is not running (pid {pid} is gone)")]
    NotRunning { process: String, pid: u32 },
    /// `action` is `freeze` or `thaw`.
    #[error("cannot {action} {process} (pid {pid})")]
    Signal {
        action: &'static str,
        process: String,
        pid: u32,
    },
    #[error("no command to run sandbox processes with")]
    NoServeCommand,
    #[error("cannot run {}", program.display())]
    Spawn {
        program: PathBuf,
        source: std::io::Error,
    },
    /// A file or directory of the sandbox (`action` says what was tried).
    #[error("cannot {action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    #[error(transparent)]
    Control(#[from] ControlError),
}

/// `LaunchError::Io` for `action` on `path`.
pub(super) fn io_error(
    action: &'static str,
    path: &Path,
) -> impl FnOnce(std::io::Error) -> LaunchError {
    let path = path.to_owned();
    move |source| LaunchError::Io {
        action,
        path,
        source,
    }
}

/// `LaunchError::Listen` for a listener `on` (e.g. "on 127.0.0.1:80").
pub(super) fn listen_error(on: String) -> impl FnOnce(std::io::Error) -> LaunchError {
    move |source| LaunchError::Listen { on, source }
}

/// The port a just-bound listener got.
pub(super) fn port_of(addr: std::io::Result<SocketAddr>) -> Result<u16, LaunchError> {
    addr.map(|a| a.port())
        .map_err(listen_error("on a port the system chose".to_owned()))
}
