//! The transaction sender: one actor per account owns its nonces.
//!
//! Each transaction goes estimate → nonce → sign → send → receipt. Estimation runs before a
//! nonce is taken, so a call that would revert never takes one. Estimates and sends travel in
//! JSON-RPC batches: whatever arrives while a few batches are out goes together in the next,
//! so a burst costs the node a handful of HTTP requests instead of two per transaction, and a
//! lone transaction still leaves at once.
//!
//! The rule that keeps money safe: once any version of a transaction may have reached a node
//! (accepted, or a transport failure that leaves it unknown), its nonce is never given away
//! and its caller is never told it failed; only its receipt settles it. A nonce is freed only
//! when the node refused the first version outright; such a hole is filled by the next
//! transaction or, if none comes, by a zero-value transfer to self, so later nonces never wait
//! behind it.
//!
//! Every poll the actor reads the account's mined nonce, fetches the receipts of what it
//! passed, and resends with both fee caps raised the lowest unmined transaction (and any other
//! priced below the market) once it has waited `resubmit_after`, never above a multiple of the
//! current estimate or the configured cap.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, VecDeque},
    time::Instant,
};

use alloy::{
    network::{EthereumWallet, TransactionBuilder},
    primitives::{Address, B256, U256},
    providers::{Provider, RootProvider},
    rpc::types::{TransactionReceipt, TransactionRequest},
};
use futures::{StreamExt, future::BoxFuture, stream::FuturesUnordered};
use tokio::sync::mpsc;

use super::{
    ChainConfig, ChainError, Command,
    calls::{self, Event, Reply, SendOutcome},
};

/// Polls a mined nonce may show no trace of our hashes before it counts as taken by another
/// sender.
const MISSES_BEFORE_TAKEN: u32 = 5;

/// No offer exceeds this multiple of the current fee estimate, whatever the bumps say.
const MAX_FEE_OVER_ESTIMATE: u128 = 3;

/// Most call shapes whose last estimate is remembered.
const MAX_GAS_HINTS: usize = 1024;

/// Most transactions in one JSON-RPC batch.
const MAX_BATCH: usize = 128;

/// Most estimate batches out at once, and most send batches: thousands of simultaneous calls
/// would only make the node thrash.
const MAX_BATCHES_OUT: usize = 2;

/// Most commands taken from the channel before the actor looks at anything else.
const MAX_DRAIN: usize = 1024;

/// Most blocks scanned for receipts at once; a longer stretch is asked per transaction.
const MAX_SCAN_BLOCKS: u64 = 16;

/// Most nonces filled at once when the chain shows a gap this actor did not make.
const MAX_GAP_FILL: u64 = 64;

/// A transaction ready for a nonce: gas limit and first fees known.
struct Ready {
    tx: TransactionRequest,
    reply: Option<Reply>,
}

/// A transaction that holds a nonce.
struct InFlight {
    tx: TransactionRequest,
    reply: Option<Reply>,
    /// Every hash that may have reached a node under this nonce.
    hashes: Vec<B256>,
    last_sent: Instant,
    /// A receipt lookup is running.
    checking: bool,
    /// Polls that found the nonce mined and none of our hashes anywhere.
    misses: u32,
    /// A zero-value transfer to self that fills a hole; nobody waits for it.
    filler: bool,
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
    /// Since when the chain's next nonce has been below everything this actor holds.
    gap_since: Option<Instant>,
    /// The account's ETH at the last poll.
    balance: U256,
    /// Which nonce each hash sent was sent under.
    by_hash: HashMap<B256, u64>,
    /// The last block whose receipts were scanned.
    scanned: u64,
    /// The account's mined nonce at the last poll.
    mined: u64,
    /// The node serves `eth_getBlockReceipts` (one call per block instead of one per
    /// transaction); turned off the first time it fails.
    block_receipts: bool,
    scanning: bool,
    /// Transactions waiting for an estimate, and how many estimate batches are out.
    to_estimate: VecDeque<(Box<TransactionRequest>, Reply)>,
    estimating: usize,
    /// Transactions holding a nonce and waiting to be signed and sent (or sent again), and how
    /// many send batches are out.
    to_send: Vec<(u64, TransactionRequest)>,
    sending: usize,
    /// The last full estimate (with margin) per call shape: recipient and selector.
    gas_hints: HashMap<(Address, [u8; 4]), u64>,
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
        let url = super::redact(&config.rpc_url);
        // The four reads a first send needs, at once: one round trip instead of four.
        let rpc = |op: &'static str| {
            let url = url.clone();
            move |e| ChainError::from_rpc(op, &url, &e)
        };
        let (next_nonce, estimate, scanned, balance) = futures::try_join!(
            async {
                provider
                    .get_transaction_count(address)
                    .pending()
                    .await
                    .map_err(rpc("eth_getTransactionCount"))
            },
            async { provider.estimate_eip1559_fees().await.map_err(rpc("eth_feeHistory")) },
            async { provider.get_block_number().await.map_err(rpc("eth_blockNumber")) },
            async { provider.get_balance(address).await.map_err(rpc("eth_getBalance")) },
        )?;
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
            fees: (estimate.max_fee_per_gas, estimate.max_priority_fee_per_gas),
            gap_since: None,
            balance,
            by_hash: HashMap::new(),
            scanned,
            mined: 0,
            block_receipts: true,
            scanning: false,
            to_estimate: VecDeque::new(),
            estimating: 0,
            to_send: Vec::new(),
            sending: 0,
            gas_hints: HashMap::new(),
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
                    Some(command) => {
                        self.take(command);
                        // A burst goes into one batch rather than one per command.
                        for _ in 0..MAX_DRAIN {
                            match commands.try_recv() {
                                Ok(command) => self.take(command),
                                Err(_) => break,
                            }
                        }
                    }
                    None => open = false,
                },
                Some(event) = self.tasks.next(), if !self.tasks.is_empty() => self.on_event(event),
                _ = tick.tick() => self.poll(),
            }
            self.estimate_more();
            self.send_more();
            if !open
                && self.tasks.is_empty()
                && self.in_flight.is_empty()
                && self.to_estimate.is_empty()
            {
                break;
            }
        }
    }

    fn take(&mut self, command: Command) {
        match command {
            Command::Send { tx, reply } => self.to_estimate.push_back((tx, reply)),
            Command::SendAll { group } => {
                // A batch of its own, whatever else is out: its answers come back together and
                // in order, so the group's transactions wait for nonces in the order given.
                let items: Vec<calls::Unpriced> =
                    group.into_iter().map(|(tx, reply)| self.unpriced(tx, Some(reply))).collect();
                self.estimating += 1;
                self.tasks.push(calls::estimate_batch(
                    self.provider.clone(),
                    self.url.clone(),
                    items,
                ));
            }
        }
    }

    /// Starts an estimate batch of what waits while fewer than [`MAX_BATCHES_OUT`] are out.
    fn estimate_more(&mut self) {
        while self.estimating < MAX_BATCHES_OUT && !self.to_estimate.is_empty() {
            let take = self.to_estimate.len().min(MAX_BATCH);
            let waiting: Vec<_> = self.to_estimate.drain(..take).collect();
            let items: Vec<calls::Unpriced> =
                waiting.into_iter().map(|(tx, reply)| self.unpriced(tx, Some(reply))).collect();
            self.estimating += 1;
            self.tasks.push(calls::estimate_batch(self.provider.clone(), self.url.clone(), items));
        }
    }

    fn unpriced(&self, mut tx: Box<TransactionRequest>, reply: Option<Reply>) -> calls::Unpriced {
        tx.from = Some(self.address);
        tx.set_chain_id(self.chain_id);
        let max_fee = tx.max_fee_per_gas.unwrap_or(self.fees.0);
        let priority = tx.max_priority_fee_per_gas.unwrap_or(self.fees.1).min(max_fee);
        let pricing = calls::Pricing {
            fees: self.capped(max_fee, priority),
            margin_percent: self.config.gas_margin_percent,
            balance: self.balance,
            hint: call_shape(&tx).and_then(|shape| self.gas_hints.get(&shape).copied()),
        };
        calls::Unpriced { tx, reply, pricing }
    }

    /// Starts a send batch of what holds a nonce and waits, while fewer than
    /// [`MAX_BATCHES_OUT`] are out; lowest nonces first.
    fn send_more(&mut self) {
        if self.sending >= MAX_BATCHES_OUT || self.to_send.is_empty() {
            return;
        }
        self.to_send.sort_unstable_by_key(|(nonce, _)| *nonce);
        while self.sending < MAX_BATCHES_OUT && !self.to_send.is_empty() {
            let take = self.to_send.len().min(MAX_BATCH);
            let items: Vec<(u64, TransactionRequest)> = self.to_send.drain(..take).collect();
            self.sending += 1;
            let (provider, wallet, url) =
                (self.provider.clone(), self.wallet.clone(), self.url.clone());
            self.tasks.push(calls::send_batch(provider, wallet, url, items));
        }
    }

    fn capped(&self, max_fee: u128, priority: u128) -> (u128, u128) {
        match self.config.max_fee_per_gas {
            Some(cap) => (max_fee.min(cap), priority.min(cap)),
            None => (max_fee, priority),
        }
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Estimates(events) => {
                self.estimating = self.estimating.saturating_sub(1);
                for event in events {
                    self.on_event(event);
                }
            }
            Event::Sends(events) => {
                self.sending = self.sending.saturating_sub(1);
                for event in events {
                    self.on_event(event);
                }
            }
            Event::Estimated { tx, reply, result, estimated } => {
                if let (Some(gas), Some(shape)) = (estimated, call_shape(&tx)) {
                    if self.gas_hints.len() >= MAX_GAS_HINTS {
                        self.gas_hints.clear();
                    }
                    self.gas_hints.insert(shape, gas);
                }
                match result {
                    Ok(()) => {
                        self.waiting.push_back(Ready { tx: *tx, reply });
                        self.dispatch();
                    }
                    Err(e) => reply_to(reply, Err(e)),
                }
            }
            Event::Sent { nonce, hash, outcome } => self.on_sent(nonce, hash, outcome),
            Event::Settled { nonce, result } => self.settle(nonce, *result),
            Event::Missing { nonce, known } => {
                let taken = self.in_flight.get_mut(&nonce).is_some_and(|flight| {
                    flight.checking = false;
                    flight.misses = if known { 0 } else { flight.misses.saturating_add(1) };
                    flight.misses >= MISSES_BEFORE_TAKEN
                });
                if taken {
                    self.settle(nonce, Err(ChainError::NonceTaken { nonce }));
                }
            }
            Event::Unchecked { nonce } => {
                if let Some(flight) = self.in_flight.get_mut(&nonce) {
                    flight.checking = false;
                }
            }
            Event::Polled { block, mined, balance, fees } => {
                self.polling = false;
                if let Some(fees) = fees {
                    self.fees = fees;
                }
                if let Some(balance) = balance {
                    self.balance = balance;
                }
                self.after_poll(block, mined);
            }
            Event::BlockReceipts { to, receipts } => {
                self.scanning = false;
                match receipts {
                    Some(receipts) => {
                        self.scanned = self.scanned.max(to);
                        for receipt in receipts {
                            let Some(nonce) = self.by_hash.get(&receipt.transaction_hash).copied()
                            else {
                                continue;
                            };
                            if alloy::network::ReceiptResponse::status(&receipt) {
                                self.settle(nonce, Ok(receipt));
                            } else {
                                // Reverted: the per-transaction path replays it for its error.
                                self.check_receipt(nonce);
                            }
                        }
                    }
                    None => {
                        tracing::debug!(target: "quorate::chain", "no eth_getBlockReceipts; asking per transaction");
                        self.block_receipts = false;
                    }
                }
                // Whatever passed and was not found in the scanned blocks is asked for alone.
                self.check_passed();
            }
            Event::Resynced { pending } => {
                // Every nonce below the pool's count is used, by us or by another sender.
                self.next_nonce = self.next_nonce.max(pending);
                self.holes.retain(|h| *h >= pending);
                self.dispatch();
            }
            Event::PollFailed => self.polling = false,
        }
    }

    /// Gives nonces to waiting transactions: holes first, whatever is in flight (a hole holds
    /// back every nonce above it), then new nonces while there is room.
    fn dispatch(&mut self) {
        while !self.waiting.is_empty() {
            let Some(hole) = self.holes.pop_first() else { break };
            let Some(ready) = self.waiting.pop_front() else { break };
            self.launch(hole, ready.tx, ready.reply, false);
        }
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
            self.launch(nonce, ready.tx, ready.reply, false);
        }
    }

    fn launch(
        &mut self,
        nonce: u64,
        mut tx: TransactionRequest,
        reply: Option<Reply>,
        filler: bool,
    ) {
        tx.set_nonce(nonce);
        self.in_flight.insert(
            nonce,
            InFlight {
                tx: tx.clone(),
                reply,
                hashes: Vec::new(),
                last_sent: Instant::now(),
                checking: false,
                misses: 0,
                filler,
            },
        );
        self.send_raw(nonce, tx);
    }

    /// Queues `tx` for the next send batch.
    fn send_raw(&mut self, nonce: u64, tx: TransactionRequest) {
        self.to_send.push((nonce, tx));
    }

    fn on_sent(&mut self, nonce: u64, hash: B256, outcome: SendOutcome) {
        let Some(flight) = self.in_flight.get_mut(&nonce) else { return };
        let sent_before = !flight.hashes.is_empty();
        match outcome {
            SendOutcome::Accepted => {
                crate::crash::at("chain", "sent");
                if !flight.hashes.contains(&hash) {
                    flight.hashes.push(hash);
                }
                flight.last_sent = Instant::now();
                self.by_hash.insert(hash, nonce);
            }
            SendOutcome::MaybeSent(e) => {
                // It may be in a pool: keep the nonce and let the receipt (or a resend, which
                // the node answers "already known") settle it.
                tracing::warn!(target: "quorate::chain", nonce, error = %e, "send unconfirmed; watching for it");
                if !flight.hashes.contains(&hash) {
                    flight.hashes.push(hash);
                }
                flight.last_sent = Instant::now();
                self.by_hash.insert(hash, nonce);
            }
            // An earlier version holds the nonce (pending, or mined): its receipt settles it.
            SendOutcome::NonceUsed | SendOutcome::Underpriced | SendOutcome::Rejected(_)
                if sent_before => {}
            SendOutcome::NonceUsed | SendOutcome::Underpriced => {
                // Another sender with this key holds the nonce: take a fresh one above all the
                // pool has seen. A filler is no longer needed there.
                if let Some(flight) = self.in_flight.remove(&nonce)
                    && !flight.filler
                {
                    let mut tx = flight.tx;
                    tx.nonce = None;
                    self.waiting.push_front(Ready { tx, reply: flight.reply });
                }
                self.tasks.push(calls::resync(self.provider.clone(), self.address));
            }
            SendOutcome::Rejected(error) => {
                // The node refused the only version: it is in no pool, the nonce is free.
                if let Some(flight) = self.in_flight.remove(&nonce) {
                    reply_to(flight.reply, Err(error));
                }
                self.holes.insert(nonce);
                self.dispatch();
            }
        }
    }

    fn settle(&mut self, nonce: u64, result: Result<TransactionReceipt, ChainError>) {
        if let Some(flight) = self.in_flight.remove(&nonce) {
            for hash in &flight.hashes {
                self.by_hash.remove(hash);
            }
            reply_to(flight.reply, result);
        }
        self.dispatch();
    }

    fn poll(&mut self) {
        if self.polling || (self.in_flight.is_empty() && self.holes.is_empty()) {
            return;
        }
        self.polling = true;
        self.tasks.push(calls::poll(self.provider.clone(), self.address));
    }

    /// After a poll: settle what was mined, resend what is stuck, fill holes and gaps.
    fn after_poll(&mut self, block: u64, mined: u64) {
        // Never reuse a nonce the chain has seen, whoever used it.
        self.next_nonce = self.next_nonce.max(mined);
        self.holes.retain(|h| *h >= mined);
        self.mined = mined;

        let passed =
            self.in_flight.range(..mined).any(|(_, f)| !f.checking && !f.hashes.is_empty());
        if passed && !self.scanning {
            if self.block_receipts
                && block > self.scanned
                && block - self.scanned <= MAX_SCAN_BLOCKS
            {
                self.scanning = true;
                let from = self.scanned.saturating_add(1);
                self.tasks.push(calls::block_receipts(self.provider.clone(), from, block));
            } else {
                self.scanned = self.scanned.max(block);
                self.check_passed();
            }
        }

        let now = Instant::now();
        let lowest = self.in_flight.range(mined..).next().map(|(n, _)| *n);
        let market = self.fees.0;
        let stuck: Vec<u64> = self
            .in_flight
            .range(mined..)
            .filter(|(n, f)| {
                !f.hashes.is_empty()
                    && now.duration_since(f.last_sent) >= self.config.resubmit_after
                    && (Some(**n) == lowest || f.tx.max_fee_per_gas.unwrap_or_default() < market)
            })
            .map(|(n, _)| *n)
            .collect();
        for nonce in stuck {
            self.resubmit(nonce);
        }

        self.fill_gap(mined, now);

        // Holes at the top give their nonces back (never below what is mined); holes below a
        // held nonce are filled.
        while let Some(&top) = self.holes.last() {
            if top.saturating_add(1) != self.next_nonce || top < mined {
                break;
            }
            self.holes.remove(&top);
            self.next_nonce = top;
        }
        if self.waiting.is_empty() {
            while let Some(hole) = self.holes.pop_first() {
                let (max_fee, priority) = self.capped(self.fees.0, self.fees.1);
                let mut filler = TransactionRequest::default()
                    .from(self.address)
                    .to(self.address)
                    .value(U256::ZERO)
                    .gas_limit(21_000)
                    .max_fee_per_gas(max_fee)
                    .max_priority_fee_per_gas(priority);
                filler.set_chain_id(self.chain_id);
                self.launch(hole, filler, None, true);
            }
        }
        self.dispatch();
    }

    /// When the chain's next nonce stays below everything held (a transaction of an earlier
    /// run that a node dropped, say), fills the gap after `resubmit_after`.
    fn fill_gap(&mut self, mined: u64, now: Instant) {
        let lowest_held =
            [self.in_flight.keys().next(), self.holes.first()].into_iter().flatten().min().copied();
        match lowest_held {
            Some(lowest) if lowest > mined => {
                let since = *self.gap_since.get_or_insert(now);
                if now.duration_since(since) >= self.config.resubmit_after {
                    let end = lowest.min(mined.saturating_add(MAX_GAP_FILL));
                    tracing::warn!(target: "quorate::chain", from = mined, to = end, "filling a nonce gap");
                    self.holes.extend(mined..end);
                    self.gap_since = None;
                }
            }
            _ => self.gap_since = None,
        }
    }

    /// Raises both fee caps by the bump (at least to the current estimate, at most a multiple
    /// of it and the configured cap) and resends.
    fn resubmit(&mut self, nonce: u64) {
        let bump = u128::from(self.config.fee_bump_percent);
        let (market_fee, market_tip) = self.fees;
        let ceiling = market_fee.saturating_mul(MAX_FEE_OVER_ESTIMATE).max(1);
        let cap = self.config.max_fee_per_gas.map_or(ceiling, |c| c.min(ceiling));
        let Some(flight) = self.in_flight.get_mut(&nonce) else { return };
        let raise = |old: u128| old.saturating_mul(100u128.saturating_add(bump)) / 100 + 1;
        let old_fee = flight.tx.max_fee_per_gas.unwrap_or_default();
        let max_fee = raise(old_fee).max(market_fee).min(cap);
        let priority = raise(flight.tx.max_priority_fee_per_gas.unwrap_or_default())
            .max(market_tip)
            .min(max_fee);
        // At the ceiling nothing higher is offered, but the same transaction is sent again: a
        // node that lost it (a send whose answer never came) takes it back.
        if max_fee > old_fee {
            flight.tx.set_max_fee_per_gas(max_fee);
            flight.tx.set_max_priority_fee_per_gas(priority);
        }
        flight.last_sent = Instant::now();
        tracing::debug!(target: "quorate::chain", nonce, max_fee, "resubmitting a stuck transaction");
        let tx = flight.tx.clone();
        self.send_raw(nonce, tx);
    }

    /// Asks, one by one, for the receipts of what the chain's nonce has passed.
    fn check_passed(&mut self) {
        let passed: Vec<u64> = self
            .in_flight
            .range(..self.mined)
            .filter(|(_, f)| !f.checking && !f.hashes.is_empty())
            .map(|(n, _)| *n)
            .collect();
        for nonce in passed {
            self.check_receipt(nonce);
        }
    }

    fn check_receipt(&mut self, nonce: u64) {
        let Some(flight) = self.in_flight.get_mut(&nonce) else { return };
        flight.checking = true;
        let (hashes, tx) = (flight.hashes.clone(), flight.tx.clone());
        self.tasks.push(calls::check_receipt(
            self.provider.clone(),
            self.url.clone(),
            nonce,
            hashes,
            tx,
        ));
    }
}

/// What makes calls alike enough to share a gas hint: the recipient and the 4-byte selector
/// (a plain transfer has none). Creations have no shape.
fn call_shape(tx: &TransactionRequest) -> Option<(Address, [u8; 4])> {
    let to = tx.to.and_then(|kind| kind.to().copied())?;
    let input = tx.input.input().map(|b| b.as_ref()).unwrap_or_default();
    let mut selector = [0u8; 4];
    if let Some(head) = input.get(..4) {
        selector.copy_from_slice(head);
    }
    Some((to, selector))
}

fn reply_to(reply: Option<Reply>, result: Result<TransactionReceipt, ChainError>) {
    if let Some(reply) = reply {
        // The caller may have given up waiting; the transaction's fate is the chain's.
        let _ = reply.send(result);
    }
}
