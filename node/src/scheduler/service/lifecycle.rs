//! The ends of things: a task that ended on chain (its failure counts go, the digest its missing
//! result must match stays), a
//! deal whose every task ended (its job's blobs are no longer served), results past their
//! retention period (no longer served nor kept). Also what workers report of their replicas:
//! machine failures (counted once per worker, and only from workers with a score) and
//! recovery after a rejoin.

#[allow(clippy::wildcard_imports, reason = "one loop's methods, split by concern")]
use super::*;

impl Service {
    /// A task of this pool ended on chain (finalized or claimed).
    pub(super) async fn task_ended(&mut self, task: TaskId) {
        // Finalized before its result arrived: the digest it must match is kept, so that the
        // worker's upload is still taken after a restart.
        if !self.results.contains_key(&task)
            && let Some(digest) = self.revealed.get(&task).and_then(|d| d.iter().next()).copied()
        {
            let mut batch = Batch::default();
            if batch.put(&AWAITING, &task.0, &digest).is_ok()
                && let Err(e) = self.state.store().commit(batch)
            {
                tracing::warn!(target: "quorate::scheduler", %task, error = %e, "cannot keep the digest a result must match");
            }
        }
        self.failed_by.remove(&task);
        self.progress.remove(&task);
        let Some((deal, _)) = self.deal_of(task) else { return };
        if self.deals_ended.contains_key(&deal) {
            return;
        }
        let count = self.task_count(deal);
        let ended = self.ended.entry(deal).or_default();
        ended.insert(task);
        let mut batch = Batch::default();
        let whole = u32::try_from(ended.len()).unwrap_or(u32::MAX) >= count;
        if whole {
            let now = unix_now();
            for t in self.ended.remove(&deal).unwrap_or_default() {
                batch.delete(&TASKS_ENDED, &t.0);
            }
            if batch.put(&DEALS_ENDED, &deal.0, &now).is_ok() {
                self.deals_ended.insert(deal, now);
            }
        } else if batch.put(&TASKS_ENDED, &task.0, &deal.0).is_err() {
            return;
        }
        if let Err(e) = self.state.store().commit(batch) {
            tracing::error!(target: "quorate::scheduler", %deal, error = %e, "cannot store a task's end");
        }
        if whole {
            tracing::info!(target: "quorate::scheduler", %deal, "every task of the deal ended");
            self.unserve_job(deal).await;
        }
    }

    /// The tasks of `deal`, from its job's manifest.
    pub(super) fn task_count(&self, deal: DealId) -> u32 {
        self.deal_jobs
            .get(&deal)
            .and_then(|job| self.manifests.get(job))
            .map_or(0, JobManifest::task_count)
    }

    /// The blobs of a job: its manifest, code, modules and inputs.
    fn job_blobs(&self, job: ContentHash) -> Vec<ContentHash> {
        let mut blobs = vec![job];
        if let Some(manifest) = self.manifests.get(&job) {
            blobs.push(manifest.code);
            blobs.extend(manifest.modules.iter().map(|m| m.hash));
            blobs.extend(manifest.inputs.iter().copied());
        }
        blobs
    }

    /// Stops serving the blobs of an ended deal's job that no deal still running needs.
    async fn unserve_job(&mut self, deal: DealId) {
        let Some(job) = self.deal_jobs.get(&deal).copied() else { return };
        let running: Vec<ContentHash> = self
            .deal_jobs
            .iter()
            .filter(|(d, _)| !self.deals_ended.contains_key(d))
            .map(|(_, j)| *j)
            .collect();
        let needed: HashSet<ContentHash> =
            running.into_iter().flat_map(|j| self.job_blobs(j)).collect();
        // Blobs are content-addressed: an input may also be a kept result (the same bytes).
        let results: HashSet<ContentHash> = self.results.values().copied().collect();
        for hash in self.job_blobs(job) {
            if !needed.contains(&hash)
                && self.served.remove(&hash).is_some()
                && !results.contains(&hash)
            {
                let _ = self.p2p.remove_content(hash).await;
            }
        }
    }

    /// Forgets the deals that ended more than the retention period ago: their results are no
    /// longer served nor kept, their tasks no longer indexed.
    pub(super) async fn expire_results(&mut self, now: u64) {
        let retention = self.config.scheduler.result_retention_secs;
        let expired: Vec<DealId> = self
            .deals_ended
            .iter()
            .filter(|(_, at)| at.saturating_add(retention) <= now)
            .map(|(deal, _)| *deal)
            .collect();
        for deal in expired {
            let count = self.task_count(deal);
            let mut batch = Batch::default();
            let mut dropped = Vec::new();
            for index in 0..count {
                let task = TaskId::derive(deal, u64::from(index));
                if let Some(hash) = self.results.remove(&task) {
                    batch.delete(&RESULTS, &task.0);
                    dropped.push(hash);
                }
                self.tasks.remove(&task);
                self.revealed.remove(&task);
                self.claimed.remove(&task);
                batch.delete(&AWAITING, &task.0);
            }
            batch.delete(&DEALS_ENDED, &deal.0);
            batch.delete(&DEAL_JOBS, &deal.0);
            if let Err(e) = self.state.store().commit(batch) {
                tracing::error!(target: "quorate::scheduler", %deal, error = %e, "cannot forget a deal");
                continue;
            }
            self.deals_ended.remove(&deal);
            self.deal_jobs.remove(&deal);
            self.observed.forget_deal(deal);
            self.console.forget(deal);
            // Blobs are content-addressed: equal results of other tasks share a blob (it goes
            // with the last of them), and a result may be the same bytes as a blob of a job
            // (served while its deal runs, pinned while the pool may run it).
            let kept: HashSet<ContentHash> = self.results.values().copied().collect();
            let pinned: HashSet<ContentHash> =
                self.manifests.keys().flat_map(|job| self.job_blobs(*job)).collect();
            for hash in dropped {
                if kept.contains(&hash) {
                    continue;
                }
                if !self.served.contains_key(&hash) {
                    let _ = self.p2p.remove_content(hash).await;
                }
                if !pinned.contains(&hash) {
                    self.pinned.remove(&hash);
                }
            }
            tracing::info!(target: "quorate::scheduler", %deal, "the deal's results are past their retention period: forgotten");
        }
    }

    /// A worker reports a machine failure of its replica of `task`. It counts toward giving
    /// the task up only once per worker, and only from a worker with at least the configured
    /// score: fresh identities (a sybil swarm) only move the replica elsewhere.
    pub(super) fn on_failed(&mut self, now: u64, task: TaskId, worker: Address) {
        let score = self.scores.get(&worker).copied().unwrap_or_default();
        let counts = score >= U256::from(self.config.scheduler.min_failure_score)
            && self.failed_by.entry(task).or_default().insert(worker);
        if let Err(e) = self.core.handle_replica_failed(now, task, worker, counts) {
            tracing::debug!(target: "quorate::scheduler", %task, %worker, error = %e, "a failure report the core refused");
        }
    }

    /// What each task a rejoining worker holds needs, as the pool sees it.
    /// The replicas this scheduler counts on `worker` for, as it (re)joins.
    pub(super) fn replicas_held_by(&self, worker: Address) -> Vec<TaskId> {
        self.tasks
            .keys()
            .filter(|task| self.core.running_replicas_of(task).contains(&worker))
            .copied()
            .collect()
    }

    /// After a worker's recovery request: the replicas this scheduler counted on it for when
    /// it joined that it does not hold (their assignment was lost in a crash, on either side)
    /// are dropped and planned again at once, counted against no one, rather than holding its
    /// slots until they time out. Only a whole list says what the worker does not hold, and
    /// assignments sent after the join are not in question.
    pub(super) fn drop_unheld(&mut self, now: u64, worker: Address, known: &[TaskId]) {
        let Some(at_join) = self.at_join.remove(&worker) else { return };
        if known.len() >= wire::MAX_RECOVERY_TASKS {
            return;
        }
        let held: HashSet<&TaskId> = known.iter().collect();
        let lost: Vec<TaskId> = at_join
            .into_iter()
            .filter(|task| !held.contains(task))
            .filter(|task| self.core.running_replicas_of(task).contains(&worker))
            .collect();
        for task in lost {
            tracing::info!(target: "quorate::scheduler", %task, %worker, "a replica the worker does not hold: planned again");
            let _ = self.core.handle_replica_undelivered(now, task, worker);
        }
    }

    pub(super) fn recovery(&self, worker: Address, known: &[TaskId]) -> Vec<wire::HeldTask> {
        known
            .iter()
            .take(wire::MAX_RECOVERY_TASKS)
            .map(|task| {
                let state = if !self.tasks.contains_key(task) {
                    // Not a task of this pool (any more): nothing to do for it here.
                    wire::TaskState::Done
                } else {
                    match self.core.task_status(task) {
                        // It ended without its result here: the worker holding it uploads it.
                        None if !self.results.contains_key(task)
                            && self.revealed.get(task).is_some_and(|d| !d.is_empty()) =>
                        {
                            wire::TaskState::Assigned
                        }
                        // The core no longer follows it: it ended.
                        None => wire::TaskState::Done,
                        Some(_) if !self.core.replicas_of(task).contains(&worker) => {
                            wire::TaskState::Aborted
                        }
                        Some(quorate_poco::task::TaskStatus::Revealing)
                            if !self.results.contains_key(task) =>
                        {
                            wire::TaskState::RevealRequested
                        }
                        Some(_) => wire::TaskState::Assigned,
                    }
                };
                wire::HeldTask { task: *task, state }
            })
            .collect()
    }
}
