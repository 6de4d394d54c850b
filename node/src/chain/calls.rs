//! The sender actor's RPC work, each a future that reports one [`Event`] back to the actor's
//! loop, so the loop itself never waits on the network.

use alloy::{
    consensus::TxEnvelope,
    eips::{BlockId, Encodable2718},
    network::{EthereumWallet, NetworkTransactionBuilder, TransactionBuilder},
    primitives::{Address, B256, U256},
    providers::{Provider, RootProvider},
    rpc::types::{TransactionReceipt, TransactionRequest},
    transports::{RpcError, TransportErrorKind},
};
use futures::{FutureExt, future::BoxFuture};
use tokio::sync::oneshot;

use super::{ChainError, revert};

/// How many times a send is tried when the transport fails.
const SEND_ATTEMPTS: u64 = 3;

/// Where the caller of [`super::Chain::send`] waits.
pub(super) type Reply = oneshot::Sender<Result<TransactionReceipt, ChainError>>;

/// What a background call reports.
pub(super) enum Event {
    /// Gas and fees are filled and the account can pay; `estimated` is a fresh estimate (with
    /// margin) to remember for calls of the same shape.
    Estimated {
        tx: Box<TransactionRequest>,
        reply: Option<Reply>,
        result: Result<(), ChainError>,
        estimated: Option<u64>,
    },
    /// A signed transaction was offered to the node.
    Sent { nonce: u64, hash: B256, outcome: SendOutcome },
    /// A receipt of one of the nonce's hashes (or the decoded revert).
    Settled { nonce: u64, result: Box<Result<TransactionReceipt, ChainError>> },
    /// The nonce is mined but no hash of ours has a receipt; `known` when the node still
    /// knows one of them (it lags), not when none exists (another transaction took it).
    Missing { nonce: u64, known: bool },
    /// The receipt lookup failed on the transport: try again next poll.
    Unchecked { nonce: u64 },
    /// The latest block, the account's mined nonce and balance there, and a fee estimate.
    Polled { block: u64, mined: u64, balance: Option<U256>, fees: Option<(u128, u128)> },
    /// Every receipt of the blocks up to `to` since the last scan (`None`: not available).
    BlockReceipts { to: u64, receipts: Option<Vec<TransactionReceipt>> },
    /// The account's nonce including the node's pool (after a nonce collision).
    Resynced { pending: u64 },
    /// A poll or resync failed; the next tick tries again.
    PollFailed,
}

/// What the node said to one signed transaction.
pub(super) enum SendOutcome {
    /// Taken into the pool (or already there).
    Accepted,
    /// The transport failed: it may or may not have reached the node.
    MaybeSent(ChainError),
    /// The nonce is already mined.
    NonceUsed,
    /// A transaction with this nonce is pending and pays more.
    Underpriced,
    /// The node refused it, and said so: it is not in the pool.
    Rejected(ChainError),
}

/// What [`estimate`] prices a transaction with.
#[derive(Debug, Clone, Copy)]
pub(super) struct Pricing {
    /// (max fee, priority fee) per gas.
    pub(super) fees: (u128, u128),
    /// Gas limit = estimate × (100 + margin) / 100.
    pub(super) margin_percent: u64,
    /// The account's ETH at the last poll.
    pub(super) balance: U256,
    /// The last limit that sufficed for a call of the same shape.
    pub(super) hint: Option<u64>,
}

/// Fills the gas limit (estimate plus margin) and fees, and checks the account can pay.
pub(super) fn estimate(
    provider: RootProvider,
    url: String,
    mut tx: Box<TransactionRequest>,
    reply: Option<Reply>,
    pricing: Pricing,
) -> BoxFuture<'static, Event> {
    let Pricing { fees, margin_percent, balance, hint } = pricing;
    async move {
        let mut estimated = None;
        let result = async {
            let gas = match (tx.gas, hint) {
                (Some(gas), _) => gas,
                // A limit that sufficed for the same call: one execution proves it still does,
                // where eth_estimateGas searches with a dozen. Any failure asks the node for a
                // full estimate, which decides.
                (None, Some(hint))
                    if provider.call((*tx).clone().gas_limit(hint)).await.is_ok() =>
                {
                    hint
                }
                (None, _) => {
                    let estimate = provider
                        .estimate_gas((*tx).clone())
                        .await
                        .map_err(|e| ChainError::from_rpc("eth_estimateGas", &url, &e))?;
                    let gas = estimate.saturating_mul(100u64.saturating_add(margin_percent)) / 100;
                    estimated = Some(gas);
                    gas
                }
            };
            tx.set_gas_limit(gas);
            tx.set_max_fee_per_gas(fees.0);
            tx.set_max_priority_fee_per_gas(fees.1);
            // Checked against the balance of the last poll: one call less per transaction.
            // A balance that fell since is caught by the node, which refuses the send.
            let account = tx.from.unwrap_or_default();
            let needed = U256::from(gas)
                .saturating_mul(U256::from(fees.0))
                .saturating_add(tx.value.unwrap_or_default());
            if balance < needed {
                return Err(ChainError::InsufficientGasFunds { account, balance, needed });
            }
            Ok(())
        }
        .await;
        Event::Estimated { tx, reply, result, estimated }
    }
    .boxed()
}

/// Signs `tx` (its nonce set) and offers it to the node.
pub(super) fn send_raw(
    provider: RootProvider,
    wallet: EthereumWallet,
    url: String,
    nonce: u64,
    tx: TransactionRequest,
) -> BoxFuture<'static, Event> {
    async move {
        let envelope: TxEnvelope = match tx.build(&wallet).await {
            Ok(envelope) => envelope,
            Err(e) => {
                let error = ChainError::Rpc { op: "signing", reason: e.to_string() };
                return Event::Sent {
                    nonce,
                    hash: B256::ZERO,
                    outcome: SendOutcome::Rejected(error),
                };
            }
        };
        let hash = *envelope.tx_hash();
        let raw = envelope.encoded_2718();
        // A transport failure leaves it unknown whether the node has the transaction; sending
        // the same bytes again is harmless (the node answers "already known"), so try a few
        // times before leaving it to the resubmission path.
        let mut attempt = 0;
        let outcome = loop {
            let outcome = match provider.send_raw_transaction(&raw).await {
                Ok(_) => SendOutcome::Accepted,
                Err(e) => classify(&e, &url),
            };
            attempt += 1;
            match outcome {
                SendOutcome::MaybeSent(_) if attempt < SEND_ATTEMPTS => {
                    tokio::time::sleep(std::time::Duration::from_millis(50 * attempt)).await;
                }
                outcome => break outcome,
            }
        };
        Event::Sent { nonce, hash, outcome }
    }
    .boxed()
}

/// Sorts a send's error by what it means for the nonce. Nodes word these differently (geth
/// and anvil: "nonce too low", "already known", "replacement transaction underpriced"; Besu
/// and Nethermind: `OldNonce`, `AlreadyKnown`, `ReplacementUnderpriced`); a node that answered
/// with anything else refused the transaction.
fn classify(e: &RpcError<TransportErrorKind>, url: &str) -> SendOutcome {
    let Some(payload) = e.as_error_resp() else {
        return SendOutcome::MaybeSent(ChainError::from_rpc("eth_sendRawTransaction", url, e));
    };
    let text = payload.message.to_ascii_lowercase().replace(['_', ' '], "");
    if text.contains("alreadyknown") || text.contains("knowntransaction") {
        SendOutcome::Accepted
    } else if text.contains("noncetoolow")
        || text.contains("nonceistoolow")
        || text.contains("oldnonce")
    {
        SendOutcome::NonceUsed
    } else if text.contains("underpriced") {
        SendOutcome::Underpriced
    } else {
        SendOutcome::Rejected(ChainError::from_rpc("eth_sendRawTransaction", url, e))
    }
}

/// The latest block, the account's nonce and balance there, and a fresh fee estimate.
pub(super) fn poll(provider: RootProvider, address: Address) -> BoxFuture<'static, Event> {
    async move {
        let Ok(block) = provider.get_block_number().await else { return Event::PollFailed };
        let at = BlockId::number(block);
        let mined = provider.get_transaction_count(address).block_id(at).await;
        let balance = provider.get_balance(address).block_id(at).await.ok();
        let fees = provider
            .estimate_eip1559_fees()
            .await
            .ok()
            .map(|f| (f.max_fee_per_gas, f.max_priority_fee_per_gas));
        match mined {
            Ok(mined) => Event::Polled { block, mined, balance, fees },
            Err(_) => Event::PollFailed,
        }
    }
    .boxed()
}

/// The receipts of blocks `from..=to` (one call per block), for the loop to match against the
/// hashes it holds. `None` for a node without `eth_getBlockReceipts`, or on any failure: the
/// loop then asks per transaction.
pub(super) fn block_receipts(
    provider: RootProvider,
    from: u64,
    to: u64,
) -> BoxFuture<'static, Event> {
    async move {
        let mut receipts = Vec::new();
        for block in from..=to {
            match provider.get_block_receipts(BlockId::number(block)).await {
                Ok(Some(found)) => receipts.extend(found),
                Ok(None) | Err(_) => return Event::BlockReceipts { to, receipts: None },
            }
        }
        Event::BlockReceipts { to, receipts: Some(receipts) }
    }
    .boxed()
}

/// The account's nonce counting the node's pool.
pub(super) fn resync(provider: RootProvider, address: Address) -> BoxFuture<'static, Event> {
    async move {
        match provider.get_transaction_count(address).pending().await {
            Ok(pending) => Event::Resynced { pending },
            Err(_) => Event::PollFailed,
        }
    }
    .boxed()
}

/// Looks for the receipt of any of `hashes` (newest first); replays a reverted transaction on
/// the state before its block to decode its error.
pub(super) fn check_receipt(
    provider: RootProvider,
    url: String,
    nonce: u64,
    hashes: Vec<B256>,
    tx: TransactionRequest,
) -> BoxFuture<'static, Event> {
    async move {
        for hash in hashes.iter().rev() {
            let receipt = match provider.get_transaction_receipt(*hash).await {
                Ok(Some(receipt)) => receipt,
                Ok(None) => continue,
                Err(_) => return Event::Unchecked { nonce },
            };
            if alloy::network::ReceiptResponse::status(&receipt) {
                return Event::Settled { nonce, result: Box::new(Ok(receipt)) };
            }
            let error = replay(&provider, &url, *hash, receipt.block_number, tx).await;
            return Event::Settled { nonce, result: Box::new(Err(error)) };
        }
        let mut known = false;
        for hash in &hashes {
            match provider.get_transaction_by_hash(*hash).await {
                Ok(Some(_)) => known = true,
                Ok(None) => {}
                Err(_) => return Event::Unchecked { nonce },
            }
        }
        Event::Missing { nonce, known }
    }
    .boxed()
}

/// Replays a mined, reverted transaction as a call on the state of the block before its own,
/// to read the contract's error (exact when it was the block's first transaction touching that
/// state; the best a standard node allows otherwise).
async fn replay(
    provider: &RootProvider,
    url: &str,
    hash: B256,
    block: Option<u64>,
    mut tx: TransactionRequest,
) -> ChainError {
    tx.nonce = None;
    let at = block.and_then(|b| b.checked_sub(1)).map(BlockId::number).unwrap_or(BlockId::latest());
    let unread = |why: String| ChainError::Reverted {
        refusal: revert::Refusal {
            name: "unknown".into(),
            sentence: format!("transaction {hash} reverted when mined ({why})"),
        },
        tx: Some(hash),
    };
    match provider.call(tx).block(at).await {
        Err(e) => match ChainError::from_rpc("eth_call", url, &e) {
            ChainError::Reverted { refusal, .. } => {
                ChainError::Reverted { refusal, tx: Some(hash) }
            }
            other => unread(format!("its reason could not be read: {other}")),
        },
        Ok(_) => unread("the state it depended on changed within its block".into()),
    }
}
