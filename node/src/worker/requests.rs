//! What the worker's loop does with the scheduler: its requests (assignments, reveal requests,
//! aborts), the link (joins, heartbeats, recovery after a rejoin) and progress reports.

use std::time::{Duration, Instant};

use quorate_evaluator::sandbox::Event as SandboxEvent;
use quorate_p2p::{
    Event, Message, PeerId, Responder,
    guard::Offence,
    identity::VerifiedPeer,
    wire::{
        self, Abort, Heartbeat, JoinRequest, RecoveryRequest, Report, RevealRequest,
        TaskAssignment, TaskInput, TaskReport, TaskState, WorkerCapabilities, evaluators,
    },
};
use quorate_primitives::TaskId;
use tracing::{debug, info, warn};

use super::{
    WorkerError,
    actions::{short, unix_now},
    link::Action,
    service::{Done, Service},
    task::{Assignment, HeldTask, Input},
};

/// Least time between two progress reports of one task.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);
/// How long without a scheduler before the log says so (and again every such period).
const SEARCH_WARNING: Duration = Duration::from_secs(60);

impl Service {
    // ------------------------------------------------------------------ the network

    pub(super) async fn on_network(&mut self, event: Event) -> Result<(), WorkerError> {
        match event {
            Event::Request { peer, identity, message, responder, .. } => {
                self.on_request(peer, identity, message, responder).await
            }
            Event::SchedulerConnected { pool, peer } if pool == self.pool => {
                let action = self.link.on_connected(peer);
                self.act(action);
                Ok(())
            }
            Event::SchedulerLost { pool, peer } if pool == self.pool => {
                warn!(target: "quorate::worker", %peer, "scheduler lost; reconnecting");
                self.link.on_lost(peer);
                self.heartbeat = None;
                Ok(())
            }
            Event::PeerRefused { peer, error } => {
                debug!(target: "quorate::worker", %peer, "peer refused: {error}");
                Ok(())
            }
            _ => Ok(()),
        }
    }

    async fn on_request(
        &mut self,
        peer: PeerId,
        identity: VerifiedPeer,
        message: Message,
        responder: Responder,
    ) -> Result<(), WorkerError> {
        let mut offence = None;
        let (answer, then) = match message {
            Message::TaskAssignment(a) => {
                let task = a.task;
                // Not from the pool owner's scheduler: an offence, which the network's guard
                // scores and bans at its threshold. (An authorization the owner's own scheduler
                // got wrong, another worker's say, is refused with its reason but costs the
                // pool's scheduler nothing: a scheduler's mistake must not cut its workers off.)
                let forged = identity.address != self.owner;
                match self.on_assignment(&identity, a) {
                    Ok(()) => {
                        self.meter.counts.assigned = self.meter.counts.assigned.saturating_add(1);
                        (Message::Ack, Some(task))
                    }
                    Err(reason) => {
                        self.meter.error("assignment_refused");
                        if forged {
                            warn!(target: "quorate::worker", task = %short(task), %peer, "a forged assignment, reported to the network guard: {reason}");
                            offence = Some(Offence::BadIdentity);
                        } else {
                            info!(target: "quorate::worker", task = %short(task), "assignment refused: {reason}");
                        }
                        (Message::Refused { reason: wire::fit_text(&reason, wire::MAX_TEXT) }, None)
                    }
                }
            }
            Message::RevealRequest(RevealRequest { task }) if identity.address == self.owner => {
                match self.tasks.get(&task) {
                    Some(_) => {
                        self.ask_reveal(task);
                        (Message::Ack, None)
                    }
                    None => (
                        Message::Refused { reason: format!("this worker holds no task {task}") },
                        None,
                    ),
                }
            }
            Message::Abort(Abort { task, reason }) if identity.address == self.owner => {
                let answer = self.on_abort(task, &reason)?;
                (answer, None)
            }
            other => {
                let reason = format!(
                    "a worker of {} takes no {} from {}",
                    self.pool,
                    other.kind().name(),
                    identity.address
                );
                (Message::Refused { reason: wire::fit_text(&reason, wire::MAX_TEXT) }, None)
            }
        };
        if let Err(e) = self.client.respond(responder, answer).await {
            debug!(target: "quorate::worker", %peer, "answer not delivered: {e}");
        }
        // Reported once the answer has left (a ban closes the connection), so that the sender
        // learns why.
        if let Some(offence) = offence {
            let client = self.client.clone();
            tokio::spawn(async move {
                tokio::time::sleep(quorate_p2p::guard::ANSWER_GRACE).await;
                let _ = client.report(peer, offence).await;
            });
        }
        if let Some(task) = then {
            self.drive(task);
        }
        Ok(())
    }

    /// Takes an assignment (stored before it is acknowledged), or says why not.
    fn on_assignment(&mut self, identity: &VerifiedPeer, a: TaskAssignment) -> Result<(), String> {
        if a.pool != self.pool {
            return Err(format!("this worker serves {}, not {}", self.pool, a.pool));
        }
        if identity.address != self.owner {
            return Err(format!("{} does not own {}", identity.address, self.pool));
        }
        // As the contract will check it: the owner's signature for this worker, task and round.
        let signer = a
            .authorization_for(self.me)
            .signer(&a.authorization)
            .map_err(|e| format!("the authorization does not verify: {e}"))?;
        if signer != self.owner {
            return Err(format!(
                "the authorization for this worker, task and round is signed by {signer}, not by the pool owner {}",
                self.owner
            ));
        }
        if self.draining.is_some() {
            return Err("this worker is stopping and takes no new task".into());
        }
        if a.deadline <= unix_now() {
            return Err(format!("the contribution deadline {} has passed", a.deadline));
        }
        let input = match a.input {
            TaskInput::Inline(bytes) => Input::Inline(bytes),
            TaskInput::ByHash { hash, size } => Input::ByHash { hash, size },
        };
        let assignment = Assignment {
            pool: a.pool,
            task: a.task,
            job: a.job,
            input,
            round: a.round,
            authorization: a.authorization.to_vec(),
            deadline: a.deadline,
        };
        let held = match self.tasks.get(&a.task) {
            // Held already: a result computed or voted is never overwritten.
            Some(held) => {
                let mut held = held.clone();
                if !held.reassign(assignment)? {
                    return Ok(()); // the same assignment again: already taken
                }
                held
            }
            None => {
                let used = self.tasks.values().filter(|t| t.holds_slot()).count();
                if used >= self.slots {
                    return Err(format!(
                        "no free slot: all {} sandboxes of this worker are busy",
                        self.slots
                    ));
                }
                HeldTask::assigned(assignment)
            }
        };
        if let Err(e) = self.store.put_task(&held) {
            warn!(target: "quorate::worker", task = %short(a.task), "cannot store the task: {e}");
            return Err("this worker cannot store the task now".into());
        }
        info!(target: "quorate::worker", task = %short(a.task), job = %a.job, round = a.round, "task assigned");
        self.retry.remove(&a.task);
        self.tasks.insert(a.task, held);
        Ok(())
    }

    fn on_abort(&mut self, task: TaskId, reason: &str) -> Result<Message, WorkerError> {
        let Some(held) = self.tasks.get_mut(&task) else { return Ok(Message::Ack) };
        if !held.on_aborted() {
            let reason = format!("this worker already voted on task {task}");
            return Ok(Message::Refused { reason });
        }
        info!(target: "quorate::worker", task = %short(task), "task aborted by the scheduler: {}", wire::fit_text(reason, 80));
        self.forget(task)?;
        Ok(Message::Ack)
    }

    /// The scheduler wants the reveal (or the result again): the chain says until when.
    fn ask_reveal(&mut self, task: TaskId) {
        let provider = self.chain.provider().clone();
        let (hub, done) = (self.hub, self.done.clone());
        tokio::spawn(async move {
            let hub = quorate_contracts::bindings::Hub::new(hub, provider);
            let deadline = match hub.task(task.0).call().await {
                // REVEALING
                Ok(view) if view.status == 2 => Ok(Some(view.revealDeadline.saturating_to())),
                Ok(_) => Ok(None),
                Err(e) => Err(e.to_string()),
            };
            let _ = done.send(Done::RevealAsked { task, deadline }).await;
        });
    }

    /// A running task's progress or console line, relayed to the scheduler for the client.
    pub(super) fn on_event(&mut self, task: TaskId, event: &SandboxEvent) {
        if let SandboxEvent::Progress { fraction: Some(fraction) } = event
            && self.tasks.contains_key(&task)
        {
            // In [0, 1000]: the cast cannot truncate.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "clamped")]
            let per_mille = (fraction.clamp(0.0, 1.0) * 1000.0) as u16;
            self.meter.progress.insert(task, per_mille);
        }
        if self.link.joined().is_none() || !self.tasks.contains_key(&task) {
            return;
        }
        let now = Instant::now();
        let report = match event {
            SandboxEvent::Console { level, text } => {
                let report = self.console.push(task, *level, text, now);
                // A line that comes after its task's run ended goes at once.
                if self.busy.contains(&task) { report } else { self.console.flush(task, now) }
            }
            SandboxEvent::Progress { fraction: Some(fraction) } => {
                if self
                    .progress_sent
                    .get(&task)
                    .is_some_and(|at| now.duration_since(*at) < PROGRESS_EVERY)
                {
                    return;
                }
                self.progress_sent.insert(task, now);
                // In [0, 1000]: the cast cannot truncate.
                #[allow(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "clamped"
                )]
                let per_mille = (fraction.clamp(0.0, 1.0) * 1000.0).round() as u16;
                Some(Report::Progress(per_mille))
            }
            SandboxEvent::Progress { fraction: None } => None,
        };
        if let Some(report) = report {
            self.tell_scheduler(Message::TaskReport(TaskReport { task, report }));
        }
    }

    // ------------------------------------------------------------------ the link

    /// Does what the link says.
    pub(super) fn act(&mut self, action: Action) {
        let joined = self.link.joined();
        self.joined.send_if_modified(|was| std::mem::replace(was, joined) != joined);
        match action {
            Action::None => {}
            Action::Join(peer) => {
                info!(target: "quorate::worker", %peer, "joining the scheduler of {}", self.pool);
                // What the sandboxes compute on: the pool sends a task's replicas to one class.
                let measured = self.runner.executor.capabilities();
                let capabilities = WorkerCapabilities {
                    slots: u16::try_from(self.slots).unwrap_or(u16::MAX),
                    memory_mib: self.memory_mib,
                    evaluators: evaluators::JS
                        | evaluators::WASM
                        | if self.gpu { evaluators::WEBGPU } else { 0 },
                    gpu_class: measured.and_then(|c| c.gpu.clone()).filter(|_| self.gpu),
                    gpu_memory_mib: self.runner.executor.gpu_memory_mib(),
                    float_probe: crate::adversary::float_probe(
                        measured.map(|c| c.float_probe.clone()),
                    ),
                };
                let request = JoinRequest {
                    pool: self.pool,
                    capabilities,
                    credential: self.credential.clone(),
                };
                let (client, done) = (self.client.clone(), self.done.clone());
                tokio::spawn(async move {
                    let answer = client.request(peer, Message::JoinRequest(request)).await;
                    let _ = done.send(Done::Joined { peer, answer }).await;
                });
            }
            Action::Joined(peer, interval) => {
                info!(target: "quorate::worker", %peer, every = ?interval, "joined {}", self.pool);
                let mut heartbeat = tokio::time::interval(interval);
                heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                self.heartbeat = Some(heartbeat);
                // Always, even holding nothing: the scheduler may count on this worker for
                // replicas it never received (its assignment lost in a crash on either side),
                // which the list lets it plan again at once.
                let known: Vec<TaskId> =
                    self.tasks.keys().copied().take(wire::MAX_RECOVERY_TASKS).collect();
                let request = RecoveryRequest { pool: self.pool, known };
                let (client, done) = (self.client.clone(), self.done.clone());
                tokio::spawn(async move {
                    let answer = client.request(peer, Message::RecoveryRequest(request)).await;
                    let _ = done.send(Done::Recovered { answer }).await;
                });
                self.drive_all();
            }
        }
    }

    pub(super) fn send_heartbeat(&mut self) {
        let Some(peer) = self.link.joined() else { return };
        let running = self.tasks.values().filter(|t| t.holds_slot()).count();
        let free = if self.draining.is_some() { 0 } else { self.slots.saturating_sub(running) };
        let heartbeat = Heartbeat {
            pool: self.pool,
            free_slots: u16::try_from(free).unwrap_or(u16::MAX),
            running: u16::try_from(running).unwrap_or(u16::MAX),
        };
        let (client, done) = (self.client.clone(), self.done.clone());
        tokio::spawn(async move {
            let answer = client.request(peer, Message::Heartbeat(heartbeat)).await;
            let _ = done.send(Done::Heartbeat { peer, answer }).await;
        });
    }

    pub(super) fn on_tick(&mut self) {
        self.publish_status();
        let now = Instant::now();
        match (self.link.peer(), self.searching) {
            (Some(_), _) => self.searching = None,
            (None, None) => self.searching = Some(now),
            (None, Some(since)) if now.duration_since(since) >= SEARCH_WARNING => {
                warn!(target: "quorate::worker", owner = %self.owner, "no scheduler of {} found for {} s: is it running, and is --bootstrap (worker.bootstrap) a reachable node?", self.pool, now.duration_since(since).as_secs());
                self.searching = Some(now);
            }
            (None, Some(_)) => {}
        }
        let action = self.link.on_tick(now);
        self.act(action);
        for (task, report) in self.console.due(now) {
            self.tell_scheduler(Message::TaskReport(TaskReport { task, report }));
        }
        self.drive_all();
    }

    pub(super) fn on_recovery(
        &mut self,
        answer: Result<Message, quorate_p2p::Error>,
    ) -> Result<(), WorkerError> {
        let report = match answer {
            Ok(Message::RecoveryReport(report)) if report.pool == self.pool => report,
            Ok(other) => {
                debug!(target: "quorate::worker", "recovery answered with {}", other.kind().name());
                return Ok(());
            }
            Err(e) => {
                debug!(target: "quorate::worker", "recovery request failed: {e}");
                return Ok(());
            }
        };
        for status in report.tasks {
            if !self.tasks.contains_key(&status.task) {
                continue;
            }
            match status.state {
                TaskState::Assigned => {}
                TaskState::RevealRequested => self.ask_reveal(status.task),
                TaskState::Aborted => {
                    self.on_abort(status.task, "recovery")?;
                }
                TaskState::Done => {
                    self.change(status.task, HeldTask::on_ended, "done, says the scheduler")?;
                }
            }
        }
        Ok(())
    }
}
