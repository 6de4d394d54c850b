//! The worker's two transactions: `contribute` (a vote: the result's hash and the worker's
//! seal, with the pool owner's authorization) and `reveal` (the digest behind the vote).

use alloy::{
    primitives::{Address, B256, Bytes},
    rpc::types::{TransactionReceipt, TransactionRequest},
    sol_types::SolCall,
};
use quorate_contracts::bindings::Hub;
use quorate_primitives::{ResultDigest, TaskId};

use crate::chain::{Chain, ChainError};

/// Votes `digest` on `task` with `authorization`, from `chain`'s account.
pub async fn contribute(
    chain: &Chain,
    hub: Address,
    task: TaskId,
    digest: ResultDigest,
    authorization: &[u8],
) -> Result<TransactionReceipt, ChainError> {
    let input = Hub::contributeCall {
        taskId: task.0,
        resultHash: B256::from(crate::adversary::vote(task, digest)),
        resultSeal: B256::from(digest.seal(chain.address(), task)),
        authorization: Bytes::copy_from_slice(authorization),
    };
    send(chain, hub, input.abi_encode()).await
}

/// The Hub's `ContributionStatus` of a vote revealed (`PROVED`).
const PROVED: u8 = 2;

/// True when `result`, a vote (or a reveal, with `revealed`) on `task`, was refused by the Hub
/// but this account's vote (revealed too, with `revealed`) is on chain all the same: the one
/// sent before a crash may have been mined, and the Hub then refuses the same call sent again
/// for another reason first (the task is revealing, or completed). A read that fails says no.
pub async fn refused_but_on_chain(
    chain: &Chain,
    hub: Address,
    task: TaskId,
    result: &Result<TransactionReceipt, ChainError>,
    revealed: bool,
) -> bool {
    if !result.as_ref().is_err_and(|e| e.refusal().is_some()) {
        return false;
    }
    let view = Hub::new(hub, chain.provider().clone());
    // The status is 0 (`UNSET`) for no vote, 1 voted, 2 revealed, 3 rejected.
    let done = |status: u8| if revealed { status == PROVED } else { status != 0 };
    // The one sent before the crash may still be pending (the refusal was estimated against
    // the pending state): read there, then once more a few seconds later, mined.
    let pending = alloy::eips::BlockId::pending();
    let call = view.contribution(task.0, chain.address());
    if call.clone().block(pending).call().await.is_ok_and(|c| done(c.status)) {
        return true;
    }
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    call.call().await.is_ok_and(|c| done(c.status))
}

/// Reveals `digest` on `task`.
pub async fn reveal(
    chain: &Chain,
    hub: Address,
    task: TaskId,
    digest: ResultDigest,
) -> Result<TransactionReceipt, ChainError> {
    let input = Hub::revealCall { taskId: task.0, resultDigest: B256::from(digest) };
    send(chain, hub, input.abi_encode()).await
}

async fn send(
    chain: &Chain,
    hub: Address,
    input: Vec<u8>,
) -> Result<TransactionReceipt, ChainError> {
    chain.send(TransactionRequest::default().to(hub).input(input.into())).await
}
