//! What the scenarios share: the binaries, a client's job through the library, the chain's
//! invariants once a job is done.

use std::{
    collections::HashSet,
    path::PathBuf,
    time::{Duration, Instant},
};

use alloy::{primitives::Address, providers::RootProvider, signers::local::PrivateKeySigner};
use futures::StreamExt;
use quorate_devnet::{Devnet, Role};
use quorate_e2e::invariants::Invariants;
use quorate_node::{
    chain::{Chain, ChainConfig},
    client::{Client, JobEvent},
    job::Job,
};

/// `quorate` and `quorate-evaluator`, built beside the tests.
pub(crate) fn binaries() -> (PathBuf, PathBuf) {
    let quorate = quorate_e2e::program("quorate-node", "quorate").unwrap();
    let evaluator = quorate_e2e::program("quorate-evaluator", "quorate-evaluator").unwrap();
    (quorate, evaluator)
}

/// A devnet funding `workers` workers and a pool of as many (not started yet), its files in a
/// temporary directory; `settings` as `--set` gives them (`worker.gpu=true`).
pub(crate) async fn devnet_pool(
    workers: u32,
    settings: &[&str],
) -> (tempfile::TempDir, Devnet, quorate_e2e::roles::Pool) {
    let dir = tempfile::tempdir().unwrap();
    let config = quorate_devnet::DevnetConfig { workers, ..quorate_devnet::DevnetConfig::test() };
    let net = Devnet::spawn(config).await.unwrap();
    let (quorate, evaluator) = binaries();
    let pool = quorate_e2e::roles::Pool::create(
        &net,
        dir.path(),
        &quorate,
        &evaluator,
        workers as usize,
        settings,
    )
    .unwrap();
    (dir, net, pool)
}

/// The operator's dashboard view once `until` holds of it (or, after `limit`, as it stands).
pub(crate) async fn operator_view_once(
    pool: &quorate_e2e::roles::Pool,
    limit: Duration,
    until: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + limit;
    loop {
        let view = operator_view(pool).await;
        if until(&view) || Instant::now() > deadline {
            return view;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The invariants once `tasks` tasks are finalized (or two minutes passed): credits conserved,
/// nothing paid twice, no honest stake lost (every worker account counts as honest).
pub(crate) async fn check(net: &Devnet, tasks: u64) -> Invariants {
    let provider = RootProvider::new_http(net.endpoint().parse().unwrap());
    let workers: HashSet<Address> =
        net.accounts().iter().filter(|a| a.role == Role::Worker).map(|a| a.address).collect();
    let owner = net.account(Role::PoolOperator).unwrap().address;
    // The pool finalizes what was revealed within a few blocks, or a time reference (60 s)
    // after a finalize lost in a crash.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let check = Invariants::read(
            &provider,
            net.deployment().hub,
            net.deployment().credit,
            &workers,
            owner,
        )
        .await
        .unwrap();
        if check.finalized >= tasks || Instant::now() > deadline {
            return check;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// A job of `tasks` squares at `trust` from the devnet's client, through the library; returns
/// how many results were verified.
pub(crate) async fn job(
    net: &Devnet,
    scheduler: &str,
    tasks: u64,
    trust: u32,
) -> tokio::task::JoinHandle<Result<u64, String>> {
    job_through(net, &[scheduler], tasks, trust).await
}

/// [`job`], the client's network bootstrapped through `peers`.
pub(crate) async fn job_through(
    net: &Devnet,
    peers: &[&str],
    tasks: u64,
    trust: u32,
) -> tokio::task::JoinHandle<Result<u64, String>> {
    job_of(net, peers, "(n) => ({ n, square: n * n })", tasks, trust).await
}

/// A job of `code` over inputs `0..tasks` at `trust` from the devnet's client, its network
/// bootstrapped through `peers`; returns how many results were verified.
pub(crate) async fn job_of(
    net: &Devnet,
    peers: &[&str],
    code: &str,
    tasks: u64,
    trust: u32,
) -> tokio::task::JoinHandle<Result<u64, String>> {
    let key = PrivateKeySigner::from_bytes(&net.account(Role::Client).unwrap().key).unwrap();
    let mut config = ChainConfig::devnet(net.endpoint().parse().unwrap());
    config.chain_id = Some(net.chain_id());
    let chain = Chain::connect(&config, key.clone()).await.unwrap();
    let peers = peers.iter().map(|p| p.parse().unwrap()).collect();
    let client = Client::new(chain, key, net.deployment().hub, peers);
    let mut events = Job::builder(code)
        .inputs((0..tasks).map(serde_json::Value::from))
        .pool(1)
        .trust(trust)
        .max_price_qcr("1")
        .unwrap()
        .submit(&client)
        .unwrap();
    tokio::spawn(async move {
        let _client = client;
        let mut verified = 0u64;
        while let Some(event) = events.next().await {
            match event.map_err(|e| e.to_string())? {
                JobEvent::Result { .. } => verified += 1,
                JobEvent::Finished { .. } => return Ok(verified),
                _ => {}
            }
        }
        Err("the job's events ended before it finished".into())
    })
}

/// Waits (three minutes at most) for `job` to finish and checks that every one of its `tasks`
/// results was verified against the chain; a failure shows the roles' logs.
pub(crate) async fn finished(
    job: tokio::task::JoinHandle<Result<u64, String>>,
    pool: &quorate_e2e::roles::Pool,
    tasks: u64,
) {
    let verified = tokio::time::timeout(Duration::from_secs(180), job)
        .await
        .unwrap_or_else(|_| panic!("the job did not finish:\n{}", pool.logs_tail(40)))
        .unwrap()
        .unwrap_or_else(|e| panic!("{e}:\n{}", pool.logs_tail(40)));
    assert_eq!(verified, tasks, "every result verified against the chain:\n{}", pool.logs_tail(60));
}

/// The pool's dashboard as its operator sees it (`quorate scheduler dashboard`'s link).
pub(crate) async fn operator_view(pool: &quorate_e2e::roles::Pool) -> serde_json::Value {
    let out = pool.command("pool").args(["scheduler", "dashboard"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let link = String::from_utf8(out.stdout).unwrap();
    let (url, token) = link.trim().split_once("/#token=").unwrap();
    reqwest::Client::new()
        .get(format!("{url}/api/view"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}
