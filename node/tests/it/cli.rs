//! The `quorate` binary as a user runs it: configuration layers, and the wallet commands
//! against `quorate devnet`.

use crate::common::{quorate, run};
use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

#[test]
fn configuration_layers_stack_in_order_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site.toml");
    std::fs::write(&site, "[chain]\nrpc_url = \"http://file:1\"\nconfirmations = 7\n[node]\ndata_dir = \"/srv/quorate\"\n").unwrap();
    let get = |key: &str, env: &[(&str, &str)], flags: &[&str]| {
        let mut command = quorate();
        command.arg("--config").arg(&site).args(flags).args(["config", "get", key]);
        for (k, v) in env {
            command.env(k, v);
        }
        let (ok, out, err) = run(&mut command);
        assert!(ok, "{err}");
        out.trim().to_owned()
    };
    assert_eq!(get("chain.poll_interval_ms", &[], &[]), "1000", "default");
    assert_eq!(get("chain.rpc_url", &[], &[]), "http://file:1", "site file over default");
    assert_eq!(
        get("chain.rpc_url", &[("QUORATE_CHAIN_RPC_URL", "http://env:2")], &[]),
        "http://env:2",
        "environment over file"
    );
    assert_eq!(
        get(
            "chain.rpc_url",
            &[("QUORATE_CHAIN_RPC_URL", "http://env:2")],
            &["--rpc-url", "http://flag:3"]
        ),
        "http://flag:3",
        "flag over environment"
    );
    assert_eq!(get("chain.confirmations", &[], &["--set", "chain.confirmations=9"]), "9");
    assert_eq!(
        get("wallet.keystore_dir", &[], &[]),
        "/srv/quorate/keystores",
        "derived from the data dir"
    );

    let (ok, all, _) = run(quorate().arg("--config").arg(&site).args(["config", "get", "--all"]));
    assert!(
        ok && all.contains("[chain]") && all.contains("keystore_dir = \"/srv/quorate/keystores\""),
        "{all}"
    );
    let (ok, defaults, _) = run(quorate().args(["config", "defaults"]));
    assert!(ok && defaults.contains("confirmations = 2"), "{defaults}");

    std::fs::write(&site, "[chain]\nconfirmations = 7\nconfirmation = 8\n").unwrap();
    let (ok, _, err) = run(quorate().arg("--config").arg(&site).args(["config", "get", "--all"]));
    assert!(!ok);
    assert!(
        err.contains(&format!("{}, line 3, key `chain.confirmation`", site.display())),
        "{err}"
    );
}

/// A `quorate devnet` process, stopped with SIGTERM when dropped.
struct DevnetProcess {
    child: Child,
    config: PathBuf,
    password: PathBuf,
    summary: String,
}

impl DevnetProcess {
    /// The chain, a pool and two workers.
    fn start(dir: &Path) -> Self {
        Self::start_with(dir, &[])
    }

    /// The chain alone: pools are the test's to create.
    fn start_chain_only(dir: &Path) -> Self {
        Self::start_with(dir, &["--no-pool"])
    }

    fn start_with(dir: &Path, extra: &[&str]) -> Self {
        let started = Instant::now();
        let mut child = quorate()
            .args(["devnet", "--port", "0", "--workers", "2", "--dir"])
            .arg(dir)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut summary = String::new();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        for line in lines.by_ref() {
            let line = line.unwrap();
            summary.push_str(&line);
            summary.push('\n');
            if line.starts_with("Stop with Ctrl-C") {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "devnet never became ready: {summary}"
            );
        }
        // Keep draining, so a late line never blocks the process.
        std::thread::spawn(move || lines.for_each(drop));
        eprintln!("quorate devnet: ready after {:?} (command to summary)", started.elapsed());
        Self { child, config: dir.join("devnet.toml"), password: dir.join("password"), summary }
    }

    fn wallet(&self, args: &[&str]) -> (bool, String, String) {
        run(quorate().arg("--config").arg(&self.config).arg("wallet").args(args))
    }

    fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "devnet ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for DevnetProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_wallet_commands_work_against_quorate_devnet() {
    let dir = tempfile::tempdir().unwrap();
    let devnet = DevnetProcess::start(dir.path());
    for expected in ["RPC", "Hub", "operator", "worker-2", "client", "hub-owner"] {
        assert!(devnet.summary.contains(expected), "{expected} missing from:\n{}", devnet.summary);
    }
    let password = devnet.password.to_str().unwrap().to_owned();

    let (ok, out, err) = devnet.wallet(&["balance", "--wallet", "client"]);
    assert!(ok, "{err}");
    assert!(out.contains("hub free    1000 QCR (1000000000000000000000 wei)"), "{out}");
    assert!(out.contains("wallet      9000 QCR"), "{out}");

    let (ok, out, err) =
        devnet.wallet(&["deposit", "12.5qcr", "--wallet", "client", "--password-file", &password]);
    assert!(ok, "{err}");
    assert!(out.contains("deposited 12.5 QCR (12500000000000000000 wei)"), "{out}");
    assert!(out.contains("hub free    1012.5 QCR"), "{out}");

    let (ok, out, err) = devnet.wallet(&[
        "withdraw",
        "2500000000000000000wei",
        "--wallet",
        "client",
        "--password-file",
        &password,
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("hub free    1010 QCR"), "{out}");

    let (ok, _, err) =
        devnet.wallet(&["withdraw", "5000", "--wallet", "client", "--password-file", &password]);
    assert!(!ok);
    assert!(
        err.contains("the Hub holds 1010 QCR free for 0x") && err.contains("5000 needed"),
        "{err}"
    );

    let (ok, _, err) = devnet.wallet(&["withdraw", "1", "--wallet", "client"]);
    assert!(!ok, "no password source and no terminal");
    assert!(err.contains("--password-file"), "{err}");

    // A new wallet, its address, and QCR sent to it.
    let mut new = quorate();
    new.arg("--config")
        .arg(&devnet.config)
        .args(["wallet", "new", "--name", "fresh"])
        .env("QUORATE_PASSWORD", "fresh-pw");
    let (ok, out, err) = run(&mut new);
    assert!(ok, "{err}");
    let mut address = quorate();
    address
        .arg("--config")
        .arg(&devnet.config)
        .args(["wallet", "address", "--wallet", "fresh"])
        .env("QUORATE_PASSWORD", "fresh-pw");
    let (ok, address, _) = run(&mut address);
    assert!(ok && out.contains(address.trim()), "{out} / {address}");
    let (ok, list, _) = devnet.wallet(&["list"]);
    assert!(ok && list.contains("fresh") && list.contains("worker-1"), "{list}");
    let (ok, out, err) = devnet.wallet(&[
        "send",
        address.trim(),
        "3",
        "--wallet",
        "client",
        "--password-file",
        &password,
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("sent 3 QCR"), "{out}");
    let (ok, out, _) = devnet.wallet(&["balance", address.trim()]);
    assert!(ok && out.contains("wallet      3 QCR") && out.contains("eth         0 ETH"), "{out}");

    // A checksum typo and the Hub itself are refused before anything is sent.
    // The checksummed address with one letter's case flipped: still mixed case, bad checksum.
    let checksummed = address.trim().to_owned();
    let flip = checksummed.char_indices().skip(2).find(|(_, c)| c.is_ascii_alphabetic()).unwrap().0;
    let mut mixed: Vec<char> = checksummed.chars().collect();
    mixed[flip] = if mixed[flip].is_ascii_lowercase() {
        mixed[flip].to_ascii_uppercase()
    } else {
        mixed[flip].to_ascii_lowercase()
    };
    let mixed: String = mixed.into_iter().collect();
    let (ok, _, err) =
        devnet.wallet(&["send", &mixed, "1", "--wallet", "client", "--password-file", &password]);
    assert!(!ok, "a mixed-case address with a bad checksum was accepted");
    assert!(err.contains("is not an address"), "{err}");
    let hub = devnet
        .summary
        .lines()
        .find_map(|l| l.trim().strip_prefix("Hub"))
        .unwrap()
        .trim()
        .to_owned();
    let (ok, _, err) =
        devnet.wallet(&["send", &hub, "1", "--wallet", "client", "--password-file", &password]);
    assert!(!ok && err.contains("quorate wallet deposit"), "{err}");

    let status = devnet.stop();
    assert!(status.success(), "devnet exited with {status}");

    // Started again in the same directory: the devnet's keystores are replaced, the user's
    // own wallet is kept.
    let again = DevnetProcess::start(dir.path());
    let (ok, list, _) = again.wallet(&["list"]);
    assert!(ok && list.contains("fresh"), "{list}");
    drop(again);
}

#[test]
fn devnet_refuses_a_directory_that_is_not_its_own() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("keystores")).unwrap();
    std::fs::write(dir.path().join("keystores/precious.json"), "{}").unwrap();
    let (ok, _, err) = run(quorate().args(["devnet", "--port", "0", "--dir"]).arg(dir.path()));
    assert!(!ok);
    assert!(err.contains("is not a devnet directory"), "{err}");
    assert!(dir.path().join("keystores/precious.json").exists());
}

#[test]
fn the_scheduler_creates_its_pool_once_and_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let devnet = DevnetProcess::start_chain_only(&dir.path().join("devnet"));
    let data = dir.path().join("pool-data");
    let scheduler = |args: &[&str]| {
        run(quorate()
            .arg("--config")
            .arg(&devnet.config)
            .arg("--data-dir")
            .arg(&data)
            .arg("scheduler")
            .args(args))
    };
    let password = devnet.password.to_str().unwrap().to_owned();

    let (ok, _, err) = scheduler(&["status"]);
    assert!(!ok && err.contains("create one with `quorate scheduler init`"), "{err}");

    let (ok, out, err) = scheduler(&[
        "init",
        "--wallet",
        "operator",
        "--password-file",
        &password,
        "--stake",
        "50",
        "--metadata",
        "https://pool.example",
    ]);
    assert!(ok, "{err}");
    assert!(out.starts_with("Pool 1 created on the Hub 0x"), "{out}");
    assert!(out.contains("workers stake 30 % of a task's price, the pool keeps 10 %"), "{out}");
    // 1000 QCR deposited by the devnet, 50 more: 1050 at 0.3 QCR per task.
    assert!(out.contains("Hub balance free: 1050 QCR, the pool's stake for 3500 tasks"), "{out}");

    let (ok, _, err) = scheduler(&["init", "--wallet", "operator", "--password-file", &password]);
    assert!(!ok && err.contains("already runs pool 1"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");

    let (ok, out, err) = scheduler(&["status", "--json"]);
    assert!(ok, "{err}");
    let status: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(status["pool"], 1);
    assert_eq!(status["policy"]["worker_stake_percent"], 30);
    assert_eq!(status["balances"]["free"], "1050000000000000000000");
    let (ok, out, _) = scheduler(&["status"]);
    assert!(ok && out.contains("Pool 1 on the Hub"), "{out}");

    // A policy the Hub refuses is said as a sentence, and nothing is remembered.
    let other = dir.path().join("other-pool");
    let (ok, _, err) = run(quorate()
        .arg("--config")
        .arg(&devnet.config)
        .arg("--data-dir")
        .arg(&other)
        .args(["--set", "scheduler.categories=[0, 7]", "--set", "scheduler.order_category=7"])
        .args(["scheduler", "init", "--wallet", "operator", "--password-file", &password]));
    assert!(!ok, "a pool with a category the Hub does not have was created");
    assert!(
        err.contains("the Hub has no category 7 (it has 0 DEV (10 s), 1 DEV-LONG (60 s), 2 XS"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn a_deal_s_status_and_claim_work_from_the_command_line() {
    // The chain alone: the test creates pool 1 and its deal, and nobody runs it.
    use alloy::providers::Provider;
    use quorate_node::{
        chain::{Chain, ChainConfig},
        client::deal::buy,
        config::NodeConfig,
        wallet::{Wallets, unlock},
    };
    let dir = tempfile::tempdir().unwrap();
    let devnet = DevnetProcess::start_chain_only(&dir.path().join("devnet"));
    let password = devnet.password.to_str().unwrap().to_owned();
    let (ok, _, err) = run(quorate()
        .arg("--config")
        .arg(&devnet.config)
        .arg("--data-dir")
        .arg(dir.path().join("pool"))
        .args(["scheduler", "init", "--wallet", "operator", "--password-file", &password]));
    assert!(ok, "{err}");

    // The client buys a deal from pool 1 with the operator's order and consent.
    let config: NodeConfig =
        toml::from_str(&std::fs::read_to_string(&devnet.config).unwrap()).unwrap();
    let wallets = Wallets::new(&config.wallet.keystore_dir);
    let key =
        |name: &str| unlock(&wallets.choose(Some(name)).unwrap().path, b"quorate-devnet").unwrap();
    let hub = config.chain.hub.unwrap();
    let rpc = alloy::providers::RootProvider::new_http(config.chain.rpc_url.parse().unwrap());
    let (client_address, operator) = (key("client").address(), key("operator").address());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let balances =
        |who| runtime.block_on(quorate_node::accounts::balances(&rpc, hub, who)).unwrap();
    let (client_before, operator_before) = (balances(client_address), balances(operator));
    let deal = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let mut chain_config = ChainConfig::devnet(config.chain.rpc_url.parse().unwrap());
        chain_config.chain_id = Some(config.chain.chain_id);
        let client = Chain::connect(&chain_config, key("client")).await.unwrap();
        let p = crate::deal::purchase(
            &key("operator"),
            config.chain.chain_id,
            hub,
            quorate_primitives::PoolId(1),
            client.address(),
            quorate_primitives::ContentHash::of(b"job"),
            3,
        );
        let time = client.latest_time().await.unwrap();
        buy(&client, hub, &p, time).await.unwrap()
    });
    let job =
        |args: &[&str]| run(quorate().arg("--config").arg(&devnet.config).arg("job").args(args));
    let deal = deal.to_string();

    let (ok, out, err) = job(&["status", &deal]);
    assert!(ok, "{err}");
    assert!(out.contains("in pool 1: 3 tasks at 2 QCR each, trust 3"), "{out}");
    assert!(out.contains("Tasks: 3 waiting."), "{out}");
    let (ok, out, _) = job(&["status", &deal, "--json"]);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(ok && json["tasks"][2]["state"] == "waiting", "{out}");

    let (ok, _, err) = job(&["claim", &deal, "--wallet", "client", "--password-file", &password]);
    assert!(!ok && err.contains("try again then"), "{err}");
    let (ok, _, err) = job(&["status", "0x1234"]);
    assert!(!ok && err.contains("is not a deal id"), "{err}");

    // Past the final deadline (the DEV category's 100 s), the client is refunded.
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let provider = alloy::providers::ProviderBuilder::new()
            .connect_http(config.chain.rpc_url.parse().unwrap());
        let _: serde_json::Value = provider
            .raw_request("evm_increaseTime".into(), serde_json::json!([120]))
            .await
            .unwrap();
        let _: serde_json::Value =
            provider.raw_request("evm_mine".into(), serde_json::json!([])).await.unwrap();
    });
    let (ok, out, err) = job(&["claim", &deal, "--wallet", "client", "--password-file", &password]);
    assert!(ok, "{err}");
    assert!(out.contains("3 tasks refunded, 0 tasks finalized"), "{out}");
    let (ok, out, _) = job(&["status", &deal]);
    assert!(ok && out.contains("Tasks: 3 refunded."), "{out}");
    let (ok, out, _) = job(&["claim", &deal, "--wallet", "client", "--password-file", &password]);
    assert!(ok && out.contains("nothing left to settle"), "{out}");
    // The vanished pool pays as POCO.md says: the client has its price back and the pool's
    // stake (30 % of the price, 0.6 QCR a task) as compensation; the owner lost that stake.
    let stakes = alloy::primitives::utils::parse_ether("1.8").unwrap();
    let (client_after, operator_after) = (balances(client_address), balances(operator));
    assert_eq!(client_after.free, client_before.free + stakes);
    assert_eq!(client_after.frozen, client_before.frozen);
    assert_eq!(
        operator_after.free + operator_after.frozen + stakes,
        operator_before.free + operator_before.frozen
    );
    assert_eq!(operator_after.frozen, operator_before.frozen);
}

#[test]
fn a_job_submitted_to_quorate_devnet_comes_back_verified() {
    // `quorate devnet` runs the chain, a pool's scheduler and two workers; a client submits
    // from another process with nothing but devnet.toml, as the README says.
    crate::common::evaluator();
    let dir = tempfile::tempdir().unwrap();
    let devnet = DevnetProcess::start(&dir.path().join("devnet"));
    assert!(devnet.summary.contains("workers    2 joined"), "{}", devnet.summary);
    let code = dir.path().join("square.js");
    // Its console line carries a terminal escape: shown escaped, never obeyed.
    std::fs::write(
        &code,
        "(input) => { console.log(`squaring ${input.n}\\u001b[2J`); \
         return { n: input.n, square: input.n * input.n }; }",
    )
    .unwrap();
    let inputs = dir.path().join("in.jsonl");
    std::fs::write(&inputs, "{\"n\": 3}\n{\"n\": 4}\n").unwrap();
    let started = Instant::now();
    let (ok, out, err) = run(quorate()
        .arg("--config")
        .arg(&devnet.config)
        .args(["job", "submit"])
        .arg(&code)
        .arg(&inputs)
        .args([
            "--trust",
            "3",
            "--max-price",
            "1",
            "--yes",
            "--wallet",
            "client",
            "--password-file",
        ])
        .arg(&devnet.password));
    assert!(ok, "{err}");
    assert_eq!(
        out,
        "{\"index\":0,\"result\":{\"n\":3,\"square\":9}}\n{\"index\":1,\"result\":{\"n\":4,\"square\":16}}\n",
        "{err}"
    );
    eprintln!("a 2-task job through quorate devnet in {:?}", started.elapsed());

    // The same client's other commands, against the same devnet.
    let client = |args: &[&str]| {
        run(quorate()
            .arg("--config")
            .arg(&devnet.config)
            .args(args)
            .args(["--wallet", "client", "--password-file"])
            .arg(&devnet.password))
    };
    let reads = |args: &[&str]| run(quorate().arg("--config").arg(&devnet.config).args(args));
    // Orders heard on the network, each checked against its pool's owner.
    let (ok, out, err) = reads(&["pool", "orders", "--json"]);
    assert!(ok, "{err}");
    let order: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(order["pool"], 1, "{out}");
    assert_eq!(order["price"], "1000000000000000000", "{out}");
    // No pool named: the cheapest order that suits is taken; --detach returns with the deal.
    let code = code.to_str().unwrap();
    let inputs = inputs.to_str().unwrap();
    let (ok, out, err) = client(&[
        "job",
        "submit",
        code,
        inputs,
        "--trust",
        "2",
        "--max-price",
        "1",
        "--yes",
        "--detach",
    ]);
    assert!(ok, "{err}");
    let deal = out.trim().to_owned();
    assert!(deal.starts_with("0x") && deal.len() == 66, "{out}\n{err}");
    // Results from the deal id alone, as from another machine with the wallet.
    let (ok, out, err) = client(&["job", "results", &deal, "--watch"]);
    assert!(ok, "{err}");
    assert_eq!(
        out,
        "{\"index\":0,\"result\":{\"n\":3,\"square\":9}}\n{\"index\":1,\"result\":{\"n\":4,\"square\":16}}\n",
        "{err}"
    );
    assert!(err.contains("[task 1] result verified against the chain"), "{err}");
    // The work function's console, relayed by a worker and the pool, escaped.
    assert!(err.contains("[task 1] squaring 4\\u{1b}[2J\n"), "{err}");
    assert!(!err.contains('\u{1b}'), "{err}");
    // The wallet's deals, from the chain, with no password asked.
    // Results are verified once revealed; the pool finalizes them on chain a block or so later.
    let finalized = Instant::now() + Duration::from_secs(30);
    let (deals, out) = loop {
        let (ok, out, err) = reads(&["job", "list", "--wallet", "client", "--json"]);
        assert!(ok, "{err}");
        let deals: Vec<serde_json::Value> =
            out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        if deals.iter().all(|d| d["states"]["completed"] == d["tasks"])
            || Instant::now() > finalized
        {
            break (deals, out);
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(deals.len(), 2, "{out}");
    assert_eq!(deals[1]["deal"], deal.as_str(), "{out}");
    assert_eq!(deals[1]["trust"], 2, "{out}");
    assert_eq!(deals[1]["states"]["completed"], 2, "{out}");
    let (ok, out, _) = reads(&["job", "list", "--wallet", "client"]);
    assert!(
        ok && out.contains(&format!("{deal}  pool 1  2 tasks at 1 QCR, trust 2: 2 completed")),
        "{out}"
    );
    let status = devnet.stop();
    assert!(status.success(), "devnet exited with {status}");
}

#[test]
fn the_demo_runs_a_job_through_the_pool_and_draws_its_picture() {
    crate::common::evaluator();
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let (ok, out, err) =
        run(quorate().args(["devnet", "--demo", "--port", "0", "--dir"]).arg(dir.path()));
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("16 of 16 tiles verified against the digests revealed on chain"), "{out}");
    let png = std::fs::read(dir.path().join("mandelbrot.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    // Credits are conserved: what the client paid, the operator and the workers received.
    let changes: Vec<f64> = out
        .lines()
        .filter_map(|l| l.trim_end().strip_suffix(')')?.rsplit_once('(').map(|(_, c)| c.to_owned()))
        .filter_map(|c| c.parse::<f64>().ok())
        .collect();
    assert_eq!(changes.len(), 5, "{out}");
    assert!(changes.iter().sum::<f64>().abs() < 1e-9, "{changes:?}\n{out}");
    assert!(out.contains("client") && out.contains("(-16)"), "{out}");
    eprintln!("quorate devnet --demo in {:?}", started.elapsed());
}

#[test]
fn job_submit_refuses_before_money_moves_with_the_cause_and_the_fix() {
    // Against `quorate devnet` (one pool selling at 1 QCR a task and taking at most 2 tasks per
    // job, 1000 QCR in the client's Hub account): each bad submission is refused with one
    // sentence naming its cause and fix, and no deal is ever bought.
    crate::common::evaluator();
    let dir = tempfile::tempdir().unwrap();
    let devnet = DevnetProcess::start_with(
        &dir.path().join("devnet"),
        &["--set", "scheduler.max_tasks_per_job=2"],
    );
    let file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let code = file("double.js", "(n) => n * 2");
    let inputs = file("in.jsonl", "1\n2\n");
    let many = file("many.json", &format!("[{}]", vec!["1"; 1001].join(",")));
    let wrong_password = file("wrong.pw", "not the password\n");
    let private = |path: &str, mode: u32| {
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap();
    };
    private(&wrong_password, 0o600);
    let password = devnet.password.to_str().unwrap().to_owned();
    // The right password, in a file other users can read.
    let shared_password = file("shared.pw", &std::fs::read_to_string(&password).unwrap());
    private(&shared_password, 0o644);
    let submit = |flags: &[&str], code: &str, inputs: &str, max_price: &str, pw: &str| {
        run(quorate()
            .arg("--config")
            .arg(&devnet.config)
            .args(flags)
            .args(["job", "submit", code, inputs, "--max-price", max_price, "--yes"])
            .args(["--wallet", "client", "--password-file", pw]))
    };
    let cases: Vec<(&str, (bool, String, String), &str)> = vec![
        (
            "syntax error",
            submit(&[], &file("broken.js", "(n) => {"), &inputs, "1", &password),
            "the work function does not load",
        ),
        (
            "input not JSON",
            submit(&[], &code, &file("bad.jsonl", "1\n{oops\n"), "1", &password),
            "bad.jsonl:2: not JSON",
        ),
        (
            "empty inputs",
            submit(&[], &code, &file("empty.jsonl", "\n"), "1", &password),
            "holds no inputs",
        ),
        (
            "wrong password",
            submit(&[], &code, &inputs, "1", &wrong_password),
            "wrong password for this keystore",
        ),
        (
            "password file readable by others",
            submit(&[], &code, &inputs, "1", &shared_password),
            "keystores and password files must be private: run `chmod 600",
        ),
        (
            "unreachable RPC",
            submit(&["--rpc-url", "http://127.0.0.1:9"], &code, &inputs, "1", &password),
            "cannot reach the chain at",
        ),
        (
            "wrong chain id",
            submit(&["--set", "chain.chain_id=5"], &code, &inputs, "1", &password),
            "the configuration expects chain 5",
        ),
        (
            "price above --max-price",
            submit(&[], &code, &inputs, "0.5", &password),
            "above your --max-price 0.5 QCR",
        ),
        (
            "no order matching",
            submit(&["--set", "client.pool=0"], &code, &inputs, "0.5", &password),
            "raise --max-price, lower --trust, or name a pool with --pool",
        ),
        (
            "bigger than the pool takes",
            submit(&[], &code, &file("three.jsonl", "1\n2\n3\n"), "1", &password),
            "this pool takes 1 to 2 tasks per job: split the job, or submit it to another pool",
        ),
        (
            "too little balance",
            submit(&[], &code, &many, "1", &password),
            "deposit more with `quorate wallet deposit`",
        ),
        (
            "scheduler unreachable",
            submit(
                &[
                    "--set",
                    "client.bootstrap=/ip4/127.0.0.1/tcp/9/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN",
                ],
                &code,
                &inputs,
                "1",
                &password,
            ),
            "check the pool id and that its scheduler is running and reachable",
        ),
    ];
    for (case, (ok, out, err), says) in cases {
        assert!(!ok, "{case}: accepted\n{out}");
        assert!(out.is_empty(), "{case}: {out}");
        assert!(err.contains(says), "{case}: expected {says:?} in {err}");
        assert!(!err.contains("Deal 0x"), "{case}: a deal was bought: {err}");
    }
    // Nothing was bought.
    let (ok, out, err) = run(quorate()
        .arg("--config")
        .arg(&devnet.config)
        .args(["job", "list", "--wallet", "client"]));
    assert!(ok && out.contains("bought no deal"), "{out}\n{err}");
    let status = devnet.stop();
    assert!(status.success(), "devnet exited with {status}");
}

#[test]
fn completions_and_man_pages_come_from_the_command_line() {
    // bash sources the script and completes a nested subcommand and a flag from it.
    let (ok, script, err) = run(quorate().args(["completions", "bash"]));
    assert!(ok, "{err}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("quorate.bash");
    std::fs::write(&file, &script).unwrap();
    let probe = format!(
        "source {}; COMP_WORDS=(quorate job sub); COMP_CWORD=2; _quorate quorate sub job; echo \"${{COMPREPLY[@]}}\"",
        file.display()
    );
    let out = std::process::Command::new("bash").args(["-c", &probe]).output().unwrap();
    let words = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        words.split_whitespace().any(|w| w == "submit"),
        "{words}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for shell in ["zsh", "fish"] {
        let (ok, script, err) = run(quorate().args(["completions", shell]));
        assert!(ok && script.contains("submit"), "{shell}: {err}");
    }
    let (ok, _, err) = run(quorate().args(["completions", "tcsh"]));
    assert!(!ok && err.contains("tcsh"), "{err}");

    // One page per command, each one man can read.
    let man = dir.path().join("man");
    let (ok, out, err) = run(quorate().args(["man", "--out"]).arg(&man));
    assert!(ok, "{err}");
    assert!(out.contains("man pages written"), "{out}");
    for page in ["quorate.1", "quorate-job-submit.1", "quorate-scheduler-credential-issue.1"] {
        let text =
            std::fs::read_to_string(man.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.starts_with(".ie") || text.contains(".TH"), "{page}: {text}");
    }
    let submit = std::fs::read_to_string(man.join("quorate-job-submit.1")).unwrap();
    assert!(submit.contains("max\\-price") || submit.contains("max-price"), "{submit}");
}
