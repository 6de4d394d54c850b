//! Deploying the credit token and the Hub, and registering task categories.
//!
//! [`deploy_hub`] is the one deployment sequence: the devnet runs it through anvil
//! (`quorate-devnet`), `quorate hub deploy` through the node's chain actor, and tests through
//! an alloy provider ([`ProviderSender`]); each brings its own [`Sender`].
//!
//! ```text
//! Plan{owner, token?, categories} ─▶ [deploy QuorateCredit] ─▶ deploy Hub(token, owner) ─▶ createCategory × n ─▶ Deployed
//!                                    (skipped when a token      (its block: where          (sent together when the
//!                                     is given)                  followers start)           sender keeps their order)
//! ```

use std::future::Future;

use alloy::{
    network::{ReceiptResponse, TransactionBuilder},
    primitives::{Address, B256},
    providers::Provider,
    rpc::types::{TransactionReceipt, TransactionRequest},
    sol_types::{SolCall, SolConstructor},
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

/// The categories a devnet registers: [`DEVNET_CATEGORIES`] first (ids 0 and 1), then
/// [`STANDARD_CATEGORIES`] (ids 2 to 6).
pub fn devnet_categories() -> Vec<(&'static str, u32)> {
    DEVNET_CATEGORIES.iter().chain(STANDARD_CATEGORIES.iter()).copied().collect()
}

/// At least the gas one `createCategory` takes with a name of up to 31 bytes (a test holds it
/// above the measured figure): what a deployer budgets per category before the Hub exists to
/// estimate the calls against.
pub const CREATE_CATEGORY_GAS: u64 = 100_000;

/// The names [`deploy_hub`] gives its transactions (a [`Sender`]'s `op`).
pub mod op {
    /// Deploying QuorateCredit.
    pub const DEPLOY_CREDIT: &str = "deploy QuorateCredit";
    /// Deploying the Hub.
    pub const DEPLOY_HUB: &str = "deploy Hub";
    /// Registering one category.
    pub const CREATE_CATEGORY: &str = "createCategory";
}

/// Where the contracts of one deployment are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deployment {
    /// The credit token (QuorateCredit, or the ERC-20 the Hub was deployed over).
    pub credit: Address,
    /// The Hub, counting in `credit`.
    pub hub: Address,
}

/// What [`deploy_hub`] deploys.
#[derive(Debug, Clone, Copy)]
pub struct Plan<'a> {
    /// Sends every transaction and owns what is deployed (the token, when deployed here, and
    /// the Hub).
    pub owner: Address,
    /// An existing ERC-20 token for the Hub to count in; `None` deploys QuorateCredit.
    pub token: Option<Address>,
    /// Categories to register, in order: the first gets id 0.
    pub categories: &'a [(&'a str, u32)],
}

/// A category as its `CategoryCreated` event registered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    /// Its id: deals and pools name it.
    pub id: u8,
    /// Its name.
    pub name: String,
    /// Its time reference in seconds.
    pub time_ref: u32,
}

/// What [`deploy_hub`] did.
#[derive(Debug, Clone)]
pub struct Deployed {
    /// Where the token and the Hub are.
    pub deployment: Deployment,
    /// Whether the token was deployed here (`false`: the plan gave one).
    pub token_deployed: bool,
    /// The block the Hub was deployed in: event followers start there.
    pub block: u64,
    /// The categories registered, as their events say: the plan's, ids from 0.
    pub categories: Vec<Category>,
    /// Every receipt in the order sent: the token's (when deployed), the Hub's, then one per
    /// category.
    pub receipts: Vec<TransactionReceipt>,
}

/// How [`deploy_hub`] gets its transactions mined.
pub trait Sender: Sync {
    /// Why a send failed. A transaction mined but reverted, or a creation without a contract
    /// address, comes to it as an [`Error`].
    type Error: From<Error> + Send;

    /// Sends `tx` (its `from` is the plan's owner) and waits until it is mined; `op` names it
    /// in errors.
    fn send(
        &self,
        op: &'static str,
        tx: TransactionRequest,
    ) -> impl Future<Output = Result<TransactionReceipt, Self::Error>> + Send;

    /// Sends `txs` and waits until all are mined, receipts in the order given; they must be
    /// mined in that order (category ids follow it). The default sends each once the one
    /// before is mined; a sender that can give one account's transactions consecutive nonces
    /// in order (the node's chain actor) sends them at once, and they share a block.
    fn send_all(
        &self,
        op: &'static str,
        txs: Vec<TransactionRequest>,
    ) -> impl Future<Output = Result<Vec<TransactionReceipt>, Self::Error>> + Send {
        async move {
            let mut receipts = Vec::with_capacity(txs.len());
            for tx in txs {
                receipts.push(self.send(op, tx).await?);
            }
            Ok(receipts)
        }
    }
}

/// The transaction that deploys QuorateCredit owned by `owner`, sent by `owner`.
pub fn credit_creation(owner: Address) -> TransactionRequest {
    let args = QuorateCredit::constructorCall { initialOwner: owner }.abi_encode();
    creation(owner, [&QuorateCredit::BYTECODE[..], &args[..]].concat())
}

/// The transaction that deploys a Hub over `token` owned by `owner`, sent by `owner`.
pub fn hub_creation(token: Address, owner: Address) -> TransactionRequest {
    let args = Hub::constructorCall { token_: token, initialOwner: owner }.abi_encode();
    creation(owner, [&Hub::BYTECODE[..], &args[..]].concat())
}

/// The Hub owner's `createCategory(name, time_ref)` call.
pub fn category_call(
    owner: Address,
    hub: Address,
    name: &str,
    time_ref: u32,
) -> TransactionRequest {
    let input = Hub::createCategoryCall { name: name.to_owned(), timeRef: time_ref }.abi_encode();
    TransactionRequest::default().from(owner).to(hub).input(input.into())
}

fn creation(from: Address, code: Vec<u8>) -> TransactionRequest {
    TransactionRequest::default().from(from).with_deploy_code(code)
}

/// Deploys QuorateCredit (unless the plan names a token), then a Hub over the token, then
/// registers the plan's categories, everything sent by `sender` from the plan's owner.
pub async fn deploy_hub<S: Sender>(sender: &S, plan: &Plan<'_>) -> Result<Deployed, S::Error> {
    let mut receipts = Vec::with_capacity(plan.categories.len() + 2);
    let credit = match plan.token {
        Some(token) => token,
        None => {
            let receipt = sender.send(op::DEPLOY_CREDIT, credit_creation(plan.owner)).await?;
            let credit = created(op::DEPLOY_CREDIT, &receipt)?;
            receipts.push(receipt);
            credit
        }
    };
    let receipt = sender.send(op::DEPLOY_HUB, hub_creation(credit, plan.owner)).await?;
    let hub = created(op::DEPLOY_HUB, &receipt)?;
    let block = receipt.block_number.unwrap_or_default();
    receipts.push(receipt);
    let (categories, sent) = register_categories(sender, plan.owner, hub, plan.categories).await?;
    receipts.extend(sent);
    Ok(Deployed {
        deployment: Deployment { credit, hub },
        token_deployed: plan.token.is_none(),
        block,
        categories,
        receipts,
    })
}

/// Registers `categories` on `hub`, in order (the next free id first), sent by its owner.
/// Returns them as their events registered them, after checking from the receipts alone (a
/// state read could meet a node that lags) that each got the id after the one before.
pub async fn register_categories<S: Sender>(
    sender: &S,
    owner: Address,
    hub: Address,
    categories: &[(&str, u32)],
) -> Result<(Vec<Category>, Vec<TransactionReceipt>), S::Error> {
    let calls = categories
        .iter()
        .map(|(name, time_ref)| category_call(owner, hub, name, *time_ref))
        .collect();
    let receipts = sender.send_all(op::CREATE_CATEGORY, calls).await?;
    let mut registered: Vec<Category> = Vec::with_capacity(receipts.len());
    for (receipt, (name, time_ref)) in receipts.iter().zip(categories) {
        succeeded(op::CREATE_CATEGORY, receipt)?;
        let tx = receipt.transaction_hash;
        let event = receipt
            .inner
            .logs()
            .iter()
            .filter(|log| log.address() == hub)
            .find_map(|log| log.log_decode::<Hub::CategoryCreated>().ok())
            .map(|log| log.inner.data)
            .ok_or_else(|| Error::Categories(format!("transaction {tx} registered no category")))?;
        let expected = registered.last().map(|c| c.id.saturating_add(1)).unwrap_or(event.category);
        if event.name != *name || event.timeRef != *time_ref || event.category != expected {
            return Err(Error::Categories(format!(
                "transaction {tx} registered {} ({} s) as id {} where {name} ({time_ref} s) was sent as id {expected}",
                event.name, event.timeRef, event.category
            ))
            .into());
        }
        registered.push(Category { id: event.category, name: event.name, time_ref: event.timeRef });
    }
    Ok((registered, receipts))
}

/// Deploys QuorateCredit and a Hub over it, both owned by `owner`, from the provider's wallet
/// ([`deploy_hub`] with no categories).
pub async fn deploy<P: Provider + Sync>(provider: &P, owner: Address) -> Result<Deployment, Error> {
    let plan = Plan { owner, token: None, categories: &[] };
    Ok(deploy_hub(&ProviderSender(provider), &plan).await?.deployment)
}

/// Registers `categories` on the Hub, in order (the first gets id 0), sent by its owner from
/// the provider's wallet.
pub async fn create_categories<P: Provider + Sync>(
    hub: &Hub::HubInstance<P>,
    owner: Address,
    categories: &[(&str, u32)],
) -> Result<(), Error> {
    register_categories(&ProviderSender(hub.provider()), owner, *hub.address(), categories)
        .await
        .map(drop)
}

/// A [`Sender`] over an alloy provider with a wallet: its fillers set the nonce, gas and fees,
/// and each receipt is awaited at the provider's pace, one transaction after the other.
#[derive(Debug, Clone, Copy)]
pub struct ProviderSender<'a, P>(pub &'a P);

impl<P: Provider + Sync> Sender for ProviderSender<'_, P> {
    type Error = Error;

    async fn send(
        &self,
        op: &'static str,
        tx: TransactionRequest,
    ) -> Result<TransactionReceipt, Error> {
        let pending = self.0.send_transaction(tx).await.map_err(|e| Error::Contract {
            op,
            source: Box::new(alloy::contract::Error::TransportError(e)),
        })?;
        let hash = *pending.tx_hash();
        confirmed(op, hash, pending.get_receipt().await)
    }
}

/// The address a successful creation's receipt names.
fn created(op: &'static str, receipt: &TransactionReceipt) -> Result<Address, Error> {
    succeeded(op, receipt)?;
    receipt.contract_address.ok_or(Error::NoContractAddress { op })
}

fn succeeded(op: &'static str, receipt: &TransactionReceipt) -> Result<(), Error> {
    if receipt.status() {
        Ok(())
    } else {
        Err(Error::Reverted { op, tx: receipt.transaction_hash })
    }
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
