//! Crashes at each named stage of a deal, on real parts: anvil, the Hub, `quorate` processes for
//! the scheduler, the workers and the client, libp2p on loopback, redb stores. A role started
//! with a crash point (`QUORATE_CRASH_AT`) kills itself there with SIGKILL, exactly as `kill -9`
//! at that moment; it is started again from its store, with the next stage's crash point, and
//! the job must complete with every result verified, no task lost, nothing paid twice, credits
//! conserved and no honest stake lost (ROLES.md's invariants, read from the chain's events).

use std::time::{Duration, Instant};

use quorate_devnet::{Devnet, DevnetConfig};
use quorate_e2e::roles::{Pool, Process};

use crate::common::{binaries, check, finished, job, job_through};

/// Longest wait for a role to reach its crash point.
const REACH: Duration = Duration::from_secs(90);

/// A devnet with `workers` workers and a pool of DEV-LONG tasks (its final deadline far enough
/// for every restart), its roles not started yet.
async fn pool(workers: u32, dir: &std::path::Path) -> (Devnet, Pool) {
    let net = Devnet::spawn(DevnetConfig {
        workers,
        state: Some(dir.join("chain-state.json")),
        ..DevnetConfig::test()
    })
    .await
    .unwrap();
    let (quorate, evaluator) = binaries();
    let pool = Pool::create(
        &net,
        dir,
        &quorate,
        &evaluator,
        workers as usize,
        &["scheduler.order_category=1"],
    )
    .unwrap();
    (net, pool)
}

/// Starts the pool with the scheduler (`worker` `None`) or a worker set to die at `points[0]`,
/// runs a job of `tasks` tasks at trust 2 while it goes through every point
/// ([`crash_through`]), and checks that every result is verified, every task finalized
/// and the chain's invariants hold.
async fn crash_through_a_job(
    net: &Devnet,
    mut pool: Pool,
    worker: Option<usize>,
    points: &'static [&'static str],
    tasks: u64,
    meanwhile: impl FnMut(&mut Pool, &str) + Send + 'static,
) {
    let first = Some(points[0]);
    match worker {
        Some(i) => pool.workers[i].crash_at(first),
        None => pool.scheduler.crash_at(first),
    }
    pool.start().unwrap();
    let job = job(net, &pool.address, tasks, 2).await;
    let pool = tokio::task::spawn_blocking(move || {
        crash_through(&mut pool, worker, points, meanwhile);
        pool
    })
    .await
    .unwrap();
    finished(job, &pool, tasks).await;
    let check = check(net, tasks).await;
    assert_eq!(check.finalized, tasks, "{check:?}\n{}", pool.logs_tail(40));
    assert!(check.hold(), "{check:?}\n{}", pool.logs_tail(40));
}

/// Runs the scheduler (`worker` `None`) or a worker through `points` in turn: waits for it to
/// die at each (its log names the point), calls `meanwhile` with the point while it is down,
/// then starts it again with the next point; the last start has none.
fn crash_through(
    pool: &mut Pool,
    worker: Option<usize>,
    points: &[&str],
    mut meanwhile: impl FnMut(&mut Pool, &str),
) {
    fn role(pool: &mut Pool, worker: Option<usize>) -> &mut Process {
        match worker {
            Some(i) => &mut pool.workers[i],
            None => &mut pool.scheduler,
        }
    }
    for (i, point) in points.iter().enumerate() {
        let process = role(pool, worker);
        let died = process.wait_exit(REACH).is_some();
        let log = std::fs::read_to_string(process.log()).unwrap_or_default();
        let name = process.name().to_owned();
        assert!(
            died && log.contains(&format!("crash point {point}: killed")),
            "{name} did not die at {point} within {REACH:?}:\n{}",
            pool.logs_tail(40)
        );
        meanwhile(pool, point);
        let process = role(pool, worker);
        process.crash_at(points.get(i + 1).copied());
        // A moment down, as a real restart takes.
        std::thread::sleep(Duration::from_millis(300));
        process.start().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_killed_at_every_stage_of_a_deal_restarts_and_the_job_completes() {
    let dir = tempfile::tempdir().unwrap();
    let (net, pool) = pool(2, dir.path()).await;
    let points: &[&str] = &[
        "scheduler.deal",
        "scheduler.send-initialize",
        "scheduler.mined-initialize",
        "scheduler.contribution",
        "scheduler.reveal",
        "scheduler.send-finalize",
        "scheduler.mined-finalize",
    ];
    crash_through_a_job(&net, pool, None, points, 6, |_, _| {}).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_at_every_stage_of_a_task_restarts_and_loses_no_stake() {
    let dir = tempfile::tempdir().unwrap();
    let (net, pool) = pool(2, dir.path()).await;
    let points: &[&str] = &[
        "worker.computed",
        "worker.contributed",
        "worker.revealing",
        "worker.uploading",
        "worker.revealed",
    ];
    // Revealed, not uploaded: the pool may finalize without the result. Its scheduler restarts
    // too before the worker is back; the result must still be taken.
    let scheduler_too = |pool: &mut Pool, point: &str| {
        if point == "worker.revealed" {
            pool.scheduler.kill();
            std::thread::sleep(Duration::from_secs(2));
            pool.scheduler.start().unwrap();
            std::thread::sleep(Duration::from_secs(1));
        }
    };
    crash_through_a_job(&net, pool, Some(0), points, 8, scheduler_too).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_killed_mid_submit_and_the_chain_node_going_away_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut net, mut pool) = pool(2, dir.path()).await;
    pool.start().unwrap();
    let code = dir.path().join("square.js");
    std::fs::write(&code, "(n) => ({ n, square: n * n })\n").unwrap();
    let inputs = dir.path().join("inputs.jsonl");
    let tasks = 5u64;
    std::fs::write(&inputs, (0..tasks).map(|n| format!("{n}\n")).collect::<String>()).unwrap();
    let password = pool.files.password_file.clone();
    let client = |args: &[&str]| {
        let mut command = pool.command("client");
        command.args(args).args(["--wallet", "client", "--password-file"]).arg(&password);
        command
    };

    // The client dies (SIGKILL) once the node accepted its deal's transaction, before the
    // receipt: the deal is bought all the same.
    let out = client(&["job", "submit"])
        .arg(&code)
        .arg(&inputs)
        .args(["--trust", "2", "--max-price", "1", "--yes", "--detach", "--pool", "1"])
        .args(["--bootstrap", &pool.address])
        .env(quorate_node::crash::CRASH_AT, "chain.sent")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("crash point chain.sent: killed"), "{err}");

    // Started again on any machine with the wallet: the deal is found from the chain...
    let listed = Instant::now() + Duration::from_secs(30);
    let deal = loop {
        let out = pool
            .command("client")
            .args(["job", "list", "--wallet", "client", "--json"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if let Some(line) = text.lines().next() {
            let deal: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(deal["tasks"], tasks, "{text}");
            break deal["deal"].as_str().unwrap().to_owned();
        }
        assert!(Instant::now() < listed, "the deal never showed: {text}");
        std::thread::sleep(Duration::from_millis(500));
    };

    // ...and while its tasks run, the chain node goes away for a few blocks and comes back
    // with its state: every role reconnects and catches up from its cursor.
    tokio::task::block_in_place(|| net.restart_chain(Duration::from_secs(3))).unwrap();

    let results = dir.path().join("results.jsonl");
    let out = tokio::task::block_in_place(|| {
        let out = results.to_str().unwrap();
        client(&["job", "results", &deal, "--bootstrap", &pool.address, "--out", out])
            .output()
            .unwrap()
    });
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        pool.logs_tail(40)
    );
    let text = std::fs::read_to_string(&results).unwrap();
    let expected: String = (0..tasks)
        .map(|n| format!("{{\"index\":{n},\"result\":{{\"n\":{n},\"square\":{}}}}}\n", n * n))
        .collect();
    assert_eq!(text, expected);
    let check = check(&net, tasks).await;
    assert_eq!(check.finalized, tasks, "{check:?}\n{}", pool.logs_tail(40));
    assert!(check.hold(), "{check:?}\n{}", pool.logs_tail(40));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduler_restarted_on_a_new_port_is_found_again_through_the_dht() {
    let dir = tempfile::tempdir().unwrap();
    let (net, mut pool) = pool(2, dir.path()).await;
    // Another pool's scheduler, a DHT server the workers and the client also know (as any
    // network has others); it outlives the move.
    let (quorate, evaluator) = binaries();
    let other_dir = dir.path().join("other");
    let mut other =
        Pool::create(&net, &other_dir, &quorate, &evaluator, 0, &["scheduler.order_category=1"])
            .unwrap();
    other.start().unwrap();
    pool.scheduler.add_args(&["--bootstrap", &other.address]);
    for worker in &mut pool.workers {
        worker.add_args(&["--bootstrap", &other.address]);
    }
    pool.start().unwrap();
    let tasks = 6;
    let job = job_through(&net, &[&pool.address, &other.address], tasks, 2).await;
    // Once the pool works (a result received), its scheduler dies and comes back on a port
    // nobody was told.
    let log = pool.scheduler.log().to_path_buf();
    let working = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(&log).unwrap_or_default().contains("result received") {
        assert!(Instant::now() < working, "no result:\n{}", pool.logs_tail(30));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    pool.scheduler.kill();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    assert!(pool.scheduler.set_arg("--listen", &format!("/ip4/127.0.0.1/tcp/{port}")));
    let moved = pool.scheduler.start_reading_address().unwrap();
    assert_ne!(moved, pool.address);
    finished(job, &pool, tasks).await;
    // Every worker joined the moved scheduler.
    let text = std::fs::read_to_string(&log).unwrap();
    let after = text.split("scheduler running").last().unwrap_or_default();
    assert_eq!(after.matches("worker joined").count(), 2, "{after}");
    let check = check(&net, tasks).await;
    assert!(check.hold(), "{check:?}\n{}", pool.logs_tail(40));
}
