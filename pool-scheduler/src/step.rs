//! The decisions about one task, taken whenever something about it changed or its timer fired:
//! time replicas out, ask the planner for more, pick workers (none that would let fewer than
//! `k` distinct voters reach consensus),
//! spot-check a consensus, ask for reveals, finalize, reopen, or give up.

use quorate_poco::{
    payout::ContributionStatus,
    task::{Action, FailReason, TaskStatus},
};
use quorate_primitives::{TaskId, U256};

use crate::{
    Scheduler,
    draw::{below, draw},
    effect::{ChainCall, Message, Requested, StoreWrite, TaskRecord},
    task::RunState,
    workers::Wanted,
};

/// Replica timeouts a task waits for a light enough worker before its `k` drops by one (or
/// one time reference of its category, when that is shorter).
const RELAX_TIMEOUTS: u64 = 3;

/// The draw counter reserved for the spot-check decision (replica choices count from 0).
const SPOT_CHECK_DRAW: u64 = u64::MAX;

/// What the task needs from the pool right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    Nothing,
    Replicas(u32),
    Finalize,
    Reopen,
    GiveUp,
    /// The replicas disagree up to the cap: fail the task on chain now.
    Disagreed,
}

impl Scheduler {
    /// The distinct contributors a task at `trust` needs (the policy's `k`).
    pub(crate) fn contributors_needed(&self, trust: u64) -> u32 {
        self.config.long_con.min_contributors(trust, self.config.max_replicas_per_task)
    }

    /// How long a task of a category with time reference `time_ref` waits for a light enough
    /// worker before its `k` drops by one: three replica timeouts, or one time reference when
    /// that is shorter (a deal's contributions close 7 time references after its start: a
    /// stricter wait would let every task of a short category run out of time).
    fn relax_period(&self, time_ref: u64) -> u64 {
        self.replica_timeout.saturating_mul(RELAX_TIMEOUTS).min(time_ref).max(1)
    }

    /// The `k` a task initialized at `since` holds its workers to now: the policy's `k`, one
    /// less for every [`Self::relax_period`] the task has been running, down to 1 (see
    /// [`crate::LongConPolicy::relax`]). A function of the state and the clock only.
    fn contributors_now(&self, trust: u64, since: u64, time_ref: u64) -> u32 {
        let k = self.contributors_needed(trust);
        if !self.config.long_con.relax {
            return k;
        }
        let period = self.relax_period(time_ref);
        let steps = self.now.saturating_sub(since).checked_div(period).unwrap_or(0);
        let steps = u32::try_from(steps).unwrap_or(u32::MAX);
        k.saturating_sub(steps).max(1)
    }

    /// True when the keyed draw makes task `id` a spot-check.
    fn spot_checked(&self, id: &TaskId) -> bool {
        let permille = self.config.long_con.spot_check_permille;
        permille > 0 && below(draw(self.seed, id, SPOT_CHECK_DRAW), 1000) < u64::from(permille)
    }

    /// Looks at task `id` again and acts on what is due.
    pub(crate) fn step(&mut self, id: TaskId) {
        let now = self.now;
        let Some(entry) = self.tasks.get_mut(&id) else { return };
        entry.poco.handle_timeout(now);
        if entry.waiting.take().is_some() {
            self.waiting.remove(&id);
        }
        // Replicas past their timeout are given up (and aborted).
        let expired: Vec<_> = entry
            .runs
            .iter()
            .filter(|r| r.state == RunState::Running && r.timeout_at <= now)
            .map(|r| r.worker)
            .collect();
        for worker in expired {
            if self.record(id, TaskRecord::Dropped { worker, machine: false, at: now }).is_ok() {
                self.out.messages.push(Message::Abort { worker, task: id });
            }
        }
        match self.need(&id) {
            Need::Nothing => {}
            Need::Replicas(_) => {
                // One at a time, planning again after each: the planner assumes a fresh
                // worker's weight for replicas not yet assigned, and the worker picked may
                // weigh more.
                for _ in 0..self.config.max_replicas_per_task {
                    if !matches!(self.need(&id), Need::Replicas(n) if n > 0) {
                        break;
                    }
                    if !self.assign(id) {
                        break;
                    }
                }
            }
            Need::Finalize => self.finalize(id),
            Need::Reopen => {
                if self
                    .record(id, TaskRecord::Requested { call: Requested::Reopen, at: now })
                    .is_ok()
                {
                    self.out.chain.push(ChainCall::Reopen { task: id });
                }
            }
            Need::Disagreed => {
                if self
                    .record(id, TaskRecord::Requested { call: Requested::GiveUp, at: now })
                    .is_ok()
                {
                    self.out.chain.push(ChainCall::GiveUp { task: id });
                }
            }
            Need::GiveUp => {
                let running: Vec<_> = self.tasks.get(&id).map_or_else(Vec::new, |t| {
                    t.runs
                        .iter()
                        .filter(|r| r.state == RunState::Running)
                        .map(|r| r.worker)
                        .collect()
                });
                if self.record(id, TaskRecord::GaveUp { at: now }).is_ok() {
                    for worker in running {
                        self.out.messages.push(Message::Abort { worker, task: id });
                    }
                }
            }
        }
        self.request_reveals(id);
        self.rearm(id);
    }

    /// A task rebuilt from the store: its mirror sees `now`, its timer is filed, and it waits
    /// for a worker if it wants one (as it did when the core stopped: every input and timer
    /// steps its task, so a task that wants workers and got none is exactly a waiting one).
    pub(crate) fn resume(&mut self, id: TaskId) {
        let now = self.now;
        let Some(entry) = self.tasks.get_mut(&id) else { return };
        entry.poco.handle_timeout(now);
        if matches!(self.need(&id), Need::Replicas(_)) {
            self.wait(id);
        }
        self.rearm(id);
    }

    /// Task `id` waits for a worker.
    fn wait(&mut self, id: TaskId) {
        let now = self.now;
        if let Some(entry) = self.tasks.get_mut(&id) {
            entry.waiting = Some(now);
            self.waiting.insert(id);
        }
    }

    /// At consensus, its voters are asked to reveal and the first to upload the result. (They
    /// also reveal on their own; asking again after a restart is harmless.)
    fn request_reveals(&mut self, id: TaskId) {
        let Some(entry) = self.tasks.get_mut(&id) else { return };
        if entry.asked_reveal || entry.poco.status() != TaskStatus::Revealing {
            return;
        }
        entry.asked_reveal = true;
        let consensus = entry.poco.consensus();
        let winners = entry
            .poco
            .contributions()
            .iter()
            .filter(|c| Some(c.hash) == consensus && c.status == ContributionStatus::Contributed)
            .map(|c| c.worker);
        for (i, worker) in winners.enumerate() {
            self.out.messages.push(Message::RequestReveal { worker, task: id });
            if i == 0 {
                self.out.messages.push(Message::RequestUpload { worker, task: id });
            }
        }
    }

    fn need(&self, id: &TaskId) -> Need {
        let Some(entry) = self.tasks.get(id) else { return Need::Nothing };
        let Some(deal) = self.deals.get(&entry.deal) else { return Need::GiveUp };
        let now = self.now;
        if entry.gave_up || entry.is_over() {
            return Need::Nothing;
        }
        if entry.machine_failures >= self.config.max_machine_failures {
            return Need::GiveUp;
        }
        let actions = entry.poco.poll_actions();
        let retry_after = deal.deal.time_ref;
        let recently = |call: Requested| {
            entry.requested.is_some_and(|(c, at)| c == call && now < at.saturating_add(retry_after))
        };
        match entry.poco.status() {
            TaskStatus::Active => {
                let mut want = 0u32;
                for action in &actions {
                    match action {
                        // The replicas disagree and the cap leaves no room for a consensus:
                        // the task fails now (the Hub refunds its client), not at its deadline.
                        Action::Failed(FailReason::ReplicaCap) => {
                            return if recently(Requested::GiveUp) {
                                Need::Nothing
                            } else {
                                Need::Disagreed
                            };
                        }
                        Action::Failed(_) => return Need::GiveUp,
                        Action::NeedReplicas { count } => want = *count,
                        _ => {}
                    }
                }
                // At least k distinct workers in the first round (the admission rule makes the
                // planner want them anyway), and one more on a spot-checked task: a replica like
                // any other, whose answer is compared with the result the pool finalizes.
                let spot = u32::from(self.spot_checked(id));
                let k = self.contributors_needed(deal.deal.trust).saturating_add(spot);
                let room = self
                    .config
                    .max_replicas_per_task
                    .saturating_sub(u32::try_from(entry.poco.replicas().len()).unwrap_or(u32::MAX));
                let n = want.max(k.saturating_sub(entry.live()).min(room));
                if n > 0 { Need::Replicas(n) } else { Need::Nothing }
            }
            TaskStatus::Revealing => {
                // Replicas still running (a spot-check, or one a heavier vote overtook) are
                // waited for while the reveal window lasts, so that their answers are compared.
                let running = entry.runs.iter().any(|r| r.state == RunState::Running);
                let reveal_over = entry.poco.reveal_deadline().is_some_and(|d| now >= d);
                for action in &actions {
                    match action {
                        Action::Finalize
                            if (!running || reveal_over) && !recently(Requested::Finalize) =>
                        {
                            return Need::Finalize;
                        }
                        Action::Reopen if !recently(Requested::Reopen) => return Need::Reopen,
                        Action::Failed(_) => return Need::GiveUp,
                        _ => {}
                    }
                }
                Need::Nothing
            }
            TaskStatus::Completed | TaskStatus::Failed => Need::Nothing,
        }
    }

    /// Sends one replica of task `id` to a freshly chosen worker; a task that finds no worker
    /// waits for capacity. Returns true when a replica was sent.
    fn assign(&mut self, id: TaskId) -> bool {
        let now = self.now;
        let Some(entry) = self.tasks.get(&id) else { return false };
        let Some(deal) = self.deals.get(&entry.deal) else { return false };
        let time_ref = entry.poco.config().time_ref;
        let mut k = self.contributors_now(deal.deal.trust, entry.initialized_at, time_ref);
        let trust = entry.poco.config().trust;
        let wanted = Wanted {
            deal: &deal.deal,
            class: entry.class,
            seed: self.seed,
            task: &id,
            counter: u64::try_from(entry.runs.len()).unwrap_or(u64::MAX),
        };
        // A pool none of whose workers is light enough for k, busy or not, gains nothing by
        // waiting: the task relaxes now, as far as its lightest worker needs.
        if self.config.long_con.relax
            && let Some(lightest) = self.workers.lightest(&wanted)
        {
            while k > 1
                && entry
                    .admissible_weight(k, trust)
                    .is_some_and(|m| m >= U256::from(2u8) && lightest > m)
            {
                k = k.saturating_sub(1);
            }
        }
        // Never twice to one worker; never a worker that would let fewer than k distinct
        // voters reach consensus.
        let max_weight = entry.admissible_weight(k, trust);
        let picked = if max_weight.is_some_and(|m| m < U256::from(2u8)) {
            // Nobody may be authorized until votes arrive (they step the task again).
            None
        } else {
            self.workers.pick(&wanted, |w, weight| {
                max_weight.is_some_and(|m| weight > m) || entry.involves(w)
            })
        };
        let Some(worker) = picked else {
            self.wait(id);
            return false;
        };
        let (deal_id, index, round) = (entry.deal, entry.index, entry.poco.authorization_round());
        let Some(w) = self.workers.get(&worker) else { return false };
        let (score, class) = (w.record.score, w.record.caps.class_for(wanted.deal));
        let record = TaskRecord::Assigned { worker, score, class, at: now };
        if self.record(id, record).is_err() {
            return false;
        }
        self.out.messages.push(Message::Assign {
            worker,
            task: id,
            deal: deal_id,
            index,
            round,
            deadline: now.saturating_add(self.replica_timeout),
        });
        true
    }

    /// Finalize with the revealed digest; every worker that answered otherwise (a losing vote,
    /// or a spot-check or replica report of another hash) is barred.
    fn finalize(&mut self, id: TaskId) {
        let now = self.now;
        let Some(entry) = self.tasks.get(&id) else { return };
        let Some(digest) = entry.poco.result_digest() else { return };
        let dissenters = entry.dissenters();
        if self.record(id, TaskRecord::Requested { call: Requested::Finalize, at: now }).is_err() {
            return;
        }
        self.out.chain.push(ChainCall::Finalize { task: id, digest });
        for worker in dissenters {
            if self.barred.insert(worker) {
                self.out.store.push(StoreWrite::PutBarred(worker));
                if let Some(w) = self.workers.get(&worker) {
                    let mut record = w.record;
                    record.barred = true;
                    self.workers.put(record);
                }
            }
        }
    }

    /// Re-computes when the task needs looking at again and files it in the timer set.
    pub(crate) fn rearm(&mut self, id: TaskId) {
        let Some(time_ref) = self.tasks.get(&id).map(|e| e.poco.config().time_ref) else { return };
        let relax_period = self.relax_period(time_ref);
        let Some(entry) = self.tasks.get_mut(&id) else { return };
        let now = self.now;
        let final_deadline = entry.poco.final_deadline();
        let wake = if entry.gave_up || entry.is_over() {
            Some(final_deadline)
        } else {
            let runs =
                entry.runs.iter().filter(|r| r.state == RunState::Running).map(|r| r.timeout_at);
            let retry = entry.requested.map(|(_, at)| at.saturating_add(time_ref));
            // A task waiting for a light enough worker looks again when its k relaxes.
            let relax = (entry.waiting.is_some() && self.config.long_con.relax).then(|| {
                let age = now.saturating_sub(entry.initialized_at);
                let step = relax_period;
                entry.initialized_at.saturating_add(
                    age.checked_div(step).unwrap_or(0).saturating_add(1).saturating_mul(step),
                )
            });
            runs.chain(entry.poco.poll_deadline())
                .chain(relax)
                .chain(entry.poco.reveal_deadline())
                .chain(retry)
                .chain([final_deadline])
                .filter(|t| *t > now)
                .min()
        };
        // A filed wake-up that is still ahead and earlier than the new one stays: it only makes
        // the task look again a little early (every decision is level-triggered), and spares
        // the timer set a removal and an insertion on most steps.
        let keep = matches!((entry.wake, wake), (Some(old), Some(new)) if old > now && old <= new);
        if entry.wake != wake && !keep {
            if let Some(old) = entry.wake {
                self.timers.remove(&(old, id));
            }
            if let Some(new) = wake {
                self.timers.insert((new, id));
            }
            entry.wake = wake;
        }
        if entry.gave_up && final_deadline <= now {
            self.end_task(id);
        }
    }
}
