//! A worker's side of a task on a real anvil with the real Hub: three workers holding the same
//! task run it, store the result, contribute with the pool owner's authorization, see their
//! hash win, reveal, and are paid when the pool finalizes, each step read from the task's
//! state machine.

use alloy::{primitives::Bytes, rpc::types::TransactionRequest, sol_types::SolCall};
use quorate_contracts::{bindings::Hub, sign::authorization_bytes};
use quorate_devnet::Role;
use quorate_node::{
    accounts,
    chain::Chain,
    client::{
        deal::buy,
        report::{self, TaskOnChain},
    },
    config::SchedulerSection,
    scheduler::pool,
    worker::{
        chain as worker_chain,
        task::{Assignment, HeldTask, Input, Next},
    },
};
use quorate_primitives::{ContentHash, TaskAuthorization, TaskId};

use crate::common::{config, devnet, signer};

#[tokio::test]
async fn three_workers_vote_reveal_and_are_paid() {
    let net = devnet().await;
    let hub = net.deployment().hub;
    let operator = crate::common::chain(&net, Role::PoolOperator).await;
    let client = crate::common::chain(&net, Role::Client).await;
    let pool_id =
        pool::create(&operator, hub, pool::policy(&SchedulerSection::default()), "").await.unwrap();
    let owner_key = signer(&net, Role::PoolOperator);
    let purchase = crate::deal::purchase(
        &owner_key,
        net.chain_id(),
        hub,
        pool_id,
        client.address(),
        ContentHash::of(b"job"),
        1,
    );
    let time = operator.latest_time().await.unwrap();
    let deal = buy(&client, hub, &purchase, time).await.unwrap();
    let task = TaskId::derive(deal, 0);
    let init = Hub::initializeCall { dealId: deal.0, index: alloy::primitives::U256::ZERO };
    operator
        .send(TransactionRequest::default().to(hub).input(init.abi_encode().into()))
        .await
        .unwrap();

    let workers: Vec<_> =
        net.accounts().iter().filter(|a| a.role == Role::Worker).take(3).collect();
    assert_eq!(workers.len(), 3);
    let mut held = Vec::new();
    for account in &workers {
        let key = alloy::signers::local::PrivateKeySigner::from_bytes(&account.key).unwrap();
        let chain = Chain::connect(&config(&net), key).await.unwrap();
        let authorization = TaskAuthorization { worker: chain.address(), task, round: 0 };
        let assignment = Assignment {
            pool: pool_id,
            task,
            job: ContentHash::of(b"job"),
            input: Input::Inline(b"7".to_vec()),
            round: 0,
            authorization: authorization_bytes(&owner_key, &authorization).unwrap().to_vec(),
            deadline: u64::MAX,
        };
        let before = accounts::balances(chain.provider(), hub, chain.address()).await.unwrap();
        held.push((chain, HeldTask::assigned(assignment), before));
    }

    // Each runs the task (the same bytes: they agree) and contributes; at trust 3 two fresh
    // workers' votes reach the consensus, and the third is too late to vote.
    let (late, voters) = held.split_last_mut().unwrap();
    for (chain, task_state, _) in voters.iter_mut() {
        assert_eq!(task_state.next(time), Next::Run);
        task_state.on_computed(br#"{"answer":42}"#.to_vec());
        let Next::Contribute(digest) = task_state.next(time) else { panic!("not contributing") };
        let auth = task_state.assignment.authorization.clone();
        let receipt = worker_chain::contribute(chain, hub, task, digest, &auth).await.unwrap();
        task_state.on_contributed(Some(receipt.transaction_hash));
    }
    let report = report::read(client.provider(), hub, deal).await.unwrap();
    let t = &report.tasks[0];
    assert_eq!((t.state, t.contributors, t.winners), (TaskOnChain::Revealing, 2, 2));
    {
        let (chain, task_state, _) = late;
        task_state.on_computed(br#"{"answer":42}"#.to_vec());
        let digest = task_state.result().unwrap().digest;
        let auth = task_state.assignment.authorization.clone();
        let err = worker_chain::contribute(chain, hub, task, digest, &auth).await.unwrap_err();
        assert!(err.to_string().contains("the task is revealing a consensus"), "{err}");
        task_state.on_consensus(digest.vote(task), t.reveal_deadline);
        assert_eq!(task_state.next(time), Next::Forget, "the task is lost to the late worker");
    }

    // The consensus is their hash: each reveals.
    for (chain, task_state, _) in voters.iter_mut() {
        let digest = task_state.result().unwrap().digest;
        task_state.on_consensus(digest.vote(task), t.reveal_deadline);
        assert_eq!(task_state.next(time), Next::Reveal(digest));
        worker_chain::reveal(chain, hub, task, digest).await.unwrap();
        task_state.on_revealed();
        assert_eq!(task_state.next(time), Next::Upload, "the result goes to the scheduler");
    }

    // The pool finalizes: every worker is paid, its stake back.
    let finalize = Hub::finalizeCall { taskId: task.0, resultsRef: Bytes::new() };
    operator
        .send(TransactionRequest::default().to(hub).input(finalize.abi_encode().into()))
        .await
        .unwrap();
    for (chain, task_state, before) in voters.iter_mut() {
        task_state.on_ended();
        let after = accounts::balances(chain.provider(), hub, chain.address()).await.unwrap();
        assert_eq!(after.frozen, before.frozen, "stake returned");
        assert!(after.free > before.free, "paid: {} → {}", before.free, after.free);
    }
    let report = report::read(client.provider(), hub, deal).await.unwrap();
    assert_eq!(report.tasks[0].state, TaskOnChain::Completed);
}

#[tokio::test]
async fn the_sandboxes_run_tasks_of_several_jobs_behind_a_bounded_queue() {
    use std::sync::Arc;

    use quorate_evaluator::sandbox::{Limits, TaskSpec};
    use quorate_node::{
        job::local::LocalOutcome,
        worker::exec::{ExecConfig, Executor, Work},
    };
    use quorate_primitives::TaskOutcome;

    let executor = Executor::start(&ExecConfig {
        program: crate::common::evaluator(),
        sandboxes: 2,
        nice: 10,
        task_memory_mib: 256,
        gpu: false,
        gpu_slots: 1,
        gpu_memory_mib: 0,
    })
    .unwrap();
    let double: Arc<str> = Arc::from(
        "(n) => { if (n < 0) throw new RangeError('negative'); console.log('n', n); return n * 2 }",
    );
    let spin: Arc<str> = Arc::from("(n) => { for (;;) {} }");
    let (events_tx, mut events) = tokio::sync::mpsc::channel(64);
    let work = |code: &Arc<str>, input: &str, i: u8, timeout_ms: u64| {
        let (reply, outcome) = tokio::sync::oneshot::channel();
        let spec = TaskSpec {
            task_id: TaskId::from(alloy::primitives::B256::repeat_byte(i)),
            now_ms: 0,
            input: input.into(),
            args: "[]".into(),
            limits: Limits { timeout_ms, ..Limits::default() },
        };
        let work = Work {
            code_hash: ContentHash::of(code.as_bytes()),
            code: Arc::clone(code),
            spec,
            gpu: false,
            events: Some(events_tx.clone()),
            reply,
        };
        (work, outcome)
    };
    // Two sandboxes and two places in the queue: while the sandboxes are busy, at most four
    // tasks are taken and the next is handed back at once.
    let mut busy = Vec::new();
    for i in 0..10u8 {
        let (w, outcome) = work(&spin, "0", 100 + i, 1_000);
        match executor.submit(w) {
            Ok(()) => busy.push(outcome),
            Err(_) => break,
        }
    }
    assert!(
        (2..=4).contains(&busy.len()),
        "{} tasks taken by 2 sandboxes and a queue of 2",
        busy.len()
    );
    for outcome in busy {
        assert!(
            matches!(outcome.await.unwrap(), LocalOutcome::Failed { kind, .. } if kind == "timeout")
        );
    }

    // A full queue hands the task back: the caller offers it again once a sandbox is free.
    let submit = |mut w: Work| {
        let executor = &executor;
        async move {
            loop {
                match executor.submit(w) {
                    Ok(()) => return,
                    Err(back) => w = *back,
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    };
    let mut waiting = Vec::new();
    for (i, input) in ["1", "2", "-3", "4"].into_iter().enumerate() {
        let (w, outcome) = work(&double, input, i as u8, 10_000);
        submit(w).await;
        waiting.push(outcome);
    }
    let outcomes: Vec<LocalOutcome> =
        futures::future::join_all(waiting).await.into_iter().map(Result::unwrap).collect();
    let value = |s: &str| LocalOutcome::Agreed(TaskOutcome::Value(s.as_bytes().to_vec()));
    assert_eq!(outcomes[0], value("2"));
    assert_eq!(outcomes[1], value("4"));
    assert_eq!(
        outcomes[2],
        LocalOutcome::Agreed(TaskOutcome::Error {
            kind: "threw".into(),
            message: "RangeError: negative".into()
        })
    );
    assert_eq!(outcomes[3], value("8"));
    let mut lines = 0;
    while let Ok((_, event)) = events.try_recv() {
        lines += usize::from(matches!(event, quorate_evaluator::sandbox::Event::Console { .. }));
    }
    assert_eq!(lines, 3, "console lines of the tasks that logged");

    // A later task of the job reuses the code its sandbox loaded.
    let (w, outcome) = work(&double, "21", 21, 10_000);
    submit(w).await;
    assert_eq!(outcome.await.unwrap(), value("42"));
    assert_eq!(executor.sandboxes(), 2);
}
