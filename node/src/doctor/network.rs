//! `quorate doctor --chain` and `--pool N`: the chain node answers on the configured chain, the
//! Hub is deployed where the configuration says, the pool exists, and its scheduler can be
//! found and reached over the network from here. Each failure says what to change.

use std::time::{Duration, Instant};

use alloy::{providers::Provider, signers::local::PrivateKeySigner};
use quorate_primitives::PoolId;

use super::Check;
use crate::config::NodeConfig;

/// How long the scheduler is looked for.
const FIND_WAIT: Duration = Duration::from_secs(20);

/// The RPC endpoint and the Hub.
pub async fn chain(config: &NodeConfig) -> Vec<Check> {
    let mut checks = Vec::new();
    let chain_config = match config.chain_config() {
        Ok(c) => c,
        Err(e) => {
            checks.push(Check::new("rpc", Err(e.to_string())));
            return checks;
        }
    };
    let started = Instant::now();
    let provider = match crate::chain::connect_provider(&chain_config).await {
        Ok((provider, chain_id)) => {
            let head = provider.get_block_number().await.ok();
            checks.push(Check::new(
                "rpc",
                Ok(format!(
                    "{} answers: chain {chain_id}, block {}, in {} ms",
                    config.chain.rpc_url,
                    head.map_or("?".into(), |h| h.to_string()),
                    started.elapsed().as_millis()
                )),
            ));
            provider
        }
        Err(e) => {
            checks.push(Check::new(
                "rpc",
                Err(format!(
                    "{e}: check chain.rpc_url (and chain.chain_id), and that the node runs"
                )),
            ));
            return checks;
        }
    };
    let hub = match config.hub() {
        Ok(hub) => hub,
        Err(e) => {
            checks.push(Check::new("hub", Err(e.to_string())));
            return checks;
        }
    };
    let chain_id = provider.get_chain_id().await.unwrap_or_default();
    checks.push(Check::new(
        "hub",
        crate::hub::info(&provider, chain_id, hub)
            .await
            .map(|info| {
                format!(
                    "Hub {hub}: {} pools, {} categories, token {}",
                    info.pools,
                    info.categories.len(),
                    info.symbol.unwrap_or_else(|| info.token.to_string())
                )
            })
            .map_err(|e| format!("{e}: check chain.hub")),
    ));
    checks
}

/// Pool `pool` on the Hub, and its scheduler found through `bootstrap` peers.
pub async fn pool(config: &NodeConfig, pool: u64) -> Vec<Check> {
    let mut checks = Vec::new();
    let (Ok(chain_config), Ok(hub)) = (config.chain_config(), config.hub()) else {
        checks.push(Check::new(
            "pool",
            Err("the chain is not configured: run `quorate doctor --chain` first".into()),
        ));
        return checks;
    };
    let Ok((provider, chain_id)) = crate::chain::connect_provider(&chain_config).await else {
        checks.push(Check::new(
            "pool",
            Err("the chain node does not answer: run `quorate doctor --chain`".into()),
        ));
        return checks;
    };
    let owner = match crate::worker::preflight::pool_owner(&provider, hub, PoolId(pool)).await {
        Ok(owner) => {
            checks
                .push(Check::new("pool", Ok(format!("pool {pool} on the Hub, owned by {owner}"))));
            owner
        }
        Err(e) => {
            checks.push(Check::new(
                "pool",
                Err(format!("{e}: check the pool number with its operator")),
            ));
            return checks;
        }
    };
    let texts: Vec<String> =
        [config.worker.bootstrap.as_slice(), config.client.bootstrap.as_slice()].concat();
    let bootstrap = match crate::cli::multiaddrs("worker.bootstrap / client.bootstrap", &texts)
        .map_err(|e| e.to_string())
    {
        Ok(addrs) if !addrs.is_empty() => addrs,
        Ok(_) => {
            checks.push(Check::new(
                "scheduler",
                Err("no peer to start from: set worker.bootstrap (or client.bootstrap) to the scheduler's address, as `quorate scheduler run` prints it".into()),
            ));
            return checks;
        }
        Err(e) => {
            checks.push(Check::new("scheduler", Err(e)));
            return checks;
        }
    };
    // A throwaway identity: finding a scheduler needs a proven peer, not this node's wallet.
    let started = Instant::now();
    let found =
        match crate::client::submit::network(&PrivateKeySigner::random(), chain_id, &bootstrap) {
            Ok((p2p, _events)) => {
                tokio::time::timeout(FIND_WAIT, p2p.find_scheduler(PoolId(pool), owner)).await
            }
            Err(e) => {
                checks.push(Check::new(
                    "scheduler",
                    Err(format!("cannot start the network here: {e}")),
                ));
                return checks;
            }
        };
    checks.push(Check::new(
        "scheduler",
        match found {
            Ok(Ok(peer)) => Ok(format!(
                "found and proven by the pool's owner: peer {peer}, in {} ms",
                started.elapsed().as_millis()
            )),
            Ok(Err(e)) => Err(format!("{e}: check that `quorate scheduler run` runs for pool {pool} and that the bootstrap peers are reachable from here")),
            Err(_) => Err(format!(
                "no scheduler of pool {pool} answered in {} s through {}: check that it runs and that this machine can reach that address (firewall, NAT)",
                FIND_WAIT.as_secs(),
                texts.join(", ")
            )),
        },
    ));
    checks
}
