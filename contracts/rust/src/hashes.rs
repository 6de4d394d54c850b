//! Identifiers the Hub derives that the Rust side needs before (or without) reading an event.

use alloy::{
    primitives::{Address, B256, U256, keccak256},
    sol_types::SolValue,
};
use quorate_primitives::DealId;

use crate::bindings::IHub::Request;

/// The Hub's `hashRequest(client, request)` on chain `chain_id` at address `hub`:
/// `keccak256(abi.encode(chainId, hub, client, request))`. Naming the chain and the Hub keeps
/// deal and task ids, and so the pool owner's per-task authorizations, unique to one Hub.
pub fn request_hash(chain_id: u64, hub: Address, client: Address, request: &Request) -> B256 {
    keccak256((U256::from(chain_id), hub, client, request.clone()).abi_encode())
}

/// The id of the deal `matchOrders` creates on `hub` (chain `chain_id`) for `client`'s
/// `request` when the Hub's deal counter reaches `nonce` (the first deal of a Hub has nonce 1):
/// `keccak256(requestHash ‖ nonce)`.
pub fn deal_id(
    chain_id: u64,
    hub: Address,
    client: Address,
    request: &Request,
    nonce: u64,
) -> DealId {
    DealId::derive(request_hash(chain_id, hub, client, request), U256::from(nonce))
}
