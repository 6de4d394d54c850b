//! The pool owner's permission for one worker to vote on one task in one round: the one type
//! the contract, the scheduler (which signs it) and the worker and network (which check it)
//! share.
//!
//! As the Hub checks it (docs/poco.md): the pool owner signs, with EIP-191 (`personal_sign`),
//! the 32-byte message `keccak256(worker ‖ taskId)` in a task's first round, and
//! `keccak256(worker ‖ taskId ‖ round)` after a reopen, `round` as 32 big-endian bytes (the
//! Hub's `TaskView.round`: the reveal deadline the last reopen passed). An authorization of an
//! earlier round no longer votes.

use alloy_primitives::{Address, B256, Signature, U256, eip191_hash_message, keccak256};
use alloy_signer::SignerSync;

use crate::{Error, TaskId};

/// What a task authorization is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TaskAuthorization {
    /// The worker allowed to vote.
    pub worker: Address,
    /// The task.
    pub task: TaskId,
    /// The round: 0 until a reopen.
    pub round: u64,
}

impl TaskAuthorization {
    /// For `worker` on `task` in its first round.
    pub fn first_round(worker: Address, task: TaskId) -> Self {
        Self { worker, task, round: 0 }
    }

    /// The 32-byte message the pool owner signs (before EIP-191 prefixing).
    pub fn message(&self) -> B256 {
        let mut packed = Vec::with_capacity(84);
        packed.extend_from_slice(self.worker.as_slice());
        packed.extend_from_slice(self.task.0.as_slice());
        if self.round != 0 {
            packed.extend_from_slice(&U256::from(self.round).to_be_bytes::<32>());
        }
        keccak256(packed)
    }

    /// The digest the signature is over, ready for `ecrecover`.
    pub fn digest(&self) -> B256 {
        eip191_hash_message(self.message())
    }

    /// The pool owner's signature (65 bytes, `r ‖ s ‖ v`).
    pub fn sign<S: SignerSync + ?Sized>(&self, owner: &S) -> Result<[u8; 65], Error> {
        owner
            .sign_message_sync(self.message().as_slice())
            .map(|signature| signature.as_bytes())
            .map_err(|e| Error::Signature { reason: e.to_string() })
    }

    /// Who signed `signature` for this authorization.
    pub fn signer(&self, signature: &[u8; 65]) -> Result<Address, Error> {
        Signature::from_raw_array(signature)
            .and_then(|sig| sig.recover_address_from_prehash(&self.digest()))
            .map_err(|e| Error::Signature { reason: e.to_string() })
    }

    /// True when `signature` is `owner`'s for this authorization.
    pub fn is_signed_by(&self, signature: &[u8; 65], owner: Address) -> bool {
        self.signer(signature).is_ok_and(|signer| signer == owner)
    }
}
