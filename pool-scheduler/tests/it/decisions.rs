//! Each decision of the core, driven by hand with a manual clock.

use quorate_primitives::{Address, Amount, B256, DealId, ResultDigest, TaskId, U256};
use quorate_scheduler::{
    ChainCall, ChainCursor, ChainEvent, Deal, Error, LongConPolicy, Message, Platform, Ready,
    Scheduler, SchedulerConfig, WorkerCaps,
};

struct Host {
    core: Scheduler,
    log: u32,
}

/// A CPU worker of float class `fp_probe`.
fn caps(slots: u32, memory_mib: u32, evaluators: u32, fp_probe: u32) -> WorkerCaps {
    WorkerCaps {
        slots,
        memory_mib,
        evaluators,
        platform: Platform { gpu: 0, fp_probe },
        gpu_memory_mib: 0,
        gpu_tags: [0; 6],
    }
}

/// A worker with both evaluator kinds and a GPU of class `gpu` (its tags: `gpu` and `tag`).
fn gpu_caps(gpu: u32, tag: u32, gpu_memory_mib: u32) -> WorkerCaps {
    WorkerCaps {
        platform: Platform { gpu, fp_probe: 1 },
        gpu_memory_mib,
        gpu_tags: [gpu, tag, 0, 0, 0, 0],
        ..caps(8, 1024, 3, 1)
    }
}

fn deal(tasks: u64, trust: u64) -> Deal {
    Deal {
        id: DealId::derive(B256::repeat_byte(9), U256::from(tasks)),
        tasks,
        trust,
        start: 0,
        time_ref: 100,
        price: Amount::from(1_000u64),
        scheduler_ratio: 10,
        evaluator: 0,
        memory_mib: 256,
        gpu_memory_mib: 0,
        gpu_class: 0,
    }
}

/// A WebGPU deal needing `gpu_memory_mib` and GPU class `gpu_class` (0: any).
fn gpu_deal(tasks: u64, gpu_memory_mib: u32, gpu_class: u32) -> Deal {
    Deal { evaluator: 1, gpu_memory_mib, gpu_class, ..deal(tasks, 3) }
}

fn w(i: u8) -> Address {
    Address::with_last_byte(i)
}

impl Host {
    fn new(config: SchedulerConfig) -> Self {
        Self { core: Scheduler::new(config, Address::repeat_byte(0xb0), 7).unwrap(), log: 0 }
    }

    fn chain(&mut self, now: u64, event: ChainEvent) -> Result<(), Error> {
        self.log += 1;
        self.core.handle_chain_event(
            now,
            ChainCursor { block: u64::from(self.log), log: 0, time: now },
            event,
        )
    }

    fn ready(&mut self) -> Ready {
        let r = self.core.poll_ready().unwrap_or_default();
        if r.number > 0 {
            self.core.advance(r.number).unwrap();
        }
        r
    }

    /// Creates the deal, initializes every task it asks for; returns the batch after that.
    fn start(&mut self, d: Deal) -> Ready {
        self.chain(1, ChainEvent::DealCreated(d)).unwrap();
        let r = self.ready();
        for call in &r.chain {
            if let ChainCall::Initialize { deal, first, count } = call {
                for index in *first..first + u64::from(*count) {
                    let task = TaskId::derive(*deal, index);
                    self.chain(2, ChainEvent::TaskInitialized { task, deal: *deal, index })
                        .unwrap();
                }
            }
        }
        self.ready()
    }
}

fn assigns(r: &Ready) -> Vec<(Address, TaskId)> {
    r.messages
        .iter()
        .filter_map(|m| match m {
            Message::Assign { worker, task, .. } => Some((*worker, *task)),
            _ => None,
        })
        .collect()
}

#[test]
fn only_eligible_workers_get_replicas_and_a_task_keeps_one_class() {
    let mut h = Host::new(SchedulerConfig::default());
    h.core.handle_worker_joined(0, w(1), caps(8, 128, 1, 0), U256::ZERO); // too little memory
    h.core.handle_worker_joined(0, w(2), caps(8, 1024, 2, 0), U256::ZERO); // wrong evaluator
    for i in 3..=8 {
        h.core.handle_worker_joined(0, w(i), caps(8, 1024, 1, u32::from(i % 2)), U256::ZERO);
    }
    let r = h.start(deal(20, 100));
    let a = assigns(&r);
    assert!(!a.is_empty());
    assert!(a.iter().all(|(worker, _)| *worker != w(1) && *worker != w(2)), "{a:?}");
    for (_, task) in &a {
        let classes: std::collections::HashSet<u8> =
            h.core.replicas_of(task).iter().map(|x| x.0[19] % 2).collect();
        assert_eq!(classes.len(), 1, "one class per task");
        let workers = h.core.replicas_of(task);
        let distinct: std::collections::HashSet<_> = workers.iter().collect();
        assert_eq!(distinct.len(), workers.len(), "never twice to one worker");
    }
}

#[test]
fn a_gpu_deal_goes_only_to_gpus_that_fit_and_keeps_one_gpu_class() {
    let mut h = Host::new(SchedulerConfig::default());
    h.core.handle_worker_joined(0, w(1), caps(8, 1024, 3, 1), U256::ZERO); // no GPU
    h.core.handle_worker_joined(0, w(2), gpu_caps(10, 70, 128), U256::ZERO); // too little GPU memory
    h.core.handle_worker_joined(0, w(3), gpu_caps(6, 60, 4096), U256::ZERO); // another class
    for i in 4..=9 {
        h.core.handle_worker_joined(0, w(i), gpu_caps(10 + u32::from(i % 2), 70, 4096), U256::ZERO);
    }
    let a = assigns(&h.start(gpu_deal(20, 1024, 70)));
    assert!(!a.is_empty());
    assert!(a.iter().all(|(worker, _)| ![w(1), w(2), w(3)].contains(worker)), "{a:?}");
    for (_, task) in &a {
        let classes: std::collections::HashSet<u8> =
            h.core.replicas_of(task).iter().map(|x| x.0[19] % 2).collect();
        assert_eq!(classes.len(), 1, "one GPU class per task");
    }
    // Any class: the worker of class 6 fits too; none with too little memory does.
    let any = Deal { id: DealId::derive(B256::repeat_byte(4), U256::ZERO), ..gpu_deal(1, 1024, 0) };
    let mut h = Host::new(SchedulerConfig::default());
    h.core.handle_worker_joined(0, w(2), gpu_caps(10, 70, 128), U256::ZERO);
    h.core.handle_worker_joined(0, w(3), gpu_caps(6, 60, 4096), U256::ZERO);
    assert_eq!(assigns(&h.start(any)).iter().map(|a| a.0).collect::<Vec<_>>(), vec![w(3)]);
}

#[test]
fn a_cpu_deals_replicas_span_gpu_classes_of_one_float_class() {
    // A JavaScript task never touches the GPU: three GPU classes with one float probe are one
    // class for it (fresh workers at T = 5: three replicas).
    let mut h = Host::new(SchedulerConfig::default());
    for i in 1..=3 {
        h.core.handle_worker_joined(0, w(i), gpu_caps(u32::from(i), 0, 4096), U256::ZERO);
    }
    let a = assigns(&h.start(deal(1, 5)));
    let workers: std::collections::HashSet<Address> = a.iter().map(|a| a.0).collect();
    assert_eq!(workers.len(), 3, "{a:?}");
}

#[test]
fn load_never_exceeds_capacity_and_the_rest_waits() {
    let config = SchedulerConfig { max_tasks_per_worker: 2, ..SchedulerConfig::default() };
    let mut h = Host::new(config);
    for i in 1..=4 {
        h.core.handle_worker_joined(0, w(i), caps(16, 1024, 1, 0), U256::ZERO);
    }
    let r = h.start(deal(30, 100));
    assert_eq!(assigns(&r).len(), 8, "4 workers × 2 slots");
    for i in 1..=4 {
        assert_eq!(h.core.load_of(&w(i)), Some(2));
    }
    assert!(h.core.stats().waiting > 0);
    // A new worker is put to work at once.
    h.core.handle_worker_joined(3, w(5), caps(1, 1024, 1, 0), U256::ZERO);
    assert_eq!(assigns(&h.ready()).len(), 1);
    assert_eq!(h.core.load_of(&w(5)), Some(1));
}

#[test]
fn the_pool_bounds_tasks_in_flight_and_batches_initialize() {
    let config = SchedulerConfig {
        max_tasks_in_flight: 10,
        initialize_batch: 4,
        ..SchedulerConfig::default()
    };
    let mut h = Host::new(config);
    h.chain(1, ChainEvent::DealCreated(deal(25, 10))).unwrap();
    let r = h.ready();
    let counts: Vec<u32> = r
        .chain
        .iter()
        .filter_map(|c| match c {
            ChainCall::Initialize { count, .. } => Some(*count),
            _ => None,
        })
        .collect();
    assert_eq!(counts, vec![4, 4, 2]);
    assert_eq!(h.core.stats().in_flight, 10);
}

#[test]
fn a_lost_worker_s_replicas_go_to_others_and_machine_failures_are_bounded() {
    let config = SchedulerConfig { max_machine_failures: 2, ..SchedulerConfig::default() };
    let mut h = Host::new(config);
    for i in 1..=6 {
        h.core.handle_worker_joined(0, w(i), caps(4, 1024, 1, 0), U256::ZERO);
    }
    let r = h.start(deal(1, 5)); // fresh workers at T = 5: three replicas
    let a = assigns(&r);
    assert_eq!(a.len(), 3);
    let (lost, task) = a[0];
    h.core.handle_worker_lost(10, lost).unwrap();
    // (A lost worker may run the task again once it is back; it is not back.)
    // Its run stays on record, but no longer as running (the two others and its replacement
    // are).
    assert!(h.core.replicas_of(&task).contains(&lost));
    assert!(!h.core.running_replicas_of(&task).contains(&lost));
    assert_eq!(h.core.running_replicas_of(&task).len(), 3);
    let again = assigns(&h.ready());
    assert_eq!(again.len(), 1);
    assert!(!a.iter().any(|(x, _)| *x == again[0].0), "a new worker");
    // Two machine-dependent failures: the task is given up and its replicas aborted.
    let (second, _) = a[1];
    h.core.handle_replica_failed(11, task, second, true).unwrap();
    let r = h.ready();
    assert_eq!(assigns(&r).len(), 1);
    h.core.handle_replica_failed(12, task, again[0].0, true).unwrap();
    let r = h.ready();
    assert!(assigns(&r).is_empty());
    assert!(r.messages.iter().any(|m| matches!(m, Message::Abort { .. })));
    // Late reports about a given-up replica are stale.
    assert!(h.core.handle_replica_failed(13, task, second, true).unwrap_err().is_stale());
}

#[test]
fn a_released_replica_may_go_back_to_its_worker_but_a_dropped_one_never() {
    // One worker only: after a release nobody else can take the task.
    let mut h = Host::new(SchedulerConfig::default());
    h.core.handle_worker_joined(0, w(1), caps(4, 1024, 1, 0), U256::ZERO);
    let first = assigns(&h.start(deal(1, 2)));
    let (worker, task) = first[0];
    // Its own list shows it never got the assignment: released, assigned to it again.
    h.core.handle_replica_undelivered(5, task, worker).unwrap();
    assert_eq!(assigns(&h.ready()), vec![(worker, task)]);
    assert_eq!(h.core.replicas_of(&task), vec![worker, worker]);
    assert_eq!(h.core.replicas_counted(&task, &worker), 1);
    // Lost (it crashed), then back: assigned to it again.
    h.core.handle_worker_lost(6, worker).unwrap();
    assert!(assigns(&h.ready()).is_empty(), "nobody left");
    h.core.handle_worker_joined(7, worker, caps(4, 1024, 1, 0), U256::ZERO);
    assert_eq!(assigns(&h.ready()), vec![(worker, task)]);
    assert_eq!(h.core.replicas_counted(&task, &worker), 1);
    // A failure of the worker itself bars it from the task for good.
    h.core.handle_replica_failed(8, task, worker, false).unwrap();
    assert!(assigns(&h.ready()).is_empty(), "never again to a worker that failed it");
    assert_eq!(h.core.running_replicas_of(&task), Vec::<Address>::new());
    // A second worker takes it.
    h.core.handle_worker_joined(9, w(2), caps(4, 1024, 1, 0), U256::ZERO);
    assert_eq!(assigns(&h.ready()), vec![(w(2), task)]);
}

#[test]
fn tasks_no_free_worker_fits_do_not_hold_up_the_queue() {
    let mut h = Host::new(SchedulerConfig::default());
    // A deal no worker has the memory for comes first, 300 tasks: they wait at the head.
    let big = Deal { memory_mib: 1 << 20, ..deal(300, 1) };
    assert!(assigns(&h.start(big)).is_empty());
    let small = Deal { id: DealId::derive(B256::repeat_byte(8), U256::from(5u8)), ..deal(5, 1) };
    assert!(assigns(&h.start(small)).is_empty(), "no worker yet");
    assert_eq!(h.core.stats().waiting, 305);
    // One worker with one slot: the queue is served past the tasks it cannot run, events or
    // not (a timer serves it again while a slot is free).
    h.core.handle_worker_joined(10, w(1), caps(1, 1024, 1, 0), U256::ZERO);
    let mut got = assigns(&h.ready());
    let mut now = 10;
    while got.is_empty() && now < 20 {
        let at = h.core.poll_timeout().expect("a timer while a slot is free and tasks wait");
        assert!(at <= now + 1, "served again within a second, not at {at}");
        now += 1;
        h.core.handle_tick(now);
        got = assigns(&h.ready());
    }
    assert_eq!(got.len(), 1, "{got:?}");
    assert!((0..5).any(|i| TaskId::derive(small.id, i) == got[0].1), "a task of the small deal");
}

#[test]
fn an_initialize_lost_in_a_crash_is_asked_again_one_time_reference_later() {
    let mut h = Host::new(SchedulerConfig::default());
    let d = deal(4, 1);
    h.chain(1, ChainEvent::DealCreated(d)).unwrap();
    let first = h.ready();
    let asked: Vec<_> =
        first.chain.iter().filter(|c| matches!(c, ChainCall::Initialize { .. })).collect();
    assert_eq!(asked.len(), 1);
    // The call never reaches the chain. Nothing more before one time reference (100 s)...
    assert_eq!(h.core.poll_timeout(), Some(1 + 100));
    h.core.handle_tick(100);
    assert!(h.ready().chain.is_empty());
    // ...then the same range again, and again a time reference later while it stays unseen.
    h.core.handle_tick(101);
    let again = h.ready();
    assert_eq!(again.chain, vec![asked[0].clone()]);
    // Seen on chain: settled, never asked again.
    for index in 0..4 {
        let task = TaskId::derive(d.id, index);
        h.chain(102, ChainEvent::TaskInitialized { task, deal: d.id, index }).unwrap();
    }
    h.ready();
    h.core.handle_tick(400);
    assert!(!h.ready().chain.iter().any(|c| matches!(c, ChainCall::Initialize { .. })));
}

#[test]
fn a_silent_replica_times_out_and_is_replaced() {
    let mut h = Host::new(SchedulerConfig::default());
    for i in 1..=6 {
        h.core.handle_worker_joined(0, w(i), caps(4, 1024, 1, 0), U256::ZERO);
    }
    let first = assigns(&h.start(deal(1, 2)));
    assert_eq!(first.len(), 1);
    // Keep the workers alive across the replica timeout (120 s after the assignment at 2).
    for now in (20..=120).step_by(20) {
        for i in 1..=6 {
            h.core.handle_heartbeat(now, w(i)).unwrap();
        }
        h.core.handle_tick(now);
        assert!(assigns(&h.ready()).is_empty(), "nothing new before the timeout");
    }
    h.core.handle_tick(120 + 2);
    let r = h.ready();
    assert!(r.messages.contains(&Message::Abort { worker: first[0].0, task: first[0].1 }), "{r:?}");
    assert_eq!(assigns(&r).len(), 1);
}

#[test]
fn no_k_minus_one_workers_of_a_task_can_reach_consensus_alone() {
    // T = 10 needs k = 2 distinct contributors by default: a worker of score 100 (weight 32)
    // would reach consensus alone, so it is not authorized on such a task; workers of score
    // 15 (weight 4) are, and two of them agreeing pass (16 > T − 1 = 9).
    let mut h = Host::new(SchedulerConfig::default());
    for i in 1..=4 {
        h.core.handle_worker_joined(0, w(i), caps(4, 1024, 1, 0), U256::from(100));
    }
    for i in 5..=8 {
        h.core.handle_worker_joined(0, w(i), caps(4, 1024, 1, 0), U256::from(15));
    }
    let a = assigns(&h.start(deal(1, 10)));
    assert_eq!(a.len(), 2, "{a:?}");
    assert!(a.iter().all(|(x, _)| x.0[19] >= 5), "only light workers: {a:?}");
    let task = a[0].1;
    let digest = ResultDigest::of(task, b"42");
    let (x, y) = (a[0].0, a[1].0);
    let vote = |worker: Address| ChainEvent::Contributed {
        task,
        worker,
        hash: digest.vote(task),
        seal: digest.seal(worker, task),
        score: U256::from(15),
    };
    h.chain(10, vote(x)).unwrap();
    assert!(!h.ready().messages.iter().any(|m| matches!(m, Message::RequestReveal { .. })));
    h.chain(11, vote(y)).unwrap();
    let r = h.ready();
    assert!(r.messages.contains(&Message::RequestReveal { worker: x, task }));
    assert!(r.messages.contains(&Message::RequestUpload { worker: x, task }));
    h.chain(12, ChainEvent::Revealed { task, worker: x, digest }).unwrap();
    assert!(
        !h.ready().chain.iter().any(|c| matches!(c, ChainCall::Finalize { .. })),
        "y still to reveal"
    );
    h.chain(13, ChainEvent::Revealed { task, worker: y, digest }).unwrap();
    assert!(h.ready().chain.contains(&ChainCall::Finalize { task, digest }));
    // Heavy workers still serve tasks whose trust they cannot break alone.
    let policy =
        LongConPolicy { min_contributors_one_in: Some(5), spot_check_permille: 0, relax: true };
    assert_eq!(policy.min_contributors(2, 8), 1);
}

#[test]
fn a_spot_check_that_disagrees_with_the_finalized_result_bars_its_worker() {
    let policy =
        LongConPolicy { min_contributors_one_in: None, spot_check_permille: 1000, relax: true };
    let mut h = Host::new(SchedulerConfig { long_con: policy, ..SchedulerConfig::default() });
    for i in 1..=4 {
        h.core.handle_worker_joined(0, w(i), caps(4, 1024, 1, 0), U256::from(100));
    }
    // One heavy worker would do; the spot-check adds one more replica, sent like any other.
    let a = assigns(&h.start(deal(1, 10)));
    assert_eq!(a.len(), 2, "{a:?}");
    let task = a[0].1;
    let (x, z) = (a[0].0, a[1].0);
    let (right, wrong) = (ResultDigest::of(task, b"42"), ResultDigest::of(task, b"17"));
    let vote = ChainEvent::Contributed {
        task,
        worker: x,
        hash: right.vote(task),
        seal: right.seal(x, task),
        score: U256::from(100),
    };
    h.chain(10, vote).unwrap();
    h.ready();
    h.chain(11, ChainEvent::Revealed { task, worker: x, digest: right }).unwrap();
    assert!(h.ready().chain.is_empty(), "the running check is waited for");
    h.core.handle_replica_finished(12, task, z, wrong.vote(task), wrong.seal(z, task)).unwrap();
    let r = h.ready();
    assert!(r.chain.contains(&ChainCall::Finalize { task, digest: right }));
    assert!(h.core.is_barred(&z));
    assert!(!h.core.is_barred(&x));
    h.chain(13, ChainEvent::Finalized { task }).unwrap();
    h.ready();
    assert_eq!(h.core.load_of(&z), Some(0));
    // A barred worker gets no more work.
    let d2 = Deal { id: DealId::derive(B256::repeat_byte(3), U256::ZERO), ..deal(50, 10) };
    let r = h.start(d2);
    assert!(assigns(&r).iter().all(|(worker, _)| *worker != z));
}

#[test]
fn the_same_inputs_give_the_same_effects_and_the_seed_changes_choices() {
    let run = |seed: u64| {
        let mut core =
            Scheduler::new(SchedulerConfig::default(), Address::repeat_byte(0xb0), seed).unwrap();
        for i in 1..=50 {
            core.handle_worker_joined(0, w(i), caps(2, 1024, 1, 0), U256::ZERO);
        }
        let d = deal(10, 100);
        core.handle_chain_event(
            1,
            ChainCursor { block: 1, log: 0, time: 1 },
            ChainEvent::DealCreated(d),
        )
        .unwrap();
        for index in 0..10 {
            let task = TaskId::derive(d.id, index);
            let cursor = ChainCursor { block: 2, log: u32::try_from(index).unwrap() + 1, time: 2 };
            core.handle_chain_event(
                2,
                cursor,
                ChainEvent::TaskInitialized { task, deal: d.id, index },
            )
            .unwrap();
        }
        core.poll_ready().unwrap()
    };
    assert_eq!(run(1), run(1));
    assert_ne!(assigns(&run(1)), assigns(&run(2)));
}

#[test]
fn batches_are_acknowledged_in_order() {
    let mut h = Host::new(SchedulerConfig::default());
    h.chain(1, ChainEvent::DealCreated(deal(2, 10))).unwrap();
    let r = h.core.poll_ready().unwrap();
    assert!(h.core.poll_ready().is_none(), "one batch outstanding at a time");
    assert!(h.core.advance(r.number + 1).unwrap_err().is_host_bug());
    h.core.advance(r.number).unwrap();
    assert_eq!(h.chain(1, ChainEvent::DealCreated(deal(2, 10))), Ok(()));
    let replay = h.core.handle_chain_event(
        1,
        ChainCursor { block: 0, log: 0, time: 0 },
        ChainEvent::DealCreated(deal(3, 10)),
    );
    assert_eq!(replay, Err(Error::Replayed));
}

#[test]
fn min_contributors_policy_can_be_turned_off() {
    let policy =
        LongConPolicy { min_contributors_one_in: None, spot_check_permille: 0, relax: true };
    let mut h = Host::new(SchedulerConfig { long_con: policy, ..SchedulerConfig::default() });
    for i in 1..=4 {
        h.core.handle_worker_joined(0, w(i), caps(4, 1024, 1, 0), U256::from(100));
    }
    assert_eq!(assigns(&h.start(deal(1, 10))).len(), 1, "the planner alone: one heavy worker");
}

#[test]
fn a_replica_overtaken_by_a_consensus_frees_its_slot_once_it_reports() {
    // Two one-slot workers, two tasks at T = 3: the first takes both workers, the second
    // waits. The first vote comes from a worker whose score rose since its assignment (15:
    // weight 4), which is consensus alone (4·3 > 5·2). The other replica's vote can no longer
    // count; its worker reports its answer off-chain, which is compared with the consensus
    // and frees its slot for the waiting task at once, not at the replica timeout.
    let mut h = Host::new(SchedulerConfig::default());
    for i in 1..=2 {
        h.core.handle_worker_joined(0, w(i), caps(1, 1024, 1, 0), U256::ZERO);
    }
    let first = assigns(&h.start(deal(2, 3)));
    assert_eq!(first.len(), 2, "{first:?}");
    let task = first[0].1;
    assert!(first.iter().all(|(_, t)| *t == task), "both replicas on one task: {first:?}");
    let (x, y) = (first[0].0, first[1].0);
    let digest = ResultDigest::of(task, b"42");
    h.chain(
        10,
        ChainEvent::Contributed {
            task,
            worker: x,
            hash: digest.vote(task),
            seal: digest.seal(x, task),
            score: U256::from(15),
        },
    )
    .unwrap();
    let r = h.ready();
    assert!(r.messages.contains(&Message::RequestReveal { worker: x, task }), "{r:?}");
    let next = assigns(&r);
    assert!(next.iter().all(|(worker, _)| *worker == x), "y is still running: {next:?}");
    assert_eq!(h.core.load_of(&y), Some(1));
    h.core.handle_replica_finished(11, task, y, digest.vote(task), digest.seal(y, task)).unwrap();
    let next = assigns(&h.ready());
    assert!(next.iter().any(|(worker, t)| *worker == y && *t != task), "{next:?}");
    assert!(!h.core.is_barred(&y), "y agreed with the consensus");
}

#[test]
fn a_task_waits_for_a_busy_light_worker_but_not_for_one_the_pool_lacks() {
    // T = 10 needs k = 2 distinct contributors: a worker of score 100 (weight 32) would pass
    // alone. With a light worker in the pool (score 15, weight 4), busy on another task, the
    // heavy ones are not authorized: the task waits for light capacity, or for its k to relax
    // (one time reference of its category: 10 s). A pool of heavy workers only relaxes at once.
    let mut h = Host::new(SchedulerConfig::default());
    for i in 1..=3 {
        h.core.handle_worker_joined(0, w(i), caps(4, 1024, 1, 0), U256::from(100));
    }
    h.core.handle_worker_joined(0, w(4), caps(1, 1024, 1, 0), U256::from(15));
    let short = Deal { time_ref: 10, ..deal(2, 10) };
    let first = assigns(&h.start(short));
    assert_eq!(first, vec![(w(4), first[0].1)], "only the light worker, for one task");
    let beat = |h: &mut Host, now: u64| {
        for i in 1..=4 {
            h.core.handle_heartbeat(now, w(i)).unwrap();
        }
        h.core.handle_tick(now);
    };
    for now in [5, 9] {
        beat(&mut h, now);
        assert!(assigns(&h.ready()).is_empty(), "waiting for light capacity ({now} s)");
    }
    beat(&mut h, 12);
    let relaxed = assigns(&h.ready());
    assert!(!relaxed.is_empty() && relaxed.iter().all(|(x, _)| *x != w(4)), "{relaxed:?}");

    // Heavy workers only: nothing to wait for.
    let mut h = Host::new(SchedulerConfig::default());
    for i in 1..=3 {
        h.core.handle_worker_joined(0, w(i), caps(4, 1024, 1, 0), U256::from(100));
    }
    assert!(!assigns(&h.start(Deal { time_ref: 10, ..deal(1, 10) })).is_empty());
}

#[test]
fn replicas_that_disagree_up_to_the_cap_fail_the_task_at_once() {
    let mut h =
        Host::new(SchedulerConfig { max_replicas_per_task: 4, ..SchedulerConfig::default() });
    for i in 1..=6 {
        h.core.handle_worker_joined(0, w(i), caps(4, 1024, 1, 0), U256::ZERO);
    }
    let mut now = 1;
    let mut ready = h.start(deal(1, 3));
    let mut voted = 0u8;
    let task = assigns(&ready)[0].1;
    // Every replica answers something else (a nondeterministic job): no group ever wins.
    while voted < 8 && !ready.chain.iter().any(|c| matches!(c, ChainCall::GiveUp { .. })) {
        for (worker, task) in assigns(&ready) {
            voted += 1;
            let digest = ResultDigest::of(task, &[voted]);
            let vote = ChainEvent::Contributed {
                task,
                worker,
                hash: digest.vote(task),
                seal: digest.seal(worker, task),
                score: U256::ZERO,
            };
            now += 1;
            h.chain(now, vote).unwrap();
        }
        ready = h.ready();
    }
    assert!(ready.chain.contains(&ChainCall::GiveUp { task }), "{ready:?}");
    assert_eq!(h.core.replicas_of(&task).len(), 4, "no replica past the cap");
    // Asked once per time reference; the claim on chain ends the task.
    assert!(!h.ready().chain.iter().any(|c| matches!(c, ChainCall::GiveUp { .. })));
    h.core.handle_tick(now + 101);
    assert!(h.ready().chain.contains(&ChainCall::GiveUp { task }), "asked again");
    h.chain(now + 102, ChainEvent::Claimed { task }).unwrap();
    assert_eq!(h.core.task_status(&task), None);
}
