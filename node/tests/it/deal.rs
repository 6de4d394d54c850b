//! A deal from the client's side on a real anvil with the real Hub: bought with a pool's
//! signed order and consent, read back from the chain, refused with sentences when it cannot
//! be bought, and settled after its final deadline (initialized, claimed, refunded).

use alloy::{
    primitives::{Address, B256, utils::parse_ether},
    signers::local::PrivateKeySigner,
};
use quorate_contracts::sign::{JobConsent, hub_domain, sign_job_consent};
use quorate_devnet::Role;
use quorate_node::{
    accounts,
    chain::Chain,
    client::{
        deal::{Purchase, buy},
        refund::{RefundError, settle},
        report::{self, TaskOnChain},
    },
    config::SchedulerSection,
    scheduler::pool,
};
use quorate_primitives::ContentHash;

use crate::common::{chain, devnet, signer};

async fn chain_time(chain: &Chain) -> u64 {
    chain.latest_time().await.unwrap()
}

/// The pool's order and its consent to `job` for `client`, `tasks` tasks.
pub(crate) fn purchase(
    operator: &PrivateKeySigner,
    chain_id: u64,
    hub: Address,
    pool_id: quorate_primitives::PoolId,
    client: Address,
    job: ContentHash,
    tasks: u32,
) -> Purchase {
    let section = SchedulerSection::default();
    let price = parse_ether("2").unwrap();
    let order = pool::order(&section, pool_id, price, u64::MAX, B256::repeat_byte(1));
    let signed = pool::sign(operator, chain_id, hub, order).unwrap();
    let consent = JobConsent { orderHash: signed.hash, jobHash: job.0, client, taskCount: tasks };
    let consent = sign_job_consent(operator, &consent, &hub_domain(chain_id, hub)).unwrap();
    Purchase {
        order: signed.order,
        order_signature: signed.signature,
        consent,
        job,
        tasks,
        trust: 3,
        max_price: price,
        beneficiary: client,
    }
}

#[tokio::test]
async fn a_deal_is_bought_read_back_and_refunded_after_its_deadline() {
    let net = devnet().await;
    let hub = net.deployment().hub;
    let operator = chain(&net, Role::PoolOperator).await;
    let client = chain(&net, Role::Client).await;
    let section = SchedulerSection::default();
    let pool_id = pool::create(&operator, hub, pool::policy(&section), "").await.unwrap();
    let job = ContentHash::of(b"a job manifest");
    let p = purchase(
        &signer(&net, Role::PoolOperator),
        net.chain_id(),
        hub,
        pool_id,
        client.address(),
        job,
        3,
    );
    let before = accounts::balances(client.provider(), hub, client.address()).await.unwrap();

    // Refused before anything is sent, each with what to do.
    let cheap = Purchase { max_price: parse_ether("1").unwrap(), ..p.clone() };
    let err = buy(&client, hub, &cheap, chain_time(&client).await).await.unwrap_err();
    assert!(err.to_string().contains("above your --max-price 1 QCR"), "{err}");
    let huge = purchase(
        &signer(&net, Role::PoolOperator),
        net.chain_id(),
        hub,
        pool_id,
        client.address(),
        job,
        5_000,
    );
    let err = buy(&client, hub, &huge, chain_time(&client).await).await.unwrap_err();
    assert!(err.to_string().contains("10000 needed (5000 tasks at 2 QCR)"), "{err}");
    assert!(err.to_string().contains("quorate wallet deposit"), "{err}");

    let deal = buy(&client, hub, &p, chain_time(&client).await).await.unwrap();
    let after = accounts::balances(client.provider(), hub, client.address()).await.unwrap();
    assert_eq!(after.frozen - before.frozen, parse_ether("6").unwrap(), "price × tasks locked");

    // The consent is used once: the same purchase again is the Hub's named refusal.
    let err = buy(&client, hub, &p, chain_time(&client).await).await.unwrap_err();
    assert_eq!(err.refusal().map(|r| r.name.as_str()), Some("ConsentAlreadyUsed"), "{err}");

    // Anyone reads the deal back from the chain.
    let report = report::read(client.provider(), hub, deal).await.unwrap();
    assert_eq!((report.pool, report.client, report.trust), (pool_id.0, client.address(), 3));
    assert_eq!(report.tasks.len(), 3);
    assert_eq!(report.count(TaskOnChain::Unset), 3);
    assert_eq!(report.final_deadline - report.start, 100, "DEV category: t = 10 s, final at 10t");

    // Before the final deadline the pool may still finish: nothing is claimed.
    let err = settle(&client, hub, deal, chain_time(&client).await).await.unwrap_err();
    assert!(matches!(err, RefundError::TooEarly { .. }), "{err}");
    assert!(err.to_string().contains("try again then"), "{err}");

    // The pool vanished: past the deadline the client initializes and claims every task.
    net.anvil().rpc("evm_increaseTime", serde_json::json!([120])).await.unwrap();
    net.anvil().rpc("evm_mine", serde_json::json!([])).await.unwrap();
    let settled = settle(&client, hub, deal, chain_time(&client).await).await.unwrap();
    assert_eq!(settled.initialized, 3);
    assert_eq!(settled.claimed, [0, 1, 2]);
    assert!(settled.finalized.is_empty());
    let report = report::read(client.provider(), hub, deal).await.unwrap();
    assert_eq!(report.count(TaskOnChain::Failed), 3);
    let refunded = accounts::balances(client.provider(), hub, client.address()).await.unwrap();
    assert_eq!(refunded.frozen, before.frozen);
    // The price back, and the pool's stake (30 % of the price per task) as compensation.
    assert_eq!(refunded.free - before.free, parse_ether("1.8").unwrap());
    // Settling again finds nothing to do.
    let again = settle(&client, hub, deal, chain_time(&client).await).await.unwrap();
    assert_eq!(again, Default::default());
}
