//! The worker's data directory: one redb store (`<data_dir>/worker/worker.redb`, role
//! `worker`) holding the tasks it holds (by task id, written after every state change and
//! before acting on it), the chain cursor it follows the Hub from, and the job data it fetched
//! (each manifest and work function once per job).

use std::{
    os::unix::fs::DirBuilderExt,
    path::{Path, PathBuf},
    sync::Arc,
};

use alloy::primitives::B256;
use quorate_primitives::{ContentHash, TaskId};
use serde::{Deserialize, Serialize};

use super::task::HeldTask;
use crate::{
    chain::Cursor,
    store::{Batch, CURSORS, RedbStore, Store, StoreError, Table},
};

/// The store's role name.
pub const ROLE: &str = "worker";
/// The store's schema version.
pub const SCHEMA: u32 = 1;

/// Held tasks, by task id.
const TASKS: Table<B256, HeldTask> = Table::new("tasks");
/// Job data, by job hash.
const JOBS: Table<B256, JobData> = Table::new("jobs");
/// The cursor's name in [`CURSORS`].
const HUB: &str = "hub";

/// A job's data as fetched and checked: kept once per job, for every task of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobData {
    /// The manifest's canonical bytes (their BLAKE3 hash is the job hash).
    pub manifest: alloy::primitives::Bytes,
    /// The work function's source (its BLAKE3 hash is the manifest's code hash).
    pub code: String,
    /// The job's WebAssembly modules, by name, as the manifest lists them.
    #[serde(default)]
    pub modules: Vec<(String, Vec<u8>)>,
}

/// The open store of a worker's data directory. Cheap to clone.
#[derive(Debug, Clone)]
pub struct WorkerStore {
    store: Arc<RedbStore>,
}

impl WorkerStore {
    /// The store file under the data directory `data_dir`.
    pub fn path_in(data_dir: &Path) -> PathBuf {
        data_dir.join("worker").join("worker.redb")
    }

    /// Opens (or creates) the store in a directory only this user may enter (results and
    /// authorizations are nobody else's business); refused while another process uses it.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let path = Self::path_in(data_dir);
        if let Some(dir) = path.parent() {
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| {
                StoreError::Database {
                    path: path.clone(),
                    reason: format!("cannot create its directory: {e}"),
                }
            })?;
        }
        Ok(Self { store: Arc::new(RedbStore::open(&path, ROLE, SCHEMA)?) })
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        self.store.path()
    }

    /// Every held task, in task id order.
    pub fn tasks(&self) -> Result<Vec<HeldTask>, StoreError> {
        Ok(TASKS.all(&*self.store)?.into_iter().map(|(_, task)| task).collect())
    }

    /// Writes `task`'s new state durably (before anything depends on it).
    pub fn put_task(&self, task: &HeldTask) -> Result<(), StoreError> {
        let mut batch = Batch::default();
        batch.put(&TASKS, &task.assignment.task.0, task)?;
        self.store.commit(batch)
    }

    /// Forgets a task.
    pub fn delete_task(&self, task: TaskId) -> Result<(), StoreError> {
        let mut batch = Batch::default();
        batch.delete(&TASKS, &task.0);
        self.store.commit(batch)
    }

    /// Writes the tasks a batch of chain events changed (and deletes the forgotten ones) with
    /// the cursor after that batch, in one commit: after a crash the batch is read again or
    /// none of it is lost.
    pub fn apply_chain(
        &self,
        changed: &[HeldTask],
        forgotten: &[TaskId],
        cursor: Cursor,
    ) -> Result<(), StoreError> {
        let mut batch = Batch::default();
        for task in changed {
            batch.put(&TASKS, &task.assignment.task.0, task)?;
        }
        for task in forgotten {
            batch.delete(&TASKS, &task.0);
        }
        batch.put(&CURSORS, &HUB.to_owned(), &cursor)?;
        self.store.commit(batch)
    }

    /// Where following the Hub resumes, once it has started.
    pub fn cursor(&self) -> Result<Option<Cursor>, StoreError> {
        CURSORS.get(&*self.store, &HUB.to_owned())
    }

    /// The job's data, when fetched before.
    pub fn job(&self, job: ContentHash) -> Result<Option<JobData>, StoreError> {
        JOBS.get(&*self.store, &job.0)
    }

    /// Keeps a job's checked data.
    pub fn put_job(&self, job: ContentHash, data: &JobData) -> Result<(), StoreError> {
        let mut batch = Batch::default();
        batch.put(&JOBS, &job.0, data)?;
        self.store.commit(batch)
    }

    /// Drops the data of every job but `keep` (the jobs of tasks still held).
    pub fn prune_jobs(&self, keep: &[ContentHash]) -> Result<usize, StoreError> {
        let mut batch = Batch::default();
        let mut pruned = 0usize;
        for (job, _) in JOBS.all(&*self.store)? {
            if !keep.iter().any(|k| k.0 == job) {
                batch.delete(&JOBS, &job);
                pruned = pruned.saturating_add(1);
            }
        }
        if !batch.is_empty() {
            self.store.commit(batch)?;
        }
        Ok(pruned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::worker::task::{Assignment, Input};

    fn task(byte: u8) -> HeldTask {
        HeldTask::assigned(Assignment {
            pool: quorate_primitives::PoolId(1),
            task: TaskId(B256::repeat_byte(byte)),
            job: ContentHash::of(&[byte]),
            input: Input::ByHash { hash: ContentHash::of(b"in"), size: 2 },
            round: 0,
            authorization: vec![1; 65],
            deadline: 9,
        })
    }

    #[test]
    fn tasks_jobs_and_the_cursor_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = WorkerStore::open(dir.path()).unwrap();
            assert!(WorkerStore::open(dir.path()).is_err(), "one process per data directory");
            let (a, mut b) = (task(1), task(2));
            store.put_task(&a).unwrap();
            store.put_task(&b).unwrap();
            b.on_computed(b"4".to_vec());
            store
                .apply_chain(std::slice::from_ref(&b), &[a.assignment.task], Cursor::at(7))
                .unwrap();
            let data = JobData {
                manifest: vec![1, 2].into(),
                code: "(x) => x".into(),
                modules: Vec::new(),
            };
            store.put_job(b.assignment.job, &data).unwrap();
            store.put_job(a.assignment.job, &data).unwrap();
            assert_eq!(store.prune_jobs(&[b.assignment.job]).unwrap(), 1);
        }
        let store = WorkerStore::open(dir.path()).unwrap();
        let tasks = store.tasks().unwrap();
        assert_eq!(tasks.len(), 1);
        assert_eq!(tasks[0].phase_name(), "computed");
        assert_eq!(store.cursor().unwrap(), Some(Cursor::at(7)));
        assert!(store.job(ContentHash::of(&[2])).unwrap().is_some());
        assert!(store.job(ContentHash::of(&[1])).unwrap().is_none());
        use std::os::unix::fs::MetadataExt;
        let mode = std::fs::metadata(store.path().parent().unwrap()).unwrap().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
