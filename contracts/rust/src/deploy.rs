//! Deploying the credit token and the Hub, and registering task categories.

use alloy::{
    network::{Network, ReceiptResponse},
    primitives::{Address, B256},
    providers::Provider,
};

use crate::{
    Error,
    bindings::{Hub, QuorateCredit},
};

/// Task categories with their time references (seconds), as on a public network: deadlines of
/// a deal are multiples of its category's reference (contributions until 7t, final 10t).
pub const STANDARD_CATEGORIES: [(&str, u32); 5] =
    [("XS", 300), ("S", 1_200), ("M", 3_600), ("L", 10_800), ("XL", 36_000)];

/// Short categories for a devnet, so that deadlines pass within a test run.
pub const DEVNET_CATEGORIES: [(&str, u32); 2] = [("DEV", 10), ("DEV-LONG", 60)];

/// Where the contracts of one deployment are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deployment {
    /// The QuorateCredit token.
    pub credit: Address,
    /// The Hub, counting in `credit`.
    pub hub: Address,
}

/// Deploys QuorateCredit and a Hub over it, both owned by `owner`, from the provider's default
/// sender.
pub async fn deploy<P: Provider<N> + Clone, N: Network>(
    provider: &P,
    owner: Address,
) -> Result<Deployment, Error> {
    let credit = QuorateCredit::deploy(provider.clone(), owner).await.map_err(|source| {
        Error::Contract { op: "deploy QuorateCredit", source: Box::new(source) }
    })?;
    let hub = Hub::deploy(provider.clone(), *credit.address(), owner)
        .await
        .map_err(|source| Error::Contract { op: "deploy Hub", source: Box::new(source) })?;
    Ok(Deployment { credit: *credit.address(), hub: *hub.address() })
}

/// Registers `categories` on the Hub, in order (the first gets id 0), sent by its owner.
pub async fn create_categories<P: Provider<N>, N: Network>(
    hub: &Hub::HubInstance<P, N>,
    owner: Address,
    categories: &[(&str, u32)],
) -> Result<(), Error> {
    for (name, time_ref) in categories {
        let pending =
            hub.createCategory((*name).to_owned(), *time_ref).from(owner).send().await.map_err(
                |source| Error::Contract { op: "createCategory", source: Box::new(source) },
            )?;
        confirmed("createCategory", *pending.tx_hash(), pending.get_receipt().await)?;
    }
    Ok(())
}

/// Checks that a transaction's receipt came back and that the transaction succeeded.
pub fn confirmed<R: ReceiptResponse>(
    op: &'static str,
    tx: B256,
    receipt: Result<R, alloy::providers::PendingTransactionError>,
) -> Result<R, Error> {
    let receipt = receipt.map_err(|source| Error::Receipt { op, source: Box::new(source) })?;
    if receipt.status() { Ok(receipt) } else { Err(Error::Reverted { op, tx }) }
}
