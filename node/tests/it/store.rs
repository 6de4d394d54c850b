//! The store on real redb files, and the memory store beside it behaving alike.

use quorate_node::{
    chain::Cursor,
    store::{Batch, CURSORS, MemoryStore, RedbStore, Store, StoreError, Table},
};
use quorate_primitives::B256;

const TASKS: Table<(B256, u64), String> = Table::new("tasks");

fn exercise(store: &dyn Store) {
    let deal = B256::repeat_byte(1);
    let other = B256::repeat_byte(2);
    let mut batch = Batch::default();
    for i in [2u64, 0, 1] {
        batch.put(&TASKS, &(deal, i), &format!("task {i}")).unwrap();
    }
    batch.put(&TASKS, &(other, 0), &"other".to_owned()).unwrap();
    batch
        .put(
            &CURSORS,
            &"hub".to_owned(),
            &Cursor { next_block: 42, last_hash: Some(B256::repeat_byte(9)) },
        )
        .unwrap();
    store.commit(batch).unwrap();

    // In key order, by prefix.
    let of_deal = TASKS.scan(store, deal.as_slice()).unwrap();
    assert_eq!(
        of_deal.iter().map(|((_, i), v)| (*i, v.as_str())).collect::<Vec<_>>(),
        [(0, "task 0"), (1, "task 1"), (2, "task 2")]
    );
    assert_eq!(TASKS.all(store).unwrap().len(), 4);
    assert_eq!(CURSORS.get(store, &"hub".to_owned()).unwrap().map(|c| c.next_block), Some(42));

    let mut batch = Batch::default();
    batch.delete(&TASKS, &(deal, 1));
    store.commit(batch).unwrap();
    assert_eq!(TASKS.get(store, &(deal, 1)).unwrap(), None);
    assert_eq!(TASKS.get(store, &(deal, 2)).unwrap().as_deref(), Some("task 2"));
}

#[test]
fn redb_and_memory_behave_alike() {
    let dir = tempfile::tempdir().unwrap();
    exercise(&RedbStore::open(&dir.path().join("role.redb"), "worker", 1).unwrap());
    exercise(&MemoryStore::new("worker", 1).unwrap());
}

#[test]
fn what_was_committed_survives_reopening_in_a_private_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data").join("scheduler.redb");
    {
        let store = RedbStore::open(&path, "scheduler", 3).unwrap();
        // Made private to its owner, directory and file.
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        let mut batch = Batch::default();
        batch.put(&TASKS, &(B256::ZERO, 7), &"kept".to_owned()).unwrap();
        store.commit(batch).unwrap();
    }
    let store = RedbStore::open(&path, "scheduler", 3).unwrap();
    assert_eq!(TASKS.get(&store, &(B256::ZERO, 7)).unwrap().as_deref(), Some("kept"));
}

#[test]
fn schema_role_and_second_process_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("worker.redb");
    let store = RedbStore::open(&path, "worker", 1).unwrap();
    let err = RedbStore::open(&path, "worker", 1).unwrap_err();
    assert!(matches!(err, StoreError::InUse { .. }), "{err}");
    assert!(err.to_string().contains("another quorate process"), "{err}");
    drop(store);

    let err = RedbStore::open(&path, "worker", 2).unwrap_err();
    assert!(matches!(err, StoreError::Schema { found: 1, expected: 2, .. }), "{err}");
    let err = RedbStore::open(&path, "scheduler", 1).unwrap_err();
    assert!(matches!(err, StoreError::Role { .. }), "{err}");
    // And the file still opens for its own role and version.
    assert!(RedbStore::open(&path, "worker", 1).is_ok());
}

#[test]
fn a_damaged_value_is_named_not_a_panic() {
    let store = MemoryStore::new("worker", 1).unwrap();
    let raw: Table<String, String> = Table::new("tasks-raw");
    let typed: Table<String, u64> = Table::new("tasks-raw");
    let mut batch = Batch::default();
    batch.put(&raw, &"k".to_owned(), &"not a number".to_owned()).unwrap();
    store.commit(batch).unwrap();
    let err = typed.get(&store, &"k".to_owned()).unwrap_err();
    assert!(matches!(err, StoreError::Decode { table: "tasks-raw", .. }), "{err}");
}
