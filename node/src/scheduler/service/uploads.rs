//! Results uploaded by workers: checked against the digest revealed on chain and kept for the
//! deal's client. An upload may come before the scheduler has read its reveal: it waits in one
//! slot per (task, worker holding a replica), bounded in bytes, until the reveal shows or the
//! task ends.

#[allow(clippy::wildcard_imports, reason = "one loop's methods, split by concern")]
use super::*;

impl Service {
    pub(super) async fn on_upload(&mut self, from: Address, upload: wire::ResultUpload) -> Wire {
        let digest = ResultDigest::of(upload.task, &upload.result);
        // Every reveal of a task reveals the consensus digest: once one is read, a result of
        // another digest is forged (or a losing one passed off as the winner's), even after
        // the right one arrived.
        let revealed = self.revealed.get(&upload.task);
        if revealed.is_some_and(|d| !d.is_empty() && !d.contains(&digest)) {
            self.offence(from, Offence::BadContent);
            return Wire::Refused {
                reason: "the result does not match the digest revealed on chain for this task"
                    .into(),
            };
        }
        if !self.tasks.contains_key(&upload.task) {
            return Wire::Refused { reason: "not a task of this pool".into() };
        }
        if self.results.contains_key(&upload.task) {
            return Wire::Ack;
        }
        if self.revealed.get(&upload.task).is_some_and(|d| d.contains(&digest)) {
            return self.accept(from, upload).await;
        }
        // The worker's reveal may be mined in a block this scheduler has not read yet: keep
        // the upload until the reveal shows, when it is checked. Only from a worker holding a
        // replica of a task still running, one upload each (a later one replaces it).
        let task = upload.task;
        if !self.core.replicas_of(&task).contains(&from) {
            return Wire::Refused {
                reason: "no digest revealed on chain for this task matches the result, and this worker holds no replica of it".into(),
            };
        }
        let len = upload.result.len();
        let replaced = self.early.get(&(task, from)).map_or(0, Vec::len);
        let after = self.early_bytes.saturating_sub(replaced).saturating_add(len);
        if after > MAX_EARLY_BYTES {
            return Wire::Refused {
                reason: "the scheduler has not read the reveal yet and holds too many early results: send it again later".into(),
            };
        }
        self.early_bytes = after;
        self.early.insert((task, from), upload.result);
        Wire::Ack
    }

    /// Checks the uploads kept for `task` against what is now revealed.
    pub(super) async fn accept_early(&mut self, task: TaskId) {
        for (from, result) in self.take_early(task) {
            let digest = ResultDigest::of(task, &result);
            if !self.revealed.get(&task).is_some_and(|d| d.contains(&digest)) {
                // Kept until the reveal showed, and not what was revealed: forged.
                self.offence(from, Offence::BadContent);
            } else if !self.results.contains_key(&task) {
                self.accept(from, wire::ResultUpload { task, result }).await;
            }
        }
    }

    /// Notes a worker's offence, reported to the network's guard (which bans it at the
    /// threshold) once its request is answered, so that it learns why.
    pub(super) fn offence(&mut self, from: Address, offence: Offence) {
        tracing::warn!(target: "quorate::scheduler", worker = %from, ?offence, "a worker's offence, reported to the network guard");
        if let Some(peer) = self.peers.get(&from).copied() {
            self.offences.push((peer, offence));
        }
    }

    /// Reports the offences noted, once the answer has left (a ban closes the connection).
    pub(super) async fn report_offences(&mut self) {
        for (peer, offence) in std::mem::take(&mut self.offences) {
            let p2p = self.p2p.clone();
            tokio::spawn(async move {
                tokio::time::sleep(quorate_p2p::guard::ANSWER_GRACE).await;
                let _ = p2p.report(peer, offence).await;
            });
        }
    }

    /// Empties `task`'s early slots; returns what they held.
    pub(super) fn take_early(&mut self, task: TaskId) -> Vec<(Address, Vec<u8>)> {
        let keys: Vec<(TaskId, Address)> = self
            .early
            .range((task, Address::ZERO)..=(task, Address::repeat_byte(0xff)))
            .map(|(key, _)| *key)
            .collect();
        let mut taken = Vec::with_capacity(keys.len());
        for key in keys {
            if let Some(result) = self.early.remove(&key) {
                self.early_bytes = self.early_bytes.saturating_sub(result.len());
                taken.push((key.1, result));
            }
        }
        taken
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
        if let Err(e) = self.pinned.put(&hash, &upload.result) {
            tracing::warn!(target: "quorate::scheduler", task = %upload.task, error = %e, "cannot pin a result");
        }
        self.results.insert(upload.task, hash);
        let mut batch = Batch::default();
        if batch.put(&RESULTS, &upload.task.0, &hash).is_ok() {
            let _ = self.state.store().commit(batch);
        }
        tracing::info!(target: "quorate::scheduler", task = %upload.task, worker = %from, "result received");
        Wire::Ack
    }
}
