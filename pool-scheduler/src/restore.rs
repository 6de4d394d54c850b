//! Crash recovery. [`StoreImage`] is what a store holds after applying the core's writes (the
//! in-memory store the simulation and the tests use, and the model a real store follows);
//! [`Scheduler::restore`] rebuilds the core from it. The host then feeds the chain events after
//! [`StoreImage::cursor`] again, and the core carries on as if it had never stopped.

use std::collections::{BTreeMap, BTreeSet};

use quorate_primitives::{Address, DealId, TaskId};

use crate::{
    Error, Scheduler, SchedulerConfig,
    effect::{DealRecord, StoreWrite, TaskRecord, WorkerRecord},
    task::TaskEntry,
    types::ChainCursor,
};

/// The store's content: deals, workers, barred addresses, each task's records, the cursor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreImage {
    /// Deals by id.
    pub deals: BTreeMap<DealId, DealRecord>,
    /// Workers by address.
    pub workers: BTreeMap<Address, WorkerRecord>,
    /// Barred addresses.
    pub barred: BTreeSet<Address>,
    /// Each task's records, in order.
    pub tasks: BTreeMap<TaskId, Vec<TaskRecord>>,
    /// The chain cursor.
    pub cursor: Option<ChainCursor>,
}

impl StoreImage {
    /// Applies one write.
    pub fn apply(&mut self, write: &StoreWrite) {
        match write {
            StoreWrite::PutDeal(d) => {
                self.deals.insert(d.deal.id, d.clone());
            }
            StoreWrite::DeleteDeal(id) => {
                self.deals.remove(id);
            }
            StoreWrite::PutWorker(w) => {
                self.workers.insert(w.address, *w);
            }
            StoreWrite::DeleteWorker(a) => {
                self.workers.remove(a);
            }
            StoreWrite::PutBarred(a) => {
                self.barred.insert(*a);
            }
            StoreWrite::AppendTask { task, record } => {
                self.tasks.entry(*task).or_default().push(*record);
            }
            StoreWrite::DeleteTask(id) => {
                self.tasks.remove(id);
            }
            StoreWrite::PutCursor(c) => self.cursor = Some(*c),
        }
    }

    /// Records kept, all kinds together (for measuring the store's size).
    pub fn len(&self) -> usize {
        let records: usize = self.tasks.values().map(Vec::len).sum();
        records
            .saturating_add(self.deals.len())
            .saturating_add(self.workers.len())
            .saturating_add(self.barred.len())
    }

    /// True when the store holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0 && self.cursor.is_none()
    }
}

/// Seconds after a restart before the stopped core's chain calls not seen on chain are sent
/// again: time to read the chain's events since the cursor first.
const RESTART_GRACE: u64 = 5;

/// The time of a last ask that makes a call retried one time reference `time_ref` after it due
/// [`RESTART_GRACE`] after `now`.
fn soon_after_restart(now: u64, time_ref: u64) -> u64 {
    now.saturating_sub(time_ref).saturating_add(RESTART_GRACE)
}

impl Scheduler {
    /// Rebuilds the core from `image` at time `now`: deals and their progress, workers (in their
    /// slots), barred addresses, every task replayed from its records, its timer and whether it
    /// waits for a worker. Nothing is decided here: what is due at `now` is done at the next
    /// input or [`Scheduler::handle_tick`], exactly as the core that stopped would have. A task whose records cannot be replayed is skipped and named
    /// in the error list (its deal still counts it in flight until the chain ends it).
    pub fn restore(
        config: SchedulerConfig,
        owner: Address,
        seed: u64,
        image: &StoreImage,
        now: u64,
    ) -> Result<(Self, Vec<(TaskId, Error)>), Error> {
        let mut core = Self::new(config, owner, seed)?;
        core.now = now;
        core.cursor = image.cursor;
        for record in image.deals.values() {
            let mut record = record.clone();
            // Whether the stopped core's last asks reached the chain is unknown: asked again
            // soon (once the chain's events since the cursor are read), not a whole time
            // reference after them.
            let due = soon_after_restart(now, record.deal.time_ref);
            for pending in &mut record.pending {
                pending.at = pending.at.min(due);
            }
            let record = &record;
            core.deals.insert(record.deal.id, record.clone());
            if record.requested < record.deal.tasks {
                core.backlog.insert((record.observed_at, record.deal.id));
            }
            let open = record.requested.saturating_sub(record.ended);
            core.in_flight = core.in_flight.saturating_add(open);
        }
        core.barred = image.barred.iter().copied().collect();
        for record in image.workers.values() {
            let mut record = *record;
            record.barred = core.barred.contains(&record.address);
            core.workers.put(record);
        }
        let mut skipped = Vec::new();
        for (id, records) in &image.tasks {
            if let Err(e) = core.replay(*id, records) {
                skipped.push((*id, e));
            }
        }
        let ids: Vec<TaskId> = image.tasks.keys().copied().collect();
        for id in &ids {
            // Finalize and reopen calls the stopped core sent: due again soon, as above.
            let Some(entry) = core.tasks.get_mut(id) else { continue };
            let due = soon_after_restart(now, entry.poco.config().time_ref);
            if let Some((_, at)) = &mut entry.requested {
                *at = (*at).min(due);
            }
        }
        for id in ids {
            core.resume(id);
        }
        Ok((core, skipped))
    }

    fn replay(&mut self, id: TaskId, records: &[TaskRecord]) -> Result<(), Error> {
        let Some(TaskRecord::Initialized { deal, index, at }) = records.first() else {
            return Err(Error::UnknownTask(id));
        };
        let record = self.deals.get(deal).ok_or(Error::UnknownTask(id))?;
        let poco = self.mirror(id, &record.deal)?;
        let mut entry = TaskEntry::new(id, poco, *deal, *index, *at);
        for record in records.iter().skip(1) {
            entry.apply(record, &mut self.workers, self.replica_timeout, self.owner)?;
        }
        // Reveals are asked for in the batch that records the consensus.
        entry.asked_reveal = entry.poco.status() == quorate_poco::task::TaskStatus::Revealing;
        self.tasks.insert(id, Box::new(entry));
        Ok(())
    }
}
