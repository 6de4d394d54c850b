//! The chain: one cloneable [`Chain`] handle per account, sending bounded commands to an actor
//! task that owns the account's nonces ([`sender`]), and a [`Follower`] that hands over Hub
//! events from a cursor the caller persists.
//!
//! ```text
//! Chain::send(tx) ──mpsc(1024)──▶ actor: estimate (+margin) ─▶ nonce ─▶ sign ─▶ eth_sendRawTransaction
//!        │                              │ (gas checks and sends travel in JSON-RPC batches)
//!        ▲                              │ every poll: latest nonce, receipts, fee refresh,
//!        └──────── oneshot(receipt) ◀───┘ resubmit stuck ones with bumped fees, fill nonce holes
//! ```
//!
//! Nothing here is specific to anvil: any standard Ethereum JSON-RPC node works.

mod calls;
mod error;
mod follower;
pub mod revert;
mod sender;

use std::time::Duration;

use alloy::{
    network::EthereumWallet,
    primitives::Address,
    providers::{Provider, RootProvider},
    rpc::types::{TransactionReceipt, TransactionRequest},
    signers::local::PrivateKeySigner,
};
use tokio::sync::{mpsc, oneshot};

pub use error::ChainError;
pub use follower::{Cursor, EventBatch, Follower, HubLog};

/// How the node talks to the chain. Built from the `[chain]` section of the configuration.
#[derive(Debug, Clone)]
pub struct ChainConfig {
    /// JSON-RPC endpoint (HTTP).
    pub rpc_url: url::Url,
    /// The chain id the endpoint must report; `None` skips the check.
    pub chain_id: Option<u64>,
    /// Blocks an event must be buried under before it is handed over.
    pub confirmations: u64,
    /// How often to poll for blocks and receipts.
    pub poll_interval: Duration,
    /// Gas limit = estimate × (100 + margin) / 100.
    pub gas_margin_percent: u64,
    /// A transaction unmined after this long is sent again with higher fees.
    pub resubmit_after: Duration,
    /// Each resubmission raises both fee caps by this many percent.
    pub fee_bump_percent: u64,
    /// The highest max fee per gas ever offered, in wei.
    pub max_fee_per_gas: Option<u128>,
    /// Sent-and-unmined transactions allowed at once; more wait in the actor's queue.
    pub max_in_flight: usize,
    /// Most blocks in one `eth_getLogs`.
    pub log_block_range: u64,
}

impl ChainConfig {
    /// Checks the values that parse but cannot work.
    pub fn validate(&self) -> Result<(), String> {
        if self.poll_interval.is_zero() {
            return Err("the poll interval must be above zero".into());
        }
        if self.resubmit_after.is_zero() {
            return Err("resubmit_after must be above zero".into());
        }
        if !(10..=1000).contains(&self.fee_bump_percent) {
            return Err(
                "the fee bump must be 10 to 1000 percent (nodes refuse less than 10)".into()
            );
        }
        if self.gas_margin_percent > 1000 {
            return Err("the gas margin must be at most 1000 percent".into());
        }
        if self.max_in_flight == 0 || self.log_block_range == 0 {
            return Err("max_in_flight and log_block_range must be at least 1".into());
        }
        Ok(())
    }

    /// Settings for a local devnet at `rpc_url`: no confirmations, fast polling, quick
    /// resubmission.
    pub fn devnet(rpc_url: url::Url) -> Self {
        Self {
            rpc_url,
            chain_id: None,
            confirmations: 0,
            poll_interval: Duration::from_millis(100),
            gas_margin_percent: 20,
            resubmit_after: Duration::from_secs(3),
            fee_bump_percent: 25,
            max_fee_per_gas: None,
            max_in_flight: 4096,
            log_block_range: 2000,
        }
    }
}

/// Connects a read-only provider and checks the chain id, so every command fails early and
/// clearly on a wrong endpoint.
pub async fn connect_provider(config: &ChainConfig) -> Result<(RootProvider, u64), ChainError> {
    let provider = RootProvider::new_http(config.rpc_url.clone());
    let url = &redact(&config.rpc_url);
    let actual =
        provider.get_chain_id().await.map_err(|e| ChainError::from_rpc("eth_chainId", url, &e))?;
    if let Some(expected) = config.chain_id
        && expected != actual
    {
        return Err(ChainError::WrongChain { url: url.to_owned(), expected, actual });
    }
    Ok((provider, actual))
}

/// The windows `[from, to]` of at most `range` blocks (at least 1) that cover blocks `from` to
/// `latest`, in order: one `eth_getLogs` each, as public nodes require.
pub fn log_windows(from: u64, latest: u64, range: u64) -> impl Iterator<Item = (u64, u64)> {
    let span = range.max(1) - 1;
    let mut next = Some(from).filter(|from| *from <= latest);
    std::iter::from_fn(move || {
        let start = next?;
        let end = start.saturating_add(span).min(latest);
        next = end.checked_add(1).filter(|n| *n <= latest);
        Some((start, end))
    })
}

/// The first block whose timestamp is at or after `time` (the latest block when none is yet),
/// found by bisection: about 2·log2(height) header reads.
pub async fn block_at_or_after(provider: &RootProvider, time: u64) -> Result<u64, ChainError> {
    let stamp = |number: u64| async move {
        provider
            .get_block_by_number(alloy::eips::BlockNumberOrTag::Number(number))
            .await
            .map_err(|e| ChainError::Rpc { op: "eth_getBlockByNumber", reason: e.to_string() })
            .map(|b| b.map_or(u64::MAX, |b| b.header.timestamp))
    };
    let latest = provider
        .get_block_number()
        .await
        .map_err(|e| ChainError::Rpc { op: "eth_blockNumber", reason: e.to_string() })?;
    let (mut low, mut high) = (0u64, latest);
    while low < high {
        let middle = low + (high - low) / 2;
        if stamp(middle).await? >= time {
            high = middle;
        } else {
            low = middle.saturating_add(1);
        }
    }
    Ok(low)
}

/// The endpoint as errors show it: scheme, host and port only, since paths, queries and
/// user info often carry an API key.
pub fn redact(url: &url::Url) -> String {
    match (url.host_str(), url.port_or_known_default()) {
        (Some(host), Some(port)) => format!("{}://{host}:{port}", url.scheme()),
        (Some(host), None) => format!("{}://{host}", url.scheme()),
        _ => url.scheme().to_owned(),
    }
}

/// Commands the actor takes.
#[derive(Debug)]
enum Command {
    Send {
        tx: Box<TransactionRequest>,
        reply: calls::Reply,
    },
    /// Transactions to be given nonces in the order listed.
    SendAll {
        group: Vec<(Box<TransactionRequest>, calls::Reply)>,
    },
}

/// How many commands may wait for the actor before senders wait too.
const COMMAND_CAPACITY: usize = 1024;

/// A handle on one account's transaction sender. Cheap to clone; the actor stops when the
/// last handle is dropped.
#[derive(Debug, Clone)]
pub struct Chain {
    commands: mpsc::Sender<Command>,
    provider: RootProvider,
    address: Address,
    chain_id: u64,
    log_block_range: u64,
}

impl Chain {
    /// Connects, checks the chain id, reads the account's next nonce and starts the actor.
    pub async fn connect(
        config: &ChainConfig,
        signer: PrivateKeySigner,
    ) -> Result<Self, ChainError> {
        config.validate().map_err(|reason| ChainError::Rpc { op: "configuration", reason })?;
        let (provider, chain_id) = connect_provider(config).await?;
        let address = signer.address();
        let (commands, rx) = mpsc::channel(COMMAND_CAPACITY);
        let actor = sender::Actor::start(
            provider.clone(),
            EthereumWallet::from(signer),
            address,
            chain_id,
            config.clone(),
        )
        .await?;
        tokio::spawn(actor.run(rx));
        Ok(Self { commands, provider, address, chain_id, log_block_range: config.log_block_range })
    }

    /// The most blocks one `eth_getLogs` may span (`chain.log_block_range`).
    pub fn log_block_range(&self) -> u64 {
        self.log_block_range.max(1)
    }

    /// The sending account.
    pub fn address(&self) -> Address {
        self.address
    }

    /// The chain id the node reported.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The latest block's timestamp: the chain's time, which its deadlines count in.
    pub async fn latest_time(&self) -> Result<u64, ChainError> {
        let block = self
            .provider
            .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
            .await
            .map_err(|e| ChainError::Rpc { op: "eth_getBlockByNumber", reason: e.to_string() })?;
        Ok(block.map_or(0, |b| b.header.timestamp))
    }

    /// The provider, for reads (calls, balances, logs).
    pub fn provider(&self) -> &RootProvider {
        &self.provider
    }

    /// Sends `tx` from this account and waits until it is mined. The actor fills in the
    /// nonce, the gas limit (estimate plus margin) and EIP-1559 fees (unless `tx` sets
    /// them: a fee given is the first offer, raised if the transaction gets stuck). A revert,
    /// in simulation or once mined, comes back as [`ChainError::Reverted`] with the
    /// contract's error decoded.
    pub async fn send(&self, tx: TransactionRequest) -> Result<TransactionReceipt, ChainError> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::Send { tx: Box::new(tx), reply })
            .await
            .map_err(|_| ChainError::Closed)?;
        rx.await.map_err(|_| ChainError::Closed)?
    }

    /// Sends `txs` from this account as one group and waits until every one is mined; one
    /// result per transaction, in the order given. The group is checked in one batch and its
    /// transactions take nonces in the order given, so they are mined in that order (and may
    /// share a block), where separate [`Chain::send`]s made at once may take nonces in any
    /// order. A transaction refused before it took a nonce leaves the others' order alone;
    /// the order is not kept across transactions replaced because another process used this
    /// account's nonces.
    pub async fn send_all(
        &self,
        txs: Vec<TransactionRequest>,
    ) -> Vec<Result<TransactionReceipt, ChainError>> {
        let (group, waits): (Vec<_>, Vec<_>) = txs
            .into_iter()
            .map(|tx| {
                let (reply, rx) = oneshot::channel();
                ((Box::new(tx), reply), rx)
            })
            .unzip();
        if group.is_empty() {
            return Vec::new();
        }
        if self.commands.send(Command::SendAll { group }).await.is_err() {
            return waits.iter().map(|_| Err(ChainError::Closed)).collect();
        }
        let mut results = Vec::with_capacity(waits.len());
        for rx in waits {
            results.push(rx.await.unwrap_or(Err(ChainError::Closed)));
        }
        results
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn log_windows_cover_every_block_once_and_no_more_than_the_range() {
        let windows: Vec<_> = super::log_windows(5, 14, 4).collect();
        assert_eq!(windows, [(5, 8), (9, 12), (13, 14)]);
        assert_eq!(super::log_windows(3, 3, 10).collect::<Vec<_>>(), [(3, 3)]);
        assert_eq!(super::log_windows(4, 3, 10).count(), 0);
        // A range of 0 is read as 1; the last block of the chain ends the walk.
        assert_eq!(super::log_windows(0, 2, 0).count(), 3);
        assert_eq!(
            super::log_windows(u64::MAX - 1, u64::MAX, 8).collect::<Vec<_>>(),
            [(u64::MAX - 1, u64::MAX)]
        );
    }
}
