//! What a running worker says about itself: a [`WorkerStatus`] the loop publishes every
//! second, served as JSON (`/status`, which `quorate worker status` reads) and as Prometheus
//! `/metrics` by a small read-only HTTP server, and drawn by `quorate worker run --dashboard`.
//! Counts are since this start; the chain keeps what was earned for good.

use std::{collections::BTreeMap, sync::Arc, time::Instant};

use alloy::primitives::{Address, U256};
use axum::{Json, Router, extract::State, http::header, response::IntoResponse, routing::get};
use quorate_contracts::bindings::Hub::HubEvents;
use quorate_primitives::TaskId;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::http::{
    balances::Balances,
    metrics::{Exposition, Kind, credits},
};

/// The file in the worker's store directory that says where its status is served.
pub const URL_FILE: &str = "status.url";

/// A held task as the status shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TaskRow {
    /// Its id.
    pub task: TaskId,
    /// Where it stands: assigned, computed, contributed, revealing, revealed, done.
    pub phase: String,
    /// Progress the work function reported, per mille (while it runs).
    pub progress: u16,
    /// Seconds since the worker took it (this start).
    pub held_secs: u64,
}

/// Counts since this start.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Counts {
    /// Tasks taken.
    pub assigned: u64,
    /// Runs that gave a result (a value or the work function's own error).
    pub computed: u64,
    /// Runs the machine failed (timeout, memory, sandbox).
    pub failed: u64,
    /// Votes mined.
    pub contributions: u64,
    /// Reveals mined.
    pub reveals: u64,
    /// Results the scheduler took.
    pub uploads: u64,
    /// Rewards, wei.
    pub earned: String,
    /// Stakes seized, wei.
    pub seized: String,
    /// Gas used by its transactions.
    pub gas_used: u64,
    /// Ether spent on gas, gwei.
    pub gas_spent_gwei: u64,
    /// Errors by kind.
    pub errors: BTreeMap<String, u64>,
}

/// The worker, as it says.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct WorkerStatus {
    /// When, unix seconds.
    pub at: u64,
    /// Its address.
    pub address: Address,
    /// Its pool.
    pub pool: u64,
    /// `searching`, `joined` or `draining`.
    pub state: String,
    /// The scheduler's peer id, while joined.
    pub scheduler: Option<String>,
    /// Sandbox slots (sandboxes × pipeline).
    pub slots: usize,
    /// Slots holding a task now.
    pub busy: usize,
    /// Memory per task, MiB.
    pub memory_mib: u32,
    /// Whether it offers WebGPU.
    pub gpu: bool,
    /// Tasks held.
    pub tasks: Vec<TaskRow>,
    /// Counts since this start.
    pub counts: Counts,
    /// Its balances.
    pub balances: Balances,
    /// Connected p2p peers.
    pub peers: usize,
}

/// What the loop counts between publications.
#[derive(Debug, Default)]
pub(super) struct Meter {
    pub(super) counts: Counts,
    /// Where the Hub pays this worker's rewards, when not to itself.
    pub(super) payout: Option<Address>,
    pub(super) earned: U256,
    pub(super) seized: U256,
    /// Progress per running task, per mille.
    pub(super) progress: BTreeMap<TaskId, u16>,
    /// When each held task was first seen (this start).
    pub(super) since: BTreeMap<TaskId, Instant>,
}

impl Meter {
    /// An error of `kind`.
    pub(super) fn error(&mut self, kind: &str) {
        let n = self.counts.errors.entry(kind.to_owned()).or_default();
        *n = n.saturating_add(1);
    }

    /// A transaction of this worker's mined.
    pub(super) fn spent(&mut self, receipt: &alloy::rpc::types::TransactionReceipt) {
        let c = &mut self.counts;
        c.gas_used = c.gas_used.saturating_add(receipt.gas_used);
        let gwei = u128::from(receipt.gas_used).saturating_mul(receipt.effective_gas_price)
            / 1_000_000_000;
        c.gas_spent_gwei = c.gas_spent_gwei.saturating_add(u64::try_from(gwei).unwrap_or(u64::MAX));
    }

    /// A Hub event: rewards (to `me` or its payout address) and seizures of `me`.
    pub(super) fn on_event(&mut self, event: &HubEvents, me: Address) {
        match event {
            HubEvents::PayoutAddressSet(e) if e.worker == me => {
                self.payout = Some(e.payout).filter(|p| *p != me);
                return;
            }
            HubEvents::Rewarded(e) if e.account == me || Some(e.account) == self.payout => {
                self.earned = self.earned.saturating_add(e.amount);
            }
            HubEvents::Seized(e) if e.account == me => {
                self.seized = self.seized.saturating_add(e.amount);
            }
            _ => return,
        }
        self.counts.earned = self.earned.to_string();
        self.counts.seized = self.seized.to_string();
    }
}

impl WorkerStatus {
    /// Prometheus metrics.
    pub fn metrics(&self) -> String {
        let mut e = Exposition::new();
        let name = "quorate_worker_tasks";
        e.family(name, Kind::Gauge, "Tasks held, by phase.");
        let mut phases: BTreeMap<&str, usize> = BTreeMap::new();
        for phase in ["assigned", "computed", "contributed", "revealing", "revealed"] {
            phases.insert(phase, 0);
        }
        for task in &self.tasks {
            let n = phases.entry(task.phase.as_str()).or_default();
            *n = n.saturating_add(1);
        }
        for (phase, n) in &phases {
            e.sample(name, &[("phase", phase)], n);
        }
        let c = &self.counts;
        e.single(
            "quorate_worker_joined",
            Kind::Gauge,
            "1 while joined to the pool's scheduler.",
            u8::from(self.state == "joined"),
        );
        e.single("quorate_evaluator_slots", Kind::Gauge, "Sandbox slots.", self.slots);
        e.single(
            "quorate_evaluator_slots_busy",
            Kind::Gauge,
            "Sandbox slots holding a task.",
            self.busy,
        );
        e.single("quorate_p2p_peers", Kind::Gauge, "Connected p2p peers.", self.peers);
        e.single("quorate_worker_assignments_total", Kind::Counter, "Tasks taken.", c.assigned);
        e.single(
            "quorate_worker_computed_total",
            Kind::Counter,
            "Runs that gave a result.",
            c.computed,
        );
        e.single(
            "quorate_worker_failed_total",
            Kind::Counter,
            "Runs the machine failed.",
            c.failed,
        );
        e.single(
            "quorate_worker_contributions_total",
            Kind::Counter,
            "Votes mined.",
            c.contributions,
        );
        e.single("quorate_worker_reveals_total", Kind::Counter, "Reveals mined.", c.reveals);
        e.single(
            "quorate_worker_uploads_total",
            Kind::Counter,
            "Results the scheduler took.",
            c.uploads,
        );
        e.single(
            "quorate_chain_gas_used_total",
            Kind::Counter,
            "Gas used by the worker's transactions.",
            c.gas_used,
        );
        e.single(
            "quorate_chain_gas_spent_gwei_total",
            Kind::Counter,
            "Ether spent on gas, gwei.",
            c.gas_spent_gwei,
        );
        let wei = |text: &str| credits(text.parse::<U256>().unwrap_or_default());
        e.single(
            "quorate_worker_earned_credits",
            Kind::Counter,
            "Rewards since this start, QCR.",
            wei(&c.earned),
        );
        e.single(
            "quorate_worker_seized_credits",
            Kind::Counter,
            "Stakes seized since this start, QCR.",
            wei(&c.seized),
        );
        e.family("quorate_errors_total", Kind::Counter, "Errors by kind.");
        for (kind, n) in &c.errors {
            e.sample("quorate_errors_total", &[("kind", kind)], n);
        }
        self.balances.metrics(&mut e, "worker");
        e.finish()
    }
}

/// What the status server reads.
#[derive(Clone)]
struct Shared {
    status: watch::Receiver<Arc<WorkerStatus>>,
    balances: watch::Receiver<Balances>,
}

impl Shared {
    fn now(&self) -> WorkerStatus {
        let mut status = self.status.borrow().as_ref().clone();
        status.balances = self.balances.borrow().clone();
        status
    }
}

/// The status server's routes: `/status` and `/metrics`, read-only.
pub(super) fn router(
    status: watch::Receiver<Arc<WorkerStatus>>,
    balances: watch::Receiver<Balances>,
) -> Router {
    // Read by this machine's own programs only (no web page rebound to 127.0.0.1).
    async fn only_local(
        peer: Option<axum::Extension<crate::http::Peer>>,
        request: axum::extract::Request,
        next: axum::middleware::Next,
    ) -> axum::response::Response {
        if crate::http::local(peer.map(|p| p.0), request.headers()) {
            return next.run(request).await;
        }
        let body = serde_json::json!({ "error": "a worker's status is for this machine only: read it here, or through a local agent" });
        (axum::http::StatusCode::FORBIDDEN, Json(body)).into_response()
    }
    Router::new()
        .route("/status", get(|State(s): State<Shared>| async move { Json(s.now()) }))
        .route(
            "/metrics",
            get(|State(s): State<Shared>| async move {
                let text = s.now().metrics();
                ([(header::CONTENT_TYPE, crate::http::metrics::CONTENT_TYPE)], text)
                    .into_response()
            }),
        )
        .fallback(|| async {
            let body = serde_json::json!({ "error": "no such page: a worker serves /status and /metrics" });
            (axum::http::StatusCode::NOT_FOUND, Json(body)).into_response()
        })
        .with_state(Shared { status, balances })
        .layer(axum::middleware::from_fn(only_local))
}

/// Reads the status of the worker whose store is in `store_dir` (`quorate worker status`).
pub async fn read(store_dir: &std::path::Path, configured: &str) -> anyhow::Result<WorkerStatus> {
    let url = match std::fs::read_to_string(store_dir.join(URL_FILE)) {
        Ok(url) => url.trim().to_owned(),
        Err(_) if !configured.trim().is_empty() => format!("http://{}", configured.trim()),
        Err(_) => anyhow::bail!(
            "this worker serves no status: set worker.status_listen (e.g. 127.0.0.1:8471) and restart it"
        ),
    };
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| anyhow::anyhow!("no HTTP client: {e}"))?;
    let answer = client.get(format!("{url}/status")).send().await.map_err(|e| {
        anyhow::anyhow!("no worker answers at {url} ({e}): is `quorate worker run` running with this data directory?")
    })?;
    crate::http::json_or_error(answer).await
}

impl super::service::Service {
    /// Counts what an action's answer says.
    pub(super) fn count(&mut self, done: &super::service::Done) {
        use super::service::Done;
        let m = &mut self.meter;
        let c = &mut m.counts;
        match done {
            Done::Ran { outcome: crate::job::local::LocalOutcome::Agreed(_), task, .. } => {
                c.computed = c.computed.saturating_add(1);
                m.progress.remove(task);
            }
            Done::Ran { task, .. } => {
                c.failed = c.failed.saturating_add(1);
                m.progress.remove(task);
            }
            Done::Contributed { result: Ok(receipt), .. } => {
                c.contributions = c.contributions.saturating_add(1);
                m.spent(receipt);
            }
            Done::Revealed { result: Ok(receipt), .. } => {
                c.reveals = c.reveals.saturating_add(1);
                m.spent(receipt);
            }
            Done::Contributed { on_chain: false, .. } => m.error("contribute"),
            Done::Revealed { on_chain: false, .. } => m.error("reveal"),
            Done::Uploaded { answer: Ok(_), .. } => c.uploads = c.uploads.saturating_add(1),
            Done::Uploaded { .. } => m.error("upload"),
            Done::Joined { answer: Err(_), .. } => m.error("join"),
            _ => {}
        }
    }

    /// Publishes the status (every tick).
    pub(super) fn publish_status(&mut self) {
        let now = Instant::now();
        let held: std::collections::HashSet<TaskId> = self.tasks.keys().copied().collect();
        self.meter.since.retain(|t, _| held.contains(t));
        self.meter.progress.retain(|t, _| held.contains(t));
        let mut tasks: Vec<TaskRow> = self
            .tasks
            .values()
            .map(|t| {
                let id = t.assignment.task;
                let since = *self.meter.since.entry(id).or_insert(now);
                TaskRow {
                    task: id,
                    phase: t.phase_name().to_owned(),
                    progress: self.meter.progress.get(&id).copied().unwrap_or(0),
                    held_secs: now.duration_since(since).as_secs(),
                }
            })
            .collect();
        tasks.sort_by_key(|t| std::cmp::Reverse(t.held_secs));
        let state = if self.draining.is_some() {
            "draining"
        } else if self.link.joined().is_some() {
            "joined"
        } else {
            "searching"
        };
        let status = WorkerStatus {
            at: crate::unix_now(),
            address: self.me,
            pool: self.pool.0,
            state: state.into(),
            scheduler: self.link.joined().map(|p| p.to_string()),
            slots: self.slots,
            busy: self.tasks.values().filter(|t| t.holds_slot()).count(),
            memory_mib: self.memory_mib,
            gpu: self.gpu,
            tasks,
            counts: self.meter.counts.clone(),
            balances: Balances::default(),
            peers: usize::from(self.link.joined().is_some()),
        };
        self.status.send_replace(Arc::new(status));
    }
}
