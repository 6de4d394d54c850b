//! Identifiers the Hub derives that the Rust side needs before (or without) reading an event.

use alloy::{
    primitives::{Address, B256, U256, keccak256},
    sol_types::SolValue,
};
use quorate_primitives::DealId;

use crate::bindings::IHub::Request;

/// The Hub's `hashRequest(client, request)`: `keccak256(abi.encode(client, request))`.
pub fn request_hash(client: Address, request: &Request) -> B256 {
    keccak256((client, request.clone()).abi_encode())
}

/// The id of the deal `matchOrders` creates for `client`'s `request` when the Hub's deal
/// counter reaches `nonce` (the first deal of a Hub has nonce 1):
/// `keccak256(requestHash ‖ nonce)`.
pub fn deal_id(client: Address, request: &Request, nonce: u64) -> DealId {
    DealId::derive(request_hash(client, request), U256::from(nonce))
}
