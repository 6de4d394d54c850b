//! `quorate worker run` as a process, killed and restarted: a worker killed (SIGKILL) while it
//! runs a task runs it again from its store, one killed after its vote reveals by itself once
//! restarted, one asked to stop (SIGTERM) takes no new task but votes on the one it runs, and
//! `quorate worker status` reads what the store holds.

use std::{
    fs::File,
    path::{Path, PathBuf},
    process::{Child, Stdio},
    time::{Duration, Instant},
};

use quorate_devnet::Role;
use quorate_node::{
    config::SchedulerSection,
    devnet::{DevnetFiles, write_files},
    scheduler::pool,
    worker,
};
use quorate_p2p::{
    Message,
    data::Access,
    wire::{Report, TaskReport},
};
use quorate_primitives::{
    ContentHash, EvaluatorKind, JobLimits, JobManifest, PoolId, ResultDigest, TaskId,
};

use crate::{
    common::{chain, devnet, quorate, run, signer},
    worker_service::{
        Received, Scheduler, assignment, logs, open_deal, revealed, scheduler, worker_config,
        worker_keys,
    },
};

/// Counts for a while (about two seconds for half a billion turns), after a first progress.
const CODE: &str = r#"(input) => {
  progress(0.1);
  let x = 0;
  for (let i = 0; i < input.loops; i++) { x = (x + i) % 1000003; }
  return { k: input.k, x };
}"#;
const INPUTS: [&str; 3] =
    [r#"{"k":0,"loops":500000000}"#, r#"{"k":1,"loops":500000000}"#, r#"{"k":2,"loops":10}"#];

/// A `quorate worker run` process; killed when dropped.
struct Process {
    child: Child,
    log: PathBuf,
}

impl Process {
    fn start(files: &DevnetFiles, data: &Path, pool: PoolId, bootstrap: &str, n: u32) -> Self {
        let log = data.with_extension(format!("{n}.log"));
        let child = quorate()
            .arg("--config")
            .arg(&files.config)
            .arg("--data-dir")
            .arg(data)
            .args(["--set", r#"worker.listen=["/ip4/127.0.0.1/tcp/0"]"#])
            .args(["worker", "run", "--wallet", "worker-1", "--password-file"])
            .arg(&files.password_file)
            .args(["--pool", &pool.0.to_string(), "--cores", "1", "--bootstrap", bootstrap])
            .stdout(Stdio::null())
            .stderr(Stdio::from(File::create(&log).unwrap()))
            .spawn()
            .unwrap();
        Self { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL, as a crash.
    fn kill(mut self) -> String {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.log()
    }

    /// SIGTERM: the worker drains.
    fn terminate(&self) {
        let pid = i32::try_from(self.child.id()).unwrap();
        #[allow(unsafe_code)]
        // SAFETY: kill(2) with a child's pid and a valid signal number.
        let sent = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(sent, 0);
    }

    /// Waits for the process to end by itself.
    fn wait(&mut self, secs: u64) -> std::process::ExitStatus {
        let until = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < until, "still running after {secs} s: {}", self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn from(address: alloy::primitives::Address) -> impl Fn(&Received) -> bool {
    move |r| r.from.address == address
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_finishes_what_its_store_owes_and_a_stopped_one_drains() {
    logs();
    let net = devnet().await;
    let dir = tempfile::tempdir().unwrap();
    let files = write_files(&net, &dir.path().join("devnet")).unwrap();
    let hub = net.deployment().hub;
    let operator = chain(&net, Role::PoolOperator).await;
    let owner = signer(&net, Role::PoolOperator);
    let pool_id =
        pool::create(&operator, hub, pool::policy(&SchedulerSection::default()), "").await.unwrap();
    let keys = worker_keys(&net);
    let (a, b) = (keys[0].address(), keys[1].address());
    let manifest = JobManifest {
        evaluator: EvaluatorKind::JavaScript,
        limits: JobLimits { timeout_ms: 60_000, heap_mib: 256, result_bytes: 1 << 20 },
        gpu: quorate_primitives::GpuNeeds::NONE,
        code: ContentHash::of(CODE.as_bytes()),
        args: "[]".into(),
        modules: Vec::new(),
        inputs: INPUTS.iter().map(|i| ContentHash::of(i.as_bytes())).collect(),
        salt: Default::default(),
    };
    let job = manifest.hash().unwrap();
    let mut s: Scheduler = scheduler(&owner, pool_id, net.chain_id()).await;
    for blob in [manifest.encode().unwrap(), CODE.as_bytes().to_vec()]
        .into_iter()
        .chain(INPUTS.iter().map(|i| i.as_bytes().to_vec()))
    {
        s.client.put_content_for(blob, Access::only([a, b])).await.unwrap();
    }
    let bootstrap = s.addr.to_string();

    // Worker a is a `quorate worker run` process (the devnet's worker-1); b runs in-process.
    let data = dir.path().join("a");
    let mut seen = Vec::new();
    let joined = |address| {
        move |r: &Received| {
            (from(address)(r) && matches!(r.message, Message::JoinRequest(_))).then_some(r.peer)
        }
    };
    let process = Process::start(&files, &data, pool_id, &bootstrap, 1);
    let worker_a_peer = s.wait(60, &mut seen, joined(a)).await;
    let log = process.log();
    assert!(log.contains("1000 QCR free in the Hub for stakes"), "{log}");
    let b_dir = tempfile::tempdir().unwrap();
    let worker_b =
        worker::spawn(worker_config(&net, pool_id, b_dir.path(), s.addr.clone()), keys[1].clone())
            .await
            .unwrap();
    s.wait(30, &mut seen, joined(b)).await;

    let (deal, terms) = open_deal(&net, &operator, pool_id, job, INPUTS.len() as u32).await;
    let tasks: Vec<TaskId> = (0..INPUTS.len() as u64).map(|i| TaskId::derive(deal, i)).collect();
    let deadline = terms.contribution_deadline;
    let assign = |address, task: usize| {
        assignment(&owner, pool_id, address, tasks[task], job, INPUTS[task], deadline)
    };
    assert_eq!(s.client.request(worker_a_peer, assign(a, 0)).await.unwrap(), Message::Ack);
    s.wait(30, &mut seen, |r| {
        (from(a)(r)
            && matches!(&r.message, Message::TaskReport(TaskReport { task, report: Report::Progress(_) }) if *task == tasks[0]))
            .then_some(())
    })
    .await;
    let log = process.kill();
    assert!(log.contains("running"), "{log}");

    // ... it runs it again from its store once restarted, and votes.
    seen.clear();
    let process = Process::start(&files, &data, pool_id, &bootstrap, 2);
    assert_eq!(s.wait(60, &mut seen, joined(a)).await, worker_a_peer, "the same peer id");
    let known = s
        .wait(30, &mut seen, |r| match &r.message {
            Message::RecoveryRequest(m) if from(a)(r) => Some(m.known.clone()),
            _ => None,
        })
        .await;
    assert_eq!(known, vec![tasks[0]]);
    let vote = s
        .wait(60, &mut seen, |r| match &r.message {
            Message::ContributionNotice(n) if from(a)(r) && n.task == tasks[0] => {
                Some(n.result_hash)
            }
            _ => None,
        })
        .await;
    // Killed after its vote: restarted, it reveals by itself once b's vote makes the consensus.
    let log = process.kill();
    assert!(log.contains("resuming the tasks the store holds"), "{log}");
    seen.clear();
    let mut process = Process::start(&files, &data, pool_id, &bootstrap, 3);
    s.wait(60, &mut seen, joined(a)).await;
    assert_eq!(s.client.request(worker_b.peer_id(), assign(b, 0)).await.unwrap(), Message::Ack);
    let mut uploads = Vec::new();
    for address in [a, b] {
        let result = s
            .wait(60, &mut seen, |r| match &r.message {
                Message::ResultUpload(u) if from(address)(r) && u.task == tasks[0] => {
                    Some(u.result.clone())
                }
                _ => None,
            })
            .await;
        uploads.push((address, result));
    }
    let on_chain = revealed(&operator, hub, tasks[0]).await;
    for (address, result) in &uploads {
        let digest = ResultDigest::of(tasks[0], result);
        assert!(on_chain.contains(&(*address, digest)), "{address}: {on_chain:?}");
        assert_eq!(digest.vote(tasks[0]), vote);
    }

    // Asked to stop while it runs task 1: no new task, but task 1 is voted before it exits.
    assert_eq!(s.client.request(worker_a_peer, assign(a, 1)).await.unwrap(), Message::Ack);
    s.wait(30, &mut seen, |r| {
        (from(a)(r)
            && matches!(&r.message, Message::TaskReport(TaskReport { task, report: Report::Progress(_) }) if *task == tasks[1]))
            .then_some(())
    })
    .await;
    process.terminate();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = s.client.request(worker_a_peer, assign(a, 2)).await.unwrap_err();
    assert!(refused.to_string().contains("stopping"), "{refused}");
    s.wait(60, &mut seen, |r| match &r.message {
        Message::ContributionNotice(n) if from(a)(r) && n.task == tasks[1] => Some(()),
        _ => None,
    })
    .await;
    let status = tokio::task::spawn_blocking(move || process.wait(60)).await.unwrap();
    assert!(status.success(), "{status}");

    // What the store still holds: task 0 revealed and uploaded (until the pool finalizes it),
    // task 1 voted.
    let (ok, out, err) = run(quorate()
        .arg("--config")
        .arg(&files.config)
        .arg("--data-dir")
        .arg(&data)
        .args(["worker", "status", "--wallet", "worker-1"]));
    assert!(ok, "{err}");
    assert!(out.contains("2 task(s) held"), "{out}");
    assert!(out.contains("uploaded") && out.contains("contributed"), "{out}");
    assert!(out.contains("QCR free in the Hub"), "{out}");
    let (ok, json, err) = run(quorate()
        .arg("--config")
        .arg(&files.config)
        .arg("--data-dir")
        .arg(&data)
        .args(["worker", "status", "--json"]));
    assert!(ok, "{err}");
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["phases"]["contributed"], 1, "{json}");
    worker_b.stop();
    worker_b.join().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_run_refuses_to_start_with_the_cause_and_the_fix() {
    let net = devnet().await;
    let dir = tempfile::tempdir().unwrap();
    let files = write_files(&net, &dir.path().join("devnet")).unwrap();
    let operator = chain(&net, Role::PoolOperator).await;
    let policy = pool::policy(&SchedulerSection::default());
    let pool_id = pool::create(&operator, net.deployment().hub, policy, "").await.unwrap();
    // A wallet with nothing on it.
    let empty = quorate_node::wallet::Wallets::new(&files.keystores);
    let key = alloy::primitives::B256::repeat_byte(0x42);
    empty
        .create("empty", &key, b"quorate-devnet", quorate_node::wallet::KdfStrength::Light)
        .unwrap();
    let worker = |wallet: &str, pool: &str, bootstrap: &[&str]| {
        let mut command = quorate();
        command
            .arg("--config")
            .arg(&files.config)
            .arg("--data-dir")
            .arg(dir.path().join("w"))
            .args(["worker", "run", "--wallet", wallet, "--password-file"])
            .arg(&files.password_file)
            .args(["--pool", pool]);
        for addr in bootstrap {
            command.args(["--bootstrap", addr]);
        }
        let (ok, _, err) = run(&mut command);
        assert!(!ok);
        err
    };
    let somewhere = "/ip4/127.0.0.1/tcp/9/p2p/12D3KooWHeKxr1VZ6gddmTefeJdMfhy4UYjrCsH6mi3soxvmxe7p";
    let pool = pool_id.0.to_string();
    let err = worker("worker-1", &pool, &[]);
    assert!(err.contains("no peer to start from: give --bootstrap"), "{err}");
    let err = worker("worker-1", &pool, &["/ip4/127.0.0.1/tcp/9"]);
    assert!(err.contains("does not end in /p2p/"), "{err}");
    let err = worker("worker-1", "999", &[somewhere]);
    assert!(err.contains("there is no pool 999 on the Hub"), "{err}");
    let err = worker("empty", &pool, &[somewhere]);
    assert!(err.contains("holds 0 ETH") && err.contains("quorate wallet send"), "{err}");
    // With ETH for gas but nothing in the Hub to stake.
    let address =
        format!("{}", alloy::signers::local::PrivateKeySigner::from_bytes(&key).unwrap().address());
    let (ok, _, err) = run(quorate()
        .arg("--config")
        .arg(&files.config)
        .args(["wallet", "send", &address, "1eth", "--wallet", "worker-2", "--password-file"])
        .arg(&files.password_file));
    assert!(ok, "{err}");
    let err = worker("empty", &pool, &[somewhere]);
    assert!(
        err.contains("has 0 QCR free in the Hub") && err.contains("quorate wallet deposit"),
        "{err}"
    );
}
