//! Requests from the network: workers joining, beating and uploading results; clients offering
//! jobs and asking how their jobs and deals stand.

#[allow(clippy::wildcard_imports, reason = "one loop's methods, split by concern")]
use super::*;

/// The core's bit for an evaluator kind (`WorkerCaps::evaluators`; a deal needs its kind's).
pub(super) fn evaluator_bit(kind: quorate_primitives::EvaluatorKind) -> u32 {
    1u32 << kind.code()
}

impl Service {
    pub(super) async fn on_p2p(
        &mut self,
        event: Event,
        intakes: &mpsc::Sender<(ContentHash, Intake)>,
        done: &mpsc::Sender<Done>,
    ) -> anyhow::Result<()> {
        match event {
            Event::Request { peer, identity, remote_ip, message, responder } => {
                let from = identity.address;
                let answer = match &message {
                    Wire::JoinRequest(join) if join.pool == self.pool.pool => {
                        match self.admit(from, join.credential.as_ref(), remote_ip, unix_now()) {
                            Ok(()) => self.on_request(peer, from, message, intakes, done).await,
                            Err((reason, detail)) => {
                                tracing::info!(target: "quorate::scheduler", worker = %from, ?reason, "join refused: {detail}");
                                Wire::JoinRefused(wire::JoinRefused {
                                    pool: self.pool.pool,
                                    reason,
                                    detail,
                                })
                            }
                        }
                    }
                    _ => self.on_request(peer, from, message, intakes, done).await,
                };
                self.p2p.respond(responder, answer).await.ok();
                self.report_offences().await;
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
        let refuse =
            |reason: String| Wire::Refused { reason: wire::fit_text(&reason, wire::MAX_TEXT) };
        let now = unix_now();
        match message {
            // Admitted already (`admit`).
            Wire::JoinRequest(join) if join.pool == self.pool.pool => {
                let hub = Hub::new(self.pool.hub, self.chain.provider().clone());
                let score = hub.scoreOf(self.pool.owner, from).call().await.unwrap_or_default();
                if let Ok(payout) = hub.payoutOf(from).call().await {
                    self.observed.payout(from, payout);
                }
                let caps = join.capabilities;
                let mut evaluators = 0u32;
                if caps.evaluators & wire::evaluators::JS != 0 {
                    evaluators |= evaluator_bit(quorate_primitives::EvaluatorKind::JavaScript);
                }
                // A GPU counts only where the worker runs WebGPU tasks on it.
                let gpu = if caps.evaluators & wire::evaluators::WEBGPU != 0 {
                    evaluators |= evaluator_bit(quorate_primitives::EvaluatorKind::WebGpu);
                    caps.gpu_class.as_deref()
                } else {
                    None
                };
                // Replicas of a task all go to one platform class (homogeneous redundancy):
                // its GPU adapter class for a GPU deal, and its float probe.
                let probe = caps.float_probe.as_deref();
                let platform = platform::platform(gpu, probe);
                platform::remember(
                    &mut self.platforms,
                    platform.class(),
                    platform::name(gpu, probe),
                );
                let cpu = Platform { gpu: 0, ..platform };
                platform::remember(&mut self.platforms, cpu.class(), platform::name(None, probe));
                if let Some(gpu) = gpu {
                    platform::remember(&mut self.gpu_classes, platform.gpu, gpu.to_owned());
                }
                let caps = WorkerCaps {
                    slots: u32::from(caps.slots),
                    memory_mib: caps.memory_mib,
                    evaluators,
                    platform,
                    gpu_memory_mib: if gpu.is_some() { caps.gpu_memory_mib } else { 0 },
                    gpu_tags: gpu
                        .map_or([0; quorate_scheduler::types::GPU_TAGS], platform::gpu_tags),
                };
                self.peers.insert(from, peer);
                self.addresses.insert(peer, from);
                self.scores.insert(from, score);
                let held = self.replicas_held_by(from);
                self.at_join.insert(from, held);
                self.declared.insert(from, caps);
                // A drained worker stays drained across its reconnections.
                let offered = if self.drained.contains_key(&from) {
                    WorkerCaps { slots: 0, ..caps }
                } else {
                    caps
                };
                self.core.handle_worker_joined(now, from, offered, score);
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
            Wire::Heartbeat(_) if self.revocations.contains(from) => {
                // Revoked while joined: out now, its replicas planned elsewhere.
                if let Some(peer) = self.peers.remove(&from) {
                    self.addresses.remove(&peer);
                }
                let _ = self.core.handle_worker_lost(now, from);
                tracing::info!(target: "quorate::scheduler", worker = %from, "worker revoked: dropped");
                refuse(format!("the operator of {} revoked this worker", self.pool.pool))
            }
            Wire::Heartbeat(_) => match self.core.handle_heartbeat(now, from) {
                Ok(()) => Wire::Ack,
                Err(_) => refuse("unknown worker: join first".into()),
            },
            Wire::ContributionNotice(notice) => {
                // A replica's answer off-chain. While the task takes votes, a vote's notice
                // changes nothing (the chain's `TaskContributed` frees the slot: a notice is
                // only the worker's word, and believing it would let a worker hold replicas it
                // never votes on); a refused vote's notice drops the replica, planned elsewhere
                // now rather than at its timeout. Once a consensus stands, the answer (a vote
                // it overtook) frees the slot and is compared with the consensus, a different
                // hash barring the worker as a chain vote would.
                if !self.core.replicas_of(&notice.task).contains(&from) {
                    return refuse("this worker holds no replica of the task".into());
                }
                let voted = notice.tx != alloy::primitives::B256::ZERO;
                let active = self.core.task_status(&notice.task)
                    == Some(quorate_poco::task::TaskStatus::Active);
                if active && voted {
                    // Wait for the chain.
                } else if active {
                    let _ = self.core.handle_replica_failed(now, notice.task, from, false);
                } else {
                    let _ = self.core.handle_replica_finished(
                        now,
                        notice.task,
                        from,
                        notice.result_hash,
                        quorate_primitives::ResultSeal::default(),
                    );
                }
                Wire::Ack
            }
            Wire::TaskReport(report) => {
                // Only a worker holding a replica of the task reports on it.
                if !self.core.replicas_of(&report.task).contains(&from) {
                    return refuse("this worker holds no replica of the task".into());
                }
                match report.report {
                    wire::Report::Progress(per_mille) => {
                        if self.tasks.contains_key(&report.task) {
                            self.progress.insert(report.task, per_mille.min(wire::MAX_PROGRESS));
                        }
                    }
                    wire::Report::Console { lines, dropped } => {
                        if let Some((deal, index)) = self.deal_of(report.task) {
                            self.console.record(deal, index, from, lines, dropped);
                        }
                    }
                    wire::Report::Failed { kind, .. } if kind == crate::worker::OVERTAKEN => {
                        // A consensus came first (the worker may read its block before this
                        // scheduler): the replica is dropped, its slot freed, nothing counted
                        // against anyone (a worker dropping a replica while the task takes
                        // votes only has it planned elsewhere).
                        let _ = self.core.handle_replica_failed(now, report.task, from, false);
                    }
                    wire::Report::Failed { kind, message } => {
                        tracing::info!(target: "quorate::scheduler", task = %report.task, worker = %from, %kind, %message, "replica failed on its machine");
                        self.note_failure(
                            "replica",
                            &format!("a replica failed on its worker ({kind}); the worker reports: {message}"),
                            Some(report.task),
                            Some(from),
                        );
                        // The replica is planned elsewhere; counted toward giving the task up
                        // only as `on_failed` says.
                        self.on_failed(now, report.task, from);
                    }
                }
                Wire::Ack
            }
            Wire::RecoveryRequest(request) if request.pool == self.pool.pool => {
                if !self.peers.contains_key(&from) {
                    return refuse("unknown worker: join first".into());
                }
                let tasks = self.recovery(from, &request.known);
                self.drop_unheld(now, from, &request.known);
                Wire::RecoveryReport(wire::RecoveryReport { pool: self.pool.pool, tasks })
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
                    Wire::DealStatus(DealStatus::empty(request.deal))
                }
            }
            other => refuse(format!("a scheduler does not take a {}", other.kind().name())),
        }
    }

    /// Whether `worker` may join: not denied nor revoked, on the allow-lists when set (its
    /// address, the network it connects from), and for a private pool holding the owner's
    /// credential for its address, on this chain, not expired.
    fn admit(
        &mut self,
        worker: Address,
        credential: Option<&JoinCredential>,
        remote_ip: Option<std::net::IpAddr>,
        now: u64,
    ) -> Result<(), (RefusalReason, String)> {
        let pool = self.pool.pool;
        let s = &self.config.scheduler;
        let allowed = s.allowed_workers().unwrap_or_default();
        if s.denied_workers().unwrap_or_default().contains(&worker)
            || (!allowed.is_empty() && !allowed.contains(&worker))
        {
            return Err((RefusalReason::NotAllowed, format!("{pool} does not take this worker")));
        }
        let networks = s.allowed_networks().unwrap_or_default();
        if !networks.is_empty()
            && !remote_ip.is_some_and(|ip| networks.iter().any(|n| n.contains(ip)))
        {
            let from =
                remote_ip.map_or_else(|| "an unknown address".to_owned(), |ip| ip.to_string());
            return Err((
                RefusalReason::NotAllowed,
                format!("{pool} takes workers from its own networks only, not from {from}"),
            ));
        }
        if self.revocations.contains(worker) {
            return Err((
                RefusalReason::NotAllowed,
                format!("the operator of {pool} revoked this worker's join credential"),
            ));
        }
        if !self.config.scheduler.private {
            return Ok(());
        }
        let Some(credential) = credential else {
            return Err((
                RefusalReason::CredentialRequired,
                format!(
                    "{pool} is private: its operator signs a join credential for {worker} (`quorate scheduler credential {worker}`), set as worker.credential"
                ),
            ));
        };
        let policy =
            VerifyPolicy { chain_id: self.chain.chain_id(), max_validity_s: CREDENTIAL_MAX_SECS };
        match credential.verify(pool, self.pool.owner, worker, now, &policy) {
            Ok(()) => Ok(()),
            Err(quorate_p2p::Error::Expired { .. }) => Err((
                RefusalReason::CredentialExpired,
                format!("the join credential for {pool} expired: ask its operator for a new one"),
            )),
            Err(e) => Err((
                RefusalReason::CredentialInvalid,
                format!("the join credential is not good for {pool}: {e}"),
            )),
        }
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
                // (The order may have changed since: the consent is for the record's.)
                let same = record.client == offered.client
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
            return DealStatus::empty(request.deal);
        };
        // Each task's platform class, named once per answer: the classes met so far, by number.
        let mut classes: Vec<u64> = Vec::new();
        let mut platform_of = |class: Option<u64>| -> u8 {
            let Some(class) = class else { return 0 };
            let at = match classes.iter().position(|c| *c == class) {
                Some(at) => at,
                None if classes.len() < wire::MAX_STATUS_PLATFORMS => {
                    classes.push(class);
                    classes.len().saturating_sub(1)
                }
                None => return 0,
            };
            u8::try_from(at.saturating_add(1)).unwrap_or(0)
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
                    (None, None) if self.claimed.contains(&task) => TaskPhase::Failed,
                    (None, None) => TaskPhase::Waiting,
                };
                let class = self.core.task(&task).and_then(|t| t.class);
                TaskEntry {
                    index,
                    phase,
                    progress: self.progress.get(&task).copied().unwrap_or(0),
                    result,
                    platform: platform_of(class),
                }
            })
            .collect();
        let console = request
            .console_from
            .map_or_else(Vec::new, |from| self.console.read(request.deal, from));
        let console_end = self.console.end(request.deal);
        let platforms = classes
            .iter()
            .map(|class| wire::fit_text(&self.platform_name(*class), wire::MAX_PLATFORM_NAME))
            .collect();
        DealStatus { deal: request.deal, tasks, platforms, console, console_end }
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
        Intake::Refused { reason } => {
            JobState::Refused { reason: wire::fit_text(reason, wire::MAX_TEXT) }
        }
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
