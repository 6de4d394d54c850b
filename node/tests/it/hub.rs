//! `quorate hub deploy` and `quorate hub info` through the real binary, on a plain anvil (no
//! devnet: nothing deployed until the command does it), from keystores the node's wallet code
//! wrote.

use std::path::{Path, PathBuf};

use alloy::{
    network::EthereumWallet,
    primitives::{Address, utils::parse_ether},
    providers::{Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};
use quorate_contracts::{
    bindings::{Hub, QuorateCredit},
    deploy::{STANDARD_CATEGORIES, devnet_categories},
};
use quorate_devnet::{Anvil, AnvilConfig};
use quorate_node::wallet::{KdfStrength, Wallets};
use quorate_primitives::B256;

use crate::common::{quorate, run};

const PASSWORD: &str = "deployer-pw";

/// A plain anvil and a data directory with keystores: `deployer` holds anvil's second dev
/// key (10,000 ETH), `empty` a fresh key with no ETH.
struct Setup {
    anvil: Anvil,
    dir: tempfile::TempDir,
    password: PathBuf,
    deployer: Address,
}

impl Setup {
    fn new() -> Self {
        let anvil = Anvil::spawn(AnvilConfig::default()).unwrap_or_else(|e| panic!("anvil: {e}"));
        let dir = tempfile::tempdir().unwrap();
        let wallets = Wallets::new(dir.path().join("keystores"));
        let key = anvil.private_keys()[1];
        let deployer = wallets
            .create("deployer", &key, PASSWORD.as_bytes(), KdfStrength::Light)
            .unwrap()
            .address
            .unwrap();
        let fresh = B256::from(PrivateKeySigner::random().to_bytes());
        wallets.create("empty", &fresh, PASSWORD.as_bytes(), KdfStrength::Light).unwrap();
        let password = dir.path().join("password");
        std::fs::write(&password, format!("{PASSWORD}\n")).unwrap();
        std::fs::set_permissions(&password, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        Self { anvil, dir, password, deployer }
    }

    /// `quorate` with this data directory, pointed at anvil, polling fast.
    fn quorate(&self) -> std::process::Command {
        self.quorate_at(&self.anvil.endpoint())
    }

    /// `quorate` with this data directory, pointed at `rpc_url`, polling fast.
    fn quorate_at(&self, rpc_url: &str) -> std::process::Command {
        let mut command = quorate();
        command.arg("--data-dir").arg(self.dir.path()).args([
            "--rpc-url",
            rpc_url,
            "--set",
            "chain.poll_interval_ms=100",
        ]);
        command
    }

    /// `quorate --config FILE` with this data directory and nothing else.
    fn with_config(&self, config: &Path) -> std::process::Command {
        let mut command = quorate();
        command.arg("--data-dir").arg(self.dir.path()).arg("--config").arg(config);
        command
    }

    fn deploy(&self, extra: &[&str]) -> (bool, String, String) {
        run(self
            .quorate()
            .args(["hub", "deploy", "--password-file"])
            .arg(&self.password)
            .args(extra))
    }

    async fn nonce(&self, account: Address) -> u64 {
        let provider = ProviderBuilder::new().connect_http(self.anvil.endpoint().parse().unwrap());
        provider.get_transaction_count(account).await.unwrap()
    }
}

/// The `hub = "0x…"` line of a printed configuration.
fn hub_of(config: &str) -> Address {
    config
        .lines()
        .find_map(|l| l.strip_prefix("hub = "))
        .unwrap_or_else(|| panic!("no hub line in:\n{config}"))
        .trim_matches('"')
        .parse()
        .unwrap()
}

/// The categories registered on `hub`, read with plain alloy.
async fn categories_on_chain(endpoint: &str, hub: Address) -> Vec<(String, u32)> {
    let provider = ProviderBuilder::new().connect_http(endpoint.parse().unwrap());
    let hub = Hub::new(hub, provider);
    let count: u8 = hub.categoryCount().call().await.unwrap().try_into().unwrap();
    let mut out = Vec::new();
    for id in 0..count {
        let c = hub.category(id).call().await.unwrap();
        out.push((c.name, c.timeRef));
    }
    out
}

fn owned(categories: &[(&str, u32)]) -> Vec<(String, u32)> {
    categories.iter().map(|(n, t)| ((*n).to_owned(), *t)).collect()
}

#[tokio::test]
async fn hub_deploy_writes_a_configuration_the_roles_use() {
    let setup = Setup::new();
    let out = setup.dir.path().join("quorate.toml");
    let (ok, printed, err) =
        setup.deploy(&["--wallet", "deployer", "--out", out.to_str().unwrap()]);
    assert!(ok, "{err}");
    eprintln!("{err}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), printed, "--out holds what was printed");
    assert!(printed.contains("[chain]\nrpc_url = "), "{printed}");
    assert!(printed.contains("chain_id = 31337\n"), "{printed}");
    let hub = hub_of(&printed);
    assert!(printed.contains("deployed with the Hub"), "{printed}");
    assert!(err.contains("deploy QuorateCredit at 0x") && err.contains("createCategory"), "{err}");

    // On chain: the Hub, owned by the deployer, over a fresh QuorateCredit it also owns, with
    // the standard categories in order.
    let provider = ProviderBuilder::new().connect_http(setup.anvil.endpoint().parse().unwrap());
    let contract = Hub::new(hub, provider.clone());
    assert_eq!(contract.owner().call().await.unwrap(), setup.deployer);
    let token = contract.token().call().await.unwrap();
    assert_eq!(QuorateCredit::new(token, provider).owner().call().await.unwrap(), setup.deployer);
    assert_eq!(
        categories_on_chain(&setup.anvil.endpoint(), hub).await,
        owned(&STANDARD_CATEGORIES)
    );

    // The printed configuration alone points every command at the deployment.
    let (ok, balance, err) =
        run(setup.with_config(&out).args(["wallet", "balance", "--wallet", "deployer"]));
    assert!(ok, "{err}");
    assert!(
        balance.contains("hub free    0 QCR") && balance.contains("eth         9999."),
        "{balance}"
    );
    let (ok, info, err) = run(setup.with_config(&out).args(["hub", "info"]));
    assert!(ok, "{err}");
    assert!(info.contains(&format!("owner       {}", setup.deployer)), "{info}");
    assert!(info.contains(&format!("token       {token}  (QCR)")), "{info}");
    assert!(info.contains("categories  5") && info.contains("4  XL           36000 s"), "{info}");
    assert!(info.contains("pools       0"), "{info}");
}

#[tokio::test]
async fn hub_deploy_over_an_existing_token_counts_in_it() {
    let setup = Setup::new();
    // Someone else's ERC-20, already deployed, with some of it held by the deployer.
    let issuer = PrivateKeySigner::from_bytes(&setup.anvil.private_keys()[2]).unwrap();
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(issuer.clone()))
        .connect_http(setup.anvil.endpoint().parse().unwrap());
    let credit = QuorateCredit::deploy(provider.clone(), issuer.address()).await.unwrap();
    credit
        .mint(setup.deployer, parse_ether("100").unwrap())
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let token = *credit.address();

    let out = setup.dir.path().join("over-token.toml");
    let (ok, printed, err) = setup.deploy(&[
        "--wallet",
        "deployer",
        "--token",
        &token.to_string(),
        "--categories",
        "devnet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(printed.contains(&format!("Credit token {token} (QCR), existing")), "{printed}");
    assert!(!err.contains("deploy QuorateCredit"), "no token deployed: {err}");
    let hub = hub_of(&printed);
    let on_chain = categories_on_chain(&setup.anvil.endpoint(), hub).await;
    assert_eq!(on_chain, owned(&devnet_categories()), "the devnet's categories, DEV first");

    let (ok, info, err) = run(setup.with_config(&out).args(["hub", "info"]));
    assert!(ok, "{err}");
    assert!(info.contains(&format!("token       {token}")), "{info}");
    // The Hub counts in the given token: a deposit moves it.
    let (ok, deposited, err) = run(setup
        .with_config(&out)
        .args(["wallet", "deposit", "12.5", "--wallet", "deployer", "--password-file"])
        .arg(&setup.password));
    assert!(ok, "{err}");
    assert!(
        deposited.contains("hub free    12.5 QCR") && deposited.contains("wallet      87.5 QCR"),
        "{deposited}"
    );
    assert_eq!(
        credit.balanceOf(hub).call().await.unwrap(),
        parse_ether("12.5").unwrap(),
        "the Hub holds the deposit in the given token"
    );

    // `hub info` pointed at a contract that is no Hub (the token) says so.
    let (ok, _, err) =
        run(setup.with_config(&out).args(["--set", &format!("chain.hub={token}"), "hub", "info"]));
    assert!(!ok);
    assert_one_sentence(&err, &format!("there is no Hub at {token} on chain 31337"));

    // A contract that is no ERC-20 (the Hub itself) is refused before anything is sent.
    let nonce = setup.nonce(setup.deployer).await;
    let (ok, _, err) = setup.deploy(&["--wallet", "deployer", "--token", &hub.to_string()]);
    assert!(!ok);
    assert_one_sentence(&err, "does not answer decimals() like an ERC-20 token");
    assert_eq!(setup.nonce(setup.deployer).await, nonce, "nothing was sent");
}

/// One line on stderr, `error: …` containing `expected`.
fn assert_one_sentence(err: &str, expected: &str) {
    assert_eq!(err.trim().lines().count(), 1, "one line expected:\n{err}");
    assert!(err.starts_with("error: ") && err.contains(expected), "{expected:?} expected:\n{err}");
}

#[tokio::test]
async fn hub_deploy_refuses_what_cannot_work_before_sending_anything() {
    let setup = Setup::new();
    let pw = setup.password.to_str().unwrap().to_owned();
    let endpoint = setup.anvil.endpoint();
    let deploy_at = |rpc_url: &str, global: &[&str], args: &[&str]| {
        run(setup
            .quorate_at(rpc_url)
            .args(global)
            .args(["hub", "deploy", "--password-file", &pw])
            .args(args))
    };
    let deploy = |global: &[&str], args: &[&str]| deploy_at(&endpoint, global, args);

    // Nothing listens on port 1.
    let (ok, _, err) = deploy_at("http://127.0.0.1:1", &[], &["--wallet", "deployer"]);
    assert!(!ok);
    assert_one_sentence(&err, "cannot reach the chain at http://127.0.0.1:1");

    // The configuration expects another chain.
    let (ok, _, err) = deploy(&["--set", "chain.chain_id=5"], &["--wallet", "deployer"]);
    assert!(!ok);
    assert_one_sentence(
        &err,
        "is chain 31337, the configuration expects chain 5: fix chain.chain_id",
    );

    // No contract at the token's address.
    let nowhere = "0x00000000000000000000000000000000000000aa";
    let (ok, _, err) = deploy(&[], &["--wallet", "deployer", "--token", nowhere]);
    assert!(!ok);
    assert_one_sentence(
        &err,
        &format!("there is no contract at {} on chain 31337", nowhere.parse::<Address>().unwrap()),
    );

    // A wallet without ETH: the numbers, and what to do.
    let (ok, _, err) = deploy(&[], &["--wallet", "empty"]);
    assert!(!ok);
    assert_one_sentence(&err, "holds 0 ETH and the deployment needs up to");
    assert!(err.contains(" gas at up to ") && err.contains("send it at least"), "{err}");

    // An --out that exists is never overwritten.
    let taken = setup.dir.path().join("taken.toml");
    std::fs::write(&taken, "# mine\n").unwrap();
    let (ok, _, err) = deploy(&[], &["--wallet", "deployer", "--out", taken.to_str().unwrap()]);
    assert!(!ok);
    assert_one_sentence(&err, "already exists: give --out a new file");
    assert_eq!(std::fs::read_to_string(&taken).unwrap(), "# mine\n");

    assert_eq!(setup.nonce(setup.deployer).await, 0, "the deployer sent nothing");
    let provider = ProviderBuilder::new().connect_http(setup.anvil.endpoint().parse().unwrap());
    assert_eq!(provider.get_block_number().await.unwrap(), 0, "nothing was mined");
}
