//! Cheating workers on real parts (anvil, the Hub, `quorate` processes, libp2p): a worker that
//! votes a wrong result, one that votes and never reveals, and one that copies others' votes
//! (`QUORATE_ADVERSARY`, debug builds) beside honest workers. The job's results are the right
//! ones, each cheater loses its stake, the wrong one gains no score, and no honest worker loses
//! anything.

use std::{collections::HashSet, time::Duration};

use alloy::{primitives::U256, providers::RootProvider};
use quorate_contracts::bindings::Hub;
use quorate_devnet::{Devnet, Role};
use quorate_e2e::invariants::Invariants;
use quorate_node::adversary::ADVERSARY;

use crate::common::{devnet_pool, finished, job};

/// The chain's invariants once `tasks` tasks are finalized (or two minutes passed), with
/// `honest` the workers whose stake must be intact.
async fn settled(net: &Devnet, honest: &[alloy::primitives::Address], tasks: u64) -> Invariants {
    let provider = RootProvider::new_http(net.endpoint().parse().unwrap());
    let owner = net.account(Role::PoolOperator).unwrap().address;
    let honest: HashSet<_> = honest.iter().copied().collect();
    let deployment = net.deployment();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let check = Invariants::read(&provider, deployment.hub, deployment.credit, &honest, owner)
            .await
            .unwrap();
        if check.finalized >= tasks || std::time::Instant::now() > deadline {
            return check;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_worker_and_a_withholding_one_pay_for_it_and_the_results_are_right() {
    // DEV tasks (a 10-s time reference): the withheld reveal's window closes 20 s after its
    // consensus, and the pool finalizes without it.
    let (_dir, net, mut pool) = devnet_pool(4, &["scheduler.order_category=0"]).await;
    pool.workers[0].env(ADVERSARY, "wrong");
    pool.workers[1].env(ADVERSARY, "withhold");
    pool.start().unwrap();
    let workers: Vec<_> =
        net.accounts().iter().filter(|a| a.role == Role::Worker).map(|a| a.address).collect();
    let (wrong, withholding, honest) = (workers[0], workers[1], &workers[2..]);

    // Trust 3: two fresh workers must agree, so a lone wrong vote never wins.
    let tasks = 6;
    let job = job(&net, &pool.address, tasks, 3).await;
    finished(job, &pool, tasks).await;

    let check = settled(&net, honest, tasks).await;
    let provider: RootProvider = RootProvider::new_http(net.endpoint().parse().unwrap());
    let owner = net.account(Role::PoolOperator).unwrap().address;
    let deployment = net.deployment();
    let logs = pool.logs_tail(30);
    assert_eq!(check.finalized, tasks, "{check:?}\n{logs}");
    assert!(check.hold(), "credits conserved, nothing twice, no honest stake lost: {check:?}");
    let seized = |a| check.seized_from.get(&a).copied().unwrap_or_default();
    assert!(seized(wrong) > U256::ZERO, "the wrong worker lost its stake: {check:?}\n{logs}");
    assert!(seized(withholding) > U256::ZERO, "the withholder lost its stake: {check:?}\n{logs}");
    let hub = Hub::new(deployment.hub, provider.clone());
    let score = |w| {
        let hub = hub.clone();
        async move { hub.scoreOf(owner, w).call().await.unwrap() }
    };
    assert_eq!(score(wrong).await, U256::ZERO, "a losing vote earns no score");
    for worker in honest {
        assert!(score(*worker).await > U256::ZERO, "honest work earns score");
    }
    // The dashboard counts the wrong results caught, and names the workers who lost stakes.
    let view = crate::common::operator_view(&pool).await;
    assert!(view["totals"]["wrong"].as_u64() >= Some(2), "{view:#}");
    let lost: Vec<String> = view["failures"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "stake")
        .filter_map(|f| f["worker"].as_str().map(str::to_lowercase))
        .collect();
    for cheater in [wrong, withholding] {
        assert!(lost.contains(&cheater.to_string().to_lowercase()), "{view:#}");
    }
    assert!(honest.iter().all(|h| !lost.contains(&h.to_string().to_lowercase())), "{view:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lazy_worker_copying_votes_cannot_reveal_and_loses_its_stake() {
    let (_dir, net, mut pool) = devnet_pool(3, &["scheduler.order_category=0"]).await;
    pool.workers[0].env(ADVERSARY, "lazy");
    pool.start().unwrap();
    let workers: Vec<_> =
        net.accounts().iter().filter(|a| a.role == Role::Worker).map(|a| a.address).collect();
    let (lazy, honest) = (workers[0], &workers[1..]);

    // Trust 3: a copied vote helps reach a consensus, but its seal was made without the
    // digest, so its reveal cannot pass and the task is finalized without it.
    let tasks = 4;
    let job = job(&net, &pool.address, tasks, 3).await;
    finished(job, &pool, tasks).await;
    let check = settled(&net, honest, tasks).await;
    let logs = pool.logs_tail(30);
    assert_eq!(check.finalized, tasks, "{check:?}\n{logs}");
    assert!(check.hold(), "credits conserved, nothing twice, no honest stake lost: {check:?}");
    let copied = std::fs::read_to_string(pool.workers[0].log()).unwrap();
    assert!(copied.contains("copying a vote"), "the lazy worker never copied a vote:\n{logs}");
    let seized = check.seized_from.get(&lazy).copied().unwrap_or_default();
    assert!(seized > U256::ZERO, "the lazy worker lost its stake: {check:?}\n{logs}");
}
