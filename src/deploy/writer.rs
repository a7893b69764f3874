//! The dry-run rule, in one place. Steps read and compare freely; every
//! write goes through a [`Writer`], which in a dry run records what it
//! would write and skips it, and afterwards says what the step did
//! (created / updated / unchanged, or the would-be forms). Deletions go
//! through [`Ctx::delete`] the same way.

use std::future::Future;

use super::{Action, Ctx, Done};

/// Collects one step's writes; see the module header.
#[derive(Debug)]
pub struct Writer {
    dry_run: bool,
    created: bool,
    changes: Vec<String>,
}

impl Writer {
    /// A writer that writes (`dry_run` false) or only records.
    pub fn new(dry_run: bool) -> Writer {
        Writer {
            dry_run,
            created: false,
            changes: Vec::new(),
        }
    }

    /// Creates the step's resource: `write`'s result, or `None` in a dry
    /// run (then there is nothing further to compare).
    pub async fn create<T, F, Fut>(&mut self, write: F) -> anyhow::Result<Option<T>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = anyhow::Result<T>>,
    {
        self.created = true;
        self.run(write).await
    }

    /// Changes one aspect, named `what` (the step's detail lists them):
    /// `write`'s result, or `None` in a dry run.
    pub async fn change<T, F, Fut>(
        &mut self,
        what: impl Into<String>,
        write: F,
    ) -> anyhow::Result<Option<T>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = anyhow::Result<T>>,
    {
        self.changes.push(what.into());
        self.run(write).await
    }

    /// Records a change an earlier write implies (e.g. the methods of a
    /// resource a dry run did not create), without writing.
    pub fn note(&mut self, what: impl Into<String>) {
        self.changes.push(what.into());
    }

    /// Counts the step as a creation (every part of it was new).
    pub fn mark_created(&mut self) {
        self.created = true;
    }

    /// Runs `then` (a wait, a cache invalidation) only in a real run: it
    /// follows writes a dry run did not make.
    pub async fn after_writes<F, Fut>(&self, then: F) -> anyhow::Result<()>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = anyhow::Result<()>>,
    {
        if self.dry_run { Ok(()) } else { then().await }
    }

    /// Whether anything was (or would be) written.
    pub fn wrote(&self) -> bool {
        self.created || !self.changes.is_empty()
    }

    /// What the step did to `id`; updates name what changed.
    pub fn finish(self, id: impl Into<String>) -> Done {
        let detail = self.changes.join(", ");
        match (self.created, self.changes.is_empty(), self.dry_run) {
            (true, _, false) => Done::new(Action::Created, id),
            (true, _, true) => Done::new(Action::WouldCreate, id),
            (false, true, _) => Done::new(Action::Unchanged, id),
            (false, false, false) => Done::new(Action::Updated, id).because(detail),
            (false, false, true) => Done::new(Action::WouldUpdate, id).because(detail),
        }
    }

    async fn run<T, F, Fut>(&self, write: F) -> anyhow::Result<Option<T>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = anyhow::Result<T>>,
    {
        if self.dry_run {
            Ok(None)
        } else {
            write().await.map(Some)
        }
    }
}

impl Ctx {
    /// A writer for one step of this run.
    pub fn writer(&self) -> Writer {
        Writer::new(self.dry_run)
    }

    /// Deletes `id` with `delete` (which says what it did), or in a dry
    /// run says it would.
    pub async fn delete<F, Fut>(&self, id: impl Into<String>, delete: F) -> anyhow::Result<Done>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = anyhow::Result<Done>>,
    {
        if self.dry_run {
            Ok(Done::new(Action::WouldDelete, id))
        } else {
            delete().await
        }
    }
}
