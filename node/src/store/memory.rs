//! The in-memory store, for tests of the logic above the seam.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Mutex,
};

use super::{Batch, Entry, Store, StoreError, check_meta, table::Op};

type Tables = HashMap<&'static str, BTreeMap<Vec<u8>, Vec<u8>>>;

/// A [`Store`] in a map: commits are atomic (one lock) but nothing survives the process.
#[derive(Debug, Default)]
pub struct MemoryStore {
    tables: Mutex<Tables>,
}

impl MemoryStore {
    /// An empty store for `role` at `schema`, marked as the disk store would be.
    pub fn new(role: &str, schema: u32) -> Result<Self, StoreError> {
        let store = Self::default();
        check_meta(&store, std::path::Path::new("(memory)"), role, schema)?;
        Ok(store)
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Tables>, StoreError> {
        self.tables.lock().map_err(|_| StoreError::Database {
            path: "(memory)".into(),
            reason: "a writer panicked while holding the store".into(),
        })
    }
}

impl Store for MemoryStore {
    fn get(&self, table: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.lock()?.get(table).and_then(|t| t.get(key)).cloned())
    }

    fn scan(&self, table: &'static str, prefix: &[u8]) -> Result<Vec<Entry>, StoreError> {
        Ok(self
            .lock()?
            .get(table)
            .map(|t| {
                t.range(prefix.to_vec()..)
                    .take_while(|(k, _)| k.starts_with(prefix))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default())
    }

    fn commit(&self, batch: Batch) -> Result<(), StoreError> {
        let mut tables = self.lock()?;
        for op in batch.into_ops() {
            match op {
                Op::Put { table, key, value } => {
                    tables.entry(table).or_default().insert(key, value);
                }
                Op::Delete { table, key } => {
                    if let Some(t) = tables.get_mut(table) {
                        t.remove(&key);
                    }
                }
            }
        }
        Ok(())
    }
}
