//! The worker registry and the choice of a worker for a replica.
//!
//! Workers live in numbered slots (the slot is part of their store record, so a restored core
//! has the same layout and makes the same choices). A choice draws slots with the pool's keyed
//! randomness until two eligible workers turn up and takes the less loaded ("power of two
//! choices"), falling back to a scan from a random slot when eligible workers are rare. Nobody
//! outside the pool can predict or steer which worker a task gets.

use std::collections::{BTreeSet, HashMap};

use quorate_poco::weight::vote_weight;
use quorate_primitives::{Address, TaskId, U256};

use crate::{
    draw::{below, draw},
    effect::WorkerRecord,
    types::Deal,
};

/// Random slots drawn before falling back to a scan.
const DRAWS: u64 = 24;

/// One registered worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WorkerEntry {
    /// What the store knows of it.
    pub(crate) record: WorkerRecord,
    /// Replicas it runs now.
    pub(crate) load: u32,
    /// Most replicas it runs at once.
    pub(crate) capacity: u32,
    /// The tasks of those replicas.
    pub(crate) tasks: Vec<TaskId>,
}

impl WorkerEntry {
    fn free(&self) -> u32 {
        if self.record.barred { 0 } else { self.capacity.saturating_sub(self.load) }
    }
}

/// What a task asks of the worker it gets.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wanted<'a> {
    pub(crate) deal: &'a Deal,
    pub(crate) class: Option<u64>,
    pub(crate) seed: u64,
    pub(crate) task: &'a TaskId,
    /// Distinguishes this choice's draws from the task's other choices.
    pub(crate) counter: u64,
}

/// All workers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Workers {
    slots: Vec<Option<WorkerEntry>>,
    by_address: HashMap<Address, u32>,
    free_slots: BTreeSet<u32>,
    /// (last seen, slot), for the heartbeat timeout.
    liveness: BTreeSet<(u64, u32)>,
    free_capacity: u64,
    max_per_worker: u32,
}

impl Workers {
    pub(crate) fn new(max_per_worker: u32) -> Self {
        Self { max_per_worker, ..Self::default() }
    }

    pub(crate) fn len(&self) -> usize {
        self.by_address.len()
    }

    /// The slot a new worker gets: the lowest free one.
    pub(crate) fn next_slot(&self) -> u32 {
        self.free_slots
            .first()
            .copied()
            .unwrap_or_else(|| u32::try_from(self.slots.len()).unwrap_or(u32::MAX))
    }

    /// Every worker, in slot order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &WorkerEntry> {
        self.slots.iter().flatten()
    }

    pub(crate) fn get(&self, address: &Address) -> Option<&WorkerEntry> {
        let slot = *self.by_address.get(address)?;
        self.at(slot)
    }

    fn at(&self, slot: u32) -> Option<&WorkerEntry> {
        self.slots.get(usize::try_from(slot).ok()?)?.as_ref()
    }

    fn at_mut(&mut self, slot: u32) -> Option<&mut WorkerEntry> {
        self.slots.get_mut(usize::try_from(slot).ok()?)?.as_mut()
    }

    /// Inserts or replaces a worker's record (its load and tasks are kept).
    pub(crate) fn put(&mut self, record: WorkerRecord) {
        let (load, tasks) = match self.remove(&record.address) {
            Some(old) => (old.load, old.tasks),
            None => (0, Vec::new()),
        };
        let capacity = record.caps.slots.min(self.max_per_worker);
        let entry = WorkerEntry { record, load, capacity, tasks };
        let Ok(index) = usize::try_from(record.slot) else { return };
        if self.slots.len() <= index {
            for s in self.slots.len()..index {
                self.free_slots.insert(u32::try_from(s).unwrap_or(u32::MAX));
            }
            self.slots.resize(index.saturating_add(1), None);
        }
        self.free_slots.remove(&record.slot);
        self.free_capacity = self.free_capacity.saturating_add(u64::from(entry.free()));
        self.liveness.insert((record.seen, record.slot));
        self.by_address.insert(record.address, record.slot);
        if let Some(place) = self.slots.get_mut(index) {
            *place = Some(entry);
        }
    }

    /// Removes a worker, returning it with the tasks it was running.
    pub(crate) fn remove(&mut self, address: &Address) -> Option<WorkerEntry> {
        let slot = self.by_address.remove(address)?;
        let entry = self.slots.get_mut(usize::try_from(slot).ok()?)?.take()?;
        self.free_slots.insert(slot);
        self.free_capacity = self.free_capacity.saturating_sub(u64::from(entry.free()));
        self.liveness.remove(&(entry.record.seen, slot));
        Some(entry)
    }

    /// The worker heard from least recently, if it was last seen before `before`.
    pub(crate) fn silent_since(&self, before: u64) -> Option<Address> {
        let (seen, slot) = *self.liveness.first()?;
        if seen >= before {
            return None;
        }
        self.at(slot).map(|w| w.record.address)
    }

    /// The earliest `seen` of any worker.
    pub(crate) fn oldest_seen(&self) -> Option<u64> {
        self.liveness.first().map(|(seen, _)| *seen)
    }

    /// Total free capacity of workers that may be assigned.
    pub(crate) fn free_capacity(&self) -> u64 {
        self.free_capacity
    }

    /// A replica of `task` starts on `address`.
    pub(crate) fn acquire(&mut self, address: &Address, task: TaskId) -> bool {
        let Some(slot) = self.by_address.get(address).copied() else { return false };
        let Some(w) = self.at_mut(slot) else { return false };
        let before = w.free();
        w.load = w.load.saturating_add(1);
        w.tasks.push(task);
        let after = w.free();
        self.adjust(before, after);
        true
    }

    /// A replica of `task` on `address` stopped running.
    pub(crate) fn release(&mut self, address: &Address, task: &TaskId) {
        let Some(slot) = self.by_address.get(address).copied() else { return };
        let Some(w) = self.at_mut(slot) else { return };
        let Some(pos) = w.tasks.iter().position(|t| t == task) else { return };
        w.tasks.swap_remove(pos);
        let before = w.free();
        w.load = w.load.saturating_sub(1);
        let after = w.free();
        self.adjust(before, after);
    }

    fn adjust(&mut self, before: u32, after: u32) {
        self.free_capacity =
            self.free_capacity.saturating_sub(u64::from(before)).saturating_add(u64::from(after));
    }

    fn eligible(
        &self,
        slot: u32,
        wanted: &Wanted<'_>,
        exclude: &impl Fn(&Address, U256) -> bool,
    ) -> Option<&WorkerEntry> {
        let w = self.at(slot)?;
        let ok = w.free() > 0
            && w.record.caps.fits(wanted.deal)
            && wanted.class.is_none_or(|c| c == w.record.caps.class_for(wanted.deal))
            && !exclude(&w.record.address, vote_weight(w.record.score));
        ok.then_some(w)
    }

    /// The lowest vote weight among the workers that could run a replica of `wanted` (its
    /// evaluator, memory and platform class), busy or not; `None` when no worker fits.
    pub(crate) fn lightest(&self, wanted: &Wanted<'_>) -> Option<U256> {
        self.slots
            .iter()
            .flatten()
            // A worker with no capacity (drained by its operator) can never take the task.
            .filter(|w| !w.record.barred && w.capacity > 0 && w.record.caps.fits(wanted.deal))
            .filter(|w| wanted.class.is_none_or(|c| c == w.record.caps.class_for(wanted.deal)))
            .map(|w| vote_weight(w.record.score))
            .min()
    }

    /// Chooses a worker for a replica: eligible (evaluator kind, memory, platform class, free
    /// capacity, not excluded by `exclude(address, vote weight)`), the less loaded of two
    /// drawn at random.
    pub(crate) fn pick(
        &self,
        wanted: &Wanted<'_>,
        exclude: impl Fn(&Address, U256) -> bool,
    ) -> Option<Address> {
        if self.free_capacity == 0 || self.slots.is_empty() {
            return None;
        }
        let n = u64::try_from(self.slots.len()).unwrap_or(u64::MAX);
        let base = wanted.counter.wrapping_mul(DRAWS.saturating_add(1));
        let mut best: Option<&WorkerEntry> = None;
        let mut found = 0u32;
        for i in 0..DRAWS {
            let bits = draw(wanted.seed, wanted.task, base.wrapping_add(i));
            let slot = u32::try_from(below(bits, n)).unwrap_or(0);
            let Some(w) = self.eligible(slot, wanted, &exclude) else { continue };
            best = match best {
                // Less loaded relative to capacity: load_w / cap_w < load_b / cap_b.
                Some(b)
                    if u64::from(b.load).saturating_mul(u64::from(w.capacity))
                        <= u64::from(w.load).saturating_mul(u64::from(b.capacity)) =>
                {
                    Some(b)
                }
                _ => Some(w),
            };
            found = found.saturating_add(1);
            if found >= 2 {
                break;
            }
        }
        if let Some(w) = best {
            return Some(w.record.address);
        }
        let bits = draw(wanted.seed, wanted.task, base.wrapping_add(DRAWS));
        let start = below(bits, n);
        (0..n)
            .filter_map(|k| u32::try_from(start.saturating_add(k).checked_rem(n)?).ok())
            .find_map(|slot| self.eligible(slot, wanted, &exclude))
            .map(|w| w.record.address)
    }
}
