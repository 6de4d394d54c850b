//! Buying a deal: a pool's signed order, the pool's consent to this job, and the client's
//! request, matched on the Hub (`matchOrders`). Everything the client can check is checked
//! before the transaction, each refusal a sentence with its fix.

use alloy::{
    primitives::{Address, B256, Bytes, U256, aliases::U96},
    rpc::types::{TransactionReceipt, TransactionRequest},
    sol_types::{SolCall, SolEvent},
};
use quorate_contracts::bindings::{
    Hub,
    IHub::{PoolOrder, Request},
};
use quorate_primitives::{DealId, JobHash};

use crate::{
    accounts,
    chain::{Chain, ChainError},
    units::{Currency, short},
};

/// What the client buys.
#[derive(Debug, Clone)]
pub struct Purchase {
    /// The pool's signed order.
    pub order: PoolOrder,
    /// The pool owner's signature of the order.
    pub order_signature: Bytes,
    /// The pool owner's consent to this job (`JobConsent`).
    pub consent: Bytes,
    /// The job.
    pub job: JobHash,
    /// Its tasks.
    pub tasks: u32,
    /// The trust level wanted (1 to the order's).
    pub trust: u32,
    /// The most the client pays per task.
    pub max_price: U256,
    /// Who receives the results (recorded in the deal's event).
    pub beneficiary: Address,
}

impl Purchase {
    /// What the Hub locks from the client: price × tasks.
    pub fn cost(&self) -> U256 {
        U256::from(self.order.price).saturating_mul(U256::from(self.tasks))
    }

    /// The request the Hub takes.
    pub fn request(&self) -> Request {
        Request {
            jobHash: self.job.0,
            taskCount: self.tasks,
            maxPrice: self.max_price.saturating_to::<U96>(),
            trust: self.trust,
            category: self.order.category,
            tag: B256::ZERO,
            beneficiary: self.beneficiary,
        }
    }
}

/// Checks what the client can check, then matches `purchase` on the Hub; returns the deal.
/// `now` is the chain's time.
pub async fn buy(
    chain: &Chain,
    hub: Address,
    purchase: &Purchase,
    now: u64,
) -> Result<DealId, ChainError> {
    let refuse = |name: &str, sentence: String| {
        Err(ChainError::Reverted {
            refusal: crate::chain::revert::Refusal { name: name.into(), sentence },
            tx: None,
        })
    };
    if purchase.order.expiry < now {
        return refuse(
            "OrderExpired",
            format!(
                "the pool's order expired at unix time {}: ask the pool for a fresh one",
                purchase.order.expiry
            ),
        );
    }
    if purchase.trust == 0 || purchase.trust > purchase.order.trust {
        return refuse(
            "TrustOutOfRange",
            format!(
                "trust {} is outside what the order offers (1 to {}): ask for less trust or another pool",
                purchase.trust, purchase.order.trust
            ),
        );
    }
    if U256::from(purchase.order.price) > purchase.max_price {
        return refuse(
            "PriceAboveMax",
            format!(
                "the pool asks {} QCR per task, above your --max-price {} QCR",
                short(U256::from(purchase.order.price), Currency::Qcr),
                short(purchase.max_price, Currency::Qcr)
            ),
        );
    }
    let balances = accounts::balances(chain.provider(), hub, chain.address()).await?;
    let cost = purchase.cost();
    if balances.free < cost {
        return refuse(
            "InsufficientFreeBalance",
            format!(
                "the Hub holds {} QCR free for {}, {} needed ({} tasks at {} QCR): deposit more with `quorate wallet deposit`",
                short(balances.free, Currency::Qcr),
                chain.address(),
                short(cost, Currency::Qcr),
                purchase.tasks,
                short(U256::from(purchase.order.price), Currency::Qcr)
            ),
        );
    }
    let input = Hub::matchOrdersCall {
        order: purchase.order.clone(),
        signature: purchase.order_signature.clone(),
        consent: purchase.consent.clone(),
        request: purchase.request(),
    }
    .abi_encode();
    let receipt = chain.send(TransactionRequest::default().to(hub).input(input.into())).await?;
    created_deal(&receipt, hub).ok_or_else(|| ChainError::Rpc {
        op: "matchOrders",
        reason: format!(
            "transaction {} was mined without a DealCreated event",
            receipt.transaction_hash
        ),
    })
}

/// The deal created in `receipt`.
fn created_deal(receipt: &TransactionReceipt, hub: Address) -> Option<DealId> {
    receipt.inner.logs().iter().filter(|log| log.address() == hub).find_map(|log| {
        Hub::DealCreated::decode_log(&log.inner).ok().map(|e| DealId::from(e.dealId))
    })
}
