//! Results uploaded by workers: checked against the digest revealed on chain and kept for the
//! deal's client, acknowledged only once stored. An upload before the scheduler has read its
//! reveal is refused, to be sent again. A task finalized before its result arrived keeps its
//! digest in the store (`AWAITING`) until the result comes, across restarts.

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
            self.note_failure(
                "offence",
                "a result upload did not match the digest revealed on chain: its sender is banned",
                Some(upload.task),
                Some(from),
            );
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
        // The worker's reveal may be mined in a block this scheduler has not read yet: refused
        // until it is, and the worker sends it again (it keeps the result until an answer
        // other than this). A result is acknowledged only once it is stored.
        if !self.core.replicas_of(&upload.task).contains(&from) {
            return Wire::Refused {
                reason: "no digest revealed on chain for this task matches the result, and this worker holds no replica of it".into(),
            };
        }
        Wire::Refused {
            reason: "the scheduler has not read this task's reveal yet: send the result again"
                .into(),
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
        let mut batch = Batch::default();
        if batch.put(&RESULTS, &upload.task.0, &hash).is_err() {
            return Wire::Refused { reason: "the scheduler cannot store the result now".into() };
        }
        batch.delete(&AWAITING, &upload.task.0);
        if let Err(e) = self.state.store().commit(batch) {
            tracing::warn!(target: "quorate::scheduler", task = %upload.task, error = %e, "cannot store a result");
            return Wire::Refused { reason: "the scheduler cannot store the result now".into() };
        }
        self.results.insert(upload.task, hash);
        tracing::info!(target: "quorate::scheduler", task = %upload.task, worker = %from, "result received");
        Wire::Ack
    }
}
