//! What the worker's loop does with the Hub's events and with the actions coming back
//! ([`super::service`]; the scheduler's requests and the link are in `requests`). Each task's
//! state changes through its state machine, is stored, logged in one line, and then acted on
//! ([`Service::drive`]).

use std::{
    future::Future,
    time::{Duration, Instant},
};

use alloy::primitives::B256;
use quorate_contracts::bindings::Hub::HubEvents;
use quorate_p2p::{
    Message,
    wire::{self, ContributionNotice, Report, ResultUpload, TaskReport},
};
use quorate_primitives::{ResultHash, TaskId};
use tracing::{debug, info, warn};

use super::{
    WorkerError,
    service::{Done, Service},
    task::{HeldTask, Next, Phase},
};
use crate::{
    chain::{ChainError, EventBatch},
    job::local::LocalOutcome,
    worker::chain as tx,
};

/// First wait before an action that failed for a passing reason is tried again.
const RETRY_INITIAL: Duration = Duration::from_secs(1);
/// Longest wait.
const RETRY_MAX: Duration = Duration::from_secs(60);
/// Longest time the cursor goes unstored while no task is held.
const CURSOR_EVERY: Duration = Duration::from_secs(60);

/// A task id as logs show it: its first bytes.
pub(super) fn short(task: TaskId) -> String {
    let text = task.to_string();
    text.get(..10).unwrap_or(&text).to_owned()
}

pub(super) use crate::unix_now;

/// The Hub refusal a chain error carries, if any.
/// The name of a refusal whose reason could not be read (`chain::calls::replay`).
const UNREAD: &str = "unknown";

/// Sends again of a call that reverted for an unread reason.
const UNREAD_RETRIES: u32 = 3;

fn refusal(e: &ChainError) -> Option<&str> {
    e.refusal().map(|r| r.name.as_str())
}

impl Service {
    // ------------------------------------------------------------------ the chain

    /// Applies a batch of Hub events to the held tasks; stores the changes with the cursor in
    /// one commit, then acts on them.
    pub(super) fn on_chain(&mut self, batch: &EventBatch) -> Result<(), WorkerError> {
        let mut changed: Vec<TaskId> = Vec::new();
        // Replicas overtaken by a consensus before their vote, told off-chain: the computed
        // ones with their hash, the others as dropped.
        let mut overtaken: Vec<(TaskId, ResultHash)> = Vec::new();
        let mut dropped: Vec<TaskId> = Vec::new();
        let mut passed: Vec<&'static str> = Vec::new();
        for log in &batch.events {
            self.meter.on_event(&log.event, self.me);
            let (task, what) = match &log.event {
                HubEvents::TaskContributed(e) if e.worker == self.me => (e.taskId, "contributed"),
                HubEvents::TaskConsensus(e) => (e.taskId, "consensus"),
                HubEvents::TaskRevealed(e) if e.worker == self.me => (e.taskId, "revealed"),
                HubEvents::TaskFinalized(e) => (e.taskId, "finalized"),
                HubEvents::TaskClaimed(e) => (e.taskId, "claimed"),
                HubEvents::TaskReopened(e) => (e.taskId, "reopened"),
                _ => continue,
            };
            let task = TaskId(task);
            let Some(held) = self.tasks.get_mut(&task) else { continue };
            let before = held.phase_name();
            match &log.event {
                HubEvents::TaskContributed(_) => held.on_contributed(Some(log.tx)),
                HubEvents::TaskConsensus(e) => {
                    let unvoted = match &held.phase {
                        Phase::Computed(result) => Some(Some(result.digest.vote(task))),
                        Phase::Assigned => Some(None),
                        _ => None,
                    };
                    held.on_consensus(
                        ResultHash::from(e.consensusHash),
                        e.revealDeadline.saturating_to(),
                    );
                    match unvoted.filter(|_| matches!(held.phase, Phase::Done)) {
                        Some(Some(hash)) => overtaken.push((task, hash)),
                        Some(None) => dropped.push(task),
                        None => {}
                    }
                }
                HubEvents::TaskRevealed(_) => held.on_revealed(),
                HubEvents::TaskReopened(_) => held.on_reopened(),
                HubEvents::TaskFinalized(_) => held.on_finalized(),
                _ => held.on_ended(),
            }
            if held.phase_name() != before {
                info!(target: "quorate::worker", task = %short(task), block = log.block, "{before} → {} ({what} on chain)", held.phase_name());
                passed.push(held.phase_name());
                if !changed.contains(&task) {
                    changed.push(task);
                }
            }
        }
        for (task, result_hash) in overtaken {
            self.tell_scheduler(Message::ContributionNotice(ContributionNotice {
                task,
                result_hash,
                tx: B256::ZERO,
            }));
        }
        for task in dropped {
            self.tell_scheduler(Message::TaskReport(TaskReport {
                task,
                report: Report::Failed {
                    kind: super::OVERTAKEN.into(),
                    message: "a consensus was reached before this replica computed".into(),
                },
            }));
        }
        let now = Instant::now();
        // While a task is held the cursor is stored with every batch, so a restart reads every
        // event that may concern it; with none held, now and then.
        if changed.is_empty()
            && self.tasks.is_empty()
            && now.duration_since(self.cursor_stored) < CURSOR_EVERY
        {
            return Ok(());
        }
        let (ended, kept): (Vec<TaskId>, Vec<TaskId>) = changed
            .into_iter()
            .partition(|t| self.tasks.get(t).is_some_and(|h| matches!(h.phase, Phase::Done)));
        let kept_tasks: Vec<HeldTask> =
            kept.iter().filter_map(|t| self.tasks.get(t).cloned()).collect();
        self.store.apply_chain(&kept_tasks, &ended, batch.cursor)?;
        // Every phase a task went through in the batch (a vote and its consensus may come in
        // one block): a crash point at any of them is reached once the batch is stored.
        for phase in passed {
            crate::crash::at("worker", phase);
        }
        self.cursor_stored = now;
        for task in ended {
            self.drop_task(task);
        }
        for task in kept {
            self.drive(task);
        }
        Ok(())
    }

    // ------------------------------------------------------------------ actions coming back

    pub(super) async fn on_done(&mut self, done: Done) -> Result<(), WorkerError> {
        self.count(&done);
        match done {
            Done::Found(peer) => {
                let action = self.link.on_connected(peer);
                self.act(action);
            }
            Done::Joined { peer, answer } => {
                let accepted = match answer {
                    Ok(Message::JoinAccepted(a)) => Some(a.heartbeat_interval_s),
                    Ok(Message::JoinRefused(r)) if r.pool == self.pool && r.reason.is_final() => {
                        // Only the pool's owner can say so (its scheduler's proof): waiting
                        // changes nothing, the operator or the configuration must.
                        return Err(WorkerError::Refused(format!(
                            "the scheduler of {} refused this worker: {}",
                            self.pool,
                            wire::fit_text(&r.detail, wire::MAX_TEXT)
                        )));
                    }
                    Ok(Message::JoinRefused(r)) => {
                        warn!(target: "quorate::worker", %peer, reason = ?r.reason, "join refused: {}", r.detail);
                        None
                    }
                    Ok(other) => {
                        warn!(target: "quorate::worker", %peer, "join answered with {}", other.kind().name());
                        None
                    }
                    Err(e) => {
                        warn!(target: "quorate::worker", %peer, "join failed: {e}");
                        None
                    }
                };
                let action = self.link.on_join(peer, accepted, Instant::now());
                self.act(action);
            }
            Done::Heartbeat { peer, answer } => {
                let answer = match answer {
                    Ok(_) => Ok(true),
                    Err(quorate_p2p::Error::Refused { reason }) => {
                        warn!(target: "quorate::worker", %peer, "heartbeat refused: {reason}");
                        Ok(false)
                    }
                    Err(e) => {
                        debug!(target: "quorate::worker", %peer, "heartbeat failed: {e}");
                        Err(())
                    }
                };
                let action = self.link.on_heartbeat(peer, answer);
                self.act(action);
            }
            Done::Recovered { answer } => self.on_recovery(answer)?,
            Done::Ran { task, outcome, started, sandbox, ended } => {
                let waited = ended.elapsed();
                self.on_ran(task, outcome)?;
                // The worker's own part: fetching, hashing, checking, storing.
                let overhead = started.elapsed().saturating_sub(sandbox);
                let us = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
                debug!(
                    target: "quorate::worker",
                    task = %short(task),
                    overhead_us = us(overhead),
                    sandbox_us = us(sandbox),
                    // Of the overhead: before the sandbox, and waiting for the loop after it.
                    prepare_us = us(ended.duration_since(started).saturating_sub(sandbox)),
                    loop_wait_us = us(waited),
                    "task computed"
                );
            }
            Done::Contributed { task, result, on_chain } => {
                self.on_contributed(task, result, on_chain)?;
            }
            Done::Revealed { task, result, on_chain } => {
                self.on_revealed(task, result, on_chain)?;
            }
            Done::Reported { task, answer } => {
                self.busy.remove(&task);
                match answer {
                    Ok(_) | Err(quorate_p2p::Error::Refused { .. }) => {
                        self.change(task, HeldTask::on_failure_reported, "failure reported")?;
                    }
                    Err(e) => self.later(task, &format!("failure report not delivered: {e}")),
                }
            }
            Done::Uploaded { task, answer } => {
                self.busy.remove(&task);
                match answer {
                    Ok(_) => self.change(task, HeldTask::on_uploaded, "result uploaded")?,
                    Err(quorate_p2p::Error::Refused { reason }) => {
                        // Kept and sent again: the scheduler may not have read the reveal yet.
                        // Once the task is finalized a refusal is final.
                        self.later(task, &format!("the scheduler refused the result: {reason}"));
                        self.change(task, HeldTask::on_upload_refused, "upload refused")?;
                    }
                    Err(e) => self.later(task, &format!("upload not delivered: {e}")),
                }
            }
            Done::RevealAsked { task, deadline } => match deadline {
                Ok(Some(deadline)) => self.change(
                    task,
                    |t| t.on_reveal_requested(deadline),
                    "reveal requested by the scheduler",
                )?,
                Ok(None) => {
                    debug!(target: "quorate::worker", task = %short(task), "reveal asked while the task is not revealing");
                }
                Err(e) => {
                    warn!(target: "quorate::worker", task = %short(task), "cannot read the task for a reveal request: {e}");
                }
            },
        }
        Ok(())
    }

    fn on_ran(&mut self, task: TaskId, outcome: LocalOutcome) -> Result<(), WorkerError> {
        self.busy.remove(&task);
        self.progress_sent.remove(&task);
        if let Some(report) = self.console.flush(task, Instant::now()) {
            self.tell_scheduler(Message::TaskReport(TaskReport { task, report }));
        }
        match outcome {
            LocalOutcome::Agreed(outcome) => {
                let bytes = crate::adversary::result(outcome.to_bytes());
                self.change(task, move |t| t.on_computed(bytes), "computed and stored")
            }
            LocalOutcome::Failed { kind, message } => {
                warn!(target: "quorate::worker", task = %short(task), kind, "the task failed on this machine: {message}");
                self.failures.insert(task, message);
                self.change(task, |t| t.on_machine_failure(&kind), "machine failure")
            }
        }
    }

    fn on_contributed(
        &mut self,
        task: TaskId,
        result: Result<alloy::rpc::types::TransactionReceipt, ChainError>,
        on_chain: bool,
    ) -> Result<(), WorkerError> {
        self.busy.remove(&task);
        match result {
            Ok(receipt) => {
                let tx = receipt.transaction_hash;
                self.change(task, |t| t.on_contributed(Some(tx)), "contribute mined")?;
                self.notify_contribution(task, tx);
                Ok(())
            }
            Err(_) if on_chain => {
                self.change(task, |t| t.on_contributed(None), "its vote is on chain already")
            }
            Err(e) => match refusal(&e) {
                Some("AlreadyContributed") => {
                    self.change(task, |t| t.on_contributed(None), "contribution already on chain")
                }
                // Reverted when mined for a reason the state before its block does not show
                // (another transaction of the block changed it, or the gas estimated against
                // the old state ran out): sent again, estimated against the new state, which
                // either passes or names its refusal.
                Some(UNREAD) if self.retry_unread(task) => {
                    self.later(task, &format!("contribute reverted when mined: {e}"));
                    Ok(())
                }
                Some("InsufficientFreeBalance") => {
                    warn!(target: "quorate::worker", task = %short(task), "cannot stake on the vote: {e}");
                    self.failures.insert(task, e.to_string());
                    self.change(task, |t| fail(t, "no_stake"), "no stake")
                }
                Some(_) => {
                    warn!(target: "quorate::worker", task = %short(task), "the Hub refused the vote: {e}");
                    // The scheduler learns this replica's answer off-chain (a vote overtaken
                    // by a consensus is still compared with it) and frees its slot.
                    self.notify_contribution(task, B256::ZERO);
                    self.change(task, HeldTask::on_ended, "vote refused")
                }
                None if matches!(e, ChainError::InsufficientGasFunds { .. }) => {
                    warn!(target: "quorate::worker", task = %short(task), "{e}");
                    self.failures.insert(task, e.to_string());
                    self.change(task, |t| fail(t, "no_gas"), "no gas")
                }
                None => {
                    self.later(task, &format!("contribute failed: {e}"));
                    Ok(())
                }
            },
        }
    }

    fn on_revealed(
        &mut self,
        task: TaskId,
        result: Result<alloy::rpc::types::TransactionReceipt, ChainError>,
        on_chain: bool,
    ) -> Result<(), WorkerError> {
        self.busy.remove(&task);
        match result {
            Ok(_) => self.change(task, HeldTask::on_revealed, "reveal mined"),
            // Its result is still to be uploaded.
            Err(_) if on_chain => {
                self.change(task, HeldTask::on_revealed, "its reveal is on chain already")
            }
            Err(e) => match refusal(&e) {
                Some("AlreadyRevealed") => {
                    self.change(task, HeldTask::on_revealed, "reveal already on chain")
                }
                Some(UNREAD) if self.retry_unread(task) => {
                    self.later(task, &format!("reveal reverted when mined: {e}"));
                    Ok(())
                }
                Some(_) => {
                    warn!(target: "quorate::worker", task = %short(task), "the Hub refused the reveal: {e}");
                    self.change(task, HeldTask::on_ended, "reveal refused")
                }
                None => {
                    self.later(task, &format!("reveal failed: {e}"));
                    Ok(())
                }
            },
        }
    }

    fn notify_contribution(&self, task: TaskId, tx: B256) {
        let Some(held) = self.tasks.get(&task) else { return };
        let Some(result) = held.result() else { return };
        self.tell_scheduler(Message::ContributionNotice(ContributionNotice {
            task,
            result_hash: result.digest.vote(task),
            tx,
        }));
    }

    /// True while a call of `task` that reverted for an unread reason may be sent again (at
    /// most [`UNREAD_RETRIES`] times: each mined revert costs gas); then it is refused for good.
    fn retry_unread(&mut self, task: TaskId) -> bool {
        let tries = self.unread.entry(task).or_default();
        *tries = tries.saturating_add(1);
        *tries <= UNREAD_RETRIES
    }

    /// Sends the joined scheduler `message` (a report, a replica's answer with `tx` zero when
    /// it never reached the chain), without waiting for its answer.
    pub(super) fn tell_scheduler(&self, message: Message) {
        let Some(peer) = self.link.joined() else { return };
        let client = self.client.clone();
        tokio::spawn(async move {
            let _ = client.request(peer, message).await;
        });
    }

    // ------------------------------------------------------------------ state and actions

    /// Moves `task` with `step`; when its phase changed, stores it (or forgets it when done),
    /// logs one line, and acts on it.
    pub(super) fn change(
        &mut self,
        task: TaskId,
        step: impl FnOnce(&mut HeldTask),
        why: &str,
    ) -> Result<(), WorkerError> {
        let Some(held) = self.tasks.get_mut(&task) else { return Ok(()) };
        let before = held.phase_name();
        step(held);
        let after = held.phase_name();
        if before == after {
            self.drive(task);
            return Ok(());
        }
        info!(target: "quorate::worker", task = %short(task), "{before} → {after} ({why})");
        if matches!(held.phase, Phase::Done) {
            return self.forget(task);
        }
        self.store.put_task(held)?;
        crate::crash::at("worker", after);
        self.retry.remove(&task);
        self.drive(task);
        Ok(())
    }

    /// Tries an action again later, with a growing wait.
    pub(super) fn later(&mut self, task: TaskId, why: &str) {
        let wait = self.retry.get(&task).map_or(RETRY_INITIAL, |(_, w)| *w);
        warn!(target: "quorate::worker", task = %short(task), retry_in = ?wait, "{why}");
        self.retry.insert(task, (Instant::now() + wait, wait.saturating_mul(2).min(RETRY_MAX)));
    }

    pub(super) fn drive_all(&mut self) {
        let tasks: Vec<TaskId> = self.tasks.keys().copied().collect();
        for task in tasks {
            self.drive(task);
        }
    }

    /// Starts what `task` needs next, unless an action of it is in flight or waits to retry.
    pub(super) fn drive(&mut self, task: TaskId) {
        if self.busy.contains(&task)
            || self.retry.get(&task).is_some_and(|(at, _)| Instant::now() < *at)
        {
            return;
        }
        let Some(next) = self.tasks.get(&task).map(|held| held.next(unix_now())) else { return };
        match next {
            Next::Wait => {}
            Next::Forget => {
                let phase = self.tasks.get(&task).map_or("", HeldTask::phase_name);
                info!(target: "quorate::worker", task = %short(task), phase, "nothing left to do: forgotten");
                if let Err(e) = self.forget(task) {
                    warn!(target: "quorate::worker", task = %short(task), "cannot forget the task: {e}");
                }
            }
            Next::Run if crate::adversary::worker() == crate::adversary::Adversary::Lazy => {
                // Computes nothing: waits for another worker's vote on chain and copies it, with
                // an empty result whose digest cannot open it.
                info!(target: "quorate::worker", task = %short(task), "not computing: copying a vote (QUORATE_ADVERSARY)");
                let (provider, hub, me) = (self.chain.provider().clone(), self.hub, self.me);
                self.spawn(task, async move {
                    let started = Instant::now();
                    crate::adversary::copy_a_vote(&provider, hub, task, me).await;
                    let outcome =
                        LocalOutcome::Agreed(quorate_primitives::TaskOutcome::Value(Vec::new()));
                    let (sandbox, ended) = (Duration::ZERO, Instant::now());
                    Done::Ran { task, outcome, started, sandbox, ended }
                });
            }
            Next::Run => {
                let Some(peer) = self.link.peer() else { return };
                let Some(held) = self.tasks.get(&task) else { return };
                let assignment = held.assignment.clone();
                info!(target: "quorate::worker", task = %short(task), "running");
                let runner = std::sync::Arc::clone(&self.runner);
                self.spawn(task, async move {
                    let started = Instant::now();
                    let (outcome, sandbox) = runner.run(&assignment, peer).await;
                    Done::Ran { task, outcome, started, sandbox, ended: Instant::now() }
                });
            }
            Next::Contribute(digest) => {
                let Some(held) = self.tasks.get(&task) else { return };
                let authorization = held.assignment.authorization.clone();
                let (chain, hub) = (self.chain.clone(), self.hub);
                self.spawn(task, async move {
                    let result = tx::contribute(&chain, hub, task, digest, &authorization).await;
                    let on_chain =
                        tx::refused_but_on_chain(&chain, hub, task, &result, false).await;
                    Done::Contributed { task, result, on_chain }
                });
            }
            Next::Reveal(_)
                if crate::adversary::worker() == crate::adversary::Adversary::Withhold =>
            {
                warn!(target: "quorate::worker", task = %short(task), "withholding the reveal (QUORATE_ADVERSARY)");
            }
            Next::Reveal(digest) => {
                let (chain, hub) = (self.chain.clone(), self.hub);
                self.spawn(task, async move {
                    let result = tx::reveal(&chain, hub, task, digest).await;
                    let on_chain = tx::refused_but_on_chain(&chain, hub, task, &result, true).await;
                    Done::Revealed { task, result, on_chain }
                });
            }
            Next::ReportFailure(kind) => {
                let Some(peer) = self.link.joined() else { return };
                let message = self.failures.get(&task).cloned().unwrap_or_default();
                let report = TaskReport {
                    task,
                    report: Report::Failed {
                        kind: wire::fit_text(&kind, wire::MAX_FAILURE_KIND),
                        message: wire::fit_text(&message, wire::MAX_TEXT),
                    },
                };
                let client = self.client.clone();
                self.spawn(task, async move {
                    let answer = client.request(peer, Message::TaskReport(report)).await;
                    Done::Reported { task, answer }
                });
            }
            Next::Upload => {
                let Some(peer) = self.link.joined() else { return };
                let Some(bytes) = self.tasks.get(&task).and_then(|h| h.result()).map(|r| &r.bytes)
                else {
                    return;
                };
                if bytes.len() > wire::MAX_CHUNK {
                    // Too large for one message: kept until the task ends (fetching results by
                    // hash from workers is not part of the protocol yet).
                    warn!(target: "quorate::worker", task = %short(task), bytes = bytes.len(), "the result is too large to upload in one message");
                    if let Err(e) = self.change(task, HeldTask::on_uploaded, "too large to upload")
                    {
                        warn!(target: "quorate::worker", task = %short(task), "{e}");
                    }
                    return;
                }
                let upload = ResultUpload { task, result: bytes.clone() };
                let client = self.client.clone();
                crate::crash::at("worker", "uploading");
                self.spawn(task, async move {
                    let answer = client.request(peer, Message::ResultUpload(upload)).await;
                    Done::Uploaded { task, answer }
                });
            }
        }
    }

    /// Runs one action of `task` on its own tokio task; its answer comes back as a [`Done`].
    fn spawn(&mut self, task: TaskId, action: impl Future<Output = Done> + Send + 'static) {
        self.busy.insert(task);
        let done = self.done.clone();
        tokio::spawn(async move {
            let _ = done.send(action.await).await;
        });
    }

    /// Deletes a task from the store, then from memory.
    pub(super) fn forget(&mut self, task: TaskId) -> Result<(), WorkerError> {
        self.store.delete_task(task)?;
        self.drop_task(task);
        Ok(())
    }

    /// Drops a task from memory (already deleted from the store), and its job's data once no
    /// held task needs it.
    fn drop_task(&mut self, task: TaskId) {
        let Some(held) = self.tasks.remove(&task) else { return };
        self.retry.remove(&task);
        self.unread.remove(&task);
        self.failures.remove(&task);
        self.progress_sent.remove(&task);
        self.console.remove(task);
        let job = held.assignment.job;
        if !self.tasks.values().any(|t| t.assignment.job == job) {
            let keep: Vec<_> = self.tasks.values().map(|t| t.assignment.job).collect();
            if let Err(e) = self.store.prune_jobs(&keep) {
                warn!(target: "quorate::worker", "cannot prune job data: {e}");
            }
        }
    }
}

/// A failure of this machine or account after the task was computed (no stake, no gas): the
/// vote is not sent; the scheduler is told.
fn fail(task: &mut HeldTask, kind: &str) {
    if matches!(task.phase, Phase::Computed(_)) {
        task.phase = Phase::Failed { kind: kind.to_owned() };
    }
}
