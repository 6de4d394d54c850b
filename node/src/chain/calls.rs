//! The sender actor's RPC work, each a future that reports one [`Event`] back to the actor's
//! loop, so the loop itself never waits on the network.

use alloy::{
    consensus::TxEnvelope,
    eips::{BlockId, Encodable2718},
    network::{EthereumWallet, NetworkTransactionBuilder, TransactionBuilder},
    primitives::{Address, B256, Bytes, U64, U256},
    providers::{Provider, RootProvider},
    rpc::{
        client::BatchRequest,
        json_rpc::RpcSend,
        types::{TransactionReceipt, TransactionRequest},
    },
    transports::{RpcError, TransportErrorKind, TransportResult},
};
use futures::{FutureExt, future::BoxFuture};
use serde_json::value::RawValue;
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
    /// The answers of one [`estimate_batch`]: an [`Event::Estimated`] per transaction.
    Estimates(Vec<Event>),
    /// The answers of one [`send_batch`]: an [`Event::Sent`] per transaction.
    Sends(Vec<Event>),
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

/// What [`estimate_batch`] prices a transaction with.
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

/// A transaction waiting for its gas limit and fees.
pub(super) struct Unpriced {
    pub(super) tx: Box<TransactionRequest>,
    pub(super) reply: Option<Reply>,
    pub(super) pricing: Pricing,
}

/// How one transaction's gas limit is being found.
enum GasCheck {
    Known(u64),
    /// A limit that sufficed for the same call shape, being proven by one `eth_call`.
    Proving(u64),
    /// Waiting for `eth_estimateGas`.
    Estimating,
    Failed(ChainError),
}

/// Fills the gas limit (estimate plus margin) and fees of every transaction, and checks the
/// account can pay, in at most two JSON-RPC batches: the proofs of remembered limits and the
/// estimates first, then a full estimate for every proof that failed. Reports
/// [`Event::Estimated`] for each, in one [`Event::Estimates`].
pub(super) fn estimate_batch(
    provider: RootProvider,
    url: String,
    items: Vec<Unpriced>,
) -> BoxFuture<'static, Event> {
    async move {
        let mut checks: Vec<GasCheck> = items
            .iter()
            .map(|item| match (item.tx.gas, item.pricing.hint) {
                (Some(gas), _) => GasCheck::Known(gas),
                // A limit that sufficed for the same call: one execution proves it still does,
                // where eth_estimateGas searches with a dozen. Any failure asks the node for a
                // full estimate, which decides.
                (None, Some(hint)) => GasCheck::Proving(hint),
                (None, None) => GasCheck::Estimating,
            })
            .collect();
        let mut estimated: Vec<Option<u64>> = vec![None; items.len()];
        for _round in 0..2 {
            let asks: Vec<(usize, &'static str, TransactionRequest)> = checks
                .iter()
                .enumerate()
                .filter_map(|(i, check)| {
                    let tx = items.get(i)?.tx.as_ref().clone();
                    match check {
                        GasCheck::Proving(hint) => Some((i, "eth_call", tx.gas_limit(*hint))),
                        GasCheck::Estimating => Some((i, "eth_estimateGas", tx)),
                        GasCheck::Known(_) | GasCheck::Failed(_) => None,
                    }
                })
                .collect();
            if asks.is_empty() {
                break;
            }
            let answers =
                batch(&provider, asks.iter().map(|(_, method, tx)| (*method, (tx,)))).await;
            for ((i, method, _), answer) in asks.into_iter().zip(answers) {
                let (Some(check), Some(item)) = (checks.get_mut(i), items.get(i)) else { continue };
                *check = match (method, answer) {
                    ("eth_call", Ok(_)) => match check {
                        GasCheck::Proving(hint) => GasCheck::Known(*hint),
                        _ => continue,
                    },
                    ("eth_call", Err(_)) => GasCheck::Estimating,
                    (_, Ok(raw)) => match serde_json::from_str::<U64>(raw.get()) {
                        Ok(estimate) => {
                            let margin = 100u64.saturating_add(item.pricing.margin_percent);
                            let gas = estimate.to::<u64>().saturating_mul(margin) / 100;
                            if let Some(slot) = estimated.get_mut(i) {
                                *slot = Some(gas);
                            }
                            GasCheck::Known(gas)
                        }
                        Err(e) => GasCheck::Failed(ChainError::Rpc {
                            op: "eth_estimateGas",
                            reason: format!("{url} answered something that is not a number: {e}"),
                        }),
                    },
                    (_, Err(e)) => {
                        GasCheck::Failed(ChainError::from_rpc("eth_estimateGas", &url, &e))
                    }
                };
            }
        }
        let events = items
            .into_iter()
            .zip(checks)
            .zip(estimated)
            .map(|((Unpriced { mut tx, reply, pricing }, check), estimated)| {
                let result = match check {
                    GasCheck::Known(gas) => price(&mut tx, gas, pricing),
                    GasCheck::Failed(e) => Err(e),
                    GasCheck::Proving(_) | GasCheck::Estimating => Err(ChainError::Rpc {
                        op: "eth_estimateGas",
                        reason: format!("{url} gave no gas estimate"),
                    }),
                };
                Event::Estimated { tx, reply, result, estimated }
            })
            .collect();
        Event::Estimates(events)
    }
    .boxed()
}

/// Sets the gas limit and fees, and checks them against the balance of the last poll: one call
/// less per transaction. A balance that fell since is caught by the node, which refuses the
/// send.
fn price(tx: &mut TransactionRequest, gas: u64, pricing: Pricing) -> Result<(), ChainError> {
    let (max_fee, priority) = pricing.fees;
    tx.set_gas_limit(gas);
    tx.set_max_fee_per_gas(max_fee);
    tx.set_max_priority_fee_per_gas(priority);
    let account = tx.from.unwrap_or_default();
    let needed = U256::from(gas)
        .saturating_mul(U256::from(max_fee))
        .saturating_add(tx.value.unwrap_or_default());
    if pricing.balance < needed {
        return Err(ChainError::InsufficientGasFunds { account, balance: pricing.balance, needed });
    }
    Ok(())
}

/// Sends `calls` as one JSON-RPC batch; one answer per call, in order (a transport failure is
/// every call's answer).
async fn batch<P: RpcSend>(
    provider: &RootProvider,
    calls: impl Iterator<Item = (&'static str, P)>,
) -> Vec<TransportResult<Box<RawValue>>> {
    let mut request = BatchRequest::new(provider.client());
    let mut waiters = Vec::new();
    for (method, params) in calls {
        waiters.push(request.add_call::<P, Box<RawValue>>(method, &params));
    }
    // Each waiter reports the batch's own failure, so its result needs no separate handling.
    let _ = request.send().await;
    let mut answers = Vec::with_capacity(waiters.len());
    for waiter in waiters {
        answers.push(match waiter {
            Ok(waiter) => waiter.await,
            Err(e) => Err(e),
        });
    }
    answers
}

/// Signs each transaction (its nonce set) and offers them to the node in one JSON-RPC batch.
/// Reports [`Event::Sent`] for each, in one [`Event::Sends`].
pub(super) fn send_batch(
    provider: RootProvider,
    wallet: EthereumWallet,
    url: String,
    items: Vec<(u64, TransactionRequest)>,
) -> BoxFuture<'static, Event> {
    async move {
        let mut signed = Vec::with_capacity(items.len());
        let mut events = Vec::with_capacity(items.len());
        for (nonce, tx) in items {
            match tx.build(&wallet).await {
                Ok(envelope) => {
                    let envelope: TxEnvelope = envelope;
                    signed.push((nonce, *envelope.tx_hash(), envelope.encoded_2718()));
                }
                Err(e) => {
                    let error = ChainError::Rpc { op: "signing", reason: e.to_string() };
                    let outcome = SendOutcome::Rejected(error);
                    events.push(Event::Sent { nonce, hash: B256::ZERO, outcome });
                }
            }
        }
        // A transport failure leaves it unknown whether the node has a transaction; sending
        // the same bytes again is harmless (the node answers "already known"), so try a few
        // times before leaving it to the resubmission path.
        let mut attempt = 0;
        while !signed.is_empty() {
            attempt += 1;
            let answers = batch(
                &provider,
                signed
                    .iter()
                    .map(|(_, _, raw)| ("eth_sendRawTransaction", (Bytes::from(raw.clone()),))),
            )
            .await;
            let mut again = Vec::new();
            for ((nonce, hash, raw), answer) in signed.into_iter().zip(answers) {
                let outcome = match answer {
                    Ok(_) => SendOutcome::Accepted,
                    Err(e) => classify(&e, &url),
                };
                match outcome {
                    SendOutcome::MaybeSent(_) if attempt < SEND_ATTEMPTS => {
                        again.push((nonce, hash, raw));
                    }
                    outcome => events.push(Event::Sent { nonce, hash, outcome }),
                }
            }
            signed = again;
            if !signed.is_empty() {
                tokio::time::sleep(std::time::Duration::from_millis(50 * attempt)).await;
            }
        }
        Event::Sends(events)
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
