//! The three roles as separate `quorate` processes against a chain `quorate devnet` did not
//! start: plain anvil, the Hub deployed and the accounts funded by `quorate` commands, as an
//! operator would on any JSON-RPC node. A pool operator creates and runs a private pool and signs
//! a join credential for each of two workers, which join it with nothing but the pool id, the
//! scheduler's address and their credential, and a client submits a job at trust 2 and gets its
//! verified results. Every role talks to the chain through an endpoint that refuses log queries
//! over 4 blocks, as strict public nodes do (`chain.log_block_range = 4`).

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use quorate_devnet::{Anvil, AnvilConfig};

use crate::{
    common::{evaluator, quorate, run},
    strict_rpc::StrictRpc,
};

/// A `quorate` process that runs until stopped; killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
    }
}

#[test]
fn the_roles_run_as_separate_processes_on_a_chain_quorate_did_not_start() {
    let program = evaluator();
    let anvil = Anvil::spawn(AnvilConfig { block_time: Some(1), ..Default::default() }).unwrap();
    // Every role talks to the chain through an endpoint as strict as a public node's.
    let strict = StrictRpc::start(&anvil.endpoint(), 4);
    let dir = tempfile::tempdir().unwrap();
    let password = dir.path().join("password");
    std::fs::write(&password, "a password for the test\n").unwrap();
    std::fs::set_permissions(&password, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .unwrap();
    let site = dir.path().join("site.toml");
    std::fs::write(
        &site,
        format!(
            "[node]\ndata_dir = {:?}\n[wallet]\nkeystore_dir = {:?}\n[evaluator]\nprogram = {:?}\n\
             [chain]\nrpc_url = {:?}\nchain_id = 31337\nconfirmations = 0\npoll_interval_ms = 200\n\
             log_block_range = 4\n\
             [scheduler]\norder_category = 1\nprivate = true\n\
             [dashboard]\nlisten = \"127.0.0.1:0\"\n[worker]\nstatus_listen = \"127.0.0.1:0\"\n",
            dir.path().join("data").display().to_string(),
            dir.path().join("keystores").display().to_string(),
            program.display().to_string(),
            strict.url,
        ),
    )
    .unwrap();
    let pw = password.to_str().unwrap();
    let q = |args: &[&str]| -> (bool, String, String) {
        run(quorate().arg("--config").arg(&site).args(args))
    };
    let must = |args: &[&str]| -> String {
        let (ok, out, err) = q(args);
        assert!(ok, "quorate {}: {err}\n{out}", args.join(" "));
        out
    };

    // Five of anvil's funded keys, imported as the five roles' keystores.
    let names = ["deployer", "operator", "worker-1", "worker-2", "client"];
    for (name, key) in names.iter().zip(anvil.private_keys()) {
        let key_file = dir.path().join(format!("{name}.key"));
        std::fs::write(&key_file, format!("{key}\n")).unwrap();
        std::fs::set_permissions(&key_file, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        must(&[
            "wallet",
            "import",
            "--name",
            name,
            "--private-key-file",
            key_file.to_str().unwrap(),
            "--password-file",
            pw,
        ]);
    }
    let address = |name: &str| -> String {
        let out = must(&["wallet", "address", "--wallet", name, "--password-file", pw]);
        out.split_whitespace().find(|w| w.starts_with("0x")).unwrap().to_owned()
    };

    // The deployer deploys the token and the Hub, then funds everyone.
    let out = must(&[
        "hub",
        "deploy",
        "--wallet",
        "deployer",
        "--password-file",
        pw,
        "--categories",
        "devnet",
    ]);
    let hub = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("hub = \"").and_then(|r| r.strip_suffix('"')))
        .unwrap_or_else(|| panic!("no hub address in:\n{out}"))
        .to_owned();
    let hub_set = format!("chain.hub={hub}");
    let with_hub = |args: &[&str]| -> String {
        let mut all = vec!["--set", hub_set.as_str()];
        all.extend_from_slice(args);
        must(&all)
    };
    for name in &names[1..] {
        let to = address(name);
        with_hub(&["hub", "mint", &to, "1000", "--wallet", "deployer", "--password-file", pw]);
        with_hub(&["wallet", "deposit", "500", "--wallet", name, "--password-file", pw]);
    }

    // The operator creates the pool and runs its scheduler.
    let data = |name: &str| dir.path().join("data").join(name).display().to_string();
    let pool_dir = data("pool");
    let out = with_hub(&[
        "--data-dir",
        &pool_dir,
        "scheduler",
        "init",
        "--wallet",
        "operator",
        "--password-file",
        pw,
    ]);
    assert!(out.contains("Pool 1"), "{out}");
    let mut scheduler = quorate()
        .arg("--config")
        .arg(&site)
        .args(["--set", &hub_set, "--data-dir", &pool_dir, "scheduler", "run"])
        .args(["--wallet", "operator", "--password-file", pw, "--listen", "/ip4/127.0.0.1/tcp/0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = scheduler.stdout.take().unwrap();
    let scheduler = Running(scheduler);
    let mut lines = BufReader::new(stdout).lines();
    let address_line = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.trim().starts_with("/ip4/"))
        .expect("the scheduler printed no address");
    let bootstrap = address_line.trim().to_owned();
    std::thread::spawn(move || lines.for_each(drop));

    // worker-1's rewards go to a cold address (one that holds nothing in the Hub); its stakes
    // still lock on its own account.
    let cold = "0x00000000000000000000000000000000000c01d0";
    let out = with_hub(&[
        "worker",
        "payout",
        "--to",
        cold,
        "--wallet",
        "worker-1",
        "--password-file",
        pw,
    ]);
    assert!(out.contains("from now on"), "{out}");
    let hub_free = |who: &str| -> String {
        let out = with_hub(&["wallet", "balance", who]);
        out.lines().find(|l| l.starts_with("hub free")).unwrap().to_owned()
    };
    assert_eq!(hub_free(cold), "hub free    0 QCR (0 wei)");

    // The pool is private: its operator signs a join credential for each worker, which takes
    // it as a flag (worker-1) or a setting (worker-2).
    let credentials: Vec<String> = ["worker-1", "worker-2"]
        .iter()
        .map(|name| {
            let worker = address(name);
            let out = with_hub(&[
                "--data-dir",
                &pool_dir,
                "scheduler",
                "credential",
                "issue",
                &worker,
                "--days",
                "2",
                "--wallet",
                "operator",
                "--password-file",
                pw,
            ]);
            out.trim().to_owned()
        })
        .collect();
    let flags = [
        ["--credential".to_owned(), credentials[0].clone()],
        ["--set".to_owned(), format!("worker.credential={}", credentials[1])],
    ];

    // Two workers join with the pool id, the scheduler's address and their credential.
    let workers: Vec<Running> = ["worker-1", "worker-2"]
        .iter()
        .zip(&flags)
        .map(|(name, credential)| {
            Running(
                quorate()
                    .arg("--config")
                    .arg(&site)
                    .args(["--set", &hub_set, "--data-dir", &data(name), "worker", "run"])
                    .args(["--wallet", name, "--password-file", pw, "--pool", "1", "--cores", "1"])
                    .args(["--bootstrap", &bootstrap])
                    .args(credential)
                    .stdout(Stdio::null())
                    .stderr(Stdio::inherit())
                    .spawn()
                    .unwrap(),
            )
        })
        .collect();

    // The client submits from its own process, and gets every result verified.
    let code = dir.path().join("cube.js");
    std::fs::write(&code, "(n) => n * n * n").unwrap();
    let inputs = dir.path().join("in.json");
    std::fs::write(&inputs, "[1, 2, 3, 4]").unwrap();
    let started = Instant::now();
    let submitted = with_hub_result(
        &site,
        &hub_set,
        &[
            "job",
            "submit",
            code.to_str().unwrap(),
            inputs.to_str().unwrap(),
            "--pool",
            "1",
            "--trust",
            "2",
            "--max-price",
            "1",
            "--yes",
            "--bootstrap",
            &bootstrap,
            "--wallet",
            "client",
            "--password-file",
            pw,
        ],
    );
    let (ok, out, err) = submitted;
    assert!(ok, "{err}");
    assert_eq!(
        out,
        "{\"index\":0,\"result\":1}\n{\"index\":1,\"result\":8}\n{\"index\":2,\"result\":27}\n{\"index\":3,\"result\":64}\n",
        "{err}"
    );
    eprintln!("4 tasks through separate processes on plain anvil in {:?}", started.elapsed());
    // The results are verified once revealed; the rewards come with the finalizes.
    let paid = Instant::now() + Duration::from_secs(30);
    while hub_free(cold) == "hub free    0 QCR (0 wei)" {
        assert!(Instant::now() < paid, "worker-1's rewards never reached its payout address");
        std::thread::sleep(Duration::from_millis(500));
    }
    // The operator's view, read from the chain while the scheduler runs.
    let finalized = Instant::now() + Duration::from_secs(30);
    let out = loop {
        let out = with_hub(&["--data-dir", &pool_dir, "scheduler", "status"]);
        if out.contains("4 completed") || Instant::now() > finalized {
            break out;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(out.contains("1 deal(s), 4 task(s) sold"), "{out}");
    assert!(out.contains("4 task(s) at 1 QCR, trust 2: 4 completed"), "{out}");
    assert!(out.contains("Workers that voted on its tasks: 2."), "{out}");
    assert!(!out.contains("Earned: 0 QCR"), "{out}");
    assert_eq!(strict.refused(), 0, "a log query spanned more than 4 blocks");
    // The operator revokes worker-2 while the scheduler runs; the register says so.
    let out = with_hub(&[
        "--data-dir",
        &pool_dir,
        "scheduler",
        "credential",
        "revoke",
        &address("worker-2"),
    ]);
    assert!(out.contains("is revoked from pool 1"), "{out}");
    let out = with_hub(&["--data-dir", &pool_dir, "scheduler", "credential", "list"]);
    assert!(out.contains("Pool 1: private."), "{out}");
    assert!(out.contains(&format!("{}  valid", address("worker-1"))), "{out}");
    assert!(out.contains(&format!("{}  revoked", address("worker-2"))), "{out}");
    drop(workers);
    drop(scheduler);
}

fn with_hub_result(site: &Path, hub_set: &str, args: &[&str]) -> (bool, String, String) {
    run(quorate().arg("--config").arg(site).args(["--set", hub_set]).args(args))
}
