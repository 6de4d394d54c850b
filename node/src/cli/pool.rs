//! `quorate pool orders`: the pools selling now, as their signed orders on gossip tell, each
//! checked against its pool's owner on the Hub.

use std::{io::Write, process::ExitCode, time::Duration};

use alloy::signers::local::PrivateKeySigner;
use clap::{Args as ClapArgs, Subcommand};

use super::Args;
use crate::{
    chain::connect_provider,
    client::{
        orders::{self, Verifier},
        submit::network,
    },
    units::{Currency, short},
};

#[derive(Debug, Subcommand)]
pub(super) enum PoolCommand {
    /// List the pools' orders heard on the network, cheapest first: price per task, trust,
    /// category, volume and expiry (no wallet needed).
    Orders(OrdersArgs),
}

#[derive(Debug, ClapArgs)]
pub(super) struct OrdersArgs {
    /// Peers to reach the network through (default: client.bootstrap).
    #[arg(long, value_name = "MULTIADDR")]
    bootstrap: Vec<String>,
    /// How long to listen, in seconds (pools announce their orders every 5 s).
    #[arg(long, value_name = "SECS", default_value_t = 6)]
    wait: u64,
    /// Print JSON Lines instead of text.
    #[arg(long)]
    json: bool,
}

pub(super) async fn run(args: &Args, command: &PoolCommand) -> anyhow::Result<ExitCode> {
    match command {
        PoolCommand::Orders(orders) => self::orders(args, orders).await,
    }
}

async fn orders(args: &Args, orders: &OrdersArgs) -> anyhow::Result<ExitCode> {
    let config = args.node_config()?;
    let hub = config.hub()?;
    let (provider, chain_id) = connect_provider(&config.chain_config()?).await?;
    let texts =
        if orders.bootstrap.is_empty() { &config.client.bootstrap } else { &orders.bootstrap };
    let bootstrap = super::multiaddrs("--bootstrap", texts)?;
    if bootstrap.is_empty() {
        anyhow::bail!(
            "no way into the network: pass --bootstrap with a node's address (a pool's scheduler), or set client.bootstrap"
        );
    }
    // Listening needs no wallet: the node proves itself with a key made for this run.
    let listener = PrivateKeySigner::random();
    let (_p2p, mut events) = network(&listener, chain_id, &bootstrap)?;
    let mut verifier = Verifier::new(provider, chain_id, hub);
    let offers =
        orders::gather(&mut events, &mut verifier, Duration::from_secs(orders.wait.max(1)), |_| {
            false
        })
        .await;
    let mut out = std::io::stdout().lock();
    if offers.is_empty() && !orders.json {
        writeln!(
            out,
            "No pool order heard in {} s: check --bootstrap, or listen longer with --wait.",
            orders.wait
        )?;
    }
    for offer in &offers {
        let order = &offer.order;
        if orders.json {
            let line = serde_json::json!({
                "pool": order.pool,
                "owner": offer.owner,
                "order": offer.hash,
                "price": offer.price().to_string(),
                "trust": order.trust,
                "category": order.category,
                "volume": order.volume,
                "expiry": order.expiry,
                "requester": order.requester,
                "scheduler": offer.source.to_string(),
            });
            writeln!(out, "{line}")?;
        } else {
            writeln!(
                out,
                "pool {:<4} {:>10} QCR/task  trust ≤ {:<3} category {:<3} volume {:<7} expires {}  (owner {})",
                order.pool,
                short(offer.price(), Currency::Qcr),
                order.trust,
                order.category,
                order.volume,
                order.expiry,
                offer.owner
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
