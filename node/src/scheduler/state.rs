//! The scheduler's data directory: one redb store (`<data_dir>/scheduler/scheduler.redb`, role
//! `scheduler`) holding which pool this directory runs, and the core's records ([`super::store`]).

use std::path::{Path, PathBuf};

use alloy::primitives::Address;
use quorate_primitives::PoolId;
use serde::{Deserialize, Serialize};

use crate::{
    config::NodeConfig,
    store::{Batch, RedbStore, Store, StoreError, Table},
};

/// The store's role name.
pub const ROLE: &str = "scheduler";
/// The store's schema version.
pub const SCHEMA: u32 = 1;

/// Which pool this data directory runs, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolRecord {
    /// The pool.
    pub pool: PoolId,
    /// Its owner (the scheduler's wallet).
    pub owner: Address,
    /// The Hub it lives on.
    pub hub: Address,
    /// The block it was created in: following its deals starts there.
    #[serde(default)]
    pub since_block: u64,
}

const POOL: Table<String, PoolRecord> = Table::new("pool");
const POOL_KEY: &str = "pool";

/// The open store of a scheduler's data directory.
#[derive(Debug)]
pub struct SchedulerState {
    store: RedbStore,
}

impl SchedulerState {
    /// The store file under `config`'s data directory.
    pub fn path_in(config: &NodeConfig) -> PathBuf {
        config.node.data_dir.join("scheduler").join("scheduler.redb")
    }

    /// Opens (or creates) the store; refused while another process uses it.
    pub fn open(config: &NodeConfig) -> Result<Self, StoreError> {
        Ok(Self { store: RedbStore::open(&Self::path_in(config), ROLE, SCHEMA)? })
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        self.store.path()
    }

    /// The store, for the core's tables.
    pub fn store(&self) -> &dyn Store {
        &self.store
    }

    /// The pool this directory runs, once `init` created it.
    pub fn pool(&self) -> Result<Option<PoolRecord>, StoreError> {
        POOL.get(&self.store, &POOL_KEY.to_owned())
    }

    /// Remembers the pool `init` created; also in `pool.json` beside the store, which readers
    /// (`quorate scheduler status`) open while the running scheduler holds the store.
    pub fn set_pool(&self, record: PoolRecord) -> Result<(), StoreError> {
        let mut batch = Batch::default();
        batch.put(&POOL, &POOL_KEY.to_owned(), &record)?;
        self.store.commit(batch)?;
        self.write_pool_file(&record);
        Ok(())
    }

    /// Writes `pool.json` (best effort: the store holds the record; a reader without the file
    /// opens the store when no scheduler runs).
    pub fn write_pool_file(&self, record: &PoolRecord) {
        let path = self.path().with_file_name(POOL_FILE);
        let Ok(text) = serde_json::to_string_pretty(record) else { return };
        let temp = path.with_extension("json.tmp");
        if let Err(e) = std::fs::write(&temp, text).and_then(|()| std::fs::rename(&temp, &path)) {
            tracing::warn!(target: "quorate::scheduler", path = %path.display(), "cannot write the pool file (`scheduler status` then needs the scheduler stopped): {e}");
        }
    }

    /// The pool of `config`'s data directory, from `pool.json` (no lock needed).
    pub fn read_pool(config: &NodeConfig) -> Option<PoolRecord> {
        let path = Self::path_in(config).with_file_name(POOL_FILE);
        serde_json::from_slice(&std::fs::read(path).ok()?).ok()
    }
}

/// The pool record as a file beside the store.
const POOL_FILE: &str = "pool.json";
