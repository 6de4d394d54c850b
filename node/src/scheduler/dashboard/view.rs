//! The pool as the dashboard shows it: one snapshot ([`PoolView`]) the scheduler's loop
//! publishes every second, cut down to what each caller may see ([`PoolView::for_caller`]) and
//! rendered as Prometheus metrics ([`PoolView::metrics`]). Amounts are wei as decimal strings
//! (JSON numbers cannot hold them).

use std::collections::BTreeMap;

use alloy::primitives::{Address, U256};
use quorate_primitives::{DealId, TaskId};
use serde::{Deserialize, Serialize};

use super::observe::{Failure, Minute, Totals};
use crate::http::{
    balances::Balances,
    metrics::{Exposition, Kind, credits},
};

/// Who is asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// The pool's operator: sees and manages everything.
    Operator,
    /// An account logged in with its wallet: its own deals (as a client) and tasks (as a
    /// worker).
    Account(Address),
    /// Anyone: the pool's public offer.
    Anyone,
}

/// What anyone may read: the pool's public offer.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Offer {
    /// The pool's id on the Hub.
    pub pool: u64,
    /// Its owner (the operator's address).
    pub owner: Address,
    /// The Hub's address.
    pub hub: Address,
    /// The chain's id.
    pub chain_id: u64,
    /// Price per task, wei.
    pub price: String,
    /// Task categories served.
    pub categories: Vec<u8>,
    /// Workers' stake per contribution, percent of the price.
    pub worker_stake_percent: u8,
    /// The operator's share of each task's reward, percent.
    pub reward_percent: u8,
    /// The trust level its orders offer.
    pub order_trust: u32,
    /// Orders valid now.
    pub orders: usize,
    /// Whether workers need a join credential.
    pub private: bool,
    /// True while the operator paused it: no new jobs are taken.
    pub paused: bool,
    /// The scheduler's peer id and addresses, for `--bootstrap`.
    pub scheduler: String,
    /// Where it listens.
    pub addrs: Vec<String>,
    /// Workers joined now.
    pub workers: usize,
    /// Replica slots free now.
    pub free_slots: u64,
}

/// A worker joined to the pool.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct WorkerRow {
    /// Its address.
    pub address: Address,
    /// Replica slots it offers.
    pub slots: u32,
    /// Replicas it runs now.
    pub load: u32,
    /// Memory per task, MiB.
    pub memory_mib: u32,
    /// Its GPU's memory for WebGPU tasks, MiB (0 without a GPU).
    #[serde(default)]
    pub gpu_memory_mib: u32,
    /// Evaluator kinds it runs.
    pub evaluators: Vec<String>,
    /// Its platform class (GPU class / float probe class).
    pub platform: String,
    /// Its score in the operator's domain on the Hub.
    pub score: String,
    /// When it was last heard from, unix seconds.
    pub last_seen: u64,
    /// What its work earned in this pool's tasks, wei.
    pub earned: String,
    /// Stakes it lost in this pool's tasks, wei.
    pub seized: String,
    /// Votes on chain.
    pub contributions: u64,
    /// True once it answered wrongly: never assigned again.
    pub barred: bool,
    /// True while the operator drains it: no new replicas.
    pub draining: bool,
}

/// A deal of the pool.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DealRow {
    /// Its id.
    pub deal: DealId,
    /// Its client.
    pub client: Address,
    /// Its job's hash.
    pub job: String,
    /// Its tasks, in all.
    pub tasks: u32,
    /// Tasks not initialized on chain yet.
    pub pending: u32,
    /// Waiting for a worker.
    pub waiting: u32,
    /// Taking votes.
    pub active: u32,
    /// A consensus stands; its voters reveal.
    pub revealing: u32,
    /// Finalized and paid.
    pub completed: u32,
    /// Claimed after the final deadline: refunded.
    pub failed: u32,
    /// Results kept for the client.
    pub results: u32,
}

/// A task whose consensus is in progress.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TaskRow {
    /// Its id.
    pub task: TaskId,
    /// Its deal.
    pub deal: DealId,
    /// Its index in the deal.
    pub index: u64,
    /// `waiting`, `active` or `revealing`.
    pub state: String,
    /// The platform class its replicas run on.
    pub class: Option<String>,
    /// The workers running a replica now.
    pub replicas: Vec<Address>,
    /// Votes on chain.
    pub contributions: u32,
    /// Reveals on chain, of those expected.
    pub reveals: [u32; 2],
    /// Progress its replicas reported, per mille.
    pub progress: u16,
    /// When the chain initialized it.
    pub since: u64,
}

/// Everything, as the operator sees it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PoolView {
    /// Who this view is for: `operator`, `account` or `anyone`.
    pub role: String,
    /// The account, for `account`.
    pub account: Option<Address>,
    /// When it was taken, unix seconds.
    pub at: u64,
    /// The public offer.
    pub offer: Offer,
    /// Workers.
    pub workers: Vec<WorkerRow>,
    /// Deals, newest first.
    pub deals: Vec<DealRow>,
    /// Tasks with a consensus in progress, oldest first (at most [`MAX_TASK_ROWS`]).
    pub consensus: Vec<TaskRow>,
    /// Recent failures and their reasons, newest first.
    pub failures: Vec<Failure>,
    /// The operator's balances.
    pub balances: Balances,
    /// What the operator earned from this pool's tasks, wei.
    pub earned: String,
    /// The operator's stakes seized for tasks claimed (failed), wei.
    pub lost: String,
    /// Counts since the pool's store began.
    pub totals: Totals,
    /// The last hour, a minute a bucket, oldest first.
    pub history: Vec<Minute>,
    /// Connected peers on the p2p network.
    pub peers: usize,
}

/// Tasks listed under consensus at most.
pub const MAX_TASK_ROWS: usize = 500;

impl PoolView {
    /// What `caller` may see of this view.
    pub fn for_caller(&self, caller: Caller) -> Self {
        match caller {
            Caller::Operator => Self { role: "operator".into(), ..self.clone() },
            Caller::Anyone => Self {
                role: "anyone".into(),
                at: self.at,
                offer: self.offer.clone(),
                ..Self::default()
            },
            Caller::Account(account) => {
                let deals: Vec<DealRow> =
                    self.deals.iter().filter(|d| d.client == account).cloned().collect();
                let ids: std::collections::HashSet<DealId> = deals.iter().map(|d| d.deal).collect();
                let mine = |deal: &DealId| ids.contains(deal);
                // Who else runs a task is the pool's secret: a worker that knew it could vote
                // wrong only where it holds every replica. An account sees itself alone.
                let consensus = self
                    .consensus
                    .iter()
                    .filter(|t| mine(&t.deal) || t.replicas.contains(&account))
                    .map(|t| TaskRow {
                        replicas: t.replicas.iter().copied().filter(|r| *r == account).collect(),
                        ..t.clone()
                    })
                    .collect();
                let failures = self
                    .failures
                    .iter()
                    .filter(|f| {
                        f.worker == Some(account)
                            || f.client == Some(account)
                            || f.deal.as_ref().is_some_and(&mine)
                    })
                    .cloned()
                    .collect();
                Self {
                    role: "account".into(),
                    account: Some(account),
                    at: self.at,
                    offer: self.offer.clone(),
                    workers: self
                        .workers
                        .iter()
                        .filter(|w| w.address == account)
                        .cloned()
                        .collect(),
                    deals,
                    consensus,
                    failures,
                    ..Self::default()
                }
            }
        }
    }

    /// The Prometheus metrics of this view (the operator's).
    pub fn metrics(&self, meters: &super::Meters) -> String {
        let mut e = Exposition::new();
        let t = &self.totals;
        let name = "quorate_scheduler_tasks";
        e.family(name, Kind::Gauge, "Tasks of the pool's deals by state.");
        let mut states: BTreeMap<&str, u64> =
            ["pending", "waiting", "active", "revealing", "completed", "failed"]
                .into_iter()
                .map(|state| (state, 0))
                .collect();
        for deal in &self.deals {
            for (state, n) in [
                ("pending", deal.pending),
                ("waiting", deal.waiting),
                ("active", deal.active),
                ("revealing", deal.revealing),
                ("completed", deal.completed),
                ("failed", deal.failed),
            ] {
                let sum = states.entry(state).or_default();
                *sum = sum.saturating_add(u64::from(n));
            }
        }
        for (state, n) in &states {
            e.sample(name, &[("state", state)], n);
        }
        e.single(
            "quorate_scheduler_deals",
            Kind::Gauge,
            "Deals not fully ended.",
            self.deals.iter().filter(|d| d.completed.saturating_add(d.failed) < d.tasks).count(),
        );
        e.single("quorate_scheduler_workers", Kind::Gauge, "Workers joined.", self.workers.len());
        e.single(
            "quorate_scheduler_free_slots",
            Kind::Gauge,
            "Replica slots free.",
            self.offer.free_slots,
        );
        e.single(
            "quorate_scheduler_busy_slots",
            Kind::Gauge,
            "Replicas running on workers.",
            self.workers.iter().map(|w| u64::from(w.load)).sum::<u64>(),
        );
        e.single(
            "quorate_scheduler_paused",
            Kind::Gauge,
            "1 while the operator paused the pool.",
            u8::from(self.offer.paused),
        );
        e.single("quorate_p2p_peers", Kind::Gauge, "Connected p2p peers.", self.peers);
        e.single(
            "quorate_scheduler_assignments_total",
            Kind::Counter,
            "Replicas assigned to workers.",
            t.assignments,
        );
        e.single(
            "quorate_scheduler_contributions_total",
            Kind::Counter,
            "Votes on chain on the pool's tasks.",
            t.contributions,
        );
        e.single(
            "quorate_scheduler_reveals_total",
            Kind::Counter,
            "Reveals on chain on the pool's tasks.",
            t.reveals,
        );
        e.single(
            "quorate_scheduler_tasks_completed_total",
            Kind::Counter,
            "Tasks finalized.",
            t.completed,
        );
        e.single(
            "quorate_scheduler_tasks_failed_total",
            Kind::Counter,
            "Tasks claimed (failed, refunded).",
            t.failed,
        );
        e.single(
            "quorate_scheduler_wrong_results_total",
            Kind::Counter,
            "Contributions whose stake was seized (wrong or unrevealed).",
            t.wrong,
        );
        e.family(
            "quorate_scheduler_consensus_seconds",
            Kind::Summary,
            "Time from a task's initialization to its finalization: sum and count.",
        );
        e.sample("quorate_scheduler_consensus_seconds_sum", &[], t.consensus_seconds);
        e.sample("quorate_scheduler_consensus_seconds_count", &[], t.completed);
        e.single(
            "quorate_chain_gas_used_total",
            Kind::Counter,
            "Gas used by the scheduler's transactions (this run).",
            meters.gas_used(),
        );
        e.single(
            "quorate_chain_gas_spent_gwei_total",
            Kind::Counter,
            "Ether spent on gas by the scheduler's transactions (this run), gwei.",
            meters.gas_spent_gwei(),
        );
        e.family("quorate_errors_total", Kind::Counter, "Errors by kind (this run).");
        for (kind, n) in meters.errors() {
            e.sample("quorate_errors_total", &[("kind", kind)], n);
        }
        self.balances.metrics(&mut e, "operator");
        let earned = self.earned.parse::<U256>().unwrap_or_default();
        e.single(
            "quorate_scheduler_earned_credits",
            Kind::Counter,
            "What the operator earned from the pool's tasks, QCR.",
            credits(earned),
        );
        e.finish()
    }
}
