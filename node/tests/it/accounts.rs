//! Hub accounts on a real anvil with the real Hub: exact to the wei, refusals named.

use alloy::primitives::{Address, U256};
use quorate_devnet::Role;
use quorate_node::{accounts, chain::ChainError};

use crate::common::{chain, devnet};

#[tokio::test]
async fn deposit_then_withdraw_is_exact_to_the_wei() {
    let net = devnet().await;
    let hub = net.deployment().hub;
    let client = chain(&net, Role::Client).await;
    let me = client.address();
    let start = accounts::balances(client.provider(), hub, me).await.unwrap();
    assert_eq!(start.free, net.account(Role::Client).unwrap().deposited);

    let amount = U256::from(1_234_567_890_123_456_789u128);
    let receipts = accounts::deposit(&client, hub, amount).await.unwrap();
    assert_eq!(receipts.len(), 2, "approve, then deposit");
    let after = accounts::balances(client.provider(), hub, me).await.unwrap();
    assert_eq!(after.free, start.free + amount);
    assert_eq!(after.wallet, start.wallet - amount);
    assert_eq!(after.frozen, start.frozen);
    let gas: U256 = receipts
        .iter()
        .map(|r| U256::from(r.gas_used) * U256::from(r.effective_gas_price))
        .fold(U256::ZERO, |a, b| a + b);
    assert_eq!(after.eth, start.eth - gas, "only gas was spent in ETH");

    let back = U256::from(1u8);
    accounts::withdraw(&client, hub, back).await.unwrap();
    let end = accounts::balances(client.provider(), hub, me).await.unwrap();
    assert_eq!(end.free, after.free - back);
    assert_eq!(end.wallet, after.wallet + back);
}

#[tokio::test]
async fn too_little_gets_the_named_revert_as_a_sentence() {
    let net = devnet().await;
    let hub = net.deployment().hub;
    let client = chain(&net, Role::Client).await;
    let free = accounts::balances(client.provider(), hub, client.address()).await.unwrap().free;

    let err = accounts::withdraw(&client, hub, free + U256::from(1u8)).await.unwrap_err();
    let refusal = err.refusal().unwrap_or_else(|| panic!("not a revert: {err}"));
    assert_eq!(refusal.name, "InsufficientFreeBalance");
    assert!(err.to_string().starts_with("the Hub holds 1000 QCR free for 0x"), "{err}");
    assert!(err.to_string().contains("1000.000000000000000001 needed"), "{err}");

    // Too little QCR in the wallet for a deposit: refused before anything is sent.
    let wallet = accounts::balances(client.provider(), hub, client.address()).await.unwrap().wallet;
    let err = accounts::deposit(&client, hub, wallet + U256::from(1u8)).await.unwrap_err();
    assert!(err.to_string().contains("in its wallet"), "{err}");

    // Sending more QCR than held: the token's own error, decoded.
    let err = accounts::send_qcr(&client, hub, Address::repeat_byte(1), wallet + U256::from(1u8))
        .await
        .unwrap_err();
    assert_eq!(err.refusal().map(|r| r.name.as_str()), Some("ERC20InsufficientBalance"), "{err}");
}

#[tokio::test]
async fn no_eth_for_gas_and_no_node_are_sentences() {
    let net = devnet().await;
    let hub = net.deployment().hub;
    let empty = alloy::signers::local::PrivateKeySigner::random();
    let chain =
        quorate_node::chain::Chain::connect(&crate::common::config(&net), empty).await.unwrap();
    let err = accounts::withdraw(&chain, hub, U256::from(1u8)).await.unwrap_err();
    // The estimate fails first (nothing to withdraw), or the gas check: both are sentences.
    assert!(
        matches!(err, ChainError::Reverted { .. } | ChainError::InsufficientGasFunds { .. }),
        "{err}"
    );
    let err =
        accounts::send_eth(&chain, Address::repeat_byte(2), U256::from(1u8)).await.unwrap_err();
    assert!(matches!(err, ChainError::InsufficientGasFunds { .. }), "{err}");
    assert!(err.to_string().contains("send it some ETH"), "{err}");

    let mut config = crate::common::config(&net);
    config.chain_id = Some(1);
    let err = quorate_node::chain::connect_provider(&config).await.unwrap_err();
    assert!(matches!(err, ChainError::WrongChain { expected: 1, actual: 31337, .. }), "{err}");

    config.rpc_url = "http://127.0.0.1:1".parse().unwrap();
    let err = quorate_node::chain::connect_provider(&config).await.unwrap_err();
    assert!(matches!(err, ChainError::Unreachable { .. }), "{err}");
    assert!(err.to_string().contains("quorate devnet"), "{err}");
}
