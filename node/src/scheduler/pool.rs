//! The pool on chain: creating it with its policy (`quorate scheduler init`), and the signed
//! orders it sells its compute through.

use alloy::{
    primitives::{Address, B256, Bytes, U256, aliases::U96},
    rpc::types::{TransactionReceipt, TransactionRequest},
    signers::SignerSync,
    sol_types::{SolCall, SolEvent},
};
use quorate_contracts::{
    bindings::{
        Hub,
        IHub::{PoolOrder, PoolPolicy},
    },
    sign::{hub_domain, pool_order_digest, sign_pool_order},
};
use quorate_primitives::PoolId;

use crate::{
    chain::{Chain, ChainError},
    config::SchedulerSection,
};

/// The policy `section` describes, as the Hub takes it.
pub fn policy(section: &SchedulerSection) -> PoolPolicy {
    let mask = section
        .categories
        .iter()
        .fold(U256::ZERO, |mask, c| mask | (U256::from(1u8) << usize::from(*c)));
    PoolPolicy {
        workerStakeRatio: section.worker_stake_percent,
        schedulerRewardRatio: section.reward_percent,
        maxTrust: section.max_trust,
        categoryMask: mask,
    }
}

/// Creates a pool owned by `chain`'s account with `policy`; returns its id, read from the
/// `PoolCreated` event of the receipt.
pub async fn create(
    chain: &Chain,
    hub: Address,
    policy: PoolPolicy,
    metadata: &str,
) -> Result<PoolId, ChainError> {
    create_at(chain, hub, policy, metadata).await.map(|(pool, _)| pool)
}

/// [`create`], with the block the pool was created in (where following its deals starts).
pub async fn create_at(
    chain: &Chain,
    hub: Address,
    policy: PoolPolicy,
    metadata: &str,
) -> Result<(PoolId, u64), ChainError> {
    let input = Hub::createPoolCall { policy, metadataUri: metadata.to_owned() }.abi_encode();
    let receipt = chain.send(TransactionRequest::default().to(hub).input(input.into())).await?;
    let block = receipt.block_number.unwrap_or_default();
    created_pool(&receipt, hub, chain.address()).map(|pool| (pool, block)).ok_or_else(|| {
        ChainError::Rpc {
            op: "createPool",
            reason: format!(
                "transaction {} was mined without a PoolCreated event for {}",
                receipt.transaction_hash,
                chain.address()
            ),
        }
    })
}

/// The id of the pool `owner` created in `receipt`, if any.
fn created_pool(receipt: &TransactionReceipt, hub: Address, owner: Address) -> Option<PoolId> {
    receipt.inner.logs().iter().filter(|log| log.address() == hub).find_map(|log| {
        let event = Hub::PoolCreated::decode_log(&log.inner).ok()?;
        (event.owner == owner).then_some(PoolId(event.pool))
    })
}

/// One order of `pool` as `section` prices it, valid until `expiry` (unix seconds); `salt`
/// makes each renewal a distinct order.
pub fn order(
    section: &SchedulerSection,
    pool: PoolId,
    price: U256,
    expiry: u64,
    salt: B256,
) -> PoolOrder {
    PoolOrder {
        pool: pool.0,
        price: price.saturating_to::<U96>(),
        volume: section.order_volume,
        category: section.order_category,
        trust: section.order_trust,
        tag: B256::ZERO,
        requester: Address::ZERO,
        expiry,
        salt,
        workerStakeRatio: section.worker_stake_percent,
        schedulerRewardRatio: section.reward_percent,
    }
}

/// An order with its EIP-712 hash and the owner's signature, as the Hub checks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedOrder {
    /// The order.
    pub order: PoolOrder,
    /// `hashPoolOrder(order)`.
    pub hash: B256,
    /// The owner's 65-byte signature.
    pub signature: Bytes,
}

/// Signs `order` for the Hub at `hub` on chain `chain_id`.
pub fn sign<S: SignerSync + ?Sized>(
    signer: &S,
    chain_id: u64,
    hub: Address,
    order: PoolOrder,
) -> Result<SignedOrder, quorate_contracts::Error> {
    let domain = hub_domain(chain_id, hub);
    let signature = sign_pool_order(signer, &order, &domain)?;
    let hash = pool_order_digest(&order, &domain);
    Ok(SignedOrder { order, hash, signature })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_names_each_category_by_its_bit() {
        let section = SchedulerSection { categories: vec![0, 3], ..SchedulerSection::default() };
        let p = policy(&section);
        assert_eq!(p.categoryMask, U256::from(0b1001u8));
        assert_eq!((p.workerStakeRatio, p.schedulerRewardRatio, p.maxTrust), (30, 10, 10));
    }

    #[test]
    fn an_order_commits_to_the_pool_s_ratios_and_saturates_its_price() {
        let section = SchedulerSection::default();
        let o = order(&section, PoolId(3), U256::MAX, 99, B256::ZERO);
        assert_eq!(o.price, U96::MAX);
        assert_eq!((o.pool, o.expiry, o.workerStakeRatio, o.schedulerRewardRatio), (3, 99, 30, 10));
    }
}
