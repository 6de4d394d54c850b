//! What the core asks of the world: chain calls sent as the pool owner, and messages to workers
//! (assignments with their authorization and the blobs they need granted, reveal requests,
//! aborts).

#[allow(clippy::wildcard_imports, reason = "one loop's methods, split by concern")]
use super::*;

/// Inputs up to this size (bytes) travel inside their task's assignment.
const INLINE_INPUT: usize = 16 << 10;

impl Service {
    pub(super) fn send_call(&self, call: ChainCall) {
        let input = match &call {
            ChainCall::Initialize { deal, first, count } => Hub::initializeRangeCall {
                dealId: deal.0,
                from: U256::from(*first),
                count: U256::from(*count),
            }
            .abi_encode(),
            ChainCall::Finalize { task, digest } => Hub::finalizeCall {
                taskId: task.0,
                resultsRef: alloy::primitives::Bytes::copy_from_slice(
                    B256::from(*digest).as_slice(),
                ),
            }
            .abi_encode(),
            ChainCall::Reopen { task } => Hub::reopenCall { taskId: task.0 }.abi_encode(),
            // The pool owner's claim of a task whose replicas disagree: it fails at once.
            ChainCall::GiveUp { task } => Hub::claimCall { taskId: task.0 }.abi_encode(),
        };
        let chain = self.chain.clone();
        let hub = self.pool.hub;
        let meters = self.meters.clone();
        tokio::spawn(async move {
            match chain.send(TransactionRequest::default().to(hub).input(input.into())).await {
                Ok(receipt) => {
                    meters.spent(receipt.gas_used, receipt.effective_gas_price);
                    tracing::info!(target: "quorate::scheduler", ?call, tx = %receipt.transaction_hash, "mined");
                    crate::crash::at("scheduler", super::call_stage(&call, "mined"));
                }
                // The core follows the chain: a call that failed is decided again from events.
                Err(e) => {
                    meters.error("chain_call");
                    tracing::warn!(target: "quorate::scheduler", ?call, error = %e, "chain call failed");
                }
            }
        });
    }

    pub(super) async fn send_message(&mut self, message: CoreMessage, done: &mpsc::Sender<Done>) {
        tracing::debug!(target: "quorate::scheduler", ?message, "to a worker");
        let (worker, task, wire) = match message {
            CoreMessage::Assign { worker, task, deal, index, round, deadline } => {
                match self.assignment(worker, task, deal, index, round, deadline).await {
                    Ok(assignment) => (worker, task, Wire::TaskAssignment(assignment)),
                    Err(e) => {
                        self.meters.error("assignment");
                        tracing::warn!(target: "quorate::scheduler", %task, %worker, error = %e, "cannot assign");
                        let _ = done.try_send(Done::NotTaken { worker, task });
                        return;
                    }
                }
            }
            CoreMessage::RequestReveal { worker, task }
            | CoreMessage::RequestUpload { worker, task } => {
                (worker, task, Wire::RevealRequest(wire::RevealRequest { task }))
            }
            CoreMessage::Abort { worker, task } => (
                worker,
                task,
                Wire::Abort(wire::Abort { task, reason: "withdrawn by the pool".into() }),
            ),
        };
        let assigning = matches!(wire, Wire::TaskAssignment(_));
        let Some(peer) = self.peers.get(&worker).copied() else {
            // Not joined since this scheduler started: the replica stays on it, and is planned
            // again when it joins without it (its recovery list) or is lost (its heartbeat
            // timeout), never counted against it.
            if assigning {
                tracing::debug!(target: "quorate::scheduler", %task, %worker, "the worker has not joined again yet: the assignment waits for its recovery");
            }
            return;
        };
        if assigning {
            self.observed.assigned();
        }
        let p2p = self.p2p.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let answer = p2p.request(peer, wire).await;
            if assigning && !matches!(answer, Ok(Wire::Ack)) {
                tracing::info!(target: "quorate::scheduler", %task, %worker, answer = ?answer, "assignment not taken");
                let _ = done.send(Done::NotTaken { worker, task }).await;
            }
        });
    }

    /// The assignment of `task` to `worker`, its blobs granted to the worker.
    pub(super) async fn assignment(
        &mut self,
        worker: Address,
        task: TaskId,
        deal: DealId,
        index: u64,
        round: u64,
        deadline: u64,
    ) -> anyhow::Result<TaskAssignment> {
        let job = *self.deal_jobs.get(&deal).context("the deal's job is unknown")?;
        let manifest =
            self.manifests.get(&job).context("the job's manifest is not pinned")?.clone();
        let input = *manifest
            .inputs
            .get(usize::try_from(index).unwrap_or(usize::MAX))
            .context("the task's index is past the job's inputs")?;
        let modules = manifest.modules.iter().map(|m| m.hash);
        for hash in [job, manifest.code].into_iter().chain(modules) {
            self.serve(hash).await?;
            self.p2p.grant(hash, worker).await?;
        }
        // A small input goes in the assignment (no fetch for the worker, no request for the
        // pool); a larger one is served to this worker by hash.
        let input = match self.pinned.get(&input) {
            Some(bytes) if bytes.len() <= INLINE_INPUT => TaskInput::Inline(bytes),
            _ => {
                let size = self.serve(input).await?;
                self.p2p.grant(input, worker).await?;
                TaskInput::ByHash { hash: input, size }
            }
        };
        let authorization = TaskAuthorization { worker, task, round }
            .sign(self.owner.as_ref())
            .map_err(|e| anyhow::anyhow!("signing the authorization: {e}"))?;
        Ok(TaskAssignment {
            pool: self.pool.pool,
            task,
            job,
            input,
            round,
            authorization,
            deadline,
        })
    }

    /// Hands a pinned blob to the network (restricted: grants open it); returns its size. The
    /// blob is read and checked once, when first served (again after a restart).
    pub(super) async fn serve(&mut self, hash: ContentHash) -> anyhow::Result<u64> {
        if let Some(size) = self.served.get(&hash) {
            return Ok(*size);
        }
        let bytes = self
            .pinned
            .get(&hash)
            .context("a blob of the job is missing from the data directory")?;
        let size = bytes.len() as u64;
        self.p2p.put_content_for(bytes, Access::only([])).await?;
        self.served.insert(hash, size);
        Ok(size)
    }
}
