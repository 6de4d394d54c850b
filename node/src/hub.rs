//! The Hub as its deployer and its users see it: deploying the credit token (or taking an
//! existing ERC-20) and the Hub through the chain actor, once every check that can run before a
//! transaction has passed (`quorate hub deploy`); reading a deployment back (`quorate hub info`).
//!
//! The deployment sequence itself is `quorate_contracts::deploy::deploy_hub`, the one the devnet
//! runs too; here it sends through a [`Chain`], so transactions are signed by the deployer's
//! keystore, priced, resubmitted when stuck, and the categories go in one group.

use std::fmt;

use alloy::{
    primitives::{Address, U256},
    providers::{Provider, RootProvider},
    rpc::types::{TransactionReceipt, TransactionRequest},
    transports::{RpcError, TransportErrorKind},
};
use quorate_contracts::{
    bindings::{Hub, QuorateCredit},
    deploy::{self, CREATE_CATEGORY_GAS, Deployed, Plan, Sender},
};

use crate::{
    chain::{Chain, ChainConfig, ChainError},
    units::{Currency, short},
};

/// Why a deployment was refused, failed, or a Hub cannot be read. Each message is one sentence
/// with what to do.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The chain could not be reached or refused a call.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The `--token` address holds no contract.
    #[error(
        "there is no contract at {token} on chain {chain_id}: check the --token address and that chain.rpc_url is the chain it lives on, or leave --token out to deploy a new credit token"
    )]
    NoCode {
        /// The address given.
        token: Address,
        /// The chain asked.
        chain_id: u64,
    },
    /// The `--token` contract does not answer like an ERC-20 token.
    #[error(
        "the contract at {token} does not answer {call} like an ERC-20 token ({reason}): give an ERC-20 token's address, or leave --token out to deploy a new credit token"
    )]
    NotErc20 {
        /// The address given.
        token: Address,
        /// The call it did not answer.
        call: &'static str,
        /// What it did instead.
        reason: &'static str,
    },
    /// The `--token` counts in other units than the node's amounts.
    #[error(
        "the token at {token} ({symbol}) has {decimals} decimals where Quorate's amounts have 18: give an 18-decimal ERC-20 token, or leave --token out to deploy a new credit token"
    )]
    Decimals {
        /// The address given.
        token: Address,
        /// Its symbol.
        symbol: String,
        /// Its decimals.
        decimals: u8,
    },
    /// The deployer cannot pay for the whole deployment.
    #[error(
        "{account} holds {} ETH and the deployment needs up to {} ETH ({gas} gas at up to {} gwei): send it at least {} ETH more, then run the command again",
        short(*balance, Currency::Eth),
        short(*needed, Currency::Eth),
        gwei(*max_fee_per_gas),
        short(needed.saturating_sub(*balance), Currency::Eth)
    )]
    TooLittleEth {
        /// The deployer.
        account: Address,
        /// Its ETH.
        balance: U256,
        /// Every gas limit (estimate plus margin) times the highest fee offered.
        needed: U256,
        /// The gas limits added up.
        gas: u64,
        /// The highest fee per gas offered, in wei.
        max_fee_per_gas: u128,
    },
    /// A transaction of the deployment failed.
    #[error("{op}: {source}")]
    Step {
        /// What was being sent.
        op: &'static str,
        /// Why it failed.
        #[source]
        source: ChainError,
    },
    /// A mined transaction did not do what it was sent for.
    #[error(transparent)]
    Contract(#[from] quorate_contracts::Error),
    /// No Hub answers at the configured address.
    #[error(
        "there is no Hub at {hub} on chain {chain_id} ({reason}): check chain.hub and chain.rpc_url (`quorate hub deploy` prints both)"
    )]
    NoHub {
        /// The address configured.
        hub: Address,
        /// The chain asked.
        chain_id: u64,
        /// What the address did.
        reason: &'static str,
    },
}

fn gwei(wei: u128) -> String {
    let text = alloy::primitives::utils::format_units(U256::from(wei), 9)
        .unwrap_or_else(|_| wei.to_string());
    let text = text.trim_end_matches('0');
    text.strip_suffix('.').unwrap_or(text).to_owned()
}

fn rpc(op: &'static str) -> impl Fn(RpcError<TransportErrorKind>) -> ChainError {
    move |e| ChainError::from_rpc(op, "the chain node", &e)
}

/// Why a view call brought no answer.
enum NoAnswer {
    /// The chain failed (unreachable, or a node error that is not a revert).
    Chain(ChainError),
    /// The contract reverted, returned nothing, or something that does not decode: what it did.
    Contract(&'static str),
}

/// Sorts a view call's failure: a transport failure is the chain's; anything else the
/// contract's.
fn answer<T>(result: Result<T, alloy::contract::Error>) -> Result<T, NoAnswer> {
    use alloy::contract::Error as E;
    result.map_err(|e| match e {
        E::TransportError(t) if t.as_error_resp().is_none() => {
            NoAnswer::Chain(ChainError::from_rpc("eth_call", "the chain node", &t))
        }
        E::TransportError(_) => NoAnswer::Contract("it reverted"),
        E::ZeroData(..) => NoAnswer::Contract("it returned nothing"),
        _ => NoAnswer::Contract("its answer does not decode"),
    })
}

/// An ERC-20 token as it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// Its address.
    pub address: Address,
    /// What `symbol()` said.
    pub symbol: String,
    /// What `decimals()` said.
    pub decimals: u8,
}

/// Checks that `token` is a contract answering `decimals()` and `symbol()` like an ERC-20 token,
/// with the 18 decimals the node's amounts have.
pub async fn check_token(
    provider: &RootProvider,
    chain_id: u64,
    token: Address,
) -> Result<Token, HubError> {
    let code = provider.get_code_at(token).await.map_err(rpc("eth_getCode"))?;
    if code.is_empty() {
        return Err(HubError::NoCode { token, chain_id });
    }
    let erc20 = QuorateCredit::new(token, provider.clone());
    let (decimals, symbol) = futures::join!(async { erc20.decimals().call().await }, async {
        erc20.symbol().call().await
    });
    let refused = |call: &'static str| {
        move |e| match e {
            NoAnswer::Contract(reason) => HubError::NotErc20 { token, call, reason },
            NoAnswer::Chain(chain) => HubError::Chain(chain),
        }
    };
    let decimals = answer(decimals).map_err(refused("decimals()"))?;
    let symbol = answer(symbol).map_err(refused("symbol()"))?;
    if decimals != 18 {
        return Err(HubError::Decimals { token, symbol, decimals });
    }
    Ok(Token { address: token, symbol, decimals })
}

/// What a deployment costs at most, and what its deployer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// The deployer.
    pub account: Address,
    /// Every transaction's gas limit added up: the estimates of the creations, a bound per
    /// category ([`CREATE_CATEGORY_GAS`]), each with the configured margin, as the chain actor
    /// sets them.
    pub gas: u64,
    /// The highest fee per gas the first offer makes, in wei (the configured cap applied).
    pub max_fee_per_gas: u128,
    /// `gas` × `max_fee_per_gas`: what the chain actor checks the balance against.
    pub needed: U256,
    /// The deployer's ETH.
    pub balance: U256,
}

impl Budget {
    /// Refuses a deployment its deployer cannot pay for.
    pub fn check(&self) -> Result<(), HubError> {
        if self.balance < self.needed {
            return Err(HubError::TooLittleEth {
                account: self.account,
                balance: self.balance,
                needed: self.needed,
                gas: self.gas,
                max_fee_per_gas: self.max_fee_per_gas,
            });
        }
        Ok(())
    }
}

impl fmt::Display for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "up to {} ETH ({} gas at up to {} gwei); {} holds {} ETH",
            short(self.needed, Currency::Eth),
            self.gas,
            gwei(self.max_fee_per_gas),
            self.account,
            short(self.balance, Currency::Eth)
        )
    }
}

/// Estimates what `plan` costs at the current fees, against its owner's balance. The Hub's
/// creation is estimated over the token's address (the one QuorateCredit will get, when it is
/// deployed here); categories cannot be estimated before the Hub exists and count
/// [`CREATE_CATEGORY_GAS`] each.
pub async fn budget(
    provider: &RootProvider,
    config: &ChainConfig,
    plan: &Plan<'_>,
) -> Result<Budget, HubError> {
    let owner = plan.owner;
    let nonce = provider
        .get_transaction_count(owner)
        .pending()
        .await
        .map_err(rpc("eth_getTransactionCount"))?;
    let credit = plan.token.unwrap_or_else(|| owner.create(nonce));
    // No fees in the estimates: a node checks the balance against them, and a deployer short of
    // ETH is told so below with the numbers.
    let estimate = |tx: TransactionRequest| async move {
        provider.estimate_gas(tx).await.map_err(rpc("eth_estimateGas"))
    };
    let (credit_gas, hub_gas, fees, balance) = futures::try_join!(
        async {
            match plan.token {
                Some(_) => Ok(0),
                None => estimate(deploy::credit_creation(owner)).await,
            }
        },
        estimate(deploy::hub_creation(credit, owner)),
        async { provider.estimate_eip1559_fees().await.map_err(rpc("eth_feeHistory")) },
        async { provider.get_balance(owner).await.map_err(rpc("eth_getBalance")) },
    )?;
    let categories = u64::try_from(plan.categories.len()).unwrap_or(u64::MAX);
    let margin = 100u64.saturating_add(config.gas_margin_percent);
    let gas = [credit_gas, hub_gas, CREATE_CATEGORY_GAS.saturating_mul(categories)]
        .into_iter()
        .map(|g| g.saturating_mul(margin) / 100)
        .fold(0u64, u64::saturating_add);
    let max_fee_per_gas =
        config.max_fee_per_gas.map_or(fees.max_fee_per_gas, |cap| cap.min(fees.max_fee_per_gas));
    let needed = U256::from(gas).saturating_mul(U256::from(max_fee_per_gas));
    Ok(Budget { account: owner, gas, max_fee_per_gas, needed, balance })
}

/// Sends through the chain actor, telling `progress` of every receipt.
struct Signed<'a> {
    chain: &'a Chain,
    progress: &'a (dyn Fn(&'static str, &TransactionReceipt) + Sync),
}

impl Sender for Signed<'_> {
    type Error = HubError;

    async fn send(
        &self,
        op: &'static str,
        tx: TransactionRequest,
    ) -> Result<TransactionReceipt, HubError> {
        let receipt = self.chain.send(tx).await.map_err(|source| HubError::Step { op, source })?;
        (self.progress)(op, &receipt);
        Ok(receipt)
    }

    /// One group: the actor gives the transactions consecutive nonces in order, so they may
    /// share a block and still be mined in the order given.
    async fn send_all(
        &self,
        op: &'static str,
        txs: Vec<TransactionRequest>,
    ) -> Result<Vec<TransactionReceipt>, HubError> {
        let mut receipts = Vec::with_capacity(txs.len());
        for result in self.chain.send_all(txs).await {
            let receipt = result.map_err(|source| HubError::Step { op, source })?;
            (self.progress)(op, &receipt);
            receipts.push(receipt);
        }
        Ok(receipts)
    }
}

/// Deploys `plan` through `chain` (whose account must be the plan's owner), telling `progress`
/// of every receipt as it comes.
pub async fn deploy(
    chain: &Chain,
    plan: &Plan<'_>,
    progress: &(dyn Fn(&'static str, &TransactionReceipt) + Sync),
) -> Result<Deployed, HubError> {
    deploy::deploy_hub(&Signed { chain, progress }, plan).await
}

/// What a Hub holds, as read from the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubInfo {
    /// The chain.
    pub chain_id: u64,
    /// The Hub.
    pub hub: Address,
    /// Its owner: manages categories and the penalty account.
    pub owner: Address,
    /// The credit token it counts in.
    pub token: Address,
    /// The token's symbol, when it answers.
    pub symbol: Option<String>,
    /// Categories by id: name and time reference in seconds.
    pub categories: Vec<(String, u32)>,
    /// Pools created.
    pub pools: U256,
    /// Deals matched.
    pub deals: U256,
}

impl fmt::Display for HubInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "hub         {}  (chain {})", self.hub, self.chain_id)?;
        writeln!(f, "owner       {}", self.owner)?;
        writeln!(
            f,
            "token       {}  ({})",
            self.token,
            self.symbol.as_deref().unwrap_or("no symbol")
        )?;
        writeln!(f, "pools       {}", self.pools)?;
        writeln!(f, "deals       {}", self.deals)?;
        write!(
            f,
            "categories  {}  (id, name, time reference: contributions until 7×, final deadline 10×)",
            self.categories.len()
        )?;
        for (id, (name, time_ref)) in self.categories.iter().enumerate() {
            write!(f, "\n  {id:>3}  {name:<12} {time_ref} s")?;
        }
        Ok(())
    }
}

/// Reads what the Hub at `hub` holds: its token, owner, categories, pools and deals.
pub async fn info(
    provider: &RootProvider,
    chain_id: u64,
    hub: Address,
) -> Result<HubInfo, HubError> {
    let code = provider.get_code_at(hub).await.map_err(rpc("eth_getCode"))?;
    if code.is_empty() {
        return Err(HubError::NoHub { hub, chain_id, reason: "the address holds no contract" });
    }
    let contract = Hub::new(hub, provider.clone());
    let not_hub = |e| match e {
        NoAnswer::Contract(_) => {
            HubError::NoHub { hub, chain_id, reason: "the contract there does not answer as a Hub" }
        }
        NoAnswer::Chain(chain) => HubError::Chain(chain),
    };
    let (token, owner, count, pools, deals) = futures::join!(
        async { contract.token().call().await },
        async { contract.owner().call().await },
        async { contract.categoryCount().call().await },
        async { contract.poolCount().call().await },
        async { contract.dealCount().call().await },
    );
    let token = answer(token).map_err(not_hub)?;
    let owner = answer(owner).map_err(not_hub)?;
    let count = answer(count).map_err(not_hub)?;
    let pools = answer(pools).map_err(not_hub)?;
    let deals = answer(deals).map_err(not_hub)?;
    // Category ids are uint8: at most 255 of them.
    let count = u8::try_from(count).unwrap_or(u8::MAX);
    let categories = futures::future::join_all((0..count).map(|id| {
        let contract = &contract;
        async move { contract.category(id).call().await }
    }))
    .await
    .into_iter()
    .map(|c| answer(c).map(|c| (c.name, c.timeRef)).map_err(not_hub))
    .collect::<Result<Vec<_>, _>>()?;
    let symbol = QuorateCredit::new(token, provider.clone()).symbol().call().await.ok();
    Ok(HubInfo { chain_id, hub, owner, token, symbol, categories, pools, deals })
}
