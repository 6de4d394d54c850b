//! The loop's side of the dashboard: the view it publishes every second, what it counts from
//! the Hub's events and its own doings, and the operator's commands (pause, drain, revoke).

#[allow(clippy::wildcard_imports, reason = "one loop's methods, split by concern")]
use super::*;
use crate::scheduler::dashboard::{
    Command, Order,
    observe::{Failure, Observed, TaskFacts},
    view::{DealRow, MAX_TASK_ROWS, Offer, PoolView, TaskRow, WorkerRow},
};

/// What the dashboard counts, kept with the follower's cursor.
pub(super) const OBSERVED: Table<String, Observed> = Table::new("dashboard_observed");
/// The operator's switches: `paused`.
pub(super) const SWITCHES: Table<String, bool> = Table::new("operator_switches");
/// Workers the operator drains, and since when.
pub(super) const DRAINED: Table<Address, u64> = Table::new("drained_workers");

/// The longest failure reason kept, in characters.
const MAX_REASON: usize = 240;

/// The key of the one [`OBSERVED`] record and of the `paused` switch.
pub(super) fn key(name: &str) -> String {
    name.to_owned()
}

/// The task a Hub event is about (`ref` for rewards and seizures).
fn task_of(event: &Hub::HubEvents) -> Option<B256> {
    use Hub::HubEvents as E;
    Some(match event {
        E::TaskInitialized(e) => e.taskId,
        E::TaskContributed(e) => e.taskId,
        E::TaskRevealed(e) => e.taskId,
        E::TaskFinalized(e) => e.taskId,
        E::TaskClaimed(e) => e.taskId,
        E::Rewarded(e) => e.r#ref,
        E::Seized(e) => e.r#ref,
        _ => return None,
    })
}

impl Service {
    /// Counts `log` when it is about one of the pool's tasks, or a worker's payout address.
    pub(super) fn observe(&mut self, log: &crate::chain::HubLog) {
        if let Hub::HubEvents::PayoutAddressSet(e) = &log.event {
            self.observed.payout(e.worker, e.payout);
            return;
        }
        let Some(task) = task_of(&log.event).map(TaskId::from) else { return };
        if let Some((deal, _)) = self.tasks.get(&task).copied() {
            let client = self.client_of(deal);
            // What the core knows of the task before the event moves it.
            let facts = self.core.task(&task).map_or_else(Default::default, |t| TaskFacts {
                since: t.initialized_at,
                votes: t.contributions,
            });
            self.observed.on_event(&log.event, log.time, deal, facts, (self.pool.owner, client));
        }
    }

    /// Notes a failure for the dashboard.
    pub(super) fn note_failure(
        &mut self,
        kind: &str,
        reason: &str,
        task: Option<TaskId>,
        worker: Option<Address>,
    ) {
        let deal = task.and_then(|t| self.deal_of(t)).map(|(deal, _)| deal);
        let client = deal.and_then(|d| self.client_of(d));
        // Bounded: a worker's words reach the operator and the deal's client.
        let reason: String = reason.chars().take(MAX_REASON).collect();
        self.observed.fail(Failure {
            at: unix_now(),
            kind: kind.into(),
            reason,
            task,
            deal,
            worker,
            client,
        });
    }

    /// Publishes the view, at most once a second.
    pub(super) fn publish_view(&mut self) {
        let Some(publish) = &self.dashboard else { return };
        let now = unix_now();
        if self.published_at == now {
            return;
        }
        self.published_at = now;
        let view = self.view(now);
        publish.send_replace(Arc::new(view));
    }

    fn view(&self, now: u64) -> PoolView {
        let mut deals: HashMap<DealId, DealRow> = HashMap::new();
        for (deal, job) in &self.deal_jobs {
            let Some(record) = self.jobs.get(job) else { continue };
            let ended = self.observed.deals.get(&deal.0).copied().unwrap_or_default();
            deals.insert(
                *deal,
                DealRow {
                    deal: *deal,
                    client: record.client,
                    job: job.to_string(),
                    tasks: record.task_count,
                    pending: 0,
                    waiting: 0,
                    active: 0,
                    revealing: 0,
                    completed: ended.completed,
                    failed: ended.failed,
                    results: 0,
                },
            );
        }
        let mut consensus = Vec::new();
        for task in self.core.tasks() {
            use quorate_poco::task::TaskStatus;
            let Some(row) = deals.get_mut(&task.deal) else { continue };
            let state = match task.status {
                TaskStatus::Active if task.waiting_since.is_some() && task.running == 0 => {
                    row.waiting = row.waiting.saturating_add(1);
                    "waiting"
                }
                TaskStatus::Active => {
                    row.active = row.active.saturating_add(1);
                    "active"
                }
                TaskStatus::Revealing => {
                    row.revealing = row.revealing.saturating_add(1);
                    "revealing"
                }
                TaskStatus::Completed | TaskStatus::Failed => continue,
            };
            consensus.push(TaskRow {
                task: task.id,
                deal: task.deal,
                index: task.index,
                state: state.into(),
                class: task.class.map(|c| self.platform_name(c)),
                replicas: self.core.running_replicas_of(&task.id),
                contributions: task.contributions,
                reveals: [task.reveals.0, task.reveals.1],
                progress: self.progress.get(&task.id).copied().unwrap_or(0),
                since: task.initialized_at,
            });
        }
        for task in self.results.keys() {
            if let Some(row) = self.deal_of(*task).and_then(|(deal, _)| deals.get_mut(&deal)) {
                row.results = row.results.saturating_add(1);
            }
        }
        let mut deals: Vec<DealRow> = deals.into_values().collect();
        for row in &mut deals {
            let known = [row.waiting, row.active, row.revealing, row.completed, row.failed]
                .into_iter()
                .fold(0u32, u32::saturating_add);
            row.pending = row.tasks.saturating_sub(known);
        }
        // Deals with work left first, then by id, for a stable page.
        deals.sort_by_key(|d| (d.completed.saturating_add(d.failed) >= d.tasks, d.deal.0));
        consensus.sort_by_key(|t| (t.since, t.task.0));
        consensus.truncate(MAX_TASK_ROWS);
        let workers = self
            .core
            .workers()
            .filter(|w| self.peers.contains_key(&w.record.address))
            .map(|w| {
                let tally =
                    self.observed.workers.get(&w.record.address).copied().unwrap_or_default();
                let caps = self.declared.get(&w.record.address).copied().unwrap_or(w.record.caps);
                WorkerRow {
                    address: w.record.address,
                    slots: caps.slots,
                    load: w.load,
                    memory_mib: caps.memory_mib,
                    gpu_memory_mib: caps.gpu_memory_mib,
                    evaluators: evaluator_names(caps.evaluators),
                    platform: self.platform_name(caps.platform.class()),
                    score: w.record.score.to_string(),
                    last_seen: w.record.seen,
                    earned: tally.earned.to_string(),
                    seized: tally.seized.to_string(),
                    contributions: tally.contributions,
                    barred: w.record.barred,
                    draining: self.drained.contains_key(&w.record.address),
                }
            })
            .collect();
        let stats = self.core.stats();
        let peer = self.p2p.peer_id();
        let price = parse_amount(&self.config.scheduler.price)
            .and_then(|a| a.in_currency(Currency::Qcr))
            .unwrap_or_default();
        PoolView {
            role: String::new(),
            account: None,
            at: now,
            offer: Offer {
                pool: self.pool.pool.0,
                owner: self.pool.owner,
                hub: self.pool.hub,
                chain_id: self.chain_id,
                price: price.to_string(),
                categories: self.config.scheduler.categories.clone(),
                worker_stake_percent: self.config.scheduler.worker_stake_percent,
                reward_percent: self.config.scheduler.reward_percent,
                order_trust: self.config.scheduler.order_trust,
                orders: if self.paused { 0 } else { self.orders.len() },
                private: self.config.scheduler.private,
                paused: self.paused,
                scheduler: peer.to_string(),
                addrs: self.addrs.iter().map(|a| format!("{a}/p2p/{peer}")).collect(),
                workers: self.peers.len(),
                free_slots: stats.free_capacity,
            },
            workers,
            deals,
            consensus,
            failures: self.observed.failures.iter().rev().cloned().collect(),
            balances: Default::default(),
            earned: self.observed.earned.to_string(),
            lost: self.observed.lost.to_string(),
            totals: self.observed.totals.clone(),
            history: self.observed.history(now),
            peers: self.peers.len(),
        }
    }

    /// Does what the operator asked, and answers.
    pub(super) fn on_command(&mut self, order: Order) {
        let answer = self.command(order.command);
        let _ = order.reply.send(answer);
        self.published_at = 0;
    }

    fn command(&mut self, command: Command) -> Result<String, String> {
        let now = unix_now();
        let pool = self.pool.pool;
        match command {
            Command::Pause(paused) => {
                let mut batch = Batch::default();
                batch.put(&SWITCHES, &key("paused"), &paused).map_err(|e| e.to_string())?;
                self.state.store().commit(batch).map_err(|e| e.to_string())?;
                self.paused = paused;
                tracing::info!(target: "quorate::scheduler", paused, "the operator switched the pool");
                Ok(if paused {
                    format!(
                        "{pool} is paused: it takes no new job and publishes no order; deals bought run to their end"
                    )
                } else {
                    format!("{pool} takes jobs again")
                })
            }
            Command::Drain(worker, drain) => {
                let mut batch = Batch::default();
                if drain {
                    batch.put(&DRAINED, &worker, &now).map_err(|e| e.to_string())?;
                } else {
                    batch.delete(&DRAINED, &worker);
                }
                self.state.store().commit(batch).map_err(|e| e.to_string())?;
                if drain {
                    self.drained.insert(worker, now);
                } else {
                    self.drained.remove(&worker);
                }
                // What it declared at its join, or, before it joined again since a restart,
                // what the core kept of it.
                let view = self.core.worker(&worker);
                let declared = self.declared.get(&worker).copied().or(view.map(|v| v.record.caps));
                if let (Some(view), Some(declared)) = (view, declared) {
                    let caps = if drain { WorkerCaps { slots: 0, ..declared } } else { declared };
                    self.core.handle_worker_joined(now, worker, caps, view.record.score);
                }
                tracing::info!(target: "quorate::scheduler", %worker, drain, "the operator drains a worker");
                Ok(if drain {
                    format!("{worker} is draining: it gets no new replica; its running ones finish")
                } else {
                    format!("{worker} gets replicas again")
                })
            }
            Command::Revoke(worker) => {
                use crate::scheduler::credentials::Register;
                let path = Register::path(&self.config);
                let mut register = Register::load(&path)?;
                let fresh = register.revoke(worker, now);
                register.save(&path)?;
                if let Some(peer) = self.peers.remove(&worker) {
                    self.addresses.remove(&peer);
                    let _ = self.core.handle_worker_lost(now, worker);
                }
                tracing::info!(target: "quorate::scheduler", %worker, "the operator revoked a worker");
                Ok(if fresh {
                    format!(
                        "{worker} is revoked: dropped now, its replicas planned elsewhere, and refused whatever it holds"
                    )
                } else {
                    format!("{worker} was revoked already")
                })
            }
        }
    }
}

impl Service {
    /// A platform class as the workers of that class described it, else its numbers.
    pub(super) fn platform_name(&self, class: u64) -> String {
        self.platforms.get(&class).cloned().unwrap_or_else(|| {
            format!("gpu {:08x} / fp {:08x}", class >> 32, class & u64::from(u32::MAX))
        })
    }
}

/// The evaluator kinds of a capability mask.
fn evaluator_names(mask: u32) -> Vec<String> {
    use quorate_primitives::EvaluatorKind::{JavaScript, WebGpu};
    [
        (super::requests::evaluator_bit(JavaScript), "javascript"),
        (super::requests::evaluator_bit(WebGpu), "webgpu"),
    ]
    .into_iter()
    .filter(|(bit, _)| mask & bit != 0)
    .map(|(_, name)| name.to_owned())
    .collect()
}
