//! The chain actor on a real anvil: many transactions at once with no nonce gap, and a stuck
//! one replaced with higher fees.

use std::time::{Duration, Instant};

use alloy::sol_types::SolCall;
use alloy::{
    network::TransactionBuilder,
    primitives::{Address, U256},
    providers::Provider,
    rpc::types::TransactionRequest,
};
use futures::future::join_all;
use quorate_contracts::bindings::Hub;
use quorate_devnet::Role;
use quorate_node::chain::Chain;

use crate::common::{config, devnet, signer};

#[tokio::test]
async fn five_hundred_concurrent_transactions_all_mine_without_a_nonce_gap() {
    let net = devnet().await;
    let chain = crate::common::chain(&net, Role::Worker).await;
    let provider = chain.provider().clone();
    let start = provider.get_transaction_count(chain.address()).await.unwrap();
    let to = Address::repeat_byte(0x99);
    let started = Instant::now();
    let receipts =
        join_all((0..500u64).map(|i| {
            let chain = chain.clone();
            async move {
                chain.send(TransactionRequest::default().to(to).value(U256::from(i + 1))).await
            }
        }))
        .await;
    let elapsed = started.elapsed();
    let mut nonces = Vec::new();
    for receipt in receipts {
        let receipt = receipt.unwrap_or_else(|e| panic!("a transaction failed: {e}"));
        assert!(receipt.status());
        let tx = provider.get_transaction_by_hash(receipt.transaction_hash).await.unwrap().unwrap();
        nonces.push(alloy::consensus::Transaction::nonce(&tx));
    }
    nonces.sort_unstable();
    assert_eq!(nonces, (start..start + 500).collect::<Vec<_>>(), "every nonce used once, no gap");
    assert_eq!(provider.get_transaction_count(chain.address()).await.unwrap(), start + 500);
    let received = provider.get_balance(to).await.unwrap();
    assert_eq!(received, U256::from(500u64 * 501 / 2), "every transfer arrived once");
    eprintln!("500 transfers from one account mined in {elapsed:?}");
}

#[tokio::test]
async fn a_burst_with_refused_calls_among_it_refuses_those_alone_and_mines_the_rest() {
    // Estimates and sends travel in batches: a call that would revert must come back with its
    // own named error, take no nonce, and leave its batch's other transactions alone.
    let net = devnet().await;
    let chain = crate::common::chain(&net, Role::Worker).await;
    let provider = chain.provider().clone();
    let start = provider.get_transaction_count(chain.address()).await.unwrap();
    let hub = net.deployment().hub;
    let to = Address::repeat_byte(0x98);
    let results = join_all((0..300u64).map(|i| {
        let chain = chain.clone();
        let tx = if i % 10 == 3 {
            // Far more than the account holds: the Hub refuses every such withdrawal.
            let amount = U256::from(10u8).pow(U256::from(30u8)) + U256::from(i);
            let input = Hub::withdrawCall { amount }.abi_encode();
            TransactionRequest::default().to(hub).input(input.into())
        } else {
            TransactionRequest::default().to(to).value(U256::from(i + 1))
        };
        async move { (i, chain.send(tx).await) }
    }))
    .await;
    let mut mined = 0u64;
    for (i, result) in results {
        if i % 10 == 3 {
            let err = result.expect_err("a withdrawal of nothing mined");
            let refusal = err.refusal().unwrap_or_else(|| panic!("not a revert: {err}"));
            assert_eq!(refusal.name, "InsufficientFreeBalance", "{err}");
        } else {
            let receipt = result.unwrap_or_else(|e| panic!("transfer {i} failed: {e}"));
            assert!(receipt.status());
            mined += 1;
        }
    }
    assert_eq!(mined, 270);
    assert_eq!(
        provider.get_transaction_count(chain.address()).await.unwrap(),
        start + 270,
        "refused calls took no nonce"
    );
    let expected: u64 = (0..300u64).filter(|i| i % 10 != 3).map(|i| i + 1).sum();
    assert_eq!(provider.get_balance(to).await.unwrap(), U256::from(expected));
}

#[tokio::test]
async fn a_stuck_transaction_is_replaced_with_higher_fees_and_mines() {
    let net = devnet().await;
    let anvil = net.anvil();
    // Mine by hand from here, so the test decides when blocks come.
    anvil.rpc("evm_setIntervalMining", serde_json::json!([0])).await.unwrap();
    let mut settings = config(&net);
    settings.resubmit_after = Duration::from_millis(600);
    settings.poll_interval = Duration::from_millis(100);
    let chain = Chain::connect(&settings, signer(&net, Role::Client)).await.unwrap();
    let provider = chain.provider().clone();

    let base = provider.get_gas_price().await.unwrap();
    let offered = base + 1;
    let low = TransactionRequest::default()
        .to(Address::repeat_byte(0x42))
        .value(U256::from(1u8))
        .with_max_fee_per_gas(offered)
        .with_max_priority_fee_per_gas(1);
    let sending = tokio::spawn({
        let chain = chain.clone();
        async move { chain.send(low).await }
    });
    // Once it is in the pool, make every next block too expensive for it.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = anvil.rpc("txpool_status", serde_json::json!([])).await.unwrap();
        if status["pending"] != "0x0" {
            break;
        }
        assert!(Instant::now() < deadline, "the transaction never reached the pool");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let high = offered * 20;
    anvil
        .rpc("anvil_setNextBlockBaseFeePerGas", serde_json::json!([format!("{high:#x}")]))
        .await
        .unwrap();
    anvil.rpc("evm_mine", serde_json::json!([])).await.unwrap();
    // Anvil drops what can no longer pay the base fee; either way the transaction is not mined.
    let nonce = provider.get_transaction_count(chain.address()).await.unwrap();
    assert!(!sending.is_finished(), "mined despite the base fee");

    // Keep mining until the actor's replacement gets in.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !sending.is_finished() {
        assert!(Instant::now() < deadline, "the stuck transaction was never replaced");
        tokio::time::sleep(Duration::from_millis(300)).await;
        anvil.rpc("evm_mine", serde_json::json!([])).await.unwrap();
    }
    let receipt = sending.await.unwrap().unwrap_or_else(|e| panic!("{e}"));
    let tx = provider.get_transaction_by_hash(receipt.transaction_hash).await.unwrap().unwrap();
    let mined_fee = alloy::consensus::Transaction::max_fee_per_gas(&tx);
    assert!(
        mined_fee > offered,
        "mined with max fee {mined_fee}, first offered {offered}: not replaced"
    );
    assert_eq!(alloy::consensus::Transaction::nonce(&tx), nonce, "the same nonce, replaced");
}

#[tokio::test]
async fn a_refused_fee_bump_never_reports_a_transaction_that_still_mines_as_failed() {
    let net = devnet().await;
    let anvil = net.anvil();
    anvil.rpc("evm_setIntervalMining", serde_json::json!([0])).await.unwrap();
    let mut settings = config(&net);
    settings.resubmit_after = Duration::from_millis(300);
    settings.poll_interval = Duration::from_millis(50);
    let who = signer(&net, Role::Worker);
    let provider: alloy::providers::RootProvider =
        alloy::providers::RootProvider::new_http(settings.rpc_url.clone());
    let offered = provider.get_gas_price().await.unwrap() + 1;
    // Enough ETH for the first offer, not for any bump.
    let balance = U256::from(21_000u128 * offered * 11 / 10);
    anvil
        .rpc("anvil_setBalance", serde_json::json!([who.address(), format!("{balance:#x}")]))
        .await
        .unwrap();
    let chain = Chain::connect(&settings, who).await.unwrap();
    let to = Address::repeat_byte(0x51);
    let tx = TransactionRequest::default()
        .to(to)
        .value(U256::from(1u8))
        .gas_limit(21_000)
        .with_max_fee_per_gas(offered)
        .with_max_priority_fee_per_gas(1);
    let sending = tokio::spawn({
        let chain = chain.clone();
        async move { chain.send(tx).await }
    });
    // Let the actor try (and fail) to bump it a few times.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !sending.is_finished(),
        "the caller was told before the chain decided: {:?}",
        sending.await
    );
    anvil.rpc("evm_mine", serde_json::json!([])).await.unwrap();
    let receipt = tokio::time::timeout(Duration::from_secs(10), sending).await.unwrap().unwrap();
    let receipt = receipt.unwrap_or_else(|e| panic!("reported failed, yet: {e}"));
    assert!(receipt.status());
    assert_eq!(provider.get_balance(to).await.unwrap(), U256::from(1u8));
}

#[tokio::test]
async fn another_sender_with_the_same_key_does_not_stall_the_actor() {
    let net = devnet().await;
    let chain = crate::common::chain(&net, Role::Worker).await;
    // The same key sends one transaction of its own after the actor read the nonce.
    let wallet = alloy::network::EthereumWallet::from(signer(&net, Role::Worker));
    let other = alloy::providers::ProviderBuilder::new()
        .wallet(wallet)
        .connect_http(net.endpoint().parse().unwrap());
    let tx = TransactionRequest::default().to(Address::repeat_byte(0x61)).value(U256::from(1u8));
    other.send_transaction(tx).await.unwrap().get_receipt().await.unwrap();

    let ours = TransactionRequest::default().to(Address::repeat_byte(0x62)).value(U256::from(2u8));
    let receipt = tokio::time::timeout(Duration::from_secs(20), chain.send(ours)).await;
    let receipt = receipt.expect("the actor stalled").unwrap_or_else(|e| panic!("{e}"));
    assert!(receipt.status());
    assert_eq!(
        chain.provider().get_balance(Address::repeat_byte(0x62)).await.unwrap(),
        U256::from(2u8)
    );
}

#[tokio::test]
async fn a_group_takes_nonces_in_the_order_given_while_other_sends_race_it() {
    // `Chain::send_all` is what keeps a Hub's category ids in the order asked.
    let net = devnet().await;
    let chain = crate::common::chain(&net, Role::Worker).await;
    let provider = chain.provider().clone();
    let to = Address::repeat_byte(0x71);
    let transfer = |wei: u64| TransactionRequest::default().to(to).value(U256::from(wei));
    let others = join_all((0..60u64).map(|i| {
        let chain = chain.clone();
        async move { chain.send(transfer(1_000 + i)).await }
    }));
    let group = chain.send_all((1..=40u64).map(transfer).collect());
    let (others, group) = tokio::join!(others, group);
    assert_eq!(group.len(), 40);
    let mut nonces = Vec::new();
    for (i, result) in group.into_iter().enumerate() {
        let receipt = result.unwrap_or_else(|e| panic!("transaction {i} of the group: {e}"));
        let tx = provider.get_transaction_by_hash(receipt.transaction_hash).await.unwrap().unwrap();
        assert_eq!(
            alloy::consensus::Transaction::value(&tx),
            U256::from(i + 1),
            "receipts in order"
        );
        nonces.push(alloy::consensus::Transaction::nonce(&tx));
    }
    assert!(nonces.windows(2).all(|w| w[0] < w[1]), "nonces in the order given: {nonces:?}");
    assert!(others.iter().all(Result::is_ok), "the racing sends mined too");
    assert!(chain.send_all(Vec::new()).await.is_empty());
}
