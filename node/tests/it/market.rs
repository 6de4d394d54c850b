//! The marketplace on real parts, with the money checked: a devnet (anvil, the real Hub), the
//! pool `quorate devnet` runs (its scheduler and four workers with real sandboxes, over libp2p
//! on loopback, each with its redb store), and a client submitting through the library. Every
//! result must equal `run-local`'s, the work function's errors must come back as agreed errors
//! by input index, and every account's Hub balance must move by exactly what POCO.md's payout
//! rules give for the contributions and reveals the Hub's events record.

use std::collections::HashMap;

use alloy::{
    primitives::{Address, B256, U256},
    providers::{Provider, RootProvider},
    rpc::types::{Filter, Log},
    signers::local::PrivateKeySigner,
    sol_types::SolEvent,
};
use futures::StreamExt;
use quorate_contracts::bindings::Hub;
use quorate_devnet::{Devnet, DevnetConfig, Role};
use quorate_node::{
    accounts,
    chain::Chain,
    client::{Client, JobEvent, report},
    devnet_pool,
    job::{
        Job,
        local::{self, LocalConfig, LocalOutcome},
    },
};
use quorate_p2p::wire::ConsoleLevel;
use quorate_poco::{
    payout::{ContributionStatus, PayoutTerms, SettledContribution, finalize},
    weight::payout_weight,
};
use quorate_primitives::{Amount, DealId, TaskId, TaskOutcome};

use crate::common::{config, evaluator};

/// Each account's Hub holdings: (free plus frozen, frozen).
async fn holdings(provider: &RootProvider, hub: Address, who: &[Address]) -> Vec<(U256, U256)> {
    let mut out = Vec::new();
    for account in who {
        let b = accounts::balances(provider, hub, *account).await.unwrap();
        out.push((b.free + b.frozen, b.frozen));
    }
    out
}

/// The Hub's logs of event `E` about the tasks of `deal`, by task.
async fn logs_by_task<E: SolEvent>(
    provider: &RootProvider,
    hub: Address,
    tasks: &[TaskId],
) -> HashMap<B256, Vec<Log>> {
    let mut out: HashMap<B256, Vec<Log>> = HashMap::new();
    for chunk in tasks.chunks(50) {
        let filter = Filter::new()
            .address(hub)
            .event_signature(E::SIGNATURE_HASH)
            .topic1(chunk.iter().map(|t| t.0).collect::<Vec<_>>())
            .from_block(0);
        for log in provider.get_logs(&filter).await.unwrap() {
            out.entry(log.topics()[1]).or_default().push(log);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_tasks_at_trust_3_on_four_workers_pay_exactly_what_poco_says() {
    let program = evaluator();
    quorate_node::logs::init(quorate_node::logs::LogFormat::Human);
    let net = Devnet::spawn(DevnetConfig { workers: 4, ..DevnetConfig::test() }).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pool = devnet_pool::start(&net, dir.path(), 1, program.clone()).await.unwrap();
    assert_eq!(pool.workers(), 4);
    let hub = net.deployment().hub;
    let provider = RootProvider::new_http(net.endpoint().parse().unwrap());
    let key = |role: Role| PrivateKeySigner::from_bytes(&net.account(role).unwrap().key).unwrap();
    let client_key = key(Role::Client);
    let operator = key(Role::PoolOperator).address();
    let workers: Vec<Address> =
        net.accounts().iter().filter(|a| a.role == Role::Worker).map(|a| a.address).collect();
    let mut everyone = vec![client_key.address(), operator];
    everyone.extend(&workers);
    let before = holdings(&provider, hub, &everyone).await;

    // 50 tasks; the work function throws on inputs ending in 7. Each writes a console line;
    // task 3 writes 200 (the caps keep a few), with a terminal escape in each.
    let code = "(n) => { console.log(`tile ${n}`); \
                if (n === 3) for (let i = 0; i < 200; i++) console.warn(`\\u001b[2J${i}`); \
                if (n % 10 === 7) throw new Error(`no sevens: ${n}`); \
                return { n, square: n * n, root: Math.sqrt(n) }; }";
    let (job, _) = Job::builder(code).inputs((0..50).map(serde_json::Value::from)).build().unwrap();
    let local_config = LocalConfig { program, sandboxes: 1, nice: 10 };
    let expected = tokio::task::block_in_place(|| local::run(&job, &local_config, |_| {})).unwrap();

    let chain = Chain::connect(&config(&net), client_key.clone()).await.unwrap();
    let client = Client::new(chain, client_key.clone(), hub, vec![pool.scheduler.clone()]);
    let mut events = Job::builder(code)
        .inputs((0..50).map(serde_json::Value::from))
        .pool(pool.pool.0)
        .trust(3)
        .max_price_qcr("1")
        .unwrap()
        .submit(&client)
        .unwrap();
    let mut results: Vec<Option<TaskOutcome>> = vec![None; 50];
    let mut deal = None;
    let (mut console, mut console_dropped) = (Vec::new(), 0u64);
    let started = std::time::Instant::now();
    let refundable = tokio::time::timeout(std::time::Duration::from_secs(400), async {
        while let Some(event) = events.next().await {
            match event.unwrap() {
                JobEvent::Deal { deal: id } => deal = Some(id),
                JobEvent::Result { index, outcome } => results[index as usize] = Some(outcome),
                JobEvent::Console { index, level, text } => console.push((index, level, text)),
                JobEvent::ConsoleDropped { lines } => console_dropped += lines,
                JobEvent::Finished { refundable } => return refundable,
                _ => {}
            }
        }
        panic!("the stream ended without Finished");
    })
    .await
    .expect("the job did not finish in 400 s");
    eprintln!("50 tasks at trust 3 on 4 workers: every result verified in {:?}", started.elapsed());
    assert!(refundable.is_empty(), "{refundable:?}");
    let deal: DealId = deal.unwrap();

    // Every result is run-local's; the throwing inputs are agreed errors at their index.
    for (index, (got, want)) in results.iter().zip(&expected).enumerate() {
        let LocalOutcome::Agreed(want) = want else { panic!("run-local failed task {index}") };
        assert_eq!(got.as_ref(), Some(want), "task {index}");
        let is_error = matches!(got, Some(TaskOutcome::Error { message, .. }) if message.contains("no sevens"));
        assert_eq!(is_error, index % 10 == 7, "task {index}: {got:?}");
    }

    // The console: one replica's lines per task, in order within a task; task 3's chatter
    // capped, what was dropped counted, the rest of task 3's lines in order.
    for index in 0..50u32 {
        let tile: Vec<_> = console
            .iter()
            .filter(|(i, level, _)| *i == index && *level == ConsoleLevel::Log)
            .collect();
        assert_eq!(tile.len(), 1, "task {index}: {tile:?}");
        assert_eq!(tile[0].2, format!("tile {index}"));
    }
    let chatter: Vec<&str> = console
        .iter()
        .filter(|(_, level, _)| *level == ConsoleLevel::Warn)
        .map(|(i, _, text)| {
            assert_eq!(*i, 3);
            text.as_str()
        })
        .collect();
    let wanted: Vec<String> = (0..chatter.len()).map(|i| format!("\u{1b}[2J{i}")).collect();
    assert_eq!(chatter, wanted);
    assert!((10..200).contains(&chatter.len()), "{} of task 3's lines", chatter.len());
    assert_eq!(chatter.len() as u64 + console_dropped, 200);

    // The pool finalizes each revealed task on chain; wait for all of them.
    let report = loop {
        let report = report::read(&provider, hub, deal).await.unwrap();
        if report.count(report::TaskOnChain::Completed) == 50 {
            break report;
        }
        assert!(started.elapsed().as_secs() < 500, "not all finalized: {report:?}");
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    };

    // What POCO.md's rules pay for each task, from the Hub's record of who voted (and with
    // which weight) and who revealed.
    let tasks: Vec<TaskId> = (0..50).map(|i| TaskId::derive(deal, i)).collect();
    let contributed = logs_by_task::<Hub::TaskContributed>(&provider, hub, &tasks).await;
    let revealed = logs_by_task::<Hub::TaskRevealed>(&provider, hub, &tasks).await;
    let terms_view = Hub::new(hub, provider.clone()).deal(deal.0).call().await.unwrap();
    let terms = PayoutTerms {
        price: Amount::new(report.price),
        worker_stake_ratio: u64::from(terms_view.workerStakeRatio),
        pool_stake_ratio: 30,
        scheduler_ratio: u64::from(terms_view.schedulerRewardRatio),
    };
    let mut expected_change: HashMap<Address, i128> = HashMap::new();
    let mut rewards: HashMap<(Address, B256), U256> = HashMap::new();
    let wei = |a: Amount| i128::try_from(a.raw()).unwrap();
    let mut contributions_seen = 0;
    for task in &tasks {
        let provers: Vec<Address> = revealed[&task.0]
            .iter()
            .map(|log| Hub::TaskRevealed::decode_log(&log.inner).unwrap().worker)
            .collect();
        let contributions: Vec<SettledContribution> = contributed[&task.0]
            .iter()
            .map(|log| {
                let event = Hub::TaskContributed::decode_log(&log.inner).unwrap();
                SettledContribution {
                    worker: event.worker,
                    payout_weight: payout_weight(event.weight),
                    status: if provers.contains(&event.worker) {
                        ContributionStatus::Proved
                    } else {
                        ContributionStatus::Contributed
                    },
                    score: U256::ZERO,
                }
            })
            .collect();
        contributions_seen += contributions.len();
        // Two agreeing votes while the workers are new; one, once a worker's score passes 12
        // (weight 3 alone passes T = 3).
        assert!(!contributions.is_empty() && !provers.is_empty());
        let settlement = finalize(&terms, &contributions).unwrap();
        assert_eq!(settlement.locked, settlement.paid().unwrap(), "a settlement conserves value");
        for payout in &settlement.workers {
            *expected_change.entry(payout.worker).or_default() +=
                wei(payout.reward) - wei(payout.stake_seized);
            if payout.reward != Amount::ZERO {
                rewards.insert((payout.worker, task.0), payout.reward.raw());
            }
        }
        *expected_change.entry(operator).or_default() += wei(settlement.pool_owner_reward);
        *expected_change.entry(client_key.address()).or_default() -= wei(terms.price);
    }

    // Each account's Hub holdings moved by exactly that, nothing is left frozen, and the
    // Hub's Rewarded events name the same amounts, task by task.
    let after = holdings(&provider, hub, &everyone).await;
    for ((account, before), after) in everyone.iter().zip(&before).zip(&after) {
        let change = i128::try_from(after.0).unwrap() - i128::try_from(before.0).unwrap();
        assert_eq!(
            change,
            expected_change.get(account).copied().unwrap_or(0),
            "the Hub holdings of {account}"
        );
        assert_eq!(after.1, before.1, "{account} has stakes still frozen");
    }
    assert_eq!(expected_change.values().sum::<i128>(), 0, "credits are conserved");
    let filter =
        Filter::new().address(hub).event_signature(Hub::Rewarded::SIGNATURE_HASH).from_block(0);
    let mut on_chain: HashMap<(Address, B256), U256> = HashMap::new();
    for log in provider.get_logs(&filter).await.unwrap() {
        let event = Hub::Rewarded::decode_log(&log.inner).unwrap();
        if tasks.iter().any(|t| t.0 == event.r#ref) && workers.contains(&event.account) {
            *on_chain.entry((event.account, event.r#ref)).or_default() += event.amount;
        }
    }
    assert_eq!(on_chain, rewards, "Rewarded events against POCO.md's payouts");
    eprintln!(
        "50 tasks, {contributions_seen} contributions; client paid {} wei, payouts matched to the wei",
        -expected_change[&client_key.address()]
    );
    pool.stop().await.unwrap();
}
