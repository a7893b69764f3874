//! The one way a service keeps its state on disk: a JSON file behind a
//! mutex, read at start and rewritten atomically after each change.
//!
//! A write that fails is an error to the caller, never a silent success:
//! [`Store::change`] returns [`StoreError`], which the service answers as
//! its internal-failure error (HTTP 500), and puts the state back as it
//! was, so the SDK's retry of that 500 meets the same state, not a
//! half-done change (a retried `CreateBucket` would otherwise answer
//! `BucketAlreadyOwnedByYou`).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::topology::write_atomic;

/// Why a service's state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot read {}: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{} is corrupt: {error}", path.display())]
    Corrupt {
        path: PathBuf,
        error: serde_json::Error,
    },
    #[error("cannot save {}: {error}", path.display())]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
}

/// Why a service could not start: its state, its directories, or what it
/// sets up to reach other processes.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot create {}", path.display())]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    /// An internal loopback listener (`what` says for what).
    #[error("cannot listen on loopback for {what}")]
    Listen {
        what: &'static str,
        source: std::io::Error,
    },
    #[error("cannot set up an HTTP client")]
    Client(#[source] reqwest::Error),
}

impl OpenError {
    /// `OpenError::CreateDir` for `path`.
    pub fn create_dir(path: &Path) -> impl FnOnce(std::io::Error) -> OpenError {
        let path = path.to_owned();
        move |source| OpenError::CreateDir { path, source }
    }
}

/// A service's state `T`, kept in one JSON file.
#[derive(Debug)]
pub struct Store<T> {
    file: PathBuf,
    state: Mutex<T>,
}

impl<T: Serialize + DeserializeOwned + Default> Store<T> {
    /// Reads `file`; a missing file is the default (empty) state.
    pub fn open(file: PathBuf) -> Result<Self, StoreError> {
        let state = match std::fs::read(&file) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|error| StoreError::Corrupt {
                path: file.clone(),
                error,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => T::default(),
            Err(error) => return Err(StoreError::Read { path: file, error }),
        };
        Ok(Store {
            file,
            state: Mutex::new(state),
        })
    }
}

impl<T: Serialize> Store<T> {
    /// The state, locked; a panicked holder does not poison it for good.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes `state` (the locked state) to the file, atomically.
    pub fn save(&self, state: &T) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec_pretty(state).expect("service state serialises");
        write_atomic(&self.file, &bytes, 0o600).map_err(|error| StoreError::Write {
            path: self.file.clone(),
            error,
        })
    }

    /// Saves `state` (the locked state, changed from `before`); when the
    /// save fails, puts `before` back and returns the error.
    pub fn commit(&self, state: &mut T, before: T) -> Result<(), StoreError> {
        self.save(state).inspect_err(|_| *state = before)
    }

    /// Where the state lives.
    pub fn file(&self) -> &Path {
        &self.file
    }
}

impl<T: Serialize + Clone> Store<T> {
    /// Runs `change` on the locked state and, when `keep` says the outcome
    /// changed something to keep, saves it. A failed save undoes the change.
    pub fn change<R>(
        &self,
        change: impl FnOnce(&mut T) -> R,
        keep: impl FnOnce(&R) -> bool,
    ) -> Result<R, StoreError> {
        let mut state = self.lock();
        let before = state.clone();
        let outcome = change(&mut state);
        if keep(&outcome) {
            self.commit(&mut state, before)?;
        }
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_reopen_and_a_failed_write_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("state.json");
        let store: Store<Vec<u32>> = Store::open(file.clone()).unwrap();
        store.lock().push(7);
        store.save(&store.lock()).unwrap();
        let again: Store<Vec<u32>> = Store::open(file.clone()).unwrap();
        assert_eq!(*again.lock(), [7]);

        // A directory where the file should be: the rename fails, even as root.
        std::fs::remove_file(&file).unwrap();
        std::fs::create_dir_all(file.join("blocker")).unwrap();
        let err = again.change(|s| s.push(8), |_| true).unwrap_err();
        assert!(matches!(err, StoreError::Write { .. }), "{err}");
        assert_eq!(*again.lock(), [7], "a failed save undoes the change");

        std::fs::write(dir.path().join("bad.json"), b"{not json").unwrap();
        let bad = Store::<Vec<u32>>::open(dir.path().join("bad.json")).unwrap_err();
        assert!(matches!(bad, StoreError::Corrupt { .. }), "{bad}");
    }
}
