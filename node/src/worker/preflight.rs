//! What a worker checks before it joins a pool, each failure said with its numbers and the fix:
//! the pool exists on the Hub (and who owns it: the only key whose scheduler proof and task
//! authorizations count), the worker's account has ETH for gas and QCR free in the Hub to
//! stake on its votes. (Its keystore was unlocked before: the wallet refuses one others can
//! read.)

use alloy::{
    primitives::{Address, U256},
    providers::RootProvider,
};
use quorate_contracts::bindings::Hub;
use quorate_primitives::PoolId;

use super::WorkerError;
use crate::{
    accounts::{self, Balances},
    chain::ChainError,
    units::{Currency, short},
};

/// What the checks found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ready {
    /// The pool's owner: its scheduler proves this address, and signs task authorizations.
    pub owner: Address,
    /// The worker's balances.
    pub balances: Balances,
}

impl std::fmt::Display for Ready {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let b = &self.balances;
        write!(
            f,
            "worker {} holds {} ETH for gas and {} QCR free in the Hub for stakes ({} QCR frozen)",
            b.account,
            short(b.eth, Currency::Eth),
            short(b.free, Currency::Qcr),
            short(b.frozen, Currency::Qcr)
        )
    }
}

/// The owner of `pool` on the Hub at `hub`.
pub async fn pool_owner(
    provider: &RootProvider,
    hub: Address,
    pool: PoolId,
) -> Result<Address, WorkerError> {
    let view = Hub::new(hub, provider.clone()).pool(pool.0).call().await.map_err(|e| {
        match e.as_revert_data().map(|data| crate::chain::revert::decode(&data)) {
            Some(refusal) if refusal.name == "UnknownPool" => {
                WorkerError::UnknownPool { pool, hub }
            }
            Some(refusal) => ChainError::Reverted { refusal, tx: None }.into(),
            None => ChainError::Rpc { op: "Hub.pool", reason: e.to_string() }.into(),
        }
    })?;
    if view.owner == Address::ZERO {
        return Err(WorkerError::UnknownPool { pool, hub });
    }
    Ok(view.owner)
}

/// Checks the pool and the worker's funds.
pub async fn check(
    provider: &RootProvider,
    hub: Address,
    pool: PoolId,
    worker: Address,
) -> Result<Ready, WorkerError> {
    let owner = pool_owner(provider, hub, pool).await?;
    let balances = accounts::balances(provider, hub, worker).await?;
    judge(balances)?;
    Ok(Ready { owner, balances })
}

/// The funds rule alone: some ETH, some free QCR.
fn judge(balances: Balances) -> Result<(), WorkerError> {
    if balances.eth == U256::ZERO {
        return Err(WorkerError::NoGas { account: balances.account });
    }
    if balances.free == U256::ZERO {
        return Err(WorkerError::NoStake { account: balances.account, frozen: balances.frozen });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use alloy::primitives::utils::parse_ether;

    use super::*;

    #[test]
    fn no_gas_or_no_stake_is_refused_with_the_numbers_and_the_fix() {
        let account = Address::repeat_byte(7);
        let funded = Balances {
            account,
            eth: parse_ether("0.5").unwrap(),
            wallet: U256::ZERO,
            free: parse_ether("12.5").unwrap(),
            frozen: parse_ether("0.6").unwrap(),
        };
        assert!(judge(funded).is_ok());
        let ready = Ready { owner: Address::ZERO, balances: funded };
        let text = ready.to_string();
        assert!(text.contains("0.5 ETH for gas") && text.contains("12.5 QCR free"), "{text}");
        let err = judge(Balances { eth: U256::ZERO, ..funded }).unwrap_err().to_string();
        assert!(err.contains("0 ETH") && err.contains("quorate wallet send"), "{err}");
        let err = judge(Balances { free: U256::ZERO, ..funded }).unwrap_err().to_string();
        assert!(err.contains("0 QCR free") && err.contains("0.6 QCR frozen"), "{err}");
        assert!(err.contains("quorate wallet deposit"), "{err}");
    }
}
