//! Following a deal to its end, as its client: the deal's status paged from the pool's
//! scheduler, each result fetched from it and checked against the digest revealed on chain, and
//! the deal's final deadline watched on chain, past which what is unfinished is the client's to
//! claim. A session starts from a submission ([`super::submit`]) or from nothing but the deal
//! id and the client's wallet, on any machine ([`Session::attach`]).

use std::collections::HashMap;

use alloy::{
    primitives::{Address, B256},
    providers::Provider,
    rpc::types::Filter,
    signers::local::PrivateKeySigner,
    sol_types::SolEvent,
};
use quorate_contracts::bindings::Hub;
use quorate_p2p::{
    Client as P2p, Multiaddr, PeerId,
    fetch::{FetchConfig, fetch},
    wire::{self, Message as Wire, TaskPhase},
};
use quorate_primitives::{
    ContentHash, DealId, JobManifest, PoolId, ResultDigest, TaskId, TaskOutcome,
    job::MAX_RESULT_BYTES,
};

use super::{
    JobEvent, report,
    submit::{POLL, Progress, SubmitError, network},
};
use crate::chain::{Chain, block_at_or_after};

/// A deal followed by its client.
#[derive(Debug)]
pub struct Session {
    pub(super) p2p: P2p,
    pub(super) scheduler: PeerId,
    /// The deal.
    pub deal: DealId,
    /// A block at or before the deal's (reveals are searched for from there).
    pub block: u64,
    /// Its tasks.
    pub tasks: u32,
    /// The largest result accepted.
    pub(super) result_cap: u64,
    /// From this chain time, unfinished tasks are the client's to claim.
    pub final_deadline: u64,
}

/// How a followed deal ended.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ending {
    /// Each task's verified outcome, by index; `None` for a task left unfinished (refundable)
    /// or failed.
    pub outcomes: Vec<Option<TaskOutcome>>,
    /// The tasks the pool failed on chain (refunded already), with why.
    pub failed: std::collections::BTreeMap<u32, String>,
}

impl Ending {
    /// The indices left unfinished: the client claims their price back (`quorate job claim`).
    pub fn refundable(&self) -> Vec<u32> {
        (0u32..)
            .zip(&self.outcomes)
            .filter(|(index, outcome)| outcome.is_none() && !self.failed.contains_key(index))
            .map(|(index, _)| index)
            .collect()
    }
}

impl Session {
    /// A session for a deal bought elsewhere: the deal read from the chain, its pool's
    /// scheduler found through the network and proven by the pool owner's signature, and this
    /// wallet proven as the deal's client (the scheduler serves results to it alone).
    pub async fn attach(
        chain: &Chain,
        signer: &PrivateKeySigner,
        hub: Address,
        deal: DealId,
        bootstrap: &[Multiaddr],
    ) -> Result<Self, SubmitError> {
        let terms =
            report::terms(chain.provider(), hub, deal).await.map_err(anyhow::Error::from)?;
        if terms.client != signer.address() {
            return Err(anyhow::anyhow!(
                "deal {deal} was bought by {}, not by this wallet's {}: its pool serves the results to the buyer alone; pick that wallet with --wallet",
                terms.client,
                signer.address()
            )
            .into());
        }
        let block = block_at_or_after(chain.provider(), terms.start)
            .await
            .map_err(anyhow::Error::from)?
            .saturating_sub(1);
        let (p2p, _events) = network(signer, chain.chain_id(), bootstrap)?;
        let scheduler = super::submit::find_scheduler(&p2p, PoolId(terms.pool), terms.pool_owner)
            .await
            .ok_or(SubmitError::NoScheduler(terms.pool))?;
        let mut session = Self {
            p2p,
            scheduler,
            deal,
            block,
            tasks: terms.task_count,
            result_cap: u64::from(MAX_RESULT_BYTES),
            final_deadline: terms.final_deadline,
        };
        // The job's own result cap, when its manifest can be had (the job hash is in the
        // deal's event); otherwise the largest any job may have.
        if let Some(manifest) = session.manifest(chain, hub).await {
            session.result_cap = cap_of(&manifest);
        }
        Ok(session)
    }

    /// The job's manifest, from the pool, by the job hash in the deal's `DealCreated` event.
    async fn manifest(&self, chain: &Chain, hub: Address) -> Option<JobManifest> {
        let filter = Filter::new()
            .address(hub)
            .event_signature(Hub::DealCreated::SIGNATURE_HASH)
            .topic1(self.deal.0)
            .from_block(self.block)
            .to_block(self.block.saturating_add(chain.log_block_range() - 1));
        let logs = chain.provider().get_logs(&filter).await.ok()?;
        let event = logs.iter().find_map(|log| Hub::DealCreated::decode_log(&log.inner).ok())?;
        let hash = ContentHash(event.request.jobHash);
        let config = FetchConfig { max_size: 64 << 20, attempts: 2, ..FetchConfig::default() };
        let bytes = fetch(&self.p2p, &[self.scheduler], hash, &config).await.ok()?;
        JobManifest::decode(&bytes).ok()
    }

    /// Follows the deal until every task has a verified result, or the final deadline passes
    /// (what is unfinished then is refundable). `emit` sees each change; it returns false to
    /// stop following (the ending then holds what was verified so far).
    pub async fn follow(
        &self,
        chain: &Chain,
        hub: Address,
        mut emit: impl Emit,
    ) -> Result<Ending, SubmitError> {
        let total = self.tasks;
        let mut outcomes: HashMap<u32, TaskOutcome> = HashMap::new();
        // Tasks the pool failed (its replicas disagreed): refunded on chain already.
        let mut failed: std::collections::BTreeMap<u32, String> = std::collections::BTreeMap::new();
        let mut seen: HashMap<u32, (TaskPhase, u16, Option<String>)> = HashMap::new();
        let mut unreachable = 0u32;
        // When the chain node first failed a read in a row: reads are tried again each round
        // (the node may be restarting) until the outage lasts `CHAIN_PATIENCE`.
        let mut chain_down: Option<std::time::Instant> = None;
        // The next console line wanted: the pool numbers a deal's lines from 0.
        let mut console_next = 0u64;
        loop {
            let reached = match self.console(&mut console_next, &mut emit).await {
                Some(false) => return Ok(self.ending(outcomes, &failed)),
                Some(true) => true,
                None => false,
            };
            let mut answered = false;
            let mut from = 0;
            while reached && from < total {
                let ask = wire::DealStatusRequest {
                    deal: self.deal,
                    from,
                    count: wire::MAX_DEAL_TASKS as u32,
                    console_from: None,
                };
                let status =
                    match self.p2p.request(self.scheduler, Wire::DealStatusRequest(ask)).await {
                        Ok(Wire::DealStatus(status)) if status.deal == self.deal => status,
                        _ => break,
                    };
                answered = true;
                for task in &status.tasks {
                    if task.index >= total
                        || outcomes.contains_key(&task.index)
                        || failed.contains_key(&task.index)
                    {
                        continue;
                    }
                    if task.phase == TaskPhase::Failed {
                        // The chain says why: its replicas' distinct results.
                        match super::report::failure(
                            chain.provider(),
                            hub,
                            self.deal,
                            task.index,
                            self.final_deadline,
                        )
                        .await
                        {
                            Ok(Some(reason)) => {
                                failed.insert(task.index, reason.clone());
                                let event = JobEvent::Failed { index: task.index, reason };
                                if !emit.emit(event).await {
                                    return Ok(self.ending(outcomes, &failed));
                                }
                            }
                            // Not failed on chain (yet): the pool's word is not enough.
                            Ok(None) => {}
                            Err(e) => patience(&mut chain_down, e.into())?,
                        }
                        continue;
                    }
                    // The pool forgets a finished task's class: the last one named stays.
                    let named = usize::from(task.platform)
                        .checked_sub(1)
                        .and_then(|at| status.platforms.get(at))
                        .cloned();
                    let platform =
                        named.or_else(|| seen.get(&task.index).and_then(|s| s.2.clone()));
                    let now = (task.phase, task.progress, platform.clone());
                    if seen.get(&task.index) != Some(&now) {
                        seen.insert(task.index, now);
                        let event = JobEvent::Task {
                            index: task.index,
                            phase: task.phase,
                            per_mille: task.progress,
                            platform,
                        };
                        if !emit.emit(event).await {
                            return Ok(self.ending(outcomes, &failed));
                        }
                    }
                }
                let fresh: Vec<_> = status
                    .tasks
                    .iter()
                    .filter(|t| t.phase == TaskPhase::Completed && t.index < total)
                    .filter(|t| !outcomes.contains_key(&t.index))
                    .filter_map(|t| t.result.map(|hash| (t.index, hash)))
                    .collect();
                let verified = match self.verified(chain, hub, fresh).await {
                    Ok(verified) => verified,
                    // Checked again next round.
                    Err(e) => {
                        patience(&mut chain_down, e.into())?;
                        Vec::new()
                    }
                };
                for (index, outcome) in verified {
                    outcomes.insert(index, outcome.clone());
                    if !emit.emit(JobEvent::Result { index, outcome }).await {
                        return Ok(self.ending(outcomes, &failed));
                    }
                }
                from = from.saturating_add(wire::MAX_DEAL_TASKS as u32);
            }
            if outcomes.len().saturating_add(failed.len()) >= total as usize {
                return Ok(self.ending(outcomes, &failed));
            }
            unreachable = if answered { 0 } else { unreachable.saturating_add(1) };
            if unreachable == UNREACHABLE_WARNING
                && !emit.emit(JobEvent::SchedulerUnreachable).await
            {
                return Ok(self.ending(outcomes, &failed));
            }
            // Past the final deadline nothing more can finish: the rest is refundable.
            match chain.latest_time().await {
                Ok(now) if now >= self.final_deadline => return Ok(self.ending(outcomes, &failed)),
                Ok(_) => chain_down = None,
                Err(e) => patience(&mut chain_down, e.into())?,
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Emits the console lines the pool keeps from `next` on, and what it dropped before them,
    /// until it has no more; false when `emit` wants no more events, `None` when the pool does
    /// not answer.
    async fn console(&self, next: &mut u64, emit: &mut impl Emit) -> Option<bool> {
        loop {
            let ask = wire::DealStatusRequest {
                deal: self.deal,
                from: 0,
                count: 0,
                console_from: Some(*next),
            };
            let (console, end) =
                match self.p2p.request(self.scheduler, Wire::DealStatusRequest(ask)).await {
                    Ok(Wire::DealStatus(status)) if status.deal == self.deal => {
                        (status.console, status.console_end)
                    }
                    _ => return None,
                };
            let full = console.len() >= wire::MAX_CONSOLE_ENTRIES;
            for entry in console {
                if entry.seq < *next {
                    continue;
                }
                if entry.seq > *next {
                    let lines = entry.seq - *next;
                    if !emit.emit(JobEvent::ConsoleDropped { lines }).await {
                        return Some(false);
                    }
                }
                *next = entry.seq.saturating_add(1);
                let event = JobEvent::Console {
                    index: entry.index,
                    level: entry.line.level,
                    text: entry.line.text,
                };
                if !emit.emit(event).await {
                    return Some(false);
                }
            }
            if !full {
                // Lines dropped after the last one kept.
                if end > *next {
                    let lines = end - *next;
                    *next = end;
                    return Some(emit.emit(JobEvent::ConsoleDropped { lines }).await);
                }
                return Some(true);
            }
        }
    }

    /// Fetches each `(index, content hash)` result from the pool and checks it against the
    /// digests revealed on chain for its task; a result not yet revealed waits for a later
    /// round.
    async fn verified(
        &self,
        chain: &Chain,
        hub: Address,
        fresh: Vec<(u32, ContentHash)>,
    ) -> Result<Vec<(u32, TaskOutcome)>, SubmitError> {
        if fresh.is_empty() {
            return Ok(Vec::new());
        }
        let digests =
            revealed(chain, hub, self.deal, self.block, fresh.iter().map(|(i, _)| *i)).await?;
        let mut out = Vec::with_capacity(fresh.len());
        for (index, hash) in fresh {
            let task = TaskId::derive(self.deal, u64::from(index));
            let Some(digests) = digests.get(&task) else { continue };
            let fetching = FetchConfig { max_size: self.result_cap, ..FetchConfig::default() };
            // Not served now (the pool busy or restarting): asked again next round.
            let Ok(bytes) = fetch(&self.p2p, &[self.scheduler], hash, &fetching).await else {
                continue;
            };
            if !digests.contains(&ResultDigest::of(task, &bytes)) {
                return Err(SubmitError::Mismatch(index));
            }
            let outcome = TaskOutcome::from_bytes(&bytes).map_err(|e| anyhow::anyhow!("{e}"))?;
            out.push((index, outcome));
        }
        Ok(out)
    }

    fn ending(
        &self,
        mut outcomes: HashMap<u32, TaskOutcome>,
        failed: &std::collections::BTreeMap<u32, String>,
    ) -> Ending {
        Ending {
            outcomes: (0..self.tasks).map(|i| outcomes.remove(&i)).collect(),
            failed: failed.clone(),
        }
    }

    /// Waits for every task's verified result and returns them in task order; a task left
    /// unfinished at the final deadline is an error naming the claim.
    pub async fn results(
        &self,
        chain: &Chain,
        hub: Address,
        mut on_progress: impl FnMut(&Progress),
    ) -> Result<Vec<TaskOutcome>, SubmitError> {
        let total = self.tasks as usize;
        let mut done = 0usize;
        let ending = self
            .follow(chain, hub, |event| {
                if let JobEvent::Result { .. } = event {
                    done = done.saturating_add(1);
                    on_progress(&Progress::Done { done, total });
                }
                true
            })
            .await?;
        let refundable = ending.refundable();
        if !refundable.is_empty() {
            return Err(SubmitError::Unfinished { deal: self.deal, tasks: refundable.len() });
        }
        Ok(ending.outcomes.into_iter().flatten().collect())
    }
}

/// Where a followed deal's events go: a closure (returns false to stop), or a channel.
pub trait Emit {
    /// Takes one event; false stops the following.
    fn emit(&mut self, event: JobEvent) -> impl Future<Output = bool>;
}

impl<F: FnMut(JobEvent) -> bool> Emit for F {
    async fn emit(&mut self, event: JobEvent) -> bool {
        self(event)
    }
}

/// A bounded channel's sender as an [`Emit`]: a slow reader holds the following back, a
/// reader gone stops it.
#[derive(Debug)]
pub struct Channel<'a>(pub &'a tokio::sync::mpsc::Sender<Result<JobEvent, SubmitError>>);

impl Emit for Channel<'_> {
    async fn emit(&mut self, event: JobEvent) -> bool {
        self.0.send(Ok(event)).await.is_ok()
    }
}

/// Rounds with no answer from the scheduler before the caller is told.
const UNREACHABLE_WARNING: u32 = 20;
/// How long a job waits for its chain node to answer again before it gives up with the error.
const CHAIN_PATIENCE: std::time::Duration = std::time::Duration::from_secs(300);

/// A chain read failed: fine while the outage (since `down`) is shorter than
/// [`CHAIN_PATIENCE`], the error after that.
fn patience(down: &mut Option<std::time::Instant>, e: anyhow::Error) -> anyhow::Result<()> {
    let since = *down.get_or_insert_with(std::time::Instant::now);
    if since.elapsed() >= CHAIN_PATIENCE {
        return Err(e.context(format!(
            "the chain node has not answered for {} s: check chain.rpc_url, then follow the deal again with `quorate job results`",
            CHAIN_PATIENCE.as_secs()
        )));
    }
    tracing::debug!(target: "quorate::client", error = %e, "a chain read failed; trying again");
    Ok(())
}

/// The result cap of a job: its own, and at least room for an error's text.
pub(super) fn cap_of(manifest: &JobManifest) -> u64 {
    u64::from(manifest.limits.result_bytes).max(64 << 10)
}

/// The digests revealed on chain for tasks `indices` of `deal`, from `from_block` on, read
/// `chain.log_block_range` blocks per query (public nodes refuse wider ones).
async fn revealed(
    chain: &Chain,
    hub: Address,
    deal: DealId,
    from_block: u64,
    indices: impl Iterator<Item = u32>,
) -> anyhow::Result<HashMap<TaskId, Vec<ResultDigest>>> {
    let ids: Vec<B256> = indices.map(|i| TaskId::derive(deal, u64::from(i)).0).collect();
    let latest = chain.provider().get_block_number().await?;
    let range = chain.log_block_range();
    let mut out: HashMap<TaskId, Vec<ResultDigest>> = HashMap::new();
    for chunk in ids.chunks(100) {
        for (from, to) in crate::chain::log_windows(from_block, latest, range) {
            let filter = Filter::new()
                .address(hub)
                .event_signature(Hub::TaskRevealed::SIGNATURE_HASH)
                .topic1(chunk.to_vec())
                .from_block(from)
                .to_block(to);
            for log in chain.provider().get_logs(&filter).await? {
                if let Ok(event) = Hub::TaskRevealed::decode_log(&log.inner) {
                    out.entry(TaskId::from(event.taskId))
                        .or_default()
                        .push(ResultDigest::from(event.resultDigest));
                }
            }
        }
    }
    Ok(out)
}
