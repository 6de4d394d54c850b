//! The invariants of ROLES.md checked from chain events alone: credits conserved (the token
//! balance the Hub holds equals what its accounts say they hold), no payment made twice, no
//! stake of an honest worker seized.

use std::collections::{HashMap, HashSet};

use alloy::{
    primitives::{Address, B256, U256},
    providers::{Provider, RootProvider},
    rpc::types::Filter,
    sol_types::SolEvent,
};
use quorate_contracts::bindings::{Hub, QuorateCredit};

/// What the chain says after a run: ROLES.md's money invariants, from the Hub's events alone.
#[derive(Debug, Clone)]
pub struct Invariants {
    /// QCR the Hub holds (the token's balance of it).
    pub held: U256,
    /// What its accounts say it holds: every account's free and frozen, and the penalty
    /// account.
    pub accounted: U256,
    /// Payments made twice: a second `Rewarded` for one account and task, or a task both
    /// finalized and claimed.
    pub double_payments: u64,
    /// Stakes seized from the workers named honest.
    pub honest_lost: U256,
    /// Everything seized, by account (the client's price paid out at each finalize included).
    pub seized_from: HashMap<Address, U256>,
    /// The pool owner's stakes seized (by claims).
    pub pool_seized: U256,
    /// Tasks finalized.
    pub finalized: u64,
    /// Tasks claimed.
    pub claimed: u64,
}

impl Invariants {
    /// Reads them from every Hub event since block 0; `workers` are the honest workers, `owner`
    /// the pool's owner.
    pub async fn read(
        provider: &RootProvider,
        hub: Address,
        credit: Address,
        workers: &HashSet<Address>,
        owner: Address,
    ) -> anyhow::Result<Self> {
        let logs = provider.get_logs(&Filter::new().address(hub).from_block(0)).await?;
        let mut accounts: HashSet<Address> = HashSet::new();
        let mut rewards: HashMap<(Address, B256), u64> = HashMap::new();
        let (mut finalized, mut claimed) = (HashSet::new(), HashSet::new());
        let (mut honest_lost, mut pool_seized) = (U256::ZERO, U256::ZERO);
        let mut seized_from: HashMap<Address, U256> = HashMap::new();
        for log in &logs {
            let inner = &log.inner;
            if let Ok(e) = Hub::Deposited::decode_log(inner) {
                accounts.insert(e.account);
            } else if let Ok(e) = Hub::Rewarded::decode_log(inner) {
                accounts.insert(e.account);
                *rewards.entry((e.account, e.r#ref)).or_default() += 1;
            } else if let Ok(e) = Hub::Seized::decode_log(inner) {
                accounts.insert(e.account);
                let from = seized_from.entry(e.account).or_insert(U256::ZERO);
                *from = from.saturating_add(e.amount);
                // (The client's price, paid out at each finalize, is seized too.)
                if workers.contains(&e.account) {
                    honest_lost = honest_lost.saturating_add(e.amount);
                } else if e.account == owner {
                    pool_seized = pool_seized.saturating_add(e.amount);
                }
            } else if let Ok(e) = Hub::Locked::decode_log(inner) {
                accounts.insert(e.account);
            } else if let Ok(e) = Hub::Unlocked::decode_log(inner) {
                accounts.insert(e.account);
            } else if let Ok(e) = Hub::TaskFinalized::decode_log(inner) {
                finalized.insert(e.taskId);
            } else if let Ok(e) = Hub::TaskClaimed::decode_log(inner) {
                claimed.insert(e.taskId);
            }
        }
        let mut accounted = U256::ZERO;
        for account in &accounts {
            let b = quorate_node::accounts::balances(provider, hub, *account).await?;
            accounted = accounted.saturating_add(b.free).saturating_add(b.frozen);
        }
        let hub_view = Hub::new(hub, provider.clone());
        accounted = accounted.saturating_add(hub_view.penaltyBalance().call().await?);
        let held = QuorateCredit::new(credit, provider.clone()).balanceOf(hub).call().await?;
        let twice = rewards.values().filter(|n| **n > 1).map(|n| n - 1).sum::<u64>();
        let both = finalized.intersection(&claimed).count() as u64;
        Ok(Self {
            held,
            accounted,
            double_payments: twice + both,
            honest_lost,
            seized_from,
            pool_seized,
            finalized: finalized.len() as u64,
            claimed: claimed.len() as u64,
        })
    }
}

impl Invariants {
    /// True when credits are conserved, nothing was paid twice and no honest stake was lost.
    pub fn hold(&self) -> bool {
        self.held == self.accounted && self.double_payments == 0 && self.honest_lost.is_zero()
    }
}
