//! The pool's dashboard, served by `quorate scheduler run`: a web page that updates itself, the
//! JSON API it reads (docs/dashboard.md), and Prometheus `/metrics`.
//!
//! The scheduler's loop publishes a [`view::PoolView`] every second and takes the operator's
//! commands ([`Command`]) between its other steps; the HTTP handlers only read the latest view
//! and send commands, so a slow or hostile HTTP client never holds the loop. The operator's
//! balances are read from the chain by a task of their own ([`crate::http::balances`]).
//!
//! Access ([`view::Caller`]): anyone reads the public offer; an account logged in with its
//! wallet (`/api/login`) its own deals and tasks; the operator (the token in
//! `<data_dir>/dashboard.token`) everything, and manages the pool. `/metrics` answers loopback
//! peers, and the operator's token from anywhere else.

pub mod observe;
pub mod view;

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use alloy::{primitives::Address, providers::RootProvider};
use axum::{
    Json, Router,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{Html, IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot, watch};

use self::view::{Caller, PoolView};
use crate::http::balances::Balances;
use crate::http::{
    Listen, Peer, Server,
    auth::{Logins, OperatorToken},
};

/// The page.
const PAGE: &str = include_str!("page.html");

/// The operator's file of its token, in the data directory.
pub const TOKEN_FILE: &str = "dashboard.token";
/// Where the running scheduler writes its dashboard's URL, in the data directory.
pub const URL_FILE: &str = "dashboard.url";

/// The operator's link to the dashboard of the scheduler of `config`'s data directory: its URL
/// with the token in the fragment (which browsers never send to the server).
pub fn operator_link(config: &crate::config::NodeConfig) -> anyhow::Result<String> {
    let dir = crate::scheduler::state::SchedulerState::path_in(config);
    let url = std::fs::read_to_string(dir.with_file_name(URL_FILE)).map_err(|_| {
        anyhow::anyhow!(
            "no dashboard served from {}: start `quorate scheduler run` (dashboard.listen must not be empty)",
            dir.parent().unwrap_or(&dir).display()
        )
    })?;
    let token = std::fs::read_to_string(dir.with_file_name(TOKEN_FILE)).map_err(|e| {
        anyhow::anyhow!("cannot read the operator's token: {e}; run this as the scheduler's user")
    })?;
    Ok(format!("{}/#token={}", url.trim(), token.trim()))
}

/// What the scheduler's own doings add to the metrics: gas and errors of this run.
#[derive(Debug, Default)]
pub struct Meters {
    gas_used: AtomicU64,
    gas_spent_gwei: AtomicU64,
    errors: Mutex<BTreeMap<&'static str, u64>>,
}

impl Meters {
    /// A transaction mined: its gas and effective price.
    pub fn spent(&self, gas: u64, price_wei: u128) {
        self.gas_used.fetch_add(gas, Ordering::Relaxed);
        let gwei = u128::from(gas).saturating_mul(price_wei) / 1_000_000_000;
        self.gas_spent_gwei.fetch_add(u64::try_from(gwei).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// An error of `kind`.
    pub fn error(&self, kind: &'static str) {
        let mut errors = self.errors.lock().unwrap_or_else(|e| e.into_inner());
        let n = errors.entry(kind).or_default();
        *n = n.saturating_add(1);
    }

    /// Gas used.
    pub fn gas_used(&self) -> u64 {
        self.gas_used.load(Ordering::Relaxed)
    }

    /// Ether spent on gas, gwei.
    pub fn gas_spent_gwei(&self) -> u64 {
        self.gas_spent_gwei.load(Ordering::Relaxed)
    }

    /// Errors by kind.
    pub fn errors(&self) -> BTreeMap<&'static str, u64> {
        self.errors.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// What the operator asks of the running pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Stop (`true`) or go back to (`false`) taking new jobs and publishing orders; deals
    /// bought already run to their end.
    Pause(bool),
    /// Give `worker` no new replica (`true`) or again (`false`); its running ones finish.
    Drain(Address, bool),
    /// Revoke `worker`'s join credential and drop it now.
    Revoke(Address),
}

/// A command with its answer: what was done, or why not.
#[derive(Debug)]
pub struct Order {
    /// The command.
    pub command: Command,
    /// The answer.
    pub reply: oneshot::Sender<Result<String, String>>,
}

/// The scheduler's side of a running dashboard.
#[derive(Debug)]
pub struct Dashboard {
    /// The server and the balances' reader: they stop when it is dropped.
    pub running: Running,
    /// Where the loop publishes its view.
    pub publish: watch::Sender<Arc<PoolView>>,
    /// The operator's commands.
    pub commands: mpsc::Receiver<Order>,
    /// Gas and errors.
    pub meters: Arc<Meters>,
}

/// The dashboard's tasks; dropping it stops them.
#[derive(Debug)]
pub struct Running {
    /// The server.
    pub server: Server,
    balances: tokio::task::JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.balances.abort();
    }
}

/// What the handlers share.
struct Shared {
    view: watch::Receiver<Arc<PoolView>>,
    balances: watch::Receiver<Balances>,
    meters: Arc<Meters>,
    logins: Logins,
    token: OperatorToken,
    commands: mpsc::Sender<Order>,
}

/// Where the operator's balances are read.
#[derive(Debug, Clone)]
pub struct Accounts {
    /// The chain.
    pub provider: RootProvider,
    /// The Hub.
    pub hub: Address,
    /// The operator.
    pub owner: Address,
}

/// Serves the dashboard of pool `pool` on chain `chain_id` at `listen`.
pub async fn start(
    listen: &Listen,
    token: OperatorToken,
    chain_id: u64,
    pool: u64,
    accounts: Accounts,
) -> anyhow::Result<Dashboard> {
    let (publish, view) = watch::channel(Arc::new(PoolView::default()));
    let (balances_tx, balances) = watch::channel(Balances::default());
    let (commands_tx, commands) = mpsc::channel(16);
    let meters = Arc::new(Meters::default());
    let shared = Arc::new(Shared {
        view,
        balances,
        meters: meters.clone(),
        logins: Logins::new(chain_id, accounts.hub, pool),
        token,
        commands: commands_tx,
    });
    let server = crate::http::serve(listen, router(shared)).await?;
    let balances = tokio::spawn(crate::http::balances::follow(
        accounts.provider,
        accounts.hub,
        accounts.owner,
        balances_tx,
    ));
    Ok(Dashboard { running: Running { server, balances }, publish, commands, meters })
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/api/offer", get(offer))
        .route("/api/view", get(view))
        .route("/api/login/challenge", get(challenge))
        .route("/api/login", post(login))
        .route("/api/logout", post(logout))
        .route("/api/pause", post(pause))
        .route("/api/workers/{address}/drain", post(drain))
        .route("/api/workers/{address}/revoke", post(revoke))
        .route("/metrics", get(metrics))
        .fallback(|| async {
            refuse(StatusCode::NOT_FOUND, "no such page: the API is under /api (docs/dashboard.md)")
        })
        .with_state(shared)
}

/// An error answered as JSON: `{"error": "what happened and what to do"}`.
#[derive(Debug)]
struct Refusal {
    status: StatusCode,
    error: String,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.status, Json(serde_json::json!({ "error": self.error }))).into_response()
    }
}

fn refusal(status: StatusCode, error: impl Into<String>) -> Refusal {
    Refusal { status, error: error.into() }
}

fn refuse(status: StatusCode, error: impl Into<String>) -> Response {
    refusal(status, error).into_response()
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim)
}

impl Shared {
    /// Who sent `headers`: a bearer token that is neither the operator's nor a session is an
    /// error (expired sessions are told to log in again).
    fn caller(&self, headers: &HeaderMap) -> Result<Caller, Refusal> {
        let Some(token) = bearer(headers) else { return Ok(Caller::Anyone) };
        if self.token.matches(token) {
            return Ok(Caller::Operator);
        }
        match self.logins.session(token, crate::unix_now()) {
            Some(account) => Ok(Caller::Account(account)),
            None => Err(refusal(
                StatusCode::UNAUTHORIZED,
                "this token is not the operator's and no session: log in again",
            )),
        }
    }

    fn operator(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        match self.caller(headers)? {
            Caller::Operator => Ok(()),
            _ => Err(refusal(
                StatusCode::FORBIDDEN,
                "only the pool's operator may do this: use the token of dashboard.token",
            )),
        }
    }

    async fn command(&self, command: Command) -> Response {
        let (reply, answer) = oneshot::channel();
        let sent = tokio::time::timeout(
            Duration::from_secs(10),
            self.commands.send(Order { command, reply }),
        );
        if !matches!(sent.await, Ok(Ok(()))) {
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "the scheduler is stopping: try again once it runs",
            );
        }
        match tokio::time::timeout(Duration::from_secs(30), answer).await {
            Ok(Ok(Ok(done))) => Json(serde_json::json!({ "done": done })).into_response(),
            Ok(Ok(Err(why))) => refuse(StatusCode::CONFLICT, why),
            _ => refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "the scheduler did not answer in 30 s: look at its log",
            ),
        }
    }
}

async fn offer(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.view.borrow().offer.clone()).into_response()
}

async fn view(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let caller = match shared.caller(&headers) {
        Ok(caller) => caller,
        Err(refused) => return refused.into_response(),
    };
    // The latest view, without holding the channel while it is cut.
    let latest = shared.view.borrow().clone();
    let mut view = latest.for_caller(caller);
    if caller == Caller::Operator {
        view.balances = shared.balances.borrow().clone();
    }
    Json(view).into_response()
}

#[derive(Deserialize)]
struct ChallengeQuery {
    account: String,
}

/// Refuses an address that asks for logins too often.
fn rate(shared: &Shared, peer: Option<&axum::Extension<Peer>>) -> Result<(), Refusal> {
    let ip = peer.map_or(std::net::IpAddr::from([0, 0, 0, 0]), |p| p.0.0.ip());
    if shared.logins.allow(ip, crate::unix_now()) {
        Ok(())
    } else {
        Err(refusal(
            StatusCode::TOO_MANY_REQUESTS,
            "too many logins from this address: try again in ten seconds",
        ))
    }
}

async fn challenge(
    State(shared): State<Arc<Shared>>,
    peer: Option<axum::Extension<Peer>>,
    Query(q): Query<ChallengeQuery>,
) -> Response {
    if let Err(refused) = rate(&shared, peer.as_ref()) {
        return refused.into_response();
    }
    let Ok(account) = q.account.parse::<Address>() else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "account is not an address: give 0x and 40 hex digits",
        );
    };
    match shared.logins.challenge(account, crate::unix_now()) {
        Ok(challenge) => Json(challenge).into_response(),
        Err(e) => refuse(StatusCode::TOO_MANY_REQUESTS, e.to_string()),
    }
}

#[derive(Deserialize)]
struct LoginBody {
    login: crate::http::auth::LoginMessage,
    signature: String,
}

async fn login(
    State(shared): State<Arc<Shared>>,
    peer: Option<axum::Extension<Peer>>,
    body: Result<Json<LoginBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(body)) = body else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "the body must be JSON: {\"login\": the challenge's login, \"signature\": \"0x…\"}",
        );
    };
    let Ok(signature) = alloy::hex::decode(body.signature.trim()) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "the signature is not hex: give the wallet's 0x… signature",
        );
    };
    if let Err(refused) = rate(&shared, peer.as_ref()) {
        return refused.into_response();
    }
    match shared.logins.login(&body.login, &signature, crate::unix_now()) {
        Ok((token, account, expires)) => {
            Json(serde_json::json!({ "token": token, "account": account, "expires": expires }))
                .into_response()
        }
        Err(e) => refuse(StatusCode::UNAUTHORIZED, e.to_string()),
    }
}

async fn logout(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Some(token) = bearer(&headers) {
        shared.logins.logout(token);
    }
    Json(serde_json::json!({ "done": "logged out" })).into_response()
}

#[derive(Deserialize)]
struct PauseBody {
    paused: bool,
}

async fn pause(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Result<Json<PauseBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    if let Err(refused) = shared.operator(&headers) {
        return refused.into_response();
    }
    let Ok(Json(body)) = body else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "the body must be JSON: {\"paused\": true} or false",
        );
    };
    shared.command(Command::Pause(body.paused)).await
}

#[derive(Deserialize)]
struct DrainBody {
    drain: bool,
}

fn worker_address(text: &str) -> Result<Address, Refusal> {
    text.parse().map_err(|_| {
        refusal(StatusCode::BAD_REQUEST, "not a worker address: give 0x and 40 hex digits")
    })
}

async fn drain(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(address): Path<String>,
    body: Result<Json<DrainBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    if let Err(refused) = shared.operator(&headers) {
        return refused.into_response();
    }
    let worker = match worker_address(&address) {
        Ok(worker) => worker,
        Err(refused) => return refused.into_response(),
    };
    let Ok(Json(DrainBody { drain })) = body else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "the body must be JSON: {\"drain\": true} or false",
        );
    };
    shared.command(Command::Drain(worker, drain)).await
}

async fn revoke(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(address): Path<String>,
) -> Response {
    if let Err(refused) = shared.operator(&headers) {
        return refused.into_response();
    }
    match worker_address(&address) {
        Ok(worker) => shared.command(Command::Revoke(worker)).await,
        Err(refused) => refused.into_response(),
    }
}

async fn metrics(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    peer: Option<axum::Extension<Peer>>,
) -> Response {
    // This machine's own scrapers need no token; anything else, the operator's.
    if !crate::http::local(peer.map(|p| p.0), &headers)
        && let Err(refused) = shared.operator(&headers)
    {
        return refused.into_response();
    }
    let latest = shared.view.borrow().clone();
    let mut view = latest.as_ref().clone();
    view.balances = shared.balances.borrow().clone();
    let text = view.metrics(&shared.meters);
    ([(header::CONTENT_TYPE, crate::http::metrics::CONTENT_TYPE)], text).into_response()
}
