//! A whole local chain for Quorate: anvil, the credit token and the Hub deployed, categories
//! registered, and named accounts funded with ETH, QCR and Hub deposits.
//!
//! Setup runs in automine (every transaction mined as it arrives, so a few dozen take a
//! fraction of a second); then the chain switches to one block per `block_time`, because
//! automine loses transactions under many concurrent senders.

use std::time::{Duration, Instant};

use alloy::{
    network::EthereumWallet,
    primitives::{Address, B256, U256, utils::parse_ether},
    providers::{Provider, ProviderBuilder},
    rpc::types::{TransactionReceipt, TransactionRequest},
    signers::local::PrivateKeySigner,
    sol_types::SolCall,
};
use quorate_contracts::{
    bindings::{Hub, QuorateCredit},
    deploy::{Deployment, Plan, Sender, deploy_hub, devnet_categories},
};

use crate::{Anvil, AnvilConfig, DevnetError};

/// What one account is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Deploys and owns the Hub and the token.
    HubOwner,
    /// Runs a pool scheduler.
    PoolOperator,
    /// Runs a worker node.
    Worker,
    /// Submits jobs.
    Client,
}

impl Role {
    /// The role's name as printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HubOwner => "hub owner",
            Self::PoolOperator => "pool operator",
            Self::Worker => "worker",
            Self::Client => "client",
        }
    }
}

/// One funded account of the devnet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevAccount {
    /// Its name (`operator`, `worker-1`, `client`): the keystore's name too.
    pub name: String,
    /// What it is for.
    pub role: Role,
    /// Its private key (a devnet key: never use it elsewhere).
    pub key: B256,
    /// Its address.
    pub address: Address,
    /// QCR minted to its wallet, before deposits.
    pub minted: U256,
    /// QCR of that deposited in the Hub.
    pub deposited: U256,
}

/// How to start a devnet.
#[derive(Debug, Clone)]
pub struct DevnetConfig {
    /// Seconds per block once set up (anvil's `--block-time`).
    pub block_time: u64,
    /// Chain id; `None` keeps anvil's 31337.
    pub chain_id: Option<u64>,
    /// Worker accounts to fund.
    pub workers: u32,
    /// Client accounts to fund.
    pub clients: u32,
    /// QCR minted to every account but the hub owner.
    pub mint: U256,
    /// QCR each pool operator, worker and client deposits in the Hub.
    pub deposit: U256,
    /// The port; 0 for one the OS picks.
    pub port: u16,
    /// A state file for anvil, so [`Devnet::restart_chain`] can stop the chain and start it
    /// again with its blocks (`None`: no restarts).
    pub state: Option<std::path::PathBuf>,
}

impl DevnetConfig {
    /// For tests: one-second blocks, three workers, one client.
    pub fn test() -> Self {
        Self {
            block_time: 1,
            chain_id: None,
            workers: 3,
            clients: 1,
            mint: parse_ether("10000").unwrap_or_default(),
            deposit: parse_ether("1000").unwrap_or_default(),
            port: 0,
            state: None,
        }
    }
}

impl Default for DevnetConfig {
    fn default() -> Self {
        Self::test()
    }
}

/// A running devnet; anvil stops when it is dropped.
#[derive(Debug)]
pub struct Devnet {
    anvil: Anvil,
    chain_id: u64,
    deployment: Deployment,
    deploy_block: u64,
    accounts: Vec<DevAccount>,
    ready_in: Duration,
}

impl Devnet {
    /// Starts anvil, deploys, registers categories, funds the accounts, then turns on
    /// interval mining.
    pub async fn spawn(config: DevnetConfig) -> Result<Self, DevnetError> {
        let started = Instant::now();
        let count = 2u32.saturating_add(config.workers).saturating_add(config.clients);
        let mut anvil = Anvil::spawn(AnvilConfig {
            block_time: None,
            chain_id: config.chain_id,
            accounts: count.max(2),
            port: config.port,
            state: config.state.clone(),
            ..AnvilConfig::default()
        })?;
        let rpc = |method: &str| {
            let method = method.to_owned();
            move |e: String| DevnetError::Rpc { method: method.clone(), reason: e }
        };
        let keys: Vec<PrivateKeySigner> = anvil
            .private_keys()
            .iter()
            .map(|k| PrivateKeySigner::from_bytes(k).map_err(|e| rpc("dev keys")(e.to_string())))
            .collect::<Result<_, _>>()?;

        let mut accounts = Vec::new();
        let mut role_of = |i: usize, name: String, role: Role| -> Result<(), DevnetError> {
            let key =
                keys.get(i).ok_or_else(|| rpc("dev keys")("anvil gave too few keys".into()))?;
            let funded = role != Role::HubOwner;
            accounts.push(DevAccount {
                name,
                role,
                key: B256::from(key.to_bytes()),
                address: key.address(),
                minted: if funded { config.mint } else { U256::ZERO },
                deposited: if funded { config.deposit.min(config.mint) } else { U256::ZERO },
            });
            Ok(())
        };
        role_of(0, "hub-owner".into(), Role::HubOwner)?;
        role_of(1, "operator".into(), Role::PoolOperator)?;
        for w in 0..config.workers {
            role_of(2 + w as usize, format!("worker-{}", w + 1), Role::Worker)?;
        }
        for c in 0..config.clients {
            let name =
                if config.clients == 1 { "client".into() } else { format!("client-{}", c + 1) };
            role_of(2 + (config.workers + c) as usize, name, Role::Client)?;
        }

        let mut wallet = EthereumWallet::from(keys[0].clone());
        for key in keys.iter().skip(1) {
            wallet.register_signer(key.clone());
        }
        let url = anvil
            .endpoint()
            .parse()
            .map_err(|e: url::ParseError| rpc("endpoint")(e.to_string()))?;
        let provider = ProviderBuilder::new().wallet(wallet).connect_http(url);
        let chain_id =
            provider.get_chain_id().await.map_err(|e| rpc("eth_chainId")(e.to_string()))?;
        let owner = keys[0].address();

        // The deployment is the one `quorate hub deploy` runs, sent through anvil.
        let sender = Automine { provider: &provider };
        let categories = devnet_categories();
        let plan = Plan { owner, token: None, categories: &categories };
        let deployed = deploy_hub(&sender, &plan).await?;
        let Deployment { credit, hub } = deployed.deployment;

        let call = |from: Address, to: Address, input: Vec<u8>| {
            TransactionRequest::default().from(from).to(to).input(input.into())
        };
        for account in accounts.iter().filter(|a| a.role != Role::HubOwner) {
            let mint = QuorateCredit::mintCall { to: account.address, amount: account.minted }
                .abi_encode();
            sender.send("mint", call(owner, credit, mint)).await?;
            if !account.deposited.is_zero() {
                let approve = QuorateCredit::approveCall { spender: hub, value: account.deposited }
                    .abi_encode();
                sender.send("approve", call(account.address, credit, approve)).await?;
                let deposit = Hub::depositCall { amount: account.deposited }.abi_encode();
                sender.send("deposit", call(account.address, hub, deposit)).await?;
            }
        }

        // From now on, blocks at a steady pace.
        anvil.rpc("evm_setAutomine", serde_json::json!([false])).await?;
        anvil.rpc("evm_setIntervalMining", serde_json::json!([config.block_time])).await?;
        anvil.set_restart_block_time(config.block_time);

        Ok(Self {
            anvil,
            chain_id,
            deployment: deployed.deployment,
            deploy_block: deployed.block,
            accounts,
            ready_in: started.elapsed(),
        })
    }

    /// The JSON-RPC endpoint.
    pub fn endpoint(&self) -> String {
        self.anvil.endpoint()
    }

    /// The chain id.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// Where the token and the Hub are.
    pub fn deployment(&self) -> Deployment {
        self.deployment
    }

    /// The block the Hub was deployed in: followers start there.
    pub fn deploy_block(&self) -> u64 {
        self.deploy_block
    }

    /// The funded accounts, hub owner first.
    pub fn accounts(&self) -> &[DevAccount] {
        &self.accounts
    }

    /// The first account of `role`.
    pub fn account(&self, role: Role) -> Option<&DevAccount> {
        self.accounts.iter().find(|a| a.role == role)
    }

    /// The chain underneath.
    pub fn anvil(&self) -> &Anvil {
        &self.anvil
    }

    /// The chain node goes away for `down` and comes back on the same endpoint with its blocks
    /// (see [`Anvil::restart`]); needs [`DevnetConfig::state`].
    pub fn restart_chain(&mut self, down: Duration) -> Result<(), DevnetError> {
        self.anvil.restart(down)
    }

    /// How long setup took, from the call to ready.
    pub fn ready_in(&self) -> Duration {
        self.ready_in
    }
}

/// Sends through the devnet's provider, which signs for every dev account, while anvil
/// automines: each transaction is mined as it arrives, so its receipt is polled every 2 ms
/// rather than at the provider's pace, and one is sent only once the one before is mined.
struct Automine<'a, P> {
    provider: &'a P,
}

impl<P: Provider + Sync> Sender for Automine<'_, P> {
    type Error = DevnetError;

    async fn send(
        &self,
        op: &'static str,
        tx: TransactionRequest,
    ) -> Result<TransactionReceipt, DevnetError> {
        let rpc = |reason: String| DevnetError::Rpc { method: op.to_owned(), reason };
        let pending = self.provider.send_transaction(tx).await.map_err(|e| rpc(e.to_string()))?;
        let hash = *pending.tx_hash();
        let deadline = Instant::now() + Duration::from_secs(10);
        let receipt = loop {
            match self
                .provider
                .get_transaction_receipt(hash)
                .await
                .map_err(|e| rpc(e.to_string()))?
            {
                Some(receipt) => break receipt,
                None if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                None => return Err(rpc(format!("no receipt for {hash} after 10 s"))),
            }
        };
        if !receipt.status() {
            return Err(rpc(format!("transaction {hash} reverted")));
        }
        Ok(receipt)
    }
}
