//! Hub accounts: what an address holds (ETH for gas, QCR in its wallet, QCR free and frozen in
//! the Hub), and moving credits in, out and along.

use alloy::{
    primitives::{Address, U256},
    providers::RootProvider,
    rpc::types::{TransactionReceipt, TransactionRequest},
    sol_types::SolCall,
};
use quorate_contracts::bindings::{Hub, QuorateCredit};

use crate::{
    chain::{Chain, ChainError, revert::Refusal},
    units::{Currency, short, show},
};

/// Everything one address holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Balances {
    /// The address.
    pub account: Address,
    /// ETH, for gas.
    pub eth: U256,
    /// QCR in the wallet (the token's balance).
    pub wallet: U256,
    /// QCR free in the Hub: withdrawable, or spendable on deals and stakes.
    pub free: U256,
    /// QCR frozen in the Hub: locked in deals and stakes until they settle.
    pub frozen: U256,
}

impl std::fmt::Display for Balances {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "account     {}", self.account)?;
        writeln!(f, "eth         {}", show(self.eth, Currency::Eth))?;
        writeln!(f, "wallet      {}", show(self.wallet, Currency::Qcr))?;
        writeln!(f, "hub free    {}", show(self.free, Currency::Qcr))?;
        write!(f, "hub frozen  {}", show(self.frozen, Currency::Qcr))
    }
}

fn rpc(op: &'static str) -> impl Fn(alloy::contract::Error) -> ChainError {
    move |e| match e {
        alloy::contract::Error::TransportError(t) => ChainError::from_rpc(op, "the chain node", &t),
        other => ChainError::Rpc { op, reason: other.to_string() },
    }
}

/// The credit token the Hub counts in.
pub async fn token(provider: &RootProvider, hub: Address) -> Result<Address, ChainError> {
    Hub::new(hub, provider.clone()).token().call().await.map_err(rpc("Hub.token"))
}

/// Reads all four balances of `account`.
pub async fn balances(
    provider: &RootProvider,
    hub: Address,
    account: Address,
) -> Result<Balances, ChainError> {
    use alloy::providers::Provider;
    let hub_contract = Hub::new(hub, provider.clone());
    let credit = QuorateCredit::new(token(provider, hub).await?, provider.clone());
    let eth = provider
        .get_balance(account)
        .await
        .map_err(|e| ChainError::from_rpc("eth_getBalance", "the chain node", &e))?;
    let wallet = credit.balanceOf(account).call().await.map_err(rpc("QCR.balanceOf"))?;
    let free =
        hub_contract.freeBalanceOf(account).call().await.map_err(rpc("Hub.freeBalanceOf"))?;
    let frozen =
        hub_contract.frozenBalanceOf(account).call().await.map_err(rpc("Hub.frozenBalanceOf"))?;
    Ok(Balances { account, eth, wallet, free, frozen })
}

fn call<C: SolCall>(to: Address, call: &C) -> TransactionRequest {
    TransactionRequest::default().to(to).input(call.abi_encode().into())
}

fn refused(name: &str, sentence: String) -> ChainError {
    ChainError::Reverted { refusal: Refusal { name: name.into(), sentence }, tx: None }
}

/// Moves `amount` QCR from the wallet into the Hub: approve (when the allowance is short),
/// then deposit. Returns the receipts, approval first.
pub async fn deposit(
    chain: &Chain,
    hub: Address,
    amount: U256,
) -> Result<Vec<TransactionReceipt>, ChainError> {
    let credit_address = token(chain.provider(), hub).await?;
    let credit = QuorateCredit::new(credit_address, chain.provider().clone());
    let me = chain.address();
    let held = credit.balanceOf(me).call().await.map_err(rpc("QCR.balanceOf"))?;
    if held < amount {
        return Err(refused(
            "ERC20InsufficientBalance",
            format!(
                "{me} holds {} QCR in its wallet, {} needed: get more QCR first",
                short(held, Currency::Qcr),
                short(amount, Currency::Qcr)
            ),
        ));
    }
    let mut receipts = Vec::new();
    let allowance = credit.allowance(me, hub).call().await.map_err(rpc("QCR.allowance"))?;
    if allowance < amount {
        let approve = QuorateCredit::approveCall { spender: hub, value: amount };
        receipts.push(chain.send(call(credit_address, &approve)).await?);
    }
    receipts.push(chain.send(call(hub, &Hub::depositCall { amount })).await?);
    Ok(receipts)
}

/// Moves `amount` QCR free in the Hub back to the wallet.
pub async fn withdraw(
    chain: &Chain,
    hub: Address,
    amount: U256,
) -> Result<TransactionReceipt, ChainError> {
    chain.send(call(hub, &Hub::withdrawCall { amount })).await
}

/// Sends `amount` QCR from the wallet to `to`.
pub async fn send_qcr(
    chain: &Chain,
    hub: Address,
    to: Address,
    amount: U256,
) -> Result<TransactionReceipt, ChainError> {
    let credit = token(chain.provider(), hub).await?;
    chain.send(call(credit, &QuorateCredit::transferCall { to, value: amount })).await
}

/// Mints `amount` QCR to `to`: only QuorateCredit's owner (the Hub's deployer) may; a Hub
/// counting in another ERC-20 has no such call.
pub async fn mint_qcr(
    chain: &Chain,
    hub: Address,
    to: Address,
    amount: U256,
) -> Result<TransactionReceipt, ChainError> {
    let credit = token(chain.provider(), hub).await?;
    chain.send(call(credit, &QuorateCredit::mintCall { to, amount })).await
}

/// Names the address `chain`'s account's rewards are credited to (zero: the account itself).
pub async fn set_payout(
    chain: &Chain,
    hub: Address,
    payout: Address,
) -> Result<TransactionReceipt, ChainError> {
    chain.send(call(hub, &Hub::setPayoutAddressCall { payout })).await
}

/// Sends `amount` wei of ETH to `to`.
pub async fn send_eth(
    chain: &Chain,
    to: Address,
    amount: U256,
) -> Result<TransactionReceipt, ChainError> {
    chain.send(TransactionRequest::default().to(to).value(amount)).await
}
