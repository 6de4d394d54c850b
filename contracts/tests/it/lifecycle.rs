//! Two full task lifecycles against a real anvil: deploy, fund, match a signed pool order with
//! the pool's consent to the job, three workers contribute and reveal, the pool owner finalizes
//! (the first task of workers new to the pool owner's domain, then a second one), a worker paid
//! to a cold payout address, a worker withdraws. Then a deal whose pool vanished: after its final
//! deadline the client claims one task alone and the others in one `claimMany` transaction.

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
    sign::{
        JobConsent, authorization_bytes, hub_domain, job_consent_digest, pool_order_digest,
        sign_job_consent, sign_pool_order,
    },
};
use quorate_devnet::{Anvil, AnvilConfig};
use quorate_primitives::{DealId, ResultDigest, TaskAuthorization, TaskId};

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
        volume: 2,
        category: 0,
        trust: 5,
        tag: B256::ZERO,
        requester: Address::ZERO,
        expiry: u64::MAX,
        salt: B256::repeat_byte(7),
        workerStakeRatio: 30,
        schedulerRewardRatio: 10,
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

    // The client buys two tasks at trust 5, with the pool's consent to this job.
    let request = Request {
        jobHash: B256::repeat_byte(0x42),
        taskCount: 2,
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
    let consent = JobConsent {
        orderHash: on_chain_digest,
        jobHash: request.jobHash,
        client: client.address(),
        taskCount: request.taskCount,
    };
    let on_chain_consent = hub
        .hashJobConsent(consent.orderHash, consent.jobHash, consent.client, consent.taskCount)
        .call()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(on_chain_consent, job_consent_digest(&consent, &domain), "consent digest");
    let consent_sig =
        sign_job_consent(&pool_owner, &consent, &domain).unwrap_or_else(|e| panic!("{e}"));
    let receipt = mined!(
        "matchOrders",
        hub.matchOrders(order, signature, consent_sig, request).from(client.address())
    );
    let deal_id = receipt
        .inner
        .logs()
        .iter()
        .find_map(|log| log.log_decode::<DealCreated>().ok())
        .map(|log| log.inner.data.dealId)
        .unwrap_or_else(|| panic!("no DealCreated event"));
    assert_eq!(DealId(deal_id), expected_deal, "deal id derived off-chain");

    // The third worker is paid to a cold address.
    let cold = Address::repeat_byte(0xc0);
    mined!("setPayoutAddress", hub.setPayoutAddress(cold).from(workers[2].address()));

    // Both tasks opened in one transaction; each: three contributions, three reveals, finalize,
    // all transactions' gas summed. The first is the workers' first task in the pool owner's
    // domain (their score slots are written for the first time), the second the steady state.
    mined!("initializeRange", hub.initializeRange(deal_id, U256::ZERO, U256::from(2u8)));
    let thirty = parse_ether("30").unwrap_or_default();
    for (index, bound) in [(0u64, 670_000u64), (1, 600_000)] {
        let task = TaskId::derive(DealId(deal_id), index);
        let digest = ResultDigest::of(task, br#"{"answer":42}"#);
        let mut lifecycle_gas = 0u64;
        for worker in &workers {
            let auth = authorization_bytes(
                &pool_owner,
                &TaskAuthorization::first_round(worker.address(), task),
            )
            .unwrap_or_else(|e| panic!("{e}"));
            let vote = digest.vote(task).0;
            let seal = digest.seal(worker.address(), task).0;
            let receipt = mined!(
                "contribute",
                hub.contribute(task.0, vote, seal, auth).from(worker.address())
            );
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
        assert!(
            lifecycle_gas <= bound,
            "task {index}: contribute..finalize used {lifecycle_gas} gas"
        );
        let view = hub.task(task.0).call().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(view.status, 3, "COMPLETED");
    }

    // Balances read back: workers +30 per task (90 % of 100 split three ways, stakes returned),
    // the third worker's rewards at its payout address; pool owner +10 per task and its stake
    // back, client -100 per task. Scores moved in the pool owner's domain only.
    for (i, worker) in workers.iter().enumerate() {
        let free =
            hub.freeBalanceOf(worker.address()).call().await.unwrap_or_else(|e| panic!("{e}"));
        let expected = if i == 2 { funds } else { funds + thirty + thirty };
        assert_eq!(free, expected, "worker paid");
        let score = hub
            .scoreOf(pool_owner.address(), worker.address())
            .call()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(score, U256::from(2u8), "score +1 per task in the pool owner's domain");
        let elsewhere = hub
            .scoreOf(client.address(), worker.address())
            .call()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(elsewhere, U256::ZERO, "and nowhere else");
    }
    let cold_free = hub.freeBalanceOf(cold).call().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cold_free, thirty + thirty, "the payout address");
    let pool_free =
        hub.freeBalanceOf(pool_owner.address()).call().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(pool_free, funds + parse_ether("20").unwrap_or_default(), "pool owner paid");
    let client_free =
        hub.freeBalanceOf(client.address()).call().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(client_free, funds - price - price, "client charged");

    // A worker takes its credits out of the Hub.
    let w = workers[0].address();
    mined!("withdraw", hub.withdraw(funds + thirty + thirty).from(w));
    let wallet_balance = credit.balanceOf(w).call().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(wallet_balance, funds + thirty + thirty, "withdrawn to the wallet");
    let left = hub.freeBalanceOf(w).call().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(left, U256::ZERO, "nothing left to withdraw twice");
    let hub_balance =
        credit.balanceOf(deployment.hub).call().await.unwrap_or_else(|e| panic!("{e}"));
    // the Hub still holds every other balance: pool owner, client, two workers, the cold address
    let mut held = U256::ZERO;
    for account in accounts.iter().chain([&cold]) {
        held += hub.freeBalanceOf(*account).call().await.unwrap_or_else(|e| panic!("{e}"));
        held += hub.frozenBalanceOf(*account).call().await.unwrap_or_else(|e| panic!("{e}"));
    }
    assert_eq!(hub_balance, held, "the Hub's tokens are exactly its accounts' balances");
    // pool owner +20, client -200, worker 2 +60, worker 3's +60 at the cold address, one worker
    // gone with its 1060: 4 x 1000 - 60
    assert_eq!(hub_balance, funds * U256::from(4u8) - thirty - thirty, "what the Hub holds");

    // The pool vanishes after a second deal: its four tasks are opened and the second worker
    // votes on each, nobody else comes. After the final deadline (10 x the DEV category's 10 s)
    // the client claims the first task alone and the other three in one transaction.
    let order = PoolOrder {
        pool: 1,
        price: price.to::<U96>(),
        volume: 4,
        category: 0,
        trust: 5,
        tag: B256::ZERO,
        requester: Address::ZERO,
        expiry: u64::MAX,
        salt: B256::repeat_byte(8),
        workerStakeRatio: 30,
        schedulerRewardRatio: 10,
    };
    let request = Request {
        jobHash: B256::repeat_byte(0x43),
        taskCount: 4,
        maxPrice: order.price,
        trust: 5,
        category: 0,
        tag: B256::ZERO,
        beneficiary: client.address(),
    };
    let consent = JobConsent {
        orderHash: pool_order_digest(&order, &domain),
        jobHash: request.jobHash,
        client: client.address(),
        taskCount: request.taskCount,
    };
    let signature = sign_pool_order(&pool_owner, &order, &domain).unwrap_or_else(|e| panic!("{e}"));
    let consent_sig =
        sign_job_consent(&pool_owner, &consent, &domain).unwrap_or_else(|e| panic!("{e}"));
    mined!(
        "matchOrders",
        hub.matchOrders(order, signature, consent_sig, request.clone()).from(client.address())
    );
    let deal = derive_deal_id(chain_id, deployment.hub, client.address(), &request, 2);
    mined!("initializeRange", hub.initializeRange(deal.0, U256::ZERO, U256::from(4u8)));
    let tasks: Vec<B256> = (0..4u64).map(|index| TaskId::derive(deal, index).0).collect();
    let voter = &workers[1];
    for task in &tasks {
        let task_id = TaskId(*task);
        let digest = ResultDigest::of(task_id, b"never revealed");
        let auth = authorization_bytes(
            &pool_owner,
            &TaskAuthorization::first_round(voter.address(), task_id),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        mined!(
            "contribute",
            hub.contribute(
                *task,
                digest.vote(task_id).0,
                digest.seal(voter.address(), task_id).0,
                auth
            )
            .from(voter.address())
        );
    }
    macro_rules! free {
        ($account:expr) => {
            hub.freeBalanceOf($account).call().await.unwrap_or_else(|e| panic!("{e}"))
        };
    }
    let (client_before, pool_before) = (free!(client.address()), free!(pool_owner.address()));
    anvil.rpc("evm_increaseTime", serde_json::json!([100])).await.unwrap_or_else(|e| panic!("{e}"));
    anvil.rpc("evm_mine", serde_json::json!([])).await.unwrap_or_else(|e| panic!("{e}"));
    let single = mined!("claim", hub.claim(tasks[0]).from(client.address())).gas_used();
    let batch =
        mined!("claimMany", hub.claimMany(tasks[1..].to_vec()).from(client.address())).gas_used();
    assert!(batch / 3 + 21_000 <= single, "claimMany: {batch} gas for 3 tasks, claim: {single}");
    for task in &tasks {
        let view = hub.task(*task).call().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(view.status, 4, "FAILED");
    }
    // each task: its price back to the client with the pool's stake (30), the voter's stake back
    let four = U256::from(4u8);
    assert_eq!(free!(client.address()), client_before + (price + thirty) * four, "refunded");
    assert_eq!(free!(pool_owner.address()), pool_before, "the pool's stakes are gone");
    assert_eq!(free!(voter.address()), funds + thirty + thirty, "the voter's stakes back");
    for account in [client.address(), pool_owner.address(), voter.address()] {
        let frozen = hub.frozenBalanceOf(account).call().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(frozen, U256::ZERO, "nothing left frozen");
    }
}
