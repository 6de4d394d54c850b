//! Operating a pool, on real parts (anvil, the Hub, `quorate` processes, Chromium): the
//! dashboard's JSON API by role (anyone, a client and a worker logged in with their wallets,
//! the operator), the page in a headless Chromium updating as a job's tasks finish, Prometheus
//! `/metrics`, the operator's commands (pause, drain, revoke), and `quorate worker status`.

use std::{path::Path, process::Command, time::Duration};

use quorate_devnet::Role;
use quorate_e2e::roles::Pool;
use serde_json::Value;

use crate::common::{finished, job_of};

/// Tasks of the job, each a few tens of milliseconds of work, so the page sees them finish.
const TASKS: u64 = 24;
const WORK: &str = "(n) => { let x = 0; for (let i = 0; i < 2e6; i++) { x = (x + i * n) % 1000003; } return { n, x }; }";

/// Runs `quorate` as `data` would, and returns its stdout; fails with its stderr.
fn quorate(pool: &Pool, data: &str, args: &[&str]) -> String {
    let out = pool.command(data).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "quorate {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The link a `wallet login` or `scheduler dashboard` printed: its URL and token.
fn link(text: &str) -> (String, String) {
    let line =
        text.lines().find(|l| l.contains("#token=")).unwrap_or_else(|| panic!("no link in {text}"));
    let link = line.trim().trim_start_matches("Open: ");
    let (url, token) = link.split_once("/#token=").unwrap();
    (url.to_owned(), token.to_owned())
}

struct Api {
    http: reqwest::Client,
    url: String,
}

impl Api {
    async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut request = self.http.get(format!("{}{path}", self.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let answer = request.send().await.unwrap();
        let status = answer.status().as_u16();
        (status, answer.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        let answer = self
            .http
            .post(format!("{}{path}", self.url))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        (status, answer.json().await.unwrap_or(Value::Null))
    }

    async fn text(&self, path: &str) -> String {
        self.http.get(format!("{}{path}", self.url)).send().await.unwrap().text().await.unwrap()
    }

    /// The operator's view once `until` holds of it (a minute at most).
    async fn wait(&self, token: &str, what: &str, until: impl Fn(&Value) -> bool) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let (_, view) = self.get("/api/view", Some(token)).await;
            if until(&view) {
                return view;
            }
            assert!(std::time::Instant::now() < deadline, "{what}: never; last view {view:#}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

/// Runs the browser check of tests/browser/dashboard.mjs on the operator's `link`, expecting
/// `workers` workers and a deal of `tasks` tasks that finishes; screenshots go to `shots`.
fn browser(link: &str, workers: usize, tasks: u64, shots: &Path) -> std::process::Child {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    std::fs::create_dir_all(shots).unwrap();
    Command::new("node")
        .arg(root.join("tests/browser/dashboard.mjs"))
        .args([link, &workers.to_string(), &tasks.to_string()])
        .arg(shots)
        .current_dir(root)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("node runs the browser test: install Node.js, then run ./scripts/setup")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_watches_and_manages_the_pool_and_each_role_sees_its_own() {
    let (dir, net, mut pool) = crate::common::devnet_pool(2, &[]).await;
    pool.start().unwrap();
    let address = |role, n: usize| {
        net.accounts()
            .iter()
            .filter(|a| a.role == role)
            .nth(n)
            .unwrap()
            .address
            .to_string()
            .to_lowercase()
    };
    let (worker_1, worker_2, client) =
        (address(Role::Worker, 0), address(Role::Worker, 1), address(Role::Client, 0));
    let password = pool.files.password_file.display().to_string();

    // The operator's link, as `quorate scheduler dashboard` prints it.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let printed = loop {
        let out = pool.command("pool").args(["scheduler", "dashboard"]).output().unwrap();
        if out.status.success() {
            break String::from_utf8(out.stdout).unwrap();
        }
        assert!(std::time::Instant::now() < deadline, "{}", String::from_utf8_lossy(&out.stderr));
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (url, operator) = link(&printed);
    let api = Api { http: reqwest::Client::new(), url: url.clone() };
    let joined = |n: usize| move |v: &Value| v["workers"].as_array().is_some_and(|w| w.len() == n);
    api.wait(&operator, "both workers joined", joined(2)).await;

    // Anyone: the public offer, nothing else; a wrong token is told to log in again.
    let (status, anyone) = api.get("/api/view", None).await;
    assert_eq!((status, anyone["role"].as_str()), (200, Some("anyone")));
    assert_eq!(anyone["offer"]["pool"], 1);
    assert_eq!(anyone["offer"]["workers"], 2);
    assert!(
        anyone["workers"].as_array().unwrap().is_empty()
            && anyone["deals"].as_array().unwrap().is_empty()
    );
    let (status, refused) = api.get("/api/view", Some("not-a-token")).await;
    assert_eq!(status, 401, "{refused}");
    assert!(refused["error"].as_str().unwrap().contains("log in again"));
    assert_eq!(
        api.get("/api/offer", None).await.1["owner"].as_str().map(str::to_lowercase),
        Some(address(Role::PoolOperator, 0))
    );

    // A job runs; the page is opened on it in Chromium.
    let job = job_of(&net, &[pool.address.as_str()], WORK, TASKS, 1).await;
    let has_deal = |v: &Value| v["deals"].as_array().is_some_and(|d| !d.is_empty());
    api.wait(&operator, "the deal shows", has_deal).await;
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
    let page = browser(&format!("{url}/#token={operator}"), 2, TASKS, &shots);

    // A client logged in with its wallet sees its deal and no worker; a worker its own row
    // and no deal.
    let (_, client_token) = link(&quorate(
        &pool,
        "client",
        &["wallet", "login", &url, "--wallet", "client", "--password-file", &password],
    ));
    let (status, mine) = api.get("/api/view", Some(&client_token)).await;
    assert_eq!((status, mine["role"].as_str()), (200, Some("account")), "{mine}");
    assert_eq!(mine["account"].as_str().map(str::to_lowercase), Some(client.clone()));
    let deals = mine["deals"].as_array().unwrap();
    assert_eq!(deals.len(), 1, "{mine}");
    assert_eq!(deals[0]["client"].as_str().map(str::to_lowercase), Some(client.clone()));
    assert!(mine["workers"].as_array().unwrap().is_empty(), "{mine}");
    let (_, worker_token) = link(&quorate(
        &pool,
        "worker-1-login",
        &["wallet", "login", &url, "--wallet", "worker-1", "--password-file", &password],
    ));
    let (_, theirs) = api.get("/api/view", Some(&worker_token)).await;
    let rows = theirs["workers"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{theirs}");
    assert_eq!(rows[0]["address"].as_str().map(str::to_lowercase), Some(worker_1.clone()));
    assert!(theirs["deals"].as_array().unwrap().is_empty(), "{theirs}");
    // Neither may manage the pool.
    let (status, _) =
        api.post("/api/pause", &client_token, serde_json::json!({ "paused": true })).await;
    assert_eq!(status, 403);

    // The worker says what it does.
    let status: Value =
        serde_json::from_str(&quorate(&pool, "worker-1", &["worker", "status", "--json"])).unwrap();
    assert_eq!(status["state"], "joined", "{status}");
    assert_eq!(status["address"].as_str().map(str::to_lowercase), Some(worker_1.clone()));
    let text = quorate(&pool, "worker-1", &["worker", "status"]);
    assert!(text.contains("pool 1  joined"), "{text}");

    finished(job, &pool, TASKS).await;
    let done = |v: &Value| v["deals"][0]["completed"] == TASKS;
    let view = api.wait(&operator, "every task completed", done).await;
    assert_eq!(view["totals"]["completed"], TASKS, "{view:#}");
    assert_eq!(view["totals"]["wrong"], 0, "honest workers, no wrong result: {view:#}");
    assert!(view["workers"].as_array().unwrap().iter().all(|w| w["earned"] != "0"), "{view:#}");
    assert_ne!(view["earned"], "0", "the operator's share is counted: {view:#}");
    assert!(view["history"].as_array().unwrap().iter().any(|m| m["completed"].as_u64() > Some(0)));

    // The page: loaded without console errors, showed the workers and the deal, and updated
    // as the tasks finished (its screenshots are in target/screenshots).
    let out = tokio::task::spawn_blocking(move || page.wait_with_output()).await.unwrap().unwrap();
    assert!(
        out.status.success(),
        "the browser test failed (screenshots in {}):\n{}{}",
        shots.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // Metrics: open to loopback, in Prometheus' text format.
    let metrics = api.text("/metrics").await;
    assert!(
        metrics.contains(&format!("quorate_scheduler_tasks_completed_total {TASKS}")),
        "{metrics}"
    );
    assert!(metrics.contains("quorate_scheduler_workers 2"), "{metrics}");
    assert!(metrics.contains("# TYPE quorate_scheduler_consensus_seconds summary"), "{metrics}");
    let worker_url =
        std::fs::read_to_string(dir.path().join("worker-1/worker/status.url")).unwrap();
    let worker_metrics =
        reqwest::get(format!("{worker_url}/metrics")).await.unwrap().text().await.unwrap();
    assert!(worker_metrics.contains("quorate_worker_contributions_total"), "{worker_metrics}");

    // The operator pauses the pool, drains a worker and revokes the other.
    let (status, answer) =
        api.post("/api/pause", &operator, serde_json::json!({ "paused": true })).await;
    assert_eq!(status, 200, "{answer}");
    api.wait(&operator, "paused", |v| v["offer"]["paused"] == true && v["offer"]["orders"] == 0)
        .await;
    let (status, answer) = api
        .post(
            &format!("/api/workers/{worker_1}/drain"),
            &operator,
            serde_json::json!({ "drain": true }),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    api.wait(&operator, "worker-1 draining", |v| {
        v["workers"]
            .as_array()
            .is_some_and(|w| w.iter().any(|w| w["draining"] == true && w["slots"] == 1))
    })
    .await;
    let (status, answer) = api
        .post(&format!("/api/workers/{worker_2}/revoke"), &operator, serde_json::json!({}))
        .await;
    assert_eq!(status, 200, "{answer}");
    api.wait(&operator, "worker-2 gone", joined(1)).await;
    let (status, refused) =
        api.post("/api/workers/not-an-address/drain", &operator, serde_json::json!({})).await;
    assert_eq!(status, 400, "{refused}");
}
