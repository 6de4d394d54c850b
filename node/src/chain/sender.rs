//! The transaction sender: one actor per account owns its nonces.
//!
//! Each transaction goes estimate → nonce → sign → send → receipt. Estimation runs
//! concurrently and before a nonce is taken, so a call that would revert never leaves a gap.
//! A nonce whose send fails becomes a hole, filled by the next transaction or, if none comes,
//! by a zero-value transfer to self, so later nonces are never stuck behind it. Every poll the
//! actor reads the account's mined nonce, fetches the receipts of what it passed, and
//! resends, with both fee caps raised, whatever has waited longer than `resubmit_after`.

use std::{
    collections::{BTreeMap, BTreeSet, VecDeque},
    time::Instant,
};

use alloy::{
    consensus::TxEnvelope,
    eips::{BlockId, Encodable2718},
    network::{EthereumWallet, NetworkTransactionBuilder, TransactionBuilder},
    primitives::{Address, B256, U256},
    providers::{Provider, RootProvider},
    rpc::types::{TransactionReceipt, TransactionRequest},
};
use futures::{FutureExt, StreamExt, future::BoxFuture, stream::FuturesUnordered};
use tokio::sync::{mpsc, oneshot};

use super::{ChainConfig, ChainError, Command, revert};

type Reply = oneshot::Sender<Result<TransactionReceipt, ChainError>>;

/// A transaction ready for a nonce: gas limit and first fees known.
struct Ready {
    tx: TransactionRequest,
    reply: Option<Reply>,
}

/// A transaction sent and not yet settled.
struct InFlight {
    tx: TransactionRequest,
    reply: Option<Reply>,
    /// Every hash sent under this nonce (each resubmission adds one).
    hashes: Vec<B256>,
    last_sent: Instant,
    /// A receipt lookup is running.
    checking: bool,
    /// Polls that found the nonce mined but none of our hashes.
    misses: u32,
}

/// Polls a mined nonce may show no receipt of ours before it counts as taken by another sender.
const MISSES_BEFORE_TAKEN: u32 = 5;

/// What the actor's background futures report.
enum Event {
    Estimated { tx: Box<TransactionRequest>, reply: Option<Reply>, result: Result<(), ChainError> },
    Sent { nonce: u64, hash: B256, result: Result<(), SendFailure> },
    Settled { nonce: u64, outcome: Option<Box<Result<TransactionReceipt, ChainError>>> },
    Missing { nonce: u64 },
    Polled { mined_nonce: u64, fees: Option<(u128, u128)> },
    PollFailed,
}

/// How a send failed, as far as the nonce is concerned.
enum SendFailure {
    /// The nonce is already used on chain: take a fresh one.
    NonceTaken,
    /// The replacement's fees were not high enough: keep waiting, bump again later.
    Underpriced,
    /// Anything else: the nonce is free again.
    Failed(ChainError),
}

pub(super) struct Actor {
    provider: RootProvider,
    wallet: EthereumWallet,
    address: Address,
    chain_id: u64,
    config: ChainConfig,
    url: String,
    next_nonce: u64,
    holes: BTreeSet<u64>,
    in_flight: BTreeMap<u64, InFlight>,
    waiting: VecDeque<Ready>,
    /// Current (max fee, priority fee) estimate.
    fees: (u128, u128),
    tasks: FuturesUnordered<BoxFuture<'static, Event>>,
    polling: bool,
}

impl std::fmt::Debug for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Actor")
            .field("address", &self.address)
            .field("next_nonce", &self.next_nonce)
            .field("in_flight", &self.in_flight.len())
            .finish_non_exhaustive()
    }
}

impl Actor {
    pub(super) async fn start(
        provider: RootProvider,
        wallet: EthereumWallet,
        address: Address,
        chain_id: u64,
        config: ChainConfig,
    ) -> Result<Self, ChainError> {
        let url = config.rpc_url.to_string();
        let next_nonce = provider
            .get_transaction_count(address)
            .pending()
            .await
            .map_err(|e| ChainError::from_rpc("eth_getTransactionCount", &url, &e))?;
        let estimate = provider
            .estimate_eip1559_fees()
            .await
            .map_err(|e| ChainError::from_rpc("eth_feeHistory", &url, &e))?;
        let fees = (estimate.max_fee_per_gas, estimate.max_priority_fee_per_gas);
        Ok(Self {
            provider,
            wallet,
            address,
            chain_id,
            config,
            url,
            next_nonce,
            holes: BTreeSet::new(),
            in_flight: BTreeMap::new(),
            waiting: VecDeque::new(),
            fees,
            tasks: FuturesUnordered::new(),
            polling: false,
        })
    }

    pub(super) async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let mut tick = tokio::time::interval(self.config.poll_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut open = true;
        loop {
            tokio::select! {
                command = commands.recv(), if open => match command {
                    Some(Command::Send { tx, reply }) => self.estimate(tx, Some(reply)),
                    None => open = false,
                },
                Some(event) = self.tasks.next(), if !self.tasks.is_empty() => self.on_event(event),
                _ = tick.tick() => self.poll(),
            }
            if !open && self.tasks.is_empty() && self.in_flight.is_empty() {
                break;
            }
        }
    }

    /// Fills gas and fees and checks the account can pay, off the actor's loop.
    fn estimate(&mut self, tx: Box<TransactionRequest>, reply: Option<Reply>) {
        let provider = self.provider.clone();
        let (address, chain_id, url) = (self.address, self.chain_id, self.url.clone());
        let (max_fee, priority) = self.first_fees(&tx);
        let margin = self.config.gas_margin_percent;
        self.tasks.push(
            async move {
                let mut tx = tx;
                let result = async {
                    tx.from = Some(address);
                    tx.set_chain_id(chain_id);
                    let gas = match tx.gas {
                        Some(gas) => gas,
                        None => {
                            let estimate = provider
                                .estimate_gas((*tx).clone())
                                .await
                                .map_err(|e| ChainError::from_rpc("eth_estimateGas", &url, &e))?;
                            estimate.saturating_mul(100 + margin) / 100
                        }
                    };
                    tx.set_gas_limit(gas);
                    tx.set_max_fee_per_gas(max_fee);
                    tx.set_max_priority_fee_per_gas(priority);
                    let balance = provider
                        .get_balance(address)
                        .await
                        .map_err(|e| ChainError::from_rpc("eth_getBalance", &url, &e))?;
                    let needed = U256::from(gas)
                        .saturating_mul(U256::from(max_fee))
                        .saturating_add(tx.value.unwrap_or_default());
                    if balance < needed {
                        return Err(ChainError::InsufficientGasFunds {
                            account: address,
                            balance,
                            needed,
                        });
                    }
                    Ok(())
                }
                .await;
                Event::Estimated { tx, reply, result }
            }
            .boxed(),
        );
    }

    /// The first fees offered: the caller's, else the current estimate, within the cap.
    fn first_fees(&self, tx: &TransactionRequest) -> (u128, u128) {
        let max_fee = tx.max_fee_per_gas.unwrap_or(self.fees.0);
        let priority = tx.max_priority_fee_per_gas.unwrap_or(self.fees.1).min(max_fee);
        self.capped(max_fee, priority)
    }

    fn capped(&self, max_fee: u128, priority: u128) -> (u128, u128) {
        match self.config.max_fee_per_gas {
            Some(cap) => (max_fee.min(cap), priority.min(cap)),
            None => (max_fee, priority),
        }
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Estimated { tx, reply, result } => match result {
                Ok(()) => {
                    self.waiting.push_back(Ready { tx: *tx, reply });
                    self.dispatch();
                }
                Err(e) => reply_to(reply, Err(e)),
            },
            Event::Sent { nonce, hash, result } => self.on_sent(nonce, hash, result),
            Event::Settled { nonce, outcome } => self.on_settled(nonce, outcome.map(|o| *o)),
            Event::Missing { nonce } => {
                let taken = self.in_flight.get_mut(&nonce).is_some_and(|flight| {
                    flight.checking = false;
                    flight.misses = flight.misses.saturating_add(1);
                    flight.misses >= MISSES_BEFORE_TAKEN
                });
                if taken {
                    self.on_settled(nonce, Some(Err(ChainError::NonceTaken { nonce })));
                }
            }
            Event::Polled { mined_nonce, fees } => {
                self.polling = false;
                if let Some(fees) = fees {
                    self.fees = fees;
                }
                self.after_poll(mined_nonce);
            }
            Event::PollFailed => self.polling = false,
        }
    }

    /// Gives nonces to waiting transactions while there is room in flight.
    fn dispatch(&mut self) {
        while self.in_flight.len() < self.config.max_in_flight {
            let Some(ready) = self.waiting.pop_front() else { break };
            let nonce = match self.holes.pop_first() {
                Some(hole) => hole,
                None => {
                    let nonce = self.next_nonce;
                    self.next_nonce = nonce.saturating_add(1);
                    nonce
                }
            };
            let mut tx = ready.tx;
            tx.set_nonce(nonce);
            self.in_flight.insert(
                nonce,
                InFlight {
                    tx: tx.clone(),
                    reply: ready.reply,
                    hashes: Vec::new(),
                    last_sent: Instant::now(),
                    checking: false,
                    misses: 0,
                },
            );
            self.send_raw(nonce, tx);
        }
    }

    /// Signs and sends `tx` (its nonce set), off the actor's loop.
    fn send_raw(&mut self, nonce: u64, tx: TransactionRequest) {
        let (provider, wallet, url) =
            (self.provider.clone(), self.wallet.clone(), self.url.clone());
        self.tasks.push(
            async move {
                let envelope: TxEnvelope = match tx.build(&wallet).await {
                    Ok(envelope) => envelope,
                    Err(e) => {
                        let failure = SendFailure::Failed(ChainError::Rpc {
                            op: "signing",
                            reason: e.to_string(),
                        });
                        return Event::Sent { nonce, hash: B256::ZERO, result: Err(failure) };
                    }
                };
                let hash = *envelope.tx_hash();
                let result = match provider.send_raw_transaction(&envelope.encoded_2718()).await {
                    Ok(_) => Ok(()),
                    Err(e) => {
                        let text = e.to_string().to_ascii_lowercase();
                        if text.contains("already known") || text.contains("known transaction") {
                            Ok(())
                        } else if text.contains("nonce too low")
                            || text.contains("nonce is too low")
                        {
                            Err(SendFailure::NonceTaken)
                        } else if text.contains("underpriced") {
                            Err(SendFailure::Underpriced)
                        } else {
                            Err(SendFailure::Failed(ChainError::from_rpc(
                                "eth_sendRawTransaction",
                                &url,
                                &e,
                            )))
                        }
                    }
                };
                Event::Sent { nonce, hash, result }
            }
            .boxed(),
        );
    }

    fn on_sent(&mut self, nonce: u64, hash: B256, result: Result<(), SendFailure>) {
        let Some(flight) = self.in_flight.get_mut(&nonce) else { return };
        match result {
            Ok(()) => {
                flight.hashes.push(hash);
                flight.last_sent = Instant::now();
            }
            // A resubmission that did not take: the earlier one is still pending.
            Err(SendFailure::Underpriced) if !flight.hashes.is_empty() => {}
            Err(SendFailure::NonceTaken) if !flight.hashes.is_empty() => {
                // One of our earlier sends under this nonce was mined: the receipt check
                // settles it.
            }
            Err(SendFailure::NonceTaken) => {
                // Someone else used this nonce (another process with this key): take a fresh
                // one above everything the chain has seen.
                if let Some(flight) = self.in_flight.remove(&nonce) {
                    let mut tx = flight.tx;
                    tx.nonce = None;
                    self.waiting.push_front(Ready { tx, reply: flight.reply });
                }
                self.resync_nonce();
            }
            Err(failure) => {
                let error = match failure {
                    SendFailure::Failed(e) => e,
                    _ => ChainError::Rpc {
                        op: "eth_sendRawTransaction",
                        reason: "the node refused the transaction's fees".into(),
                    },
                };
                if let Some(flight) = self.in_flight.remove(&nonce) {
                    reply_to(flight.reply, Err(error));
                }
                self.holes.insert(nonce);
                self.dispatch();
            }
        }
    }

    fn resync_nonce(&mut self) {
        let provider = self.provider.clone();
        let address = self.address;
        self.tasks.push(
            async move {
                match provider.get_transaction_count(address).pending().await {
                    Ok(count) => Event::Polled { mined_nonce: count, fees: None },
                    Err(_) => Event::PollFailed,
                }
            }
            .boxed(),
        );
    }

    fn on_settled(&mut self, nonce: u64, outcome: Option<Result<TransactionReceipt, ChainError>>) {
        match outcome {
            Some(result) => {
                if let Some(flight) = self.in_flight.remove(&nonce) {
                    reply_to(flight.reply, result);
                }
                self.dispatch();
            }
            None => {
                if let Some(flight) = self.in_flight.get_mut(&nonce) {
                    flight.checking = false;
                }
            }
        }
    }

    /// Starts one poll: the account's mined nonce and a fee refresh.
    fn poll(&mut self) {
        if self.polling || (self.in_flight.is_empty() && self.holes.is_empty()) {
            return;
        }
        self.polling = true;
        let provider = self.provider.clone();
        let address = self.address;
        self.tasks.push(
            async move {
                let mined =
                    provider.get_transaction_count(address).block_id(BlockId::latest()).await;
                let fees = provider
                    .estimate_eip1559_fees()
                    .await
                    .ok()
                    .map(|f| (f.max_fee_per_gas, f.max_priority_fee_per_gas));
                match mined {
                    Ok(mined_nonce) => Event::Polled { mined_nonce, fees },
                    Err(_) => Event::PollFailed,
                }
            }
            .boxed(),
        );
    }

    /// After a poll: settle what was mined, resend what is stuck, fill holes.
    fn after_poll(&mut self, mined_nonce: u64) {
        if mined_nonce > self.next_nonce {
            // Another sender used this account: never reuse a nonce the chain has seen.
            self.next_nonce = mined_nonce;
            self.holes.retain(|h| *h >= mined_nonce);
        }
        let mined: Vec<u64> = self
            .in_flight
            .range(..mined_nonce)
            .filter(|(_, f)| !f.checking && !f.hashes.is_empty())
            .map(|(n, _)| *n)
            .collect();
        for nonce in mined {
            self.check_receipt(nonce);
        }

        let now = Instant::now();
        let stuck: Vec<u64> = self
            .in_flight
            .range(mined_nonce..)
            .filter(|(_, f)| {
                !f.hashes.is_empty()
                    && now.duration_since(f.last_sent) >= self.config.resubmit_after
            })
            .map(|(n, _)| *n)
            .collect();
        for nonce in stuck {
            self.resubmit(nonce);
        }

        // Holes at the top give their nonces back; holes below a sent nonce are filled.
        while let Some(&top) = self.holes.last() {
            if top.saturating_add(1) != self.next_nonce {
                break;
            }
            self.holes.remove(&top);
            self.next_nonce = top;
        }
        if self.waiting.is_empty() {
            while let Some(hole) = self.holes.pop_first() {
                let filler = TransactionRequest::default()
                    .to(self.address)
                    .value(U256::ZERO)
                    .gas_limit(21_000)
                    .from(self.address);
                let (max_fee, priority) = self.capped(self.fees.0, self.fees.1);
                let mut tx = filler.max_fee_per_gas(max_fee).max_priority_fee_per_gas(priority);
                tx.set_chain_id(self.chain_id);
                tx.set_nonce(hole);
                self.in_flight.insert(
                    hole,
                    InFlight {
                        tx: tx.clone(),
                        reply: None,
                        hashes: Vec::new(),
                        last_sent: now,
                        checking: false,
                        misses: 0,
                    },
                );
                self.send_raw(hole, tx);
            }
        }
    }

    /// Raises both fee caps by the bump (and at least to the current estimate) and resends.
    fn resubmit(&mut self, nonce: u64) {
        let bump = self.config.fee_bump_percent;
        let current = self.fees;
        let Some(flight) = self.in_flight.get_mut(&nonce) else { return };
        let raise = |old: u128| old.saturating_mul(100 + u128::from(bump)) / 100 + 1;
        let max_fee = raise(flight.tx.max_fee_per_gas.unwrap_or_default()).max(current.0);
        let priority = raise(flight.tx.max_priority_fee_per_gas.unwrap_or_default()).max(current.1);
        let (max_fee, priority) = match self.config.max_fee_per_gas {
            Some(cap) => (max_fee.min(cap), priority.min(cap)),
            None => (max_fee, priority),
        };
        if Some(max_fee) == flight.tx.max_fee_per_gas {
            return; // at the cap: nothing higher to offer
        }
        flight.tx.set_max_fee_per_gas(max_fee);
        flight.tx.set_max_priority_fee_per_gas(priority.min(max_fee));
        flight.last_sent = Instant::now();
        tracing::debug!(target: "quorate::chain", nonce, max_fee, "resubmitting a stuck transaction");
        let tx = flight.tx.clone();
        self.send_raw(nonce, tx);
    }

    /// Looks for the receipt of any hash sent under `nonce`; replays a reverted one to decode
    /// its error.
    fn check_receipt(&mut self, nonce: u64) {
        let Some(flight) = self.in_flight.get_mut(&nonce) else { return };
        flight.checking = true;
        let hashes = flight.hashes.clone();
        let tx = flight.tx.clone();
        let (provider, url) = (self.provider.clone(), self.url.clone());
        self.tasks.push(
            async move {
                for hash in hashes.iter().rev() {
                    let receipt = match provider.get_transaction_receipt(*hash).await {
                        Ok(Some(receipt)) => receipt,
                        Ok(None) => continue,
                        Err(_) => return Event::Settled { nonce, outcome: None },
                    };
                    if receipt.status() {
                        return Event::Settled { nonce, outcome: Some(Box::new(Ok(receipt))) };
                    }
                    let block = receipt.block_number.map(BlockId::number).unwrap_or(BlockId::latest());
                    let error = match provider.call(tx.clone()).block(block).await {
                        Err(e) => match ChainError::from_rpc("eth_call", &url, &e) {
                            ChainError::Reverted { refusal, .. } => {
                                ChainError::Reverted { refusal, tx: Some(*hash) }
                            }
                            other => other,
                        },
                        Ok(_) => ChainError::Reverted {
                            refusal: revert::Refusal {
                                name: "unknown".into(),
                                sentence: format!(
                                    "transaction {hash} reverted when mined, but not when replayed: \
                                     the state it depended on changed in the same block"
                                ),
                            },
                            tx: Some(*hash),
                        },
                    };
                    return Event::Settled { nonce, outcome: Some(Box::new(Err(error))) };
                }
                // The nonce is mined but none of our hashes has a receipt yet: either the node
                // lags, or another transaction took the nonce. Decided after a few polls.
                Event::Missing { nonce }
            }
            .boxed(),
        );
    }
}

fn reply_to(reply: Option<Reply>, result: Result<TransactionReceipt, ChainError>) {
    if let Some(reply) = reply {
        // The caller may have given up waiting; the transaction's fate is the chain's.
        let _ = reply.send(result);
    }
}
