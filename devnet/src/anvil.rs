//! A real anvil chain on loopback.

use std::{
    collections::VecDeque,
    io::{BufRead, BufReader, Read},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex, mpsc},
    time::Duration,
};

use alloy::{
    network::Ethereum,
    providers::{Provider, RootProvider},
};
use quorate_contracts::foundry;
use quorate_primitives::B256;

use crate::DevnetError;

/// How to start anvil. `AnvilConfig::default()` is a fresh automining chain with anvil's ten
/// well-known test accounts (chain id 31337).
#[derive(Debug, Clone)]
pub struct AnvilConfig {
    /// Seconds between blocks; `None` mines one block per transaction (automine). Anvil's
    /// automine loses transactions under many concurrent senders: use a block time there.
    pub block_time: Option<u64>,
    /// Chain id; `None` keeps anvil's 31337.
    pub chain_id: Option<u64>,
    /// How many funded accounts to create (anvil's default is 10).
    pub accounts: u32,
    /// The binary to run; `None` finds it with [`foundry::find`].
    pub binary: Option<PathBuf>,
    /// How long to wait for anvil to say where it listens. Default 20 s.
    pub startup_timeout: Duration,
    /// The port to listen on; 0 lets the OS pick one (the default).
    pub port: u16,
    /// A state file: loaded at start if it exists, written when anvil is stopped with
    /// [`Anvil::stop`] (anvil's `--state`), so a chain can be stopped and started again.
    pub state: Option<PathBuf>,
}

impl Default for AnvilConfig {
    fn default() -> Self {
        Self {
            block_time: None,
            chain_id: None,
            accounts: 10,
            binary: None,
            startup_timeout: Duration::from_secs(20),
            port: 0,
            state: None,
        }
    }
}

/// Lines of anvil's output kept for error messages.
const OUTPUT_TAIL_LINES: usize = 40;

/// A running anvil, killed when dropped.
#[derive(Debug)]
pub struct Anvil {
    child: Child,
    /// How it was started (the port it got filled in), to start it again.
    config: AnvilConfig,
    port: u16,
    private_keys: Vec<B256>,
    output: Arc<Mutex<VecDeque<String>>>,
}

impl Anvil {
    /// Starts anvil on `127.0.0.1` with a port the OS picks, and waits until it listens.
    pub fn spawn(config: AnvilConfig) -> Result<Self, DevnetError> {
        let binary = match &config.binary {
            Some(path) => path.clone(),
            None => foundry::find("anvil")?,
        };
        let mut command = Command::new(binary);
        command
            .args(["--host", "127.0.0.1", "--port"])
            .arg(config.port.to_string())
            .arg("--accounts")
            .arg(config.accounts.to_string())
            // Nothing of ours (a password in QUORATE_PASSWORD, say) reaches the child.
            .env_remove("QUORATE_PASSWORD")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(seconds) = config.block_time {
            command.arg("--block-time").arg(seconds.to_string());
        }
        if let Some(state) = &config.state {
            command.arg("--state").arg(state);
        }
        if let Some(id) = config.chain_id {
            command.arg("--chain-id").arg(id.to_string());
        }
        die_with_parent(&mut command);
        let mut child =
            command.spawn().map_err(|source| DevnetError::Spawn { tool: "anvil", source })?;

        // One thread per stream drains anvil's output for its whole life (it logs every call,
        // and a full pipe would stall it), keeps a short tail for diagnostics, and reports once
        // the listening port with the dev accounts' keys printed before it.
        let output = Arc::new(Mutex::new(VecDeque::with_capacity(OUTPUT_TAIL_LINES)));
        let (port_tx, port_rx) = mpsc::sync_channel::<Ready>(1);
        if let Some(stdout) = child.stdout.take() {
            drain(stdout, Arc::clone(&output), Some(port_tx));
        }
        if let Some(stderr) = child.stderr.take() {
            drain(stderr, Arc::clone(&output), None);
        }

        let ready = port_rx.recv_timeout(config.startup_timeout);
        let startup_timeout = config.startup_timeout;
        let mut anvil = Self { child, config, port: 0, private_keys: Vec::new(), output };
        match ready {
            Ok(ready) => {
                anvil.port = ready.port;
                anvil.config.port = ready.port;
                anvil.private_keys = ready.private_keys;
                Ok(anvil)
            }
            Err(_) => Err(DevnetError::NotReady {
                tool: "anvil",
                waited: startup_timeout,
                output: anvil.output_tail(),
            }),
        }
    }

    /// The TCP port anvil listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The private keys of the funded dev accounts, in anvil's order (as many as
    /// [`AnvilConfig::accounts`]).
    pub fn private_keys(&self) -> &[B256] {
        &self.private_keys
    }

    /// The HTTP JSON-RPC endpoint, `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The last lines anvil printed.
    pub fn output_tail(&self) -> String {
        self.output
            .lock()
            .map(|lines| lines.iter().cloned().collect::<Vec<_>>().join("\n"))
            .unwrap_or_default()
    }

    /// Makes one JSON-RPC call (any method, anvil's own included) and returns its `result`.
    pub async fn rpc(
        &self,
        method: &str,
        params: serde_json::Value,
    ) -> Result<serde_json::Value, DevnetError> {
        let fail = |reason: String| DevnetError::Rpc { method: method.to_owned(), reason };
        let url = self.endpoint().parse().map_err(|e: url::ParseError| fail(e.to_string()))?;
        let provider = RootProvider::<Ethereum>::new_http(url);
        provider
            .raw_request::<_, serde_json::Value>(method.to_owned().into(), params)
            .await
            .map_err(|e| fail(e.to_string()))
    }

    /// The chain id, read from the chain.
    pub async fn chain_id(&self) -> Result<u64, DevnetError> {
        let url = self.endpoint().parse().map_err(|e: url::ParseError| DevnetError::Rpc {
            method: "eth_chainId".into(),
            reason: e.to_string(),
        })?;
        RootProvider::<Ethereum>::new_http(url)
            .get_chain_id()
            .await
            .map_err(|e| DevnetError::Rpc { method: "eth_chainId".into(), reason: e.to_string() })
    }
}

impl Anvil {
    /// Stops anvil gracefully (SIGTERM), so that it writes its `--state` file, and waits for
    /// it to exit.
    pub fn stop(mut self) -> Result<(), DevnetError> {
        self.terminate_and_wait()
    }

    /// The chain node going away and coming back: stops anvil as [`Anvil::stop`] does (its
    /// state written), waits `down`, and starts it again on the same port from its state file,
    /// with the same block time (blocks and their logs kept; transactions not yet mined are
    /// lost, as a node restart loses its pool).
    pub fn restart(&mut self, down: Duration) -> Result<(), DevnetError> {
        if self.config.state.is_none() {
            return Err(DevnetError::NotReady {
                tool: "anvil",
                waited: Duration::ZERO,
                output: "a chain without a state file cannot be restarted: set AnvilConfig::state"
                    .into(),
            });
        }
        self.terminate_and_wait()?;
        std::thread::sleep(down);
        let fresh = Self::spawn(self.config.clone())?;
        // The old child has exited; dropping it reaps nothing more.
        *self = fresh;
        Ok(())
    }

    /// Sets the block time anvil is started again with (interval mining turned on by RPC is
    /// not kept in its state).
    pub fn set_restart_block_time(&mut self, seconds: u64) {
        self.config.block_time = Some(seconds);
    }

    fn terminate_and_wait(&mut self) -> Result<(), DevnetError> {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap_or(libc::pid_t::MAX);
        terminate(pid);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(_)) => return Ok(()),
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(source) => return Err(DevnetError::Spawn { tool: "anvil", source }),
            }
        }
        Err(DevnetError::NotReady {
            tool: "anvil",
            waited: Duration::from_secs(10),
            output: format!("did not exit after SIGTERM; {}", self.output_tail()),
        })
    }
}

/// Asks the kernel to send anvil SIGTERM when the thread that started it dies, so a killed
/// `quorate devnet` (or test) never leaves a chain running.
#[allow(unsafe_code)]
fn die_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the child between fork and exec and only calls prctl(2),
    // which is async-signal-safe, with constant arguments.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM, 0, 0, 0) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[allow(unsafe_code)]
fn terminate(pid: libc::pid_t) {
    // SAFETY: kill(2) with a pid we spawned and still own (not yet reaped) and a valid signal.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        // Already exited is fine; there is nothing more to do on failure in a destructor.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What anvil says before it serves: its port and its dev accounts' keys.
struct Ready {
    port: u16,
    private_keys: Vec<B256>,
}

fn drain<R: Read + Send + 'static>(
    stream: R,
    tail: Arc<Mutex<VecDeque<String>>>,
    ready_tx: Option<mpsc::SyncSender<Ready>>,
) {
    std::thread::spawn(move || {
        let mut ready_tx = ready_tx;
        let mut private_keys = Vec::new();
        let mut in_key_section = false;
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if let Some(tx) = &ready_tx {
                if line.trim() == "Private Keys" {
                    in_key_section = true;
                } else if in_key_section && let Some(key) = private_key(&line) {
                    private_keys.push(key);
                } else if line.trim().is_empty() && !private_keys.is_empty() {
                    in_key_section = false;
                } else if let Some(port) = listening_port(&line) {
                    let private_keys = std::mem::take(&mut private_keys);
                    // The receiver may have given up waiting; that is its business.
                    let _ = tx.try_send(Ready { port, private_keys });
                    ready_tx = None;
                }
            }
            if let Ok(mut lines) = tail.lock() {
                if lines.len() == OUTPUT_TAIL_LINES {
                    lines.pop_front();
                }
                lines.push_back(line);
            }
        }
    });
}

/// Parses a `(3) 0x<64 hex digits>` line of anvil's "Private Keys" section.
fn private_key(line: &str) -> Option<B256> {
    let (index, key) = line.trim().split_once(' ')?;
    if !(index.starts_with('(') && index.ends_with(')')) {
        return None;
    }
    key.trim().parse().ok()
}

/// Parses anvil's `Listening on 127.0.0.1:PORT` line.
fn listening_port(line: &str) -> Option<u16> {
    let rest = line.trim().strip_prefix("Listening on ")?;
    rest.rsplit(':').next()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::{listening_port, private_key};

    #[test]
    fn parses_the_listening_line() {
        assert_eq!(listening_port("Listening on 127.0.0.1:45123"), Some(45123));
        assert_eq!(listening_port("  Listening on 127.0.0.1:8545  "), Some(8545));
        assert_eq!(listening_port("Listening on [::1]:9000"), Some(9000));
        assert_eq!(listening_port("Available Accounts"), None);
        assert_eq!(listening_port("Listening on nowhere"), None);
    }

    #[test]
    fn parses_private_key_lines_only() {
        let key = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
        assert_eq!(private_key(&format!("(0) {key}")).map(|k| k.to_string()), Some(key.into()));
        assert_eq!(
            private_key(
                "(0) 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266 (10000.000000000000000000 ETH)"
            ),
            None
        );
        assert_eq!(private_key("Mnemonic:          test test test"), None);
        assert_eq!(private_key("=================="), None);
    }
}
