//! Requests from the network: workers joining, beating and uploading results; clients offering
//! jobs and asking how their jobs and deals stand.

#[allow(clippy::wildcard_imports, reason = "one loop's methods, split by concern")]
use super::*;

impl Service {
    pub(super) async fn on_p2p(
        &mut self,
        event: Event,
        intakes: &mpsc::Sender<(ContentHash, Intake)>,
        done: &mpsc::Sender<Done>,
    ) -> anyhow::Result<()> {
        match event {
            Event::Request { peer, identity, message, responder } => {
                let from = identity.address;
                let answer = self.on_request(peer, from, message, intakes, done).await;
                self.p2p.respond(responder, answer).await.ok();
            }
            Event::PeerDisconnected { peer } => {
                if let Some(worker) = self.addresses.remove(&peer) {
                    self.peers.remove(&worker);
                    let _ = self.core.handle_worker_lost(unix_now(), worker);
                    tracing::info!(target: "quorate::scheduler", %worker, "worker left");
                }
            }
            _ => {}
        }
        Ok(())
    }

    pub(super) async fn on_request(
        &mut self,
        peer: PeerId,
        from: Address,
        message: Wire,
        intakes: &mpsc::Sender<(ContentHash, Intake)>,
        done: &mpsc::Sender<Done>,
    ) -> Wire {
        let refuse = |reason: String| Wire::Refused { reason };
        let now = unix_now();
        match message {
            Wire::JoinRequest(join) if join.pool == self.pool.pool => {
                let hub = Hub::new(self.pool.hub, self.chain.provider().clone());
                let score = hub.scoreOf(self.pool.owner, from).call().await.unwrap_or_default();
                let caps = join.capabilities;
                let mut evaluators = 0u32;
                if caps.evaluators & wire::evaluators::JS != 0 {
                    evaluators |= 1;
                }
                if caps.evaluators & wire::evaluators::WEBGPU != 0 {
                    evaluators |= 2;
                }
                let caps = WorkerCaps {
                    slots: u32::from(caps.slots),
                    memory_mib: caps.memory_mib,
                    evaluators,
                    platform: Platform { gpu: 0, fp_probe: 0 },
                };
                self.peers.insert(from, peer);
                self.addresses.insert(peer, from);
                self.core.handle_worker_joined(now, from, caps, score);
                tracing::info!(target: "quorate::scheduler", worker = %from, slots = caps.slots, "worker joined");
                Wire::JoinAccepted(wire::JoinAccepted {
                    pool: self.pool.pool,
                    heartbeat_interval_s: HEARTBEAT_SECS,
                })
            }
            Wire::JoinRequest(join) => refuse(format!(
                "this scheduler runs pool {}, not {}",
                self.pool.pool.0, join.pool.0
            )),
            Wire::Heartbeat(_) => match self.core.handle_heartbeat(now, from) {
                Ok(()) => Wire::Ack,
                Err(_) => refuse("unknown worker: join first".into()),
            },
            Wire::ContributionNotice(_) => Wire::Ack,
            Wire::TaskReport(report) => {
                match report.report {
                    wire::Report::Progress(per_mille) => {
                        if self.tasks.contains_key(&report.task) {
                            self.progress.insert(report.task, per_mille);
                        }
                    }
                    wire::Report::Failed { kind, message } => {
                        tracing::info!(target: "quorate::scheduler", task = %report.task, worker = %from, %kind, %message, "replica failed on its machine");
                        // Counted toward giving the task up; the replica is planned elsewhere.
                        let _ = self.core.handle_replica_failed(now, report.task, from, true);
                    }
                }
                Wire::Ack
            }
            Wire::ResultUpload(upload) => self.on_upload(from, upload).await,
            Wire::JobOffer(offer) => self.on_offer(peer, from, &offer, intakes, done),
            Wire::JobStatusRequest(request) => {
                let state = match self.jobs.get(&request.job) {
                    Some(record) if record.client == from => job_state(record),
                    _ => JobState::Unknown,
                };
                Wire::JobStatus(JobStatus { job: request.job, state })
            }
            Wire::DealStatusRequest(request) => {
                // A deal's phases and result hashes are its client's to read.
                if self
                    .deal_jobs
                    .get(&request.deal)
                    .and_then(|job| self.jobs.get(job))
                    .is_some_and(|r| r.client == from)
                {
                    Wire::DealStatus(self.deal_status(&request))
                } else {
                    Wire::DealStatus(DealStatus { deal: request.deal, tasks: Vec::new() })
                }
            }
            other => refuse(format!("a scheduler does not take a {}", other.kind().name())),
        }
    }

    pub(super) fn on_offer(
        &mut self,
        peer: PeerId,
        client: Address,
        offer: &wire::JobOffer,
        intakes: &mpsc::Sender<(ContentHash, Intake)>,
        done: &mpsc::Sender<Done>,
    ) -> Wire {
        let refuse = |reason: String| Wire::Refused { reason };
        if offer.pool != self.pool.pool {
            return refuse(format!(
                "this scheduler runs pool {}, not {}",
                self.pool.pool.0, offer.pool.0
            ));
        }
        let Some((_, order)) = self.orders.get(&offer.order) else {
            return refuse("the order is not one this pool publishes now: take a current order from the pool's gossip".into());
        };
        if offer.trust == 0 || offer.trust > order.trust {
            return refuse(format!(
                "trust {} is outside 1 to the order's {}",
                offer.trust, order.trust
            ));
        }
        if offer.task_count == 0 || offer.task_count > self.limits.max_tasks {
            return refuse(format!("this pool takes 1 to {} tasks per job", self.limits.max_tasks));
        }
        if let Some(existing) = self.jobs.get(&offer.job)
            && !matches!(existing.intake, Intake::Refused { .. })
        {
            // A job is one client's: another's offer of the same bytes would take its record
            // (and its deal's results) over. The same client offering again is answered as is.
            if existing.client != client {
                return refuse(
                    "this exact job is already offered by another client: change anything in it (an argument, say) to make it yours".into(),
                );
            }
            return Wire::Ack;
        }
        let record = JobRecord {
            client,
            order: offer.order,
            task_count: offer.task_count,
            trust: offer.trust,
            intake: Intake::Fetching { fetched: 0, total: offer.task_count.saturating_add(2) },
        };
        self.put_job(offer.job, record);
        let (p2p, limits, pinned, progress, done) = (
            self.p2p.clone(),
            self.limits.clone(),
            self.pinned.clone(),
            intakes.clone(),
            done.clone(),
        );
        let (job, task_count, order) = (offer.job, offer.task_count, offer.order);
        tokio::spawn(async move {
            let result =
                jobs::intake(&p2p, peer, job, task_count, &limits, &pinned, &progress).await;
            let offered = Offered { client, order, task_count };
            let _ = done.send(Done::Intake(job, offered, result)).await;
        });
        tracing::info!(target: "quorate::scheduler", job = %offer.job, %client, tasks = offer.task_count, "job offered");
        Wire::Ack
    }

    pub(super) fn put_job(&mut self, job: ContentHash, record: JobRecord) {
        let mut batch = Batch::default();
        if batch.put(&JOBS, &job.0, &record).is_ok()
            && let Err(e) = self.state.store().commit(batch)
        {
            tracing::error!(target: "quorate::scheduler", error = %e, "cannot store a job");
        }
        self.jobs.insert(job, record);
    }

    pub(super) fn on_intake_progress(
        &mut self,
        job: ContentHash,
        intake: Intake,
    ) -> anyhow::Result<()> {
        if let Some(record) = self.jobs.get_mut(&job)
            && matches!(record.intake, Intake::Fetching { .. })
        {
            record.intake = intake;
        }
        Ok(())
    }

    pub(super) async fn on_done(
        &mut self,
        done: Done,
        _: &mpsc::Sender<Done>,
    ) -> anyhow::Result<()> {
        match done {
            Done::NotTaken { worker, task } => {
                let _ = self.core.handle_replica_failed(unix_now(), task, worker, false);
            }
            Done::Intake(job, offered, result) => {
                let Some(mut record) = self.jobs.get(&job).cloned() else { return Ok(()) };
                // The consent is only ever for what this intake checked: the record must still
                // be that offer's, waiting for it, and the manifest must have its task count.
                let same = record.client == offered.client
                    && record.order == offered.order
                    && record.task_count == offered.task_count
                    && matches!(record.intake, Intake::Fetching { .. });
                if !same {
                    return Ok(());
                }
                let result = result.and_then(|manifest| {
                    if manifest.task_count() == record.task_count {
                        Ok(manifest)
                    } else {
                        Err("the manifest's task count is not the offer's".to_owned())
                    }
                });
                record.intake = match result {
                    Ok(manifest) => match self.consent(job, &record) {
                        Ok(signature) => {
                            self.manifests.insert(job, manifest);
                            tracing::info!(target: "quorate::scheduler", %job, "job consented");
                            Intake::Consented { signature }
                        }
                        Err(e) => Intake::Refused {
                            reason: format!("the pool could not sign its consent: {e}"),
                        },
                    },
                    Err(reason) => {
                        tracing::info!(target: "quorate::scheduler", %job, %reason, "job refused");
                        Intake::Refused { reason }
                    }
                };
                self.put_job(job, record);
            }
        }
        Ok(())
    }

    pub(super) fn consent(&self, job: ContentHash, record: &JobRecord) -> anyhow::Result<Vec<u8>> {
        let consent = JobConsent {
            orderHash: record.order,
            jobHash: job.0,
            client: record.client,
            taskCount: record.task_count,
        };
        let signature = sign_job_consent(
            self.owner.as_ref(),
            &consent,
            &hub_domain(self.chain_id, self.pool.hub),
        )?;
        Ok(signature.to_vec())
    }

    pub(super) async fn on_upload(&mut self, from: Address, upload: wire::ResultUpload) -> Wire {
        let digest = ResultDigest::of(upload.task, &upload.result);
        if !self.tasks.contains_key(&upload.task) {
            return Wire::Refused { reason: "not a task of this pool".into() };
        }
        if self.results.contains_key(&upload.task) {
            return Wire::Ack;
        }
        if !self.revealed.get(&upload.task).is_some_and(|d| d.contains(&digest)) {
            // The worker's reveal may be mined in a block this scheduler has not read yet: keep
            // the upload (bounded) until the reveal shows, when it is checked.
            let len = upload.result.len();
            // Only from a worker holding a replica of the task, so nobody else can fill the
            // task's places.
            let known = self.core.replicas_of(&upload.task).contains(&from);
            let room = self.early_bytes.saturating_add(len) <= MAX_EARLY_BYTES
                && self.early.get(&upload.task).is_none_or(|v| v.len() < MAX_EARLY_PER_TASK);
            if !(known && room) {
                return Wire::Refused {
                    reason: "no digest revealed on chain for this task matches the result".into(),
                };
            }
            self.early_bytes = self.early_bytes.saturating_add(len);
            self.early.entry(upload.task).or_default().push((from, upload.result));
            return Wire::Ack;
        }
        self.accept(from, upload).await
    }

    /// Checks the uploads kept for `task` against what is now revealed.
    pub(super) async fn accept_early(&mut self, task: TaskId) {
        let Some(uploads) = self.early.remove(&task) else { return };
        for (from, result) in uploads {
            self.early_bytes = self.early_bytes.saturating_sub(result.len());
            let digest = ResultDigest::of(task, &result);
            if !self.results.contains_key(&task)
                && self.revealed.get(&task).is_some_and(|d| d.contains(&digest))
            {
                self.accept(from, wire::ResultUpload { task, result }).await;
            }
        }
    }

    /// Keeps a result whose digest was revealed on chain, for the deal's client only.
    pub(super) async fn accept(&mut self, from: Address, upload: wire::ResultUpload) -> Wire {
        let client = self.deal_of(upload.task).and_then(|(deal, _)| self.client_of(deal));
        let access = Access::only(client);
        let hash = match self.p2p.put_content_for(upload.result.clone(), access).await {
            Ok(hash) => hash,
            Err(e) => {
                return Wire::Refused {
                    reason: format!("the scheduler cannot keep the result: {e}"),
                };
            }
        };
        let _ = self.pinned.put(&hash, &upload.result);
        self.results.insert(upload.task, hash);
        let mut batch = Batch::default();
        if batch.put(&RESULTS, &upload.task.0, &hash).is_ok() {
            let _ = self.state.store().commit(batch);
        }
        tracing::info!(target: "quorate::scheduler", task = %upload.task, worker = %from, "result received");
        Wire::Ack
    }

    /// Remembers a deal's job and indexes its tasks.
    pub(super) fn index_deal(&mut self, deal: DealId, job: ContentHash) {
        self.deal_jobs.insert(deal, job);
        let count = self.manifests.get(&job).map_or(0, JobManifest::task_count);
        for index in 0..count {
            self.tasks.insert(TaskId::derive(deal, u64::from(index)), (deal, index));
        }
    }

    /// The deal and index of a task this scheduler runs.
    pub(super) fn deal_of(&self, task: TaskId) -> Option<(DealId, u32)> {
        self.tasks.get(&task).copied()
    }

    pub(super) fn client_of(&self, deal: DealId) -> Option<Address> {
        let job = self.deal_jobs.get(&deal)?;
        self.jobs.get(job).map(|record| record.client)
    }

    pub(super) fn deal_status(&self, request: &wire::DealStatusRequest) -> DealStatus {
        let Some(job) = self.deal_jobs.get(&request.deal) else {
            return DealStatus { deal: request.deal, tasks: Vec::new() };
        };
        let count = self.manifests.get(job).map_or(0, JobManifest::task_count);
        let end =
            request.from.saturating_add(request.count.min(wire::MAX_DEAL_TASKS as u32)).min(count);
        let tasks = (request.from..end)
            .map(|index| {
                let task = TaskId::derive(request.deal, u64::from(index));
                let result = self.results.get(&task).copied();
                let phase = match (result, self.core.task_status(&task)) {
                    (Some(_), _) => TaskPhase::Completed,
                    (None, Some(status)) => phase_of(status),
                    (None, None) => TaskPhase::Waiting,
                };
                TaskEntry {
                    index,
                    phase,
                    progress: self.progress.get(&task).copied().unwrap_or(0),
                    result,
                }
            })
            .collect();
        DealStatus { deal: request.deal, tasks }
    }
}

pub(super) fn job_state(record: &JobRecord) -> JobState {
    match &record.intake {
        Intake::Fetching { fetched, total } => {
            JobState::Fetching { fetched: *fetched, total: *total }
        }
        Intake::Consented { signature } => {
            let mut sig = [0u8; 65];
            if signature.len() == 65 {
                sig.copy_from_slice(signature);
            }
            JobState::Consented {
                order: record.order,
                task_count: record.task_count,
                signature: sig,
            }
        }
        Intake::Refused { reason } => JobState::Refused { reason: reason.clone() },
    }
}

pub(super) fn phase_of(status: quorate_poco::task::TaskStatus) -> TaskPhase {
    use quorate_poco::task::TaskStatus as S;
    match status {
        S::Revealing => TaskPhase::Revealing,
        S::Completed => TaskPhase::Completed,
        S::Failed => TaskPhase::Failed,
        _ => TaskPhase::Running,
    }
}
