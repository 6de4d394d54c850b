//! One full task lifecycle against a real anvil: deploy, fund, match a signed pool order,
//! three workers contribute and reveal, the pool owner finalizes, a worker withdraws.

use alloy::{
    network::{EthereumWallet, ReceiptResponse},
    primitives::{Address, B256, Bytes, U256, aliases::U96, utils::parse_ether},
    providers::{Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};
use quorate_contracts::{
    bindings::{
        Hub::{self, DealCreated},
        IHub::{PoolOrder, PoolPolicy, Request},
        QuorateCredit,
    },
    deploy::{DEVNET_CATEGORIES, create_categories, deploy},
    hashes::{deal_id as derive_deal_id, request_hash},
    sign::{hub_domain, pool_order_digest, sign_authorization, sign_pool_order},
};
use quorate_devnet::{Anvil, AnvilConfig};
use quorate_primitives::{DealId, ResultDigest, TaskId};

/// Sends a call built by `$call` and waits for its successful receipt; evaluates to it.
macro_rules! mined {
    ($op:literal, $call:expr) => {{
        let pending = $call.send().await.unwrap_or_else(|e| panic!("{}: {e}", $op));
        let receipt = pending.get_receipt().await.unwrap_or_else(|e| panic!("{}: {e}", $op));
        assert!(receipt.status(), "{} reverted", $op);
        receipt
    }};
}

#[tokio::test]
async fn a_three_worker_task_settles_on_anvil() {
    let anvil = Anvil::spawn(AnvilConfig::default()).unwrap_or_else(|e| panic!("anvil: {e}"));
    let keys: Vec<PrivateKeySigner> = anvil
        .private_keys()
        .iter()
        .map(|key| PrivateKeySigner::from_bytes(key).unwrap_or_else(|e| panic!("dev key: {e}")))
        .collect();
    let [owner, pool_owner, client, w1, w2, w3] = [0, 1, 2, 3, 4, 5].map(|i| keys[i].clone());
    let workers = [w1, w2, w3];

    let mut wallet = EthereumWallet::from(owner.clone());
    for k in [&pool_owner, &client].into_iter().chain(workers.iter()) {
        wallet.register_signer(k.clone());
    }
    let provider = ProviderBuilder::new()
        .wallet(wallet)
        .connect_http(anvil.endpoint().parse().unwrap_or_else(|e| panic!("endpoint: {e}")));
    let chain_id = provider.get_chain_id().await.unwrap_or_else(|e| panic!("chain id: {e}"));

    // Deploy, register the devnet categories, fund everyone.
    let deployment = deploy(&provider, owner.address()).await.unwrap_or_else(|e| panic!("{e}"));
    let hub = Hub::new(deployment.hub, provider.clone());
    let credit = QuorateCredit::new(deployment.credit, provider.clone());
    create_categories(&hub, owner.address(), &DEVNET_CATEGORIES)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let funds = parse_ether("1000").unwrap_or_default();
    let accounts: Vec<Address> =
        [&pool_owner, &client].into_iter().chain(workers.iter()).map(|k| k.address()).collect();
    for account in &accounts {
        mined!("mint", credit.mint(*account, funds).from(owner.address()));
        mined!("approve", credit.approve(deployment.hub, funds).from(*account));
        mined!("deposit", hub.deposit(funds).from(*account));
    }

    // The pool and its signed order.
    let policy = PoolPolicy {
        workerStakeRatio: 30,
        schedulerRewardRatio: 10,
        maxTrust: 100,
        categoryMask: U256::from(1u8),
    };
    mined!("createPool", hub.createPool(policy, "ipfs://pool".into()).from(pool_owner.address()));
    let price = parse_ether("100").unwrap_or_default();
    let order = PoolOrder {
        pool: 1,
        price: price.to::<U96>(),
        volume: 1,
        category: 0,
        trust: 5,
        tag: B256::ZERO,
        requester: Address::ZERO,
        expiry: u64::MAX,
        salt: B256::repeat_byte(7),
    };
    let domain = hub_domain(chain_id, deployment.hub);
    let on_chain_digest =
        hub.hashPoolOrder(order.clone()).call().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        on_chain_digest,
        pool_order_digest(&order, &domain),
        "EIP-712 digest agrees with the Hub"
    );
    let signature = sign_pool_order(&pool_owner, &order, &domain).unwrap_or_else(|e| panic!("{e}"));

    // The client buys one task at trust 5.
    let request = Request {
        jobHash: B256::repeat_byte(0x42),
        taskCount: 1,
        maxPrice: order.price,
        trust: 5,
        category: 0,
        tag: B256::ZERO,
        beneficiary: client.address(),
    };
    let expected_deal = derive_deal_id(chain_id, deployment.hub, client.address(), &request, 1);
    let on_chain_request_hash = hub
        .hashRequest(client.address(), request.clone())
        .call()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        on_chain_request_hash,
        request_hash(chain_id, deployment.hub, client.address(), &request),
        "request hash"
    );
    let receipt =
        mined!("matchOrders", hub.matchOrders(order, signature, request).from(client.address()));
    let deal_id = receipt
        .inner
        .logs()
        .iter()
        .find_map(|log| log.log_decode::<DealCreated>().ok())
        .map(|log| log.inner.data.dealId)
        .unwrap_or_else(|| panic!("no DealCreated event"));
    assert_eq!(DealId(deal_id), expected_deal, "deal id derived off-chain");

    // Initialize, three contributions, three reveals, finalize; all transactions' gas summed.
    let task = TaskId::derive(DealId(deal_id), 0);
    let digest = ResultDigest::of(br#"{"answer":42}"#);
    let mut lifecycle_gas = 0u64;
    let receipt = mined!("initialize", hub.initialize(deal_id, U256::ZERO));
    lifecycle_gas += receipt.gas_used();
    for worker in &workers {
        let auth = sign_authorization(&pool_owner, worker.address(), task)
            .unwrap_or_else(|e| panic!("{e}"));
        let vote = digest.vote(task).0;
        let seal = digest.seal(worker.address(), task).0;
        let receipt =
            mined!("contribute", hub.contribute(task.0, vote, seal, auth).from(worker.address()));
        lifecycle_gas += receipt.gas_used();
    }
    for worker in &workers {
        let receipt = mined!("reveal", hub.reveal(task.0, digest.0).from(worker.address()));
        lifecycle_gas += receipt.gas_used();
    }
    let receipt = mined!(
        "finalize",
        hub.finalize(task.0, Bytes::from_static(b"ipfs://results")).from(pool_owner.address())
    );
    lifecycle_gas += receipt.gas_used();
    assert!(lifecycle_gas <= 600_000, "initialize..finalize used {lifecycle_gas} gas");

    // Balances read back: workers +30 each (90 % of 100 split three ways, stakes returned),
    // pool owner +10 and its stake back, client -100.
    let view = hub.task(task.0).call().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(view.status, 3, "COMPLETED");
    let thirty = parse_ether("30").unwrap_or_default();
    for worker in &workers {
        let free =
            hub.freeBalanceOf(worker.address()).call().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(free, funds + thirty, "worker paid");
        let score = hub.scoreOf(worker.address()).call().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(score, U256::from(1u8), "score +1");
    }
    let pool_free =
        hub.freeBalanceOf(pool_owner.address()).call().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(pool_free, funds + parse_ether("10").unwrap_or_default(), "pool owner paid");
    let client_free =
        hub.freeBalanceOf(client.address()).call().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(client_free, funds - price, "client charged");

    // A worker takes its credits out of the Hub.
    let w = workers[0].address();
    mined!("withdraw", hub.withdraw(funds + thirty).from(w));
    let wallet_balance = credit.balanceOf(w).call().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(wallet_balance, funds + thirty, "withdrawn to the wallet");
    let left = hub.freeBalanceOf(w).call().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(left, U256::ZERO, "nothing left to withdraw twice");
    let hub_balance =
        credit.balanceOf(deployment.hub).call().await.unwrap_or_else(|e| panic!("{e}"));
    // the Hub still holds every other balance: pool owner, client and two workers
    let mut held = U256::ZERO;
    for account in &accounts {
        held += hub.freeBalanceOf(*account).call().await.unwrap_or_else(|e| panic!("{e}"));
        held += hub.frozenBalanceOf(*account).call().await.unwrap_or_else(|e| panic!("{e}"));
    }
    assert_eq!(hub_balance, held, "the Hub's tokens are exactly its accounts' balances");
    // pool owner +10, client -100, two workers +30 each, one worker gone: 4 x 1000 - 30
    assert_eq!(hub_balance, funds * U256::from(4u8) - thirty, "what the Hub holds");
}
