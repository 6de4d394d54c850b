//! The node's durable state: one redb file per role's data directory, typed tables over a
//! byte-level [`Store`] seam, and one atomic [`Batch`] per step, committed (fsynced) before
//! anything that depends on it is sent.
//!
//! Two implementations of the seam: [`RedbStore`] on disk and [`MemoryStore`] for pure tests.
//! A file carries its role and schema version; opening it with another is refused, so a node
//! never misreads state written by a different version or role.

mod memory;
mod redb_store;
mod table;

pub use memory::MemoryStore;
pub use redb_store::RedbStore;
pub use table::{Batch, Key, Table};

use std::path::PathBuf;

/// The byte-level seam every typed [`Table`] goes through.
pub trait Store: Send + Sync + std::fmt::Debug {
    /// The value under `key` in `table`.
    fn get(&self, table: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Every entry of `table` whose key starts with `prefix`, in key order.
    fn scan(&self, table: &'static str, prefix: &[u8]) -> Result<Vec<Entry>, StoreError>;
    /// Applies every write of `batch` atomically and durably: after `Ok`, a crash keeps all of
    /// it; after `Err` or a crash during the call, none of it.
    fn commit(&self, batch: Batch) -> Result<(), StoreError>;
}

/// One stored entry: its encoded key and value.
pub type Entry = (Vec<u8>, Vec<u8>);

/// The store's own bookkeeping: its role and schema version.
pub(crate) const META: Table<String, String> = Table::new("meta");

/// Where the chain follower's cursors live, by the name of what follows (usually "hub").
pub const CURSORS: Table<String, crate::chain::Cursor> = Table::new("cursors");

/// Why the store cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process holds the file.
    #[error("another quorate process is using {}: stop it first (one process per data directory)", path.display())]
    InUse {
        /// The store file.
        path: PathBuf,
    },
    /// The file was written by another schema version.
    #[error(
        "{} holds schema version {found}, this quorate reads version {expected}: run the quorate \
         version that wrote it, or move the file away to start afresh", path.display()
    )]
    Schema {
        /// The store file.
        path: PathBuf,
        /// The version in the file.
        found: u32,
        /// The version this build reads.
        expected: u32,
    },
    /// The file belongs to another role.
    #[error("{} is a {found} store, not a {expected} store: give this role its own data directory", path.display())]
    Role {
        /// The store file.
        path: PathBuf,
        /// The role in the file.
        found: String,
        /// The role that tried to open it.
        expected: String,
    },
    /// A stored value does not decode as its table's type.
    #[error("table {table}: a stored value does not decode ({reason}): the file may be damaged")]
    Decode {
        /// The table.
        table: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// The database failed (I/O, corruption).
    #[error("store {}: {reason}", path.display())]
    Database {
        /// The store file (empty for the memory store).
        path: PathBuf,
        /// redb's error.
        reason: String,
    },
}

/// Checks or records the role and schema version, through the seam (so both implementations
/// behave alike).
pub(crate) fn check_meta(
    store: &dyn Store,
    path: &std::path::Path,
    role: &str,
    schema: u32,
) -> Result<(), StoreError> {
    let found_role = META.get(store, &"role".to_owned())?;
    let found_schema = META.get(store, &"schema".to_owned())?;
    match (found_role, found_schema) {
        (None, None) => {
            let mut batch = Batch::default();
            batch.put(&META, &"role".to_owned(), &role.to_owned())?;
            batch.put(&META, &"schema".to_owned(), &schema.to_string())?;
            store.commit(batch)
        }
        (found_role, found_schema) => {
            let found_role = found_role.unwrap_or_default();
            if found_role != role {
                return Err(StoreError::Role {
                    path: path.to_path_buf(),
                    found: found_role,
                    expected: role.to_owned(),
                });
            }
            let found = found_schema.and_then(|s| s.parse().ok()).unwrap_or(0);
            if found != schema {
                return Err(StoreError::Schema {
                    path: path.to_path_buf(),
                    found,
                    expected: schema,
                });
            }
            Ok(())
        }
    }
}
