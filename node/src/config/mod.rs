//! One configuration schema for every role (scheduler, worker, client), read in layers:
//! compiled-in defaults ([`DEFAULTS`]), a site file, `QUORATE_*` environment variables, then
//! flags ([`load`]). The result is a [`NodeConfig`]; [`NodeConfig::derived`] fills in the paths
//! that default to places under the data directory.

mod gpu;
mod load;
mod network;

pub use gpu::GpuChoice;
pub use network::IpNetwork;

use std::{path::PathBuf, time::Duration};

use alloy::primitives::Address;
use serde::{Deserialize, Serialize};

pub use load::{ConfigError, Layers, SYSTEM_CONFIG, env_var, get, load};

/// The environment variable naming the site file.
pub const CONFIG_ENV: &str = "QUORATE_CONFIG";

/// The compiled-in defaults written out, with a comment for every key (`quorate config
/// defaults`); a test holds it equal to [`NodeConfig::default`].
pub const DEFAULTS: &str = include_str!("defaults.toml");

/// Every setting. Field names are the TOML keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    /// `[node]`.
    pub node: NodeSection,
    /// `[wallet]`.
    pub wallet: WalletSection,
    /// `[chain]`.
    pub chain: ChainSection,
    /// `[evaluator]`.
    pub evaluator: EvaluatorSection,
    /// `[scheduler]`.
    pub scheduler: SchedulerSection,
    /// `[client]`.
    pub client: ClientSection,
    /// `[worker]`.
    pub worker: WorkerSection,
    /// `[dashboard]`.
    pub dashboard: DashboardSection,
}

/// `[node]`: where state lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeSection {
    /// The data directory; empty for the user's default.
    pub data_dir: PathBuf,
}

/// `[wallet]`: keystores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WalletSection {
    /// The keystore directory; empty for `<data_dir>/keystores`.
    pub keystore_dir: PathBuf,
    /// The default wallet's name; empty for the only one.
    pub name: String,
}

/// `[chain]`: the Ethereum node, the Hub and how transactions are sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChainSection {
    /// JSON-RPC endpoint.
    pub rpc_url: String,
    /// Expected chain id; 0 for "not checked".
    pub chain_id: u64,
    /// The Hub's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hub: Option<Address>,
    /// Confirmation depth for events.
    pub confirmations: u64,
    /// Polling interval.
    pub poll_interval_ms: u64,
    /// Gas estimate margin.
    pub gas_margin_percent: u64,
    /// Resubmission delay.
    pub resubmit_after_secs: u64,
    /// Fee bump per resubmission.
    pub fee_bump_percent: u64,
    /// Fee cap in gwei; 0 for none.
    pub max_fee_per_gas_gwei: u64,
    /// Bound on unmined transactions per account.
    pub max_in_flight: u64,
    /// Bound on one `eth_getLogs` range.
    pub log_block_range: u64,
}

/// `[scheduler]`: the pool a scheduler runs, its policy and the orders it publishes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SchedulerSection {
    /// The pool's id; 0 for the one `quorate scheduler init` created with this data directory.
    pub pool: u64,
    /// Stake a worker locks per contribution, percent of the task price.
    pub worker_stake_percent: u8,
    /// The pool owner's share of each task's reward, percent.
    pub reward_percent: u8,
    /// The highest trust level the pool's orders may offer.
    pub max_trust: u32,
    /// The task categories the pool serves.
    pub categories: Vec<u8>,
    /// Price per task of the orders it publishes (QCR, as `quorate wallet` reads amounts).
    pub price: String,
    /// Tasks one order may sell in all.
    pub order_volume: u32,
    /// The category of its orders.
    pub order_category: u8,
    /// The trust level its orders offer.
    pub order_trust: u32,
    /// How long an order stays valid, in seconds; it is renewed before it expires.
    pub order_ttl_secs: u64,
    /// The most tasks one job may have.
    pub max_tasks_per_job: u32,
    /// The most bytes of code and inputs one job may bring, in MiB.
    pub max_job_mib: u64,
    /// Inputs of an offered job run twice each on the scheduler's machine before it consents
    /// (the first and others drawn at random).
    pub sample_inputs: u32,
    /// Jobs one client may have offered and not yet bought (fetching, or consented under an
    /// order still valid).
    pub max_pending_offers_per_client: u32,
    /// Tasks in all of those jobs.
    pub max_pending_tasks_per_client: u32,
    /// Offered jobs fetched and checked at once; the others wait their turn.
    pub max_concurrent_intakes: u32,
    /// Offered jobs waiting or being checked, from every client; more are refused.
    pub max_pending_intakes: u32,
    /// The score (in this pool owner's domain, on the Hub) a worker needs for its reports of a
    /// machine failure to count toward failing a task; fewer are only re-planned.
    pub min_failure_score: u64,
    /// Replicas one task gets at most (BOINC's `max_total_results`): replicas that still
    /// disagree at the cap fail the task at once, and its client is refunded.
    pub replica_cap: u32,
    /// How long results stay fetchable by a deal's client after the deal ends, in seconds.
    pub result_retention_secs: u64,
    /// Only workers holding the pool owner's join credential may join
    /// (`quorate scheduler credential`).
    pub private: bool,
    /// Workers refused whatever they hold (a revoked credential, a worker turned away), by
    /// address.
    pub deny_workers: Vec<String>,
    /// When not empty, the only worker addresses taken.
    pub allow_workers: Vec<String>,
    /// When not empty, workers are taken only from these IP networks (CIDR: `10.0.0.0/8`).
    pub allow_networks: Vec<String>,
}

impl Default for SchedulerSection {
    fn default() -> Self {
        Self {
            pool: 0,
            worker_stake_percent: 30,
            reward_percent: 10,
            max_trust: 10,
            categories: vec![0, 1],
            price: "1".into(),
            order_volume: 10_000,
            order_category: 0,
            order_trust: 10,
            order_ttl_secs: 3_600,
            max_tasks_per_job: 10_000,
            max_job_mib: 256,
            sample_inputs: 3,
            max_pending_offers_per_client: 4,
            max_pending_tasks_per_client: 20_000,
            max_concurrent_intakes: 2,
            max_pending_intakes: 32,
            min_failure_score: 1,
            replica_cap: 8,
            result_retention_secs: 7 * 24 * 3600,
            private: false,
            deny_workers: Vec::new(),
            allow_workers: Vec::new(),
            allow_networks: Vec::new(),
        }
    }
}

/// `[worker]`: the pool a worker joins and how it runs tasks (`quorate worker run`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerSection {
    /// The pool to join; 0 for none (`--pool` gives it).
    pub pool: u64,
    /// Sandboxes, so tasks at once; 0 for `evaluator.sandboxes`.
    pub cores: u64,
    /// Scheduling priority of the sandboxes (0 normal to 19 lowest).
    pub nice: u64,
    /// The most memory one task may take, in MiB (offered to the pool per slot).
    pub task_memory_mib: u32,
    /// Offer WebGPU compute (a GPU opened in every sandbox): when a hardware GPU is found
    /// (`"auto"`), always, or never.
    pub gpu: GpuChoice,
    /// WebGPU tasks at once at most: what the device holds (the other sandboxes wait).
    pub gpu_slots: u64,
    /// GPU memory given to WebGPU tasks, MiB; 0 for all the device says it has.
    pub gpu_memory_mib: u64,
    /// libp2p addresses to listen on; none to only dial out.
    pub listen: Vec<String>,
    /// Peers to start from (each ending in `/p2p/<peer id>`): any node of the network.
    pub bootstrap: Vec<String>,
    /// Find peers on the local network with mDNS.
    pub mdns: bool,
    /// On SIGTERM or Ctrl-C: how long running tasks may take to finish, in seconds.
    pub drain_secs: u64,
    /// Tasks taken per sandbox (1 to 64): above 1, short tasks keep the sandboxes busy while
    /// the last result's vote is mined.
    pub pipeline: u64,
    /// For a private pool: the join credential its owner signed for this worker, as
    /// `quorate scheduler credential` prints it; empty for a public pool.
    pub credential: String,
    /// Where the worker serves its status and `/metrics` over HTTP (`quorate worker status`
    /// reads it); empty for nowhere.
    pub status_listen: String,
}

/// `[dashboard]`: the pool's web dashboard, JSON API and `/metrics`, served by
/// `quorate scheduler run`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DashboardSection {
    /// The address to serve on (`host:port`); empty for nowhere.
    pub listen: String,
    /// A PEM certificate chain and its PEM private key: served over TLS when both are set.
    pub tls_cert: PathBuf,
    /// The private key of `tls_cert`.
    pub tls_key: PathBuf,
    /// Serve plain HTTP on an address beyond loopback (tokens and logins cross in clear).
    pub plain_http_beyond_loopback: bool,
}

impl DashboardSection {
    /// Where and how to serve, checked: TLS needs both files; an address beyond loopback needs
    /// TLS or `plain_http_beyond_loopback`.
    pub fn listen(&self) -> Result<Option<crate::http::Listen>, String> {
        let tls = match (self.tls_cert.as_os_str().is_empty(), self.tls_key.as_os_str().is_empty())
        {
            (true, true) => None,
            (false, false) => Some(crate::http::TlsFiles {
                cert: self.tls_cert.clone(),
                key: self.tls_key.clone(),
            }),
            _ => {
                return Err(
                    "dashboard.tls_cert and dashboard.tls_key go together: set both or neither"
                        .into(),
                );
            }
        };
        crate::http::Listen::from_config(&self.listen, tls, self.plain_http_beyond_loopback)
    }
}

impl Default for DashboardSection {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8470".into(),
            tls_cert: PathBuf::new(),
            tls_key: PathBuf::new(),
            plain_http_beyond_loopback: false,
        }
    }
}

impl WorkerSection {
    /// Where the worker serves its status: a loopback address (it is read without a token).
    pub fn status_listen(&self) -> Result<Option<crate::http::Listen>, String> {
        let listen = crate::http::Listen::from_config(&self.status_listen, None, true)?;
        if listen.as_ref().is_some_and(|l| !l.addr.ip().is_loopback()) {
            return Err(format!(
                "{:?} is beyond loopback: a worker's status is read without a token, so it is served to this machine only (scrape it through a local agent)",
                self.status_listen
            ));
        }
        Ok(listen)
    }
}

impl SchedulerSection {
    /// The addresses of `deny_workers`.
    pub fn denied_workers(&self) -> Result<std::collections::HashSet<Address>, ConfigError> {
        addresses("scheduler.deny_workers", &self.deny_workers)
    }

    /// The addresses of `allow_workers` (empty: any).
    pub fn allowed_workers(&self) -> Result<std::collections::HashSet<Address>, ConfigError> {
        addresses("scheduler.allow_workers", &self.allow_workers)
    }

    /// The networks of `allow_networks` (empty: any).
    pub fn allowed_networks(&self) -> Result<Vec<IpNetwork>, ConfigError> {
        self.allow_networks
            .iter()
            .map(|text| {
                text.parse().map_err(|reason| ConfigError::Invalid {
                    key: "scheduler.allow_networks".into(),
                    reason,
                })
            })
            .collect()
    }
}

fn addresses(
    key: &str,
    texts: &[String],
) -> Result<std::collections::HashSet<Address>, ConfigError> {
    texts
        .iter()
        .map(|text| {
            text.trim().parse::<Address>().map_err(|e| ConfigError::Invalid {
                key: key.into(),
                reason: format!("`{text}` is not an address ({e})"),
            })
        })
        .collect()
}

impl WorkerSection {
    /// The join credential of `credential`, if one is set.
    pub fn join_credential(
        &self,
    ) -> Result<Option<quorate_p2p::identity::JoinCredential>, ConfigError> {
        if self.credential.trim().is_empty() {
            return Ok(None);
        }
        quorate_p2p::identity::JoinCredential::from_text(&self.credential).map(Some).map_err(|e| {
            ConfigError::Invalid {
                key: "worker.credential".into(),
                reason: format!(
                    "is not a join credential ({e}): paste the whole line `quorate scheduler credential` printed"
                ),
            }
        })
    }
}

impl Default for WorkerSection {
    fn default() -> Self {
        Self {
            pool: 0,
            cores: 0,
            nice: 18,
            task_memory_mib: 1024,
            gpu: GpuChoice::Auto,
            gpu_slots: 1,
            gpu_memory_mib: 0,
            listen: vec!["/ip4/0.0.0.0/tcp/0".into(), "/ip4/0.0.0.0/udp/0/quic-v1".into()],
            bootstrap: Vec::new(),
            mdns: false,
            drain_secs: 300,
            pipeline: 1,
            credential: String::new(),
            status_listen: "127.0.0.1:8471".into(),
        }
    }
}

/// `[client]`: where `quorate job submit` sends jobs by default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientSection {
    /// The pool to submit to; 0 for none (`--pool` gives it).
    pub pool: u64,
    /// Peers to reach the network through (each ending in `/p2p/<peer id>`), e.g. the pool's
    /// scheduler as `quorate scheduler run` prints it.
    pub bootstrap: Vec<String>,
}

/// `[evaluator]`: the sandbox processes that run work functions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvaluatorSection {
    /// The `quorate-evaluator` executable; empty for the one beside `quorate`.
    pub program: PathBuf,
    /// Sandboxes at once; 0 for one per core minus one (at least one).
    pub sandboxes: u64,
    /// Scheduling priority of the sandboxes (0 normal to 19 lowest).
    pub nice: u64,
}

impl Default for EvaluatorSection {
    fn default() -> Self {
        Self { program: PathBuf::new(), sandboxes: 0, nice: 10 }
    }
}

impl EvaluatorSection {
    /// The executable to start: the configured one, else `quorate-evaluator` beside this
    /// executable.
    pub fn program(&self) -> PathBuf {
        if !self.program.as_os_str().is_empty() {
            return self.program.clone();
        }
        std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(|dir| dir.join(quorate_evaluator::client::PROGRAM)))
            .unwrap_or_else(|| PathBuf::from(quorate_evaluator::client::PROGRAM))
    }

    /// How many sandboxes to run.
    pub fn sandboxes(&self) -> usize {
        match usize::try_from(self.sandboxes) {
            Ok(0) | Err(_) => {
                std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1)).max(1)
            }
            Ok(n) => n,
        }
    }
}

impl Default for NodeSection {
    fn default() -> Self {
        Self { data_dir: PathBuf::new() }
    }
}

impl Default for WalletSection {
    fn default() -> Self {
        Self { keystore_dir: PathBuf::new(), name: String::new() }
    }
}

impl Default for ChainSection {
    fn default() -> Self {
        Self {
            rpc_url: "http://127.0.0.1:8545".into(),
            chain_id: 0,
            hub: None,
            confirmations: 2,
            poll_interval_ms: 1000,
            gas_margin_percent: 20,
            resubmit_after_secs: 30,
            fee_bump_percent: 25,
            max_fee_per_gas_gwei: 0,
            max_in_flight: 2048,
            log_block_range: 2000,
        }
    }
}

impl NodeConfig {
    /// The configuration with every derived value filled in: the data directory and the
    /// keystore directory become absolute paths.
    pub fn derived(&self) -> Self {
        let mut out = self.clone();
        if out.node.data_dir.as_os_str().is_empty() {
            out.node.data_dir = default_data_dir();
        }
        if out.wallet.keystore_dir.as_os_str().is_empty() {
            out.wallet.keystore_dir = out.node.data_dir.join("keystores");
        }
        out
    }

    /// Checks the values that parse but cannot work, naming the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, why: &str| {
            Err(ConfigError::Invalid { key: key.to_owned(), reason: why.to_owned() })
        };
        let url = &self.chain.rpc_url;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return bad("chain.rpc_url", "must be an http:// or https:// URL");
        }
        if self.chain.poll_interval_ms == 0 {
            return bad("chain.poll_interval_ms", "must be at least 1");
        }
        if !(10..=1000).contains(&self.chain.fee_bump_percent) {
            return bad(
                "chain.fee_bump_percent",
                "must be 10 to 1000 (nodes refuse replacements below a 10 % bump)",
            );
        }
        if self.chain.gas_margin_percent > 1000 {
            return bad("chain.gas_margin_percent", "must be at most 1000");
        }
        if self.chain.resubmit_after_secs == 0 {
            return bad("chain.resubmit_after_secs", "must be at least 1");
        }
        if self.chain.max_in_flight == 0 {
            return bad("chain.max_in_flight", "must be at least 1");
        }
        if self.chain.log_block_range == 0 {
            return bad("chain.log_block_range", "must be at least 1");
        }
        if self.evaluator.nice > 19 {
            return bad("evaluator.nice", "must be 0 (normal) to 19 (lowest priority)");
        }
        let s = &self.scheduler;
        if s.worker_stake_percent > 100 || s.reward_percent > 100 {
            return bad("scheduler.worker_stake_percent", "ratios are percents: 0 to 100");
        }
        if s.max_trust == 0 {
            return bad("scheduler.max_trust", "must be at least 1");
        }
        if s.order_trust == 0 || s.order_trust > s.max_trust {
            return bad("scheduler.order_trust", "must be 1 to scheduler.max_trust");
        }
        if !s.categories.contains(&s.order_category) {
            return bad("scheduler.order_category", "must be one of scheduler.categories");
        }
        if s.order_volume == 0 || s.max_tasks_per_job == 0 {
            return bad("scheduler.order_volume", "volumes and task counts must be at least 1");
        }
        for (key, value) in [
            ("scheduler.sample_inputs", s.sample_inputs),
            ("scheduler.max_pending_offers_per_client", s.max_pending_offers_per_client),
            ("scheduler.max_pending_tasks_per_client", s.max_pending_tasks_per_client),
            ("scheduler.max_concurrent_intakes", s.max_concurrent_intakes),
            ("scheduler.max_pending_intakes", s.max_pending_intakes),
        ] {
            if value == 0 {
                return bad(key, "must be at least 1");
            }
        }
        if !(1..=255).contains(&s.replica_cap) {
            return bad("scheduler.replica_cap", "must be 1 to 255 replicas per task");
        }
        if s.order_ttl_secs < 60 {
            return bad("scheduler.order_ttl_secs", "must be at least 60 seconds");
        }
        if let Err(e) = crate::units::parse_amount(&s.price) {
            return bad("scheduler.price", &format!("is not an amount: {e}"));
        }
        s.denied_workers()?;
        s.allowed_workers()?;
        s.allowed_networks()?;
        let w = &self.worker;
        w.join_credential()?;
        if w.nice > 19 {
            return bad("worker.nice", "must be 0 (normal) to 19 (lowest priority)");
        }
        if !(1..=64).contains(&w.gpu_slots) {
            return bad("worker.gpu_slots", "must be 1 to 64 WebGPU tasks at once");
        }
        if w.gpu_memory_mib != 0
            && !(16..=u64::from(quorate_primitives::gpu::MAX_GPU_MIB)).contains(&w.gpu_memory_mib)
        {
            return bad(
                "worker.gpu_memory_mib",
                "must be 0 (all the GPU has) or 16 to 1048576 MiB",
            );
        }
        if !(1..=64).contains(&w.pipeline) {
            return bad("worker.pipeline", "must be 1 to 64 tasks per sandbox");
        }
        if !(16..=quorate_primitives::job::MAX_HEAP_MIB).contains(&w.task_memory_mib) {
            return bad("worker.task_memory_mib", "must be 16 to 16384 MiB");
        }
        crate::http::Listen::from_config(&w.status_listen, None, true).map_err(|reason| {
            ConfigError::Invalid { key: "worker.status_listen".into(), reason }
        })?;
        self.dashboard
            .listen()
            .map_err(|reason| ConfigError::Invalid { key: "dashboard.listen".into(), reason })?;
        Ok(())
    }

    /// The chain actor's settings.
    pub fn chain_config(&self) -> Result<crate::chain::ChainConfig, ConfigError> {
        let url = self.chain.rpc_url.parse().map_err(|e| ConfigError::Invalid {
            key: "chain.rpc_url".into(),
            reason: format!("not a URL: {e}"),
        })?;
        let c = &self.chain;
        Ok(crate::chain::ChainConfig {
            rpc_url: url,
            chain_id: (c.chain_id != 0).then_some(c.chain_id),
            confirmations: c.confirmations,
            poll_interval: Duration::from_millis(c.poll_interval_ms),
            gas_margin_percent: c.gas_margin_percent,
            resubmit_after: Duration::from_secs(c.resubmit_after_secs),
            fee_bump_percent: c.fee_bump_percent,
            max_fee_per_gas: (c.max_fee_per_gas_gwei != 0)
                .then(|| u128::from(c.max_fee_per_gas_gwei).saturating_mul(1_000_000_000)),
            max_in_flight: usize::try_from(c.max_in_flight).unwrap_or(usize::MAX),
            log_block_range: c.log_block_range,
        })
    }

    /// The Hub's address, or an error saying how to set it.
    pub fn hub(&self) -> Result<Address, ConfigError> {
        self.chain.hub.ok_or_else(|| ConfigError::Invalid {
            key: "chain.hub".into(),
            reason: "is not set: pass --config devnet.toml (written by `quorate devnet`) or set QUORATE_CHAIN_HUB".into(),
        })
    }
}

/// The text of a configuration file that `--config` loads: `comments` as `#` lines, then the
/// keys of `config`: all of them, or only the dotted `keys` given (`chain.hub`), in that order
/// and under their sections. A file with some keys leaves the others to the layers below it.
pub fn file_text(config: &NodeConfig, keys: Option<&[&str]>, comments: &[String]) -> String {
    let mut text: String = comments.iter().map(|c| format!("# {c}\n")).collect();
    let Some(keys) = keys else {
        text.push_str(&toml::to_string(config).unwrap_or_default());
        return text;
    };
    let table = match toml::Value::try_from(config) {
        Ok(toml::Value::Table(table)) => table,
        _ => toml::Table::new(),
    };
    let mut section = None;
    for key in keys {
        let Some((name, field)) = key.split_once('.') else { continue };
        let Some(value) = table.get(name).and_then(|s| s.get(field)) else { continue };
        if section != Some(name) {
            if section.is_some() {
                text.push('\n');
            }
            text.push_str(&format!("[{name}]\n"));
            section = Some(name);
        }
        text.push_str(&format!("{field} = {value}\n"));
    }
    text
}

/// `$XDG_DATA_HOME/quorate`, else `~/.local/share/quorate`, else `./quorate-data`.
fn default_data_dir() -> PathBuf {
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(xdg).join("quorate");
    }
    if let Some(home) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(home).join(".local/share/quorate");
    }
    PathBuf::from("quorate-data")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_defaults_parse_and_validate() {
        let parsed: NodeConfig = toml::from_str(DEFAULTS).unwrap();
        assert_eq!(parsed, NodeConfig::default());
        parsed.validate().unwrap();
        assert!(parsed.chain_config().is_ok());
    }

    #[test]
    fn a_file_of_some_keys_reads_back_over_the_defaults() {
        let mut config = NodeConfig::default();
        config.chain.rpc_url = "https://rpc.example:8545/key".into();
        config.chain.chain_id = 11_155_111;
        config.chain.hub = Some(Address::repeat_byte(0xab));
        config.chain.confirmations = 9;
        let keys = ["chain.rpc_url", "chain.chain_id", "chain.hub"];
        let text = file_text(&config, Some(&keys), &["a comment".into()]);
        assert!(text.starts_with("# a comment\n[chain]\nrpc_url = "), "{text}");
        let read: NodeConfig = toml::from_str(&text).unwrap();
        assert_eq!(read.chain.hub, config.chain.hub);
        assert_eq!(
            (read.chain.rpc_url.as_str(), read.chain.chain_id),
            ("https://rpc.example:8545/key", 11_155_111)
        );
        assert_eq!(read.chain.confirmations, NodeConfig::default().chain.confirmations, "{text}");
        let all: NodeConfig = toml::from_str(&file_text(&config, None, &[])).unwrap();
        assert_eq!(all, config);
    }

    #[test]
    fn derived_paths_sit_under_the_data_dir() {
        let mut config = NodeConfig::default();
        config.node.data_dir = "/srv/q".into();
        let derived = config.derived();
        assert_eq!(derived.wallet.keystore_dir, PathBuf::from("/srv/q/keystores"));
        config.wallet.keystore_dir = "/keys".into();
        assert_eq!(config.derived().wallet.keystore_dir, PathBuf::from("/keys"));
    }
}
