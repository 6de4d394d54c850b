//! Jobs offered by clients: taken (within each client's and the pool's caps), fetched and
//! checked a few at a time, consented to or refused; offered again, with a new order.

#[allow(clippy::wildcard_imports, reason = "one loop's methods, split by concern")]
use super::*;

impl Service {
    /// The GPUs of the joined workers that offer WebGPU and have room, with their workers'
    /// platform classes and vote weights.
    fn offered_gpus(&self) -> Vec<platform::OfferedGpu> {
        let webgpu = requests::evaluator_bit(quorate_primitives::EvaluatorKind::WebGpu);
        self.core
            .workers()
            .filter(|w| {
                w.capacity > 0
                    && !w.record.barred
                    && w.record.caps.evaluators & webgpu != 0
                    && self.peers.contains_key(&w.record.address)
            })
            .filter_map(|w| {
                let caps = &w.record.caps;
                Some(platform::OfferedGpu {
                    class: self.gpu_classes.get(&caps.platform.gpu)?.clone(),
                    memory_mib: caps.gpu_memory_mib,
                    platform: caps.platform.class(),
                    weight: quorate_poco::weight::vote_weight(w.record.score),
                })
            })
            .collect()
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
        if self.paused {
            return refuse(format!(
                "{} is paused by its operator and takes no new job now: try again later, or another pool",
                self.pool.pool
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
            return refuse(format!(
                "this pool takes 1 to {} tasks per job: split the job, or submit it to another pool",
                self.limits.max_tasks
            ));
        }
        if let Some(existing) = self.jobs.get(&offer.job).cloned()
            && !matches!(existing.intake, Intake::Refused { .. })
        {
            // A job is one client's: another's offer of the same bytes would take its record
            // (and its deal's results) over.
            if existing.client != client {
                return refuse(
                    "this exact job is already offered by another client: change anything in it (an argument, say) to make it yours".into(),
                );
            }
            return self.offered_again(offer.job, existing, offer);
        }
        if let Some(reason) = self.over_offer_caps(client, offer.task_count) {
            return refuse(reason);
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
            IntakeLimits { gpus: self.offered_gpus(), trust: offer.trust, ..self.limits.clone() },
            self.pinned.clone(),
            intakes.clone(),
            done.clone(),
        );
        let (job, task_count) = (offer.job, offer.task_count);
        let slots = Arc::clone(&self.intake_slots);
        tokio::spawn(async move {
            // Fetches and sample sandboxes run a few jobs at a time; the others wait here.
            let _permit = slots.acquire_owned().await;
            let result =
                jobs::intake(&p2p, peer, job, task_count, &limits, &pinned, &progress).await;
            let offered = Offered { client, task_count };
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

    /// The same client offers a job it already offered: a new order (the old one expired, say)
    /// is taken, and a consented job is consented to again for it; other changes are refused.
    fn offered_again(
        &mut self,
        job: ContentHash,
        mut record: JobRecord,
        offer: &wire::JobOffer,
    ) -> Wire {
        if record.task_count != offer.task_count {
            return Wire::Refused {
                reason: format!(
                    "this job was offered with {} tasks: its task count is its manifest's",
                    record.task_count
                ),
            };
        }
        if record.order == offer.order && record.trust == offer.trust {
            return Wire::Ack;
        }
        record.order = offer.order;
        record.trust = offer.trust;
        if matches!(record.intake, Intake::Consented { .. }) {
            match self.consent(job, &record) {
                Ok(signature) => record.intake = Intake::Consented { signature },
                Err(e) => {
                    return Wire::Refused {
                        reason: format!("the pool could not sign its consent: {e}"),
                    };
                }
            }
        }
        tracing::info!(target: "quorate::scheduler", %job, order = %offer.order, "job offered again with a new order");
        self.put_job(job, record);
        Wire::Ack
    }

    /// Why a new offer of `tasks` tasks by `client` is refused, if the pool's or the client's
    /// caps say so: offers being checked by everyone; the client's offers not bought yet
    /// (being checked, or consented under an order that is still valid) and their tasks.
    fn over_offer_caps(&self, client: Address, tasks: u32) -> Option<String> {
        let s = &self.config.scheduler;
        let checking =
            self.jobs.values().filter(|r| matches!(r.intake, Intake::Fetching { .. })).count();
        if checking >= usize::try_from(s.max_pending_intakes).unwrap_or(usize::MAX) {
            return Some(format!(
                "the pool is checking {checking} other jobs: offer again in a few minutes"
            ));
        }
        let bought: HashSet<&ContentHash> = self.deal_jobs.values().collect();
        let (mut offers, mut pending_tasks) = (0u32, u64::from(tasks));
        for (job, record) in &self.jobs {
            let pending = match record.intake {
                Intake::Fetching { .. } => true,
                Intake::Consented { .. } => {
                    !bought.contains(job) && self.orders.contains_key(&record.order)
                }
                Intake::Refused { .. } => false,
            };
            if record.client == client && pending {
                offers = offers.saturating_add(1);
                pending_tasks = pending_tasks.saturating_add(u64::from(record.task_count));
            }
        }
        if offers >= s.max_pending_offers_per_client {
            return Some(format!(
                "you have {offers} jobs offered to this pool and not bought: buy or let them expire with their order first"
            ));
        }
        if pending_tasks > u64::from(s.max_pending_tasks_per_client) {
            return Some(format!(
                "your offered jobs not bought yet would hold {pending_tasks} tasks, over this pool's {} per client: buy some first",
                s.max_pending_tasks_per_client
            ));
        }
        None
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
}
