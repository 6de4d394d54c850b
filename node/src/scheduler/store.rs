//! The scheduler core's memory in redb: every [`StoreWrite`] of a [`Ready`] batch becomes an
//! operation of one store [`Batch`], committed (with the follower's cursor, when the batch came
//! from chain events) before anything of the batch is sent; [`CoreStore::load`] reads the
//! whole [`StoreImage`] back, from which `Scheduler::restore` rebuilds the core.
//!
//! Tables (keys → values, values as JSON):
//!
//! | table | key | value |
//! |---|---|---|
//! | `core_deals` | deal id | [`DealRecord`] |
//! | `core_workers` | address | [`WorkerRecord`] |
//! | `core_barred` | address | `true` |
//! | `core_tasks` | (task id, sequence) | [`TaskRecord`]: a task's records, in order |
//! | `core_cursor` | `"core"` | [`ChainCursor`] |
//!
//! [`Ready`]: quorate_scheduler::Ready

use std::collections::HashMap;

use alloy::primitives::{Address, B256};
use quorate_primitives::{DealId, TaskId};
use quorate_scheduler::{
    ChainCursor, StoreImage,
    effect::{DealRecord, StoreWrite, TaskRecord, WorkerRecord},
};

use crate::store::{Batch, Store, StoreError, Table};

const DEALS: Table<B256, DealRecord> = Table::new("core_deals");
const WORKERS: Table<Address, WorkerRecord> = Table::new("core_workers");
const BARRED: Table<Address, bool> = Table::new("core_barred");
const TASKS: Table<(B256, u64), TaskRecord> = Table::new("core_tasks");
const CURSOR: Table<String, ChainCursor> = Table::new("core_cursor");

/// Writes the core's records and remembers how many records each task has, so that appending
/// and deleting a task's list needs no read.
#[derive(Debug, Default)]
pub struct CoreStore {
    records: HashMap<TaskId, u64>,
}

impl CoreStore {
    /// Reads everything the core wrote; the returned writer continues each task's list.
    pub fn load(store: &dyn Store) -> Result<(Self, StoreImage), StoreError> {
        let mut image = StoreImage::default();
        for (id, record) in DEALS.all(store)? {
            image.deals.insert(DealId::from(id), record);
        }
        for (address, record) in WORKERS.all(store)? {
            image.workers.insert(address, record);
        }
        for (address, _) in BARRED.all(store)? {
            image.barred.insert(address);
        }
        let mut records = HashMap::new();
        // Keys sort by task, then sequence: each task's records come in order.
        for ((task, _), record) in TASKS.all(store)? {
            let task = TaskId::from(task);
            image.tasks.entry(task).or_default().push(record);
            let count = records.entry(task).or_insert(0u64);
            *count = count.saturating_add(1);
        }
        image.cursor = CURSOR.get(store, &CURSOR_KEY.to_owned())?;
        Ok((Self { records }, image))
    }

    /// Adds `writes` to `batch`, in order.
    pub fn write(&mut self, batch: &mut Batch, writes: &[StoreWrite]) -> Result<(), StoreError> {
        for write in writes {
            match write {
                StoreWrite::PutDeal(record) => {
                    batch.put(&DEALS, &record.deal.id.0, record)?;
                }
                StoreWrite::DeleteDeal(id) => {
                    batch.delete(&DEALS, &id.0);
                }
                StoreWrite::PutWorker(record) => {
                    batch.put(&WORKERS, &record.address, record)?;
                }
                StoreWrite::DeleteWorker(address) => {
                    batch.delete(&WORKERS, address);
                }
                StoreWrite::PutBarred(address) => {
                    batch.put(&BARRED, address, &true)?;
                }
                StoreWrite::AppendTask { task, record } => {
                    let next = self.records.entry(*task).or_insert(0);
                    batch.put(&TASKS, &(task.0, *next), record)?;
                    *next = next.saturating_add(1);
                }
                StoreWrite::DeleteTask(task) => {
                    let count = self.records.remove(task).unwrap_or(0);
                    for sequence in 0..count {
                        batch.delete(&TASKS, &(task.0, sequence));
                    }
                }
                StoreWrite::PutCursor(cursor) => {
                    batch.put(&CURSOR, &CURSOR_KEY.to_owned(), cursor)?;
                }
            }
        }
        Ok(())
    }
}

const CURSOR_KEY: &str = "core";

#[cfg(test)]
mod tests {
    use quorate_primitives::{Amount, ResultDigest, U256};
    use quorate_scheduler::{Deal, Platform, WorkerCaps, effect::Requested};

    use super::*;
    use crate::store::{MemoryStore, RedbStore};

    fn deal(n: u8) -> Deal {
        Deal {
            id: DealId::from(B256::repeat_byte(n)),
            tasks: 3,
            trust: 5,
            start: 1_000,
            time_ref: 10,
            price: Amount::from(1_000_000u64),
            scheduler_ratio: 10,
            evaluator: 0,
            memory_mib: 256,
            gpu_memory_mib: 0,
            gpu_class: 0,
        }
    }

    fn writes() -> Vec<StoreWrite> {
        let worker = Address::repeat_byte(7);
        let task = TaskId::from(B256::repeat_byte(9));
        let other = TaskId::from(B256::repeat_byte(10));
        let caps = WorkerCaps {
            slots: 2,
            memory_mib: 512,
            evaluators: 1,
            platform: Platform { gpu: 0, fp_probe: 3 },
            gpu_memory_mib: 0,
            gpu_tags: [0; 6],
        };
        vec![
            StoreWrite::PutDeal(DealRecord {
                deal: deal(1),
                observed_at: 5,
                requested: 3,
                ended: 0,
                pending: vec![quorate_scheduler::PendingInit { first: 0, count: 3, at: 5 }],
            }),
            StoreWrite::PutDeal(DealRecord {
                deal: deal(2),
                observed_at: 6,
                requested: 0,
                ended: 0,
                pending: Vec::new(),
            }),
            StoreWrite::PutWorker(WorkerRecord {
                address: worker,
                slot: 0,
                caps,
                score: U256::from(4u8),
                seen: 9,
                barred: false,
            }),
            StoreWrite::AppendTask {
                task,
                record: TaskRecord::Initialized { deal: deal(1).id, index: 0, at: 10 },
            },
            StoreWrite::AppendTask {
                task: other,
                record: TaskRecord::Initialized { deal: deal(1).id, index: 1, at: 10 },
            },
            StoreWrite::AppendTask {
                task,
                record: TaskRecord::Assigned { worker, score: U256::ZERO, class: 3, at: 11 },
            },
            StoreWrite::AppendTask {
                task,
                record: TaskRecord::Revealed {
                    worker,
                    digest: ResultDigest::of(task, b"1"),
                    at: 12,
                },
            },
            StoreWrite::AppendTask {
                task,
                record: TaskRecord::Requested { call: Requested::Finalize, at: 13 },
            },
            StoreWrite::DeleteTask(other),
            StoreWrite::DeleteDeal(deal(2).id),
            StoreWrite::PutBarred(Address::repeat_byte(8)),
            StoreWrite::PutCursor(ChainCursor { block: 4, log: 2, time: 1_010 }),
        ]
    }

    #[test]
    fn what_is_loaded_is_what_the_writes_make_of_an_image() {
        let dir = tempfile::tempdir().unwrap();
        for store in [
            Box::new(MemoryStore::new("scheduler", 1).unwrap()) as Box<dyn Store>,
            Box::new(RedbStore::open(&dir.path().join("s.redb"), "scheduler", 1).unwrap()),
        ] {
            let (mut writer, empty) = CoreStore::load(store.as_ref()).unwrap();
            assert!(empty.is_empty());
            let all = writes();
            let (first, second) = all.split_at(5);
            let mut expected = StoreImage::default();
            for part in [first, second] {
                let mut batch = Batch::default();
                writer.write(&mut batch, part).unwrap();
                store.commit(batch).unwrap();
                part.iter().for_each(|w| expected.apply(w));
            }
            let (mut again, image) = CoreStore::load(store.as_ref()).unwrap();
            assert_eq!(image, expected);
            // A writer from a load appends after what is stored.
            let task = TaskId::from(B256::repeat_byte(9));
            let more = [StoreWrite::AppendTask { task, record: TaskRecord::Reopened { at: 20 } }];
            let mut batch = Batch::default();
            again.write(&mut batch, &more).unwrap();
            store.commit(batch).unwrap();
            expected.apply(&more[0]);
            assert_eq!(CoreStore::load(store.as_ref()).unwrap().1, expected);
        }
    }
}
