//! The Hub event follower on a real anvil: every event once and in order, across a restart of
//! the follower (cursor stored with the events in redb) and across anvil stopped and started
//! again with its state.

use alloy::{
    network::EthereumWallet,
    primitives::{Address, U256},
    providers::ProviderBuilder,
    rpc::types::TransactionRequest,
    signers::local::PrivateKeySigner,
    sol_types::SolCall,
};
use quorate_contracts::bindings::{
    Hub::{self, HubEvents},
    QuorateCredit,
};
use quorate_devnet::{Anvil, AnvilConfig};
use quorate_node::{
    chain::{Chain, ChainConfig, Cursor, Follower},
    store::{Batch, CURSORS, RedbStore, Store, Table},
};

/// What the test's "application" stores: each deposit amount, by (block, log index).
const SEEN: Table<(u64, u64), String> = Table::new("seen");

/// Reads batches until `want` deposits are stored, storing each batch with its cursor.
async fn follow_until(follower: &mut Follower, store: &dyn Store, want: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while SEEN.all(store).unwrap().len() < want {
        assert!(std::time::Instant::now() < deadline, "events never arrived");
        let batch = tokio::time::timeout(std::time::Duration::from_secs(30), follower.next())
            .await
            .expect("follower stalled")
            .unwrap();
        let mut write = Batch::default();
        // Every event carries its block's timestamp: one per block, in chain order.
        for pair in batch.events.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            assert!(a.time <= b.time && (a.block != b.block || a.time == b.time), "{a:?} {b:?}");
        }
        for log in &batch.events {
            assert!(
                log.time > 1_600_000_000 && log.time <= batch.time,
                "{log:?} in {}",
                batch.time
            );
        }
        for log in &batch.events {
            if let HubEvents::Deposited(d) = &log.event {
                assert!(
                    SEEN.get(store, &(log.block, log.log_index)).unwrap().is_none(),
                    "handed over twice"
                );
                write.put(&SEEN, &(log.block, log.log_index), &d.amount.to_string()).unwrap();
            }
        }
        write.put(&CURSORS, &"hub".to_owned(), &batch.cursor).unwrap();
        store.commit(write).unwrap();
    }
}

async fn deposit(chain: &Chain, hub: Address, credit: Address, amounts: std::ops::Range<u64>) {
    let approve = QuorateCredit::approveCall { spender: hub, value: U256::MAX }.abi_encode();
    chain.send(TransactionRequest::default().to(credit).input(approve.into())).await.unwrap();
    let sends = amounts.map(|a| {
        let chain = chain.clone();
        let input = Hub::depositCall { amount: U256::from(a) }.abi_encode();
        async move {
            chain.send(TransactionRequest::default().to(hub).input(input.into())).await.unwrap()
        }
    });
    futures::future::join_all(sends).await;
}

fn amounts(store: &dyn Store) -> Vec<u64> {
    SEEN.all(store).unwrap().into_iter().map(|(_, v)| v.parse().unwrap()).collect()
}

#[tokio::test]
async fn events_arrive_once_and_in_order_across_restarts_of_follower_and_chain() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("anvil-state.json");
    let anvil = Anvil::spawn(AnvilConfig {
        block_time: Some(1),
        state: Some(state.clone()),
        ..AnvilConfig::default()
    })
    .unwrap();
    let port = anvil.port();
    let owner = PrivateKeySigner::from_bytes(&anvil.private_keys()[0]).unwrap();
    let url: url::Url = anvil.endpoint().parse().unwrap();

    // Deploy and mint with alloy directly; the follower and sender are what is under test.
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(owner.clone()))
        .connect_http(url.clone());
    let deployment = quorate_contracts::deploy::deploy(&provider, owner.address()).await.unwrap();
    let credit = QuorateCredit::new(deployment.credit, provider.clone());
    let receipt = credit
        .mint(owner.address(), U256::from(1_000_000u64))
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let start_block = receipt.block_number.unwrap();

    let config = ChainConfig::devnet(url.clone());
    let chain = Chain::connect(&config, owner.clone()).await.unwrap();
    let path = dir.path().join("client.redb");
    let store = RedbStore::open(&path, "client", 1).unwrap();

    // First run: 10 deposits, followed into the store.
    deposit(&chain, deployment.hub, deployment.credit, 1..11).await;
    let mut follower =
        Follower::new(chain.provider().clone(), deployment.hub, Cursor::at(start_block), &config);
    follow_until(&mut follower, &store, 10).await;
    drop(follower);

    // The follower restarts from its stored cursor; 10 more deposits.
    deposit(&chain, deployment.hub, deployment.credit, 11..21).await;
    let cursor = CURSORS.get(&store, &"hub".to_owned()).unwrap().unwrap();
    let mut follower = Follower::new(chain.provider().clone(), deployment.hub, cursor, &config);
    follow_until(&mut follower, &store, 20).await;
    drop(follower);
    drop(chain);

    // Deposits the follower has not read yet, then the chain stops and starts again with its
    // state on the same port; the process (and its store) restarts too.
    let chain = Chain::connect(&config, owner.clone()).await.unwrap();
    deposit(&chain, deployment.hub, deployment.credit, 21..26).await;
    drop(chain);
    anvil.stop().unwrap();
    drop(store);
    let anvil = Anvil::spawn(AnvilConfig {
        block_time: Some(1),
        state: Some(state),
        port,
        ..AnvilConfig::default()
    })
    .unwrap();
    let store = RedbStore::open(&path, "client", 1).unwrap();
    let chain = Chain::connect(&config, owner).await.unwrap();
    deposit(&chain, deployment.hub, deployment.credit, 26..31).await;
    let cursor = CURSORS.get(&store, &"hub".to_owned()).unwrap().unwrap();
    let mut follower = Follower::new(chain.provider().clone(), deployment.hub, cursor, &config);
    follow_until(&mut follower, &store, 30).await;

    let mut seen = amounts(&store);
    assert_eq!(seen.len(), 30, "{seen:?}");
    seen.sort_unstable();
    assert_eq!(seen, (1..31).collect::<Vec<_>>(), "every deposit exactly once");
    // And in chain order: the stored keys are (block, log index), strictly increasing.
    let keys: Vec<(u64, u64)> = SEEN.all(&store).unwrap().into_iter().map(|(k, _)| k).collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]));
    drop(anvil);
}

#[tokio::test]
async fn an_outage_is_waited_out_without_losing_the_cursor() {
    let anvil =
        Anvil::spawn(AnvilConfig { block_time: Some(1), ..AnvilConfig::default() }).unwrap();
    let mut config = ChainConfig::devnet(anvil.endpoint().parse().unwrap());
    config.poll_interval = std::time::Duration::from_millis(50);
    let provider = alloy::providers::RootProvider::new_http(config.rpc_url.clone());
    let mut follower = Follower::new(provider, Address::repeat_byte(1), Cursor::at(0), &config);
    let first = follower.next().await.unwrap();
    assert!(first.cursor.next_block >= 1);
    drop(anvil);
    // The node is gone: next() keeps retrying rather than failing or skipping.
    let waited = tokio::time::timeout(std::time::Duration::from_millis(800), follower.next()).await;
    assert!(waited.is_err(), "next() returned while the node was down");
    assert_eq!(follower.cursor(), first.cursor, "the cursor did not move");
}
