//! The core's inputs: chain events at a cursor, workers joining, beating, leaving, replicas
//! finishing or failing, and time passing. Each applies what it learnt (as store records),
//! steps the tasks it concerns, then starts what the pool has room for.

use quorate_poco::{
    consensus::Trust,
    payout::PayoutTerms,
    task::{Task, TaskConfig},
};
use quorate_primitives::{Address, DealId, ResultHash, ResultSeal, TaskId, U256};

use crate::{
    Error, Scheduler,
    effect::{DealRecord, StoreWrite, TaskRecord, WorkerRecord},
    task::TaskEntry,
    types::{ChainCursor, ChainEvent, Deal, WorkerCaps},
};

impl Scheduler {
    /// Time passed: workers silent too long are lost, due tasks are looked at again.
    pub fn handle_tick(&mut self, now: u64) {
        self.observe(now);
        // Silent for the whole timeout: last seen at or before `now − timeout`.
        let silent_before = self.now.saturating_sub(self.heartbeat_timeout).saturating_add(1);
        while let Some(worker) = self.workers.silent_since(silent_before) {
            self.lose(worker);
        }
        self.initialize_again();
        while let Some(&(at, id)) = self.timers.first() {
            if at > self.now {
                break;
            }
            self.timers.remove(&(at, id));
            if let Some(t) = self.tasks.get_mut(&id) {
                t.wake = None;
            }
            self.step(id);
        }
        self.pump();
    }

    /// A chain event at `cursor`. The cursor advances even when the event is not about this
    /// pool's work (then the result is a stale [`Error`]); an event at or before the cursor is
    /// refused as [`Error::Replayed`].
    pub fn handle_chain_event(
        &mut self,
        now: u64,
        cursor: ChainCursor,
        event: ChainEvent,
    ) -> Result<(), Error> {
        self.observe(now);
        if self.cursor.is_some_and(|c| (cursor.block, cursor.log) <= (c.block, c.log)) {
            return Err(Error::Replayed);
        }
        self.cursor = Some(cursor);
        self.cursor_dirty = true;
        let at = cursor.time;
        let result = match event {
            ChainEvent::DealCreated(deal) => self.deal_created(deal),
            ChainEvent::TaskInitialized { task, deal, index } => {
                self.task_initialized(task, deal, index, at)
            }
            ChainEvent::Contributed { task, worker, hash, seal, score } => {
                self.contributed(task, TaskRecord::Contributed { worker, hash, seal, score, at })
            }
            ChainEvent::Revealed { task, worker, digest } => {
                self.record_and_step(task, TaskRecord::Revealed { worker, digest, at })
            }
            ChainEvent::Reopened { task } => {
                self.record_and_step(task, TaskRecord::Reopened { at })
            }
            ChainEvent::Finalized { task } | ChainEvent::Claimed { task } => {
                if self.tasks.contains_key(&task) {
                    self.end_task(task);
                    Ok(())
                } else {
                    Err(Error::UnknownTask(task))
                }
            }
            ChainEvent::ScoreChanged { worker, score } => self.score_changed(worker, score),
        };
        self.pump();
        result
    }

    /// A worker joined (or re-declared its capabilities) with its on-chain score.
    pub fn handle_worker_joined(
        &mut self,
        now: u64,
        worker: Address,
        caps: WorkerCaps,
        score: U256,
    ) {
        self.observe(now);
        let slot =
            self.workers.get(&worker).map_or_else(|| self.workers.next_slot(), |w| w.record.slot);
        let record = WorkerRecord {
            address: worker,
            slot,
            caps,
            score,
            seen: self.now,
            barred: self.barred.contains(&worker),
        };
        self.workers.put(record);
        self.out.store.push(StoreWrite::PutWorker(record));
        self.pump();
    }

    /// A worker is alive.
    pub fn handle_heartbeat(&mut self, now: u64, worker: Address) -> Result<(), Error> {
        self.observe(now);
        let mut record = self.workers.get(&worker).ok_or(Error::UnknownWorker(worker))?.record;
        if record.seen < self.now {
            record.seen = self.now;
            self.workers.put(record);
            self.out.store.push(StoreWrite::PutWorker(record));
        }
        Ok(())
    }

    /// A worker is gone (disconnected, or the host knows it left): its replicas are given up and
    /// re-assigned.
    pub fn handle_worker_lost(&mut self, now: u64, worker: Address) -> Result<(), Error> {
        self.observe(now);
        if self.workers.get(&worker).is_none() {
            return Err(Error::UnknownWorker(worker));
        }
        self.lose(worker);
        self.pump();
        Ok(())
    }

    /// A worker finished its replica of `task` and reports its vote and seal off-chain (before
    /// or after contributing it on chain).
    pub fn handle_replica_finished(
        &mut self,
        now: u64,
        task: TaskId,
        worker: Address,
        hash: ResultHash,
        seal: ResultSeal,
    ) -> Result<(), Error> {
        self.task_input(now, task, |at| TaskRecord::Reported { worker, hash, seal, at })
    }

    /// A worker's replica of `task` failed: `machine_dependent` for a timeout, heap limit or
    /// sandbox crash (counted toward giving the task up), false for a failure of the worker
    /// itself. A deterministic failure of the work function is a result, not a failure.
    pub fn handle_replica_failed(
        &mut self,
        now: u64,
        task: TaskId,
        worker: Address,
        machine_dependent: bool,
    ) -> Result<(), Error> {
        self.task_input(now, task, |at| TaskRecord::Dropped {
            worker,
            machine: machine_dependent,
            at,
        })
    }

    /// `worker`'s own complete list of held tasks shows it never received its replica of
    /// `task` (the assignment was lost in a crash, on either side): the replica is released and
    /// planned again at once, and the worker may be assigned the task again.
    pub fn handle_replica_undelivered(
        &mut self,
        now: u64,
        task: TaskId,
        worker: Address,
    ) -> Result<(), Error> {
        self.task_input(now, task, |at| TaskRecord::Released { worker, at })
    }

    /// An input about one task: the record `make` builds with the core's time, then the task
    /// and the queue looked at again.
    fn task_input(
        &mut self,
        now: u64,
        task: TaskId,
        make: impl FnOnce(u64) -> TaskRecord,
    ) -> Result<(), Error> {
        self.observe(now);
        let record = make(self.now);
        let r = self.record_and_step(task, record);
        self.pump();
        r
    }

    fn lose(&mut self, worker: Address) {
        let Some(entry) = self.workers.remove(&worker) else { return };
        self.out.store.push(StoreWrite::DeleteWorker(worker));
        let at = self.now;
        for task in entry.tasks {
            // Its load is gone with it; the record frees nothing more. Lost through no fault of
            // its work, it may run the task again if it comes back.
            let _ = self.record_and_step(task, TaskRecord::Released { worker, at });
        }
    }

    fn deal_created(&mut self, deal: Deal) -> Result<(), Error> {
        let reason = if deal.tasks == 0 {
            Some("no tasks")
        } else if deal.time_ref == 0 {
            Some("zero time reference")
        } else if deal.trust == 0 {
            Some("zero trust")
        } else if deal.scheduler_ratio > 100 {
            Some("scheduler ratio above 100 %")
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(Error::InvalidDeal { reason });
        }
        if self.deals.contains_key(&deal.id) {
            return Ok(());
        }
        let record =
            DealRecord { deal, observed_at: self.now, requested: 0, ended: 0, pending: Vec::new() };
        self.backlog.insert((record.observed_at, deal.id));
        self.deals.insert(deal.id, record.clone());
        self.out.store.push(StoreWrite::PutDeal(record));
        Ok(())
    }

    /// The PoCo mirror of a task of `deal`.
    pub(crate) fn mirror(&self, id: TaskId, deal: &Deal) -> Result<Task, Error> {
        let mut config = TaskConfig::new(
            id,
            Trust::from_u64(deal.trust)?,
            deal.start,
            deal.time_ref,
            self.owner,
            PayoutTerms::new(deal.price, deal.scheduler_ratio),
        );
        config.max_replicas = self.config.max_replicas_per_task;
        config.replica_timeout = self.replica_timeout;
        config.homogeneous = true;
        Ok(Task::new(config)?)
    }

    fn task_initialized(
        &mut self,
        id: TaskId,
        deal: DealId,
        index: u64,
        at: u64,
    ) -> Result<(), Error> {
        if self.tasks.contains_key(&id) {
            return Ok(());
        }
        let Some(record) = self.deals.get(&deal) else { return Err(Error::UnknownTask(id)) };
        if index >= record.requested || TaskId::derive(deal, index) != id {
            return Err(Error::UnknownTask(id));
        }
        let poco = self.mirror(id, &record.deal)?;
        // Its range is settled (the chain initialized it whole).
        if let Some(record) = self.deals.get_mut(&deal)
            && record.pending.iter().any(|p| p.holds(index))
        {
            record.pending.retain(|p| !p.holds(index));
            self.out.store.push(StoreWrite::PutDeal(record.clone()));
        }
        self.tasks.insert(id, Box::new(TaskEntry::new(id, poco, deal, index, at)));
        let record = TaskRecord::Initialized { deal, index, at };
        self.out.store.push(StoreWrite::AppendTask { task: id, record });
        self.step(id);
        Ok(())
    }

    fn contributed(&mut self, id: TaskId, record: TaskRecord) -> Result<(), Error> {
        self.record(id, record)?;
        self.step(id);
        Ok(())
    }

    fn score_changed(&mut self, worker: Address, score: U256) -> Result<(), Error> {
        let mut record = self.workers.get(&worker).ok_or(Error::UnknownWorker(worker))?.record;
        record.score = score;
        self.workers.put(record);
        self.out.store.push(StoreWrite::PutWorker(record));
        Ok(())
    }
}
