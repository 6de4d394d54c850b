//! Result votes: digest, hash and seal (the pool owner's per-task authorization is
//! [`crate::TaskAuthorization`]).
//!
//! As the contract computes them (`abi.encodePacked`; docs/poco.md):
//!
//! - `resultDigest = keccak256(taskId ‖ keccak256(canonical result bytes))`: bound to its task;
//! - `resultHash = keccak256(taskId ‖ resultDigest)`: the vote, equal for all who agree;
//! - `resultSeal = keccak256(worker ‖ taskId ‖ resultDigest)` with `worker` as its 20 address
//!   bytes: binds the vote to one worker so a hash seen in the mempool cannot be copied;

use alloy_primitives::{Address, B256, keccak256};

use crate::{TaskId, ids::id32};

id32!(
    /// `keccak256(taskId ‖ keccak256(canonical result bytes))`: a task's result, bound to it.
    ResultDigest,
    "result digest"
);
id32!(
    /// `keccak256(taskId ‖ resultDigest)`: a worker's vote.
    ResultHash,
    "result hash"
);
id32!(
    /// `keccak256(worker ‖ taskId ‖ resultDigest)`: the vote bound to its worker.
    ResultSeal,
    "result seal"
);

impl ResultDigest {
    /// The digest of `task`'s canonical result bytes: `keccak256(taskId ‖ keccak256(bytes))`.
    /// Bound to its task, so a digest revealed for one task says nothing usable about another
    /// task with the same inputs: a lazy worker cannot vote there without computing.
    pub fn of(task: TaskId, result_bytes: &[u8]) -> Self {
        let mut packed = [0u8; 64];
        packed[..32].copy_from_slice(task.0.as_slice());
        packed[32..].copy_from_slice(keccak256(result_bytes).as_slice());
        Self(keccak256(packed))
    }

    /// The vote for this digest on `task`.
    pub fn vote(&self, task: TaskId) -> ResultHash {
        let mut packed = [0u8; 64];
        packed[..32].copy_from_slice(task.0.as_slice());
        packed[32..].copy_from_slice(self.0.as_slice());
        ResultHash(keccak256(packed))
    }

    /// The seal of this digest by `worker` on `task`.
    pub fn seal(&self, worker: Address, task: TaskId) -> ResultSeal {
        let mut packed = [0u8; 84];
        packed[..20].copy_from_slice(worker.as_slice());
        packed[20..52].copy_from_slice(task.0.as_slice());
        packed[52..].copy_from_slice(self.0.as_slice());
        ResultSeal(keccak256(packed))
    }

    /// True when `hash` and `seal` are exactly what `worker` must have committed for this digest:
    /// the check `reveal` makes.
    pub fn matches(
        &self,
        worker: Address,
        task: TaskId,
        hash: ResultHash,
        seal: ResultSeal,
    ) -> bool {
        self.vote(task) == hash && self.seal(worker, task) == seal
    }
}
