//! Chain figures (docs/benchmarks.md): transactions the chain actor gets mined from one account
//! per one-second anvil block, as a share of what the block gas limit allows; Hub events
//! decoded and handed over per second; and `quorate devnet` from the command to ready.
//!
//!     cargo bench -p quorate-node --bench chain            # full
//!     cargo bench -p quorate-node --bench chain -- --quick # fewer transactions

#![allow(clippy::print_stdout, reason = "a benchmark prints its figures")]

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::Instant,
};

use alloy::{
    primitives::{Address, U256},
    providers::Provider,
    rpc::types::TransactionRequest,
    signers::local::PrivateKeySigner,
    sol_types::SolCall,
};
use futures::future::join_all;
use quorate_contracts::bindings::{Hub, QuorateCredit};
use quorate_devnet::{Devnet, DevnetConfig, Role};
use quorate_node::chain::{Chain, ChainConfig, Cursor, Follower};

#[tokio::main]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let count = if quick { 1_500 } else { 6_000 };
    println!("chain benchmark ({} transactions per kind)", count);

    let net = Devnet::spawn(DevnetConfig::test()).await.expect("devnet");
    let mut config = ChainConfig::devnet(net.endpoint().parse().expect("url"));
    config.chain_id = Some(net.chain_id());
    let key = net.account(Role::Client).expect("client").key;
    let chain = Chain::connect(&config, PrivateKeySigner::from_bytes(&key).expect("key"))
        .await
        .expect("connect");
    let hub = net.deployment().hub;
    let credit = net.deployment().credit;
    let approve = QuorateCredit::approveCall { spender: hub, value: U256::MAX }.abi_encode();
    chain
        .send(TransactionRequest::default().to(credit).input(approve.into()))
        .await
        .expect("approve");

    let transfer = |i: u64| {
        TransactionRequest::default().to(Address::repeat_byte(0x77)).value(U256::from(i + 1))
    };
    let deposit = |i: u64| {
        let input = Hub::depositCall { amount: U256::from(i + 1) }.abi_encode();
        TransactionRequest::default().to(hub).input(input.into())
    };
    let first_block = chain.provider().get_block_number().await.expect("block");
    // The same deposits with their gas limit given, so the actor skips eth_estimateGas: how much
    // of the time per transaction is the node's estimate.
    let deposit_preset = |i: u64| deposit(i).gas_limit(60_000);
    let kinds: [(&str, &dyn Fn(u64) -> TransactionRequest); 3] = [
        ("ETH transfer", &transfer),
        ("Hub deposit", &deposit),
        ("Hub deposit, gas given", &deposit_preset),
    ];
    for (name, make) in kinds {
        let started = Instant::now();
        let receipts = join_all((0..count).map(|i| {
            let chain = chain.clone();
            let tx = make(i);
            async move { chain.send(tx).await }
        }))
        .await;
        let elapsed = started.elapsed();
        let mut per_block: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
        for r in receipts {
            let r = r.expect("transaction failed");
            let entry = per_block.entry(r.block_number.unwrap_or_default()).or_default();
            entry.0 += 1;
            entry.1 += r.gas_used;
        }
        let gas_limit = chain
            .provider()
            .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
            .await
            .expect("block")
            .expect("block")
            .header
            .gas_limit;
        let gas_each = per_block.values().map(|(_, g)| g).sum::<u64>() / count;
        let fits = gas_limit / gas_each.max(1);
        // Steady state: the blocks between the first and the last, which were not ramp-up or
        // tail.
        let full: Vec<u64> = per_block.values().map(|(n, _)| *n).collect();
        let middle = if full.len() > 2 { &full[1..full.len() - 1] } else { &full[..] };
        let best = middle.iter().copied().max().unwrap_or(0);
        let mean = middle.iter().sum::<u64>() as f64 / middle.len().max(1) as f64;
        println!(
            "{name:<22} {count} txs in {:.1} s over {} blocks; {gas_each} gas each, {fits} fit a block; \
             steady blocks carry {mean:.0} on average (best {best}): {:.0} % of the block",
            elapsed.as_secs_f64(),
            per_block.len(),
            100.0 * mean / fits as f64
        );
        println!("              transactions per block: {full:?}");
    }

    // Events: every deposit above left one Deposited event; read them all from the start.
    let provider = chain.provider().clone();
    let mut follower = Follower::new(provider, hub, Cursor::at(first_block), &config);
    let head = chain.provider().get_block_number().await.expect("block");
    let started = Instant::now();
    let mut events = 0usize;
    while follower.cursor().next_block <= head {
        events += follower.next().await.expect("follow").events.len();
    }
    let elapsed = started.elapsed();
    println!(
        "hub events: {events} decoded and handed over in {:.3} s: {:.0} events/s",
        elapsed.as_secs_f64(),
        events as f64 / elapsed.as_secs_f64()
    );
    drop(chain);
    drop(net);

    // `quorate devnet`, from the command to its summary.
    let mut times = Vec::new();
    for _ in 0..3 {
        let dir = std::env::temp_dir().join(format!("quorate-bench-devnet-{}", std::process::id()));
        let started = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_quorate"))
            .args(["devnet", "--port", "0", "--dir"])
            .arg(&dir)
            .stdout(Stdio::piped())
            .spawn()
            .expect("quorate devnet");
        let stdout = child.stdout.take().expect("stdout");
        for line in BufReader::new(stdout).lines() {
            if line.expect("line").starts_with("Stop with Ctrl-C") {
                break;
            }
        }
        times.push(started.elapsed());
        let _ = child.kill();
        let _ = child.wait();
        let _ = std::fs::remove_dir_all(&dir);
    }
    times.sort();
    let median = times[times.len() / 2];
    println!("quorate devnet: command to ready, median of 3: {:.2} s", median.as_secs_f64());
}
