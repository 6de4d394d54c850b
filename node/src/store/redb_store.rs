//! The on-disk store: one redb file, commits durable (fsynced) before `commit` returns.

use std::{
    os::unix::fs::{DirBuilderExt, OpenOptionsExt},
    path::{Path, PathBuf},
};

use redb::{Database, DatabaseError, ReadableDatabase, TableDefinition, TableError};

use super::{Batch, Entry, Store, StoreError, check_meta, table::Op};

/// A redb file holding one role's state.
#[derive(Debug)]
pub struct RedbStore {
    db: Database,
    path: PathBuf,
}

impl RedbStore {
    /// Opens (or creates) the store at `path` for `role`, checking its schema version. The file
    /// is locked: a second process opening it gets [`StoreError::InUse`].
    pub fn open(path: &Path, role: &str, schema: u32) -> Result<Self, StoreError> {
        // The store and its directory are its owner's alone (results, clients' data, keys'
        // whereabouts): made 0700 and 0600 when created here.
        if let Some(dir) = path.parent() {
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| {
                StoreError::Database {
                    path: path.to_path_buf(),
                    reason: format!("cannot create its directory: {e}"),
                }
            })?;
        }
        match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(StoreError::Database {
                    path: path.to_path_buf(),
                    reason: format!("cannot create it: {e}"),
                });
            }
        }
        let db = Database::create(path).map_err(|e| match e {
            DatabaseError::DatabaseAlreadyOpen => StoreError::InUse { path: path.to_path_buf() },
            other => StoreError::Database { path: path.to_path_buf(), reason: other.to_string() },
        })?;
        let store = Self { db, path: path.to_path_buf() };
        check_meta(&store, path, role, schema)?;
        Ok(store)
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn fail(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError::Database { path: self.path.clone(), reason: e.to_string() }
    }
}

fn definition(name: &str) -> TableDefinition<'_, &'static [u8], &'static [u8]> {
    TableDefinition::new(name)
}

impl Store for RedbStore {
    fn get(&self, table: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.fail(e))?;
        let table = match txn.open_table(definition(table)) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(self.fail(e)),
        };
        Ok(table.get(key).map_err(|e| self.fail(e))?.map(|v| v.value().to_vec()))
    }

    fn scan(&self, table: &'static str, prefix: &[u8]) -> Result<Vec<Entry>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.fail(e))?;
        let table = match txn.open_table(definition(table)) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(self.fail(e)),
        };
        let mut out = Vec::new();
        for item in table.range::<&[u8]>(prefix..).map_err(|e| self.fail(e))? {
            let (k, v) = item.map_err(|e| self.fail(e))?;
            if !k.value().starts_with(prefix) {
                break;
            }
            out.push((k.value().to_vec(), v.value().to_vec()));
        }
        Ok(out)
    }

    fn commit(&self, batch: Batch) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(|e| self.fail(e))?;
        for op in batch.into_ops() {
            match op {
                Op::Put { table, key, value } => {
                    let mut t = txn.open_table(definition(table)).map_err(|e| self.fail(e))?;
                    t.insert(key.as_slice(), value.as_slice()).map_err(|e| self.fail(e))?;
                }
                Op::Delete { table, key } => {
                    let mut t = txn.open_table(definition(table)).map_err(|e| self.fail(e))?;
                    t.remove(key.as_slice()).map_err(|e| self.fail(e))?;
                }
            }
        }
        // redb's default durability is immediate: the commit is on disk when this returns.
        txn.commit().map_err(|e| self.fail(e))
    }
}
