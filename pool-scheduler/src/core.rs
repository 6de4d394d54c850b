//! [`Scheduler`]: its state, the batch of effects (`poll_ready`/`advance`) and the bookkeeping
//! every decision shares (records, the end of a task, the backlog and waiting set). The inputs
//! (`handle_*`) are in `inputs.rs`, the decisions about one task in `step.rs`, rebuilding from
//! the store in `restore.rs`.

use std::collections::{BTreeSet, HashMap, HashSet};

use quorate_poco::task::TaskStatus;
use quorate_primitives::{Address, DealId, TaskId};

use crate::{
    Error, SchedulerConfig,
    effect::{ChainCall, DealRecord, Message, PendingInit, Ready, StoreWrite, TaskRecord},
    task::TaskEntry,
    types::ChainCursor,
};

/// A hasher for keys that are already uniform hashes (task ids are keccak outputs).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut word = [0u8; 8];
        for (dst, src) in word.iter_mut().zip(bytes) {
            *dst = *src;
        }
        self.0 = self.0.rotate_left(17) ^ u64::from_le_bytes(word);
    }
}

pub(crate) type IdMap<V> = HashMap<TaskId, V, std::hash::BuildHasherDefault<IdHasher>>;

/// Counts that describe the core's load, for operators and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Tasks initialize was asked for and that have not ended.
    pub in_flight: u64,
    /// Tasks the core follows (initialized on chain, not ended).
    pub tasks: usize,
    /// Tasks waiting for a free, eligible worker.
    pub waiting: usize,
    /// Registered workers.
    pub workers: usize,
    /// Free replica slots over all assignable workers.
    pub free_capacity: u64,
    /// Deals not fully ended.
    pub deals: usize,
}

/// Waiting tasks looked at beyond the free slots each time the queue is served.
const LOOKAHEAD: usize = 64;
/// Most waiting tasks looked at each time the queue is served.
const MAX_LOOKED_AT: usize = 256;

/// Where serving the waiting queue starts at `now`: a task id drawn from the seed and the
/// clock.
fn queue_start(seed: u64, now: u64) -> TaskId {
    let bits = crate::draw::draw(seed, &TaskId::default(), now);
    let mut id = [0u8; 32];
    for (dst, src) in id.iter_mut().zip(bits.to_be_bytes()) {
        *dst = src;
    }
    TaskId(id.into())
}

/// The pool scheduler's decision core. Sans-io: the host passes `now` (seconds) into every
/// `handle_*`, applies what [`Scheduler::poll_ready`] returns, and calls
/// [`Scheduler::handle_tick`] at [`Scheduler::poll_timeout`].
#[derive(Debug, Clone)]
pub struct Scheduler {
    pub(crate) config: SchedulerConfig,
    pub(crate) owner: Address,
    pub(crate) seed: u64,
    pub(crate) replica_timeout: u64,
    pub(crate) heartbeat_timeout: u64,
    pub(crate) now: u64,
    pub(crate) deals: HashMap<DealId, DealRecord>,
    pub(crate) backlog: BTreeSet<(u64, DealId)>,
    pub(crate) in_flight: u64,
    /// Boxed: the table stays dense (a task is several hundred bytes).
    pub(crate) tasks: IdMap<Box<TaskEntry>>,
    pub(crate) timers: BTreeSet<(u64, TaskId)>,
    /// Tasks waiting for a worker.
    pub(crate) waiting: BTreeSet<TaskId>,
    pub(crate) workers: crate::workers::Workers,
    pub(crate) barred: HashSet<Address>,
    pub(crate) cursor: Option<ChainCursor>,
    pub(crate) out: Ready,
    pub(crate) cursor_dirty: bool,
    pub(crate) outstanding: Option<u64>,
    pub(crate) next_batch: u64,
}

impl Scheduler {
    /// A core with no deals and no workers. `owner` is the pool owner (the caller of finalize
    /// and reopen); `seed` keys every random choice and must stay secret to the pool.
    pub fn new(config: SchedulerConfig, owner: Address, seed: u64) -> Result<Self, Error> {
        config.validate()?;
        let replica_timeout = config.replica_timeout.as_secs();
        let heartbeat_timeout = config.heartbeat_timeout.as_secs();
        let workers = crate::workers::Workers::new(config.max_tasks_per_worker);
        Ok(Self {
            config,
            owner,
            seed,
            replica_timeout,
            heartbeat_timeout,
            now: 0,
            deals: HashMap::new(),
            backlog: BTreeSet::new(),
            in_flight: 0,
            tasks: IdMap::default(),
            timers: BTreeSet::new(),
            waiting: BTreeSet::new(),
            workers,
            barred: HashSet::new(),
            cursor: None,
            out: Ready::default(),
            cursor_dirty: false,
            outstanding: None,
            next_batch: 1,
        })
    }

    /// The settings.
    pub fn config(&self) -> &SchedulerConfig {
        &self.config
    }

    /// Load counts.
    pub fn stats(&self) -> Stats {
        Stats {
            in_flight: self.in_flight,
            tasks: self.tasks.len(),
            waiting: self.waiting.len(),
            workers: self.workers.len(),
            free_capacity: self.workers.free_capacity(),
            deals: self.deals.len(),
        }
    }

    /// The chain cursor the core has reached.
    pub fn cursor(&self) -> Option<ChainCursor> {
        self.cursor
    }

    /// True when `worker` is barred.
    pub fn is_barred(&self, worker: &Address) -> bool {
        self.barred.contains(worker)
    }

    /// The replicas `worker` runs now (its load).
    pub fn load_of(&self, worker: &Address) -> Option<u32> {
        self.workers.get(worker).map(|w| w.load)
    }

    /// The workers ever assigned a replica of `task` (running, answered, dropped or released),
    /// in assignment order; a released worker assigned the task again appears twice.
    pub fn replicas_of(&self, task: &TaskId) -> Vec<Address> {
        self.tasks.get(task).map(|t| t.runs.iter().map(|r| r.worker).collect()).unwrap_or_default()
    }

    /// How many replicas of `task` count against `worker`: every one it was assigned but those
    /// released through no fault of its work (or one, when it voted without a replica). Never
    /// above one: a worker runs a task at most once.
    pub fn replicas_counted(&self, task: &TaskId, worker: &Address) -> usize {
        self.tasks.get(task).map_or(0, |t| t.counted(worker))
    }

    /// The workers with a replica of `task` still running (assigned, no answer, not dropped).
    pub fn running_replicas_of(&self, task: &TaskId) -> Vec<Address> {
        self.tasks
            .get(task)
            .map(|t| {
                t.runs
                    .iter()
                    .filter(|r| r.state == crate::task::RunState::Running)
                    .map(|r| r.worker)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The PoCo status of a task the core follows.
    pub fn task_status(&self, task: &TaskId) -> Option<TaskStatus> {
        self.tasks.get(task).map(|t| t.poco.status())
    }

    pub(crate) fn observe(&mut self, now: u64) {
        self.now = self.now.max(now);
    }

    /// The next batch of effects, or `None` when there is none or the previous one has not been
    /// acknowledged yet.
    pub fn poll_ready(&mut self) -> Option<Ready> {
        if self.outstanding.is_some() {
            return None;
        }
        if self.cursor_dirty
            && let Some(c) = self.cursor
        {
            self.out.store.push(StoreWrite::PutCursor(c));
            self.cursor_dirty = false;
        }
        if self.out.is_empty() {
            return None;
        }
        let mut ready = std::mem::take(&mut self.out);
        ready.number = self.next_batch;
        self.outstanding = Some(self.next_batch);
        self.next_batch = self.next_batch.saturating_add(1);
        Some(ready)
    }

    /// The host applied batch `number` (store writes durable, calls and messages sent).
    pub fn advance(&mut self, number: u64) -> Result<(), Error> {
        if self.outstanding != Some(number) {
            return Err(Error::WrongBatch { expected: self.outstanding, got: number });
        }
        self.outstanding = None;
        Ok(())
    }

    /// When the host should call [`Scheduler::handle_tick`] next.
    pub fn poll_timeout(&self) -> Option<u64> {
        let task = self.timers.first().map(|(at, _)| *at);
        // Free slots and waiting tasks: serve the queue again in a second, events or not (a
        // function of the state, so a restored core keeps the same clock).
        let pump = (self.workers.free_capacity() > 0 && !self.waiting.is_empty())
            .then(|| self.now.saturating_add(1));
        let worker =
            self.workers.oldest_seen().map(|seen| seen.saturating_add(self.heartbeat_timeout));
        [task, self.next_initialize_again(), pump, worker].into_iter().flatten().min()
    }

    /// When a pending initialize range is next due to be asked again.
    fn next_initialize_again(&self) -> Option<u64> {
        self.deals.values().flat_map(|d| d.pending.iter().map(|p| p.due(&d.deal))).min()
    }

    /// Asks again for the ranges whose tasks the chain has not shown one time reference after
    /// they were asked for.
    pub(crate) fn initialize_again(&mut self) {
        let now = self.now;
        for deal in self.deals.values_mut() {
            let mut changed = false;
            for pending in &mut deal.pending {
                if pending.due(&deal.deal) <= now {
                    pending.at = now;
                    changed = true;
                    self.out.chain.push(ChainCall::Initialize {
                        deal: deal.deal.id,
                        first: pending.first,
                        count: pending.count,
                    });
                }
            }
            if changed {
                self.out.store.push(StoreWrite::PutDeal(deal.clone()));
            }
        }
    }

    /// Applies a record to a task and queues its store write; nothing changes on error.
    pub(crate) fn record(&mut self, id: TaskId, record: TaskRecord) -> Result<(), Error> {
        let entry = self.tasks.get_mut(&id).ok_or(Error::UnknownTask(id))?;
        entry.apply(&record, &mut self.workers, self.replica_timeout, self.owner)?;
        self.out.store.push(StoreWrite::AppendTask { task: id, record });
        Ok(())
    }

    pub(crate) fn record_and_step(&mut self, id: TaskId, record: TaskRecord) -> Result<(), Error> {
        self.record(id, record)?;
        self.step(id);
        Ok(())
    }

    /// A task ended (finalized or claimed on chain, or given up and past its final deadline).
    pub(crate) fn end_task(&mut self, id: TaskId) {
        let Some(entry) = self.tasks.remove(&id) else { return };
        if let Some(wake) = entry.wake {
            self.timers.remove(&(wake, id));
        }
        self.waiting.remove(&id);
        for run in entry.runs.iter().filter(|r| r.state == crate::task::RunState::Running) {
            self.workers.release(&run.worker, &id);
            self.out.messages.push(Message::Abort { worker: run.worker, task: id });
        }
        self.out.store.push(StoreWrite::DeleteTask(id));
        self.in_flight = self.in_flight.saturating_sub(1);
        let Some(deal) = self.deals.get_mut(&entry.deal) else { return };
        deal.ended = deal.ended.saturating_add(1);
        if deal.ended >= deal.deal.tasks {
            let id = deal.deal.id;
            self.deals.remove(&id);
            self.out.store.push(StoreWrite::DeleteDeal(id));
        } else {
            self.out.store.push(StoreWrite::PutDeal(deal.clone()));
        }
    }

    /// Starts backlog tasks while the pool has room, then serves waiting tasks while workers
    /// have room.
    pub(crate) fn pump(&mut self) {
        while self.in_flight < self.config.max_tasks_in_flight {
            let Some(&(observed, id)) = self.backlog.first() else { break };
            let Some(deal) = self.deals.get_mut(&id) else {
                self.backlog.remove(&(observed, id));
                continue;
            };
            let room = self.config.max_tasks_in_flight.saturating_sub(self.in_flight);
            let left = deal.deal.tasks.saturating_sub(deal.requested);
            let count = left.min(room).min(u64::from(self.config.initialize_batch));
            let first = deal.requested;
            deal.requested = deal.requested.saturating_add(count);
            self.in_flight = self.in_flight.saturating_add(count);
            if deal.requested >= deal.deal.tasks {
                self.backlog.remove(&(observed, id));
            }
            let count = u32::try_from(count).unwrap_or(u32::MAX);
            deal.pending.push(PendingInit { first, count, at: self.now });
            self.out.store.push(StoreWrite::PutDeal(deal.clone()));
            self.out.chain.push(ChainCall::Initialize { deal: id, first, count });
        }
        if self.waiting.is_empty() || self.workers.free_capacity() == 0 {
            return;
        }
        // Each waiting task takes at most a few slots: look at a few more of them than there
        // is room for (some may fit none of the free workers), so a long queue costs little
        // while the pool is full. The look starts at a point of the queue drawn from the
        // clock, so tasks no free worker fits cannot hold up the rest (and a restored core
        // looks where the crashed one would have).
        let room = usize::try_from(self.workers.free_capacity()).unwrap_or(usize::MAX);
        let look = room.saturating_add(LOOKAHEAD).min(MAX_LOOKED_AT);
        let start = queue_start(self.seed, self.now);
        let queued: Vec<TaskId> = self
            .waiting
            .range(start..)
            .chain(self.waiting.range(..start))
            .take(look)
            .copied()
            .collect();
        for id in queued {
            if self.workers.free_capacity() == 0 {
                break;
            }
            self.step(id);
        }
    }
}
