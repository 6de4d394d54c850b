//! `quorate wallet …`: keystores and Hub accounts.

use std::{io::Write, path::PathBuf, process::ExitCode};

use alloy::{
    primitives::Address, rpc::types::TransactionReceipt, signers::local::PrivateKeySigner,
};
use clap::{Args as ClapArgs, Subcommand};
use quorate_primitives::B256;

use super::Args;
use crate::{
    accounts,
    chain::{Chain, connect_provider},
    config::NodeConfig,
    units::{Currency, parse_amount, show},
    wallet::{self, KdfStrength, PasswordSource, Wallets, password::read_secret},
};

#[derive(Debug, Subcommand)]
pub(super) enum WalletCommand {
    /// Create a new key and its keystore (asks for a password).
    New {
        /// The wallet's name.
        #[arg(long, default_value = "default")]
        name: String,
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// Import a key: an existing v3 keystore file, or a private key (asked for, or read from a file).
    Import {
        /// The wallet's name.
        #[arg(long, default_value = "default")]
        name: String,
        /// A v3 keystore (geth, MetaMask, `cast wallet`) to copy in; its password opens it.
        #[arg(long, value_name = "FILE", conflicts_with = "private_key_file")]
        keystore: Option<PathBuf>,
        /// A file whose first line is the private key in hex (else it is asked for).
        #[arg(long, value_name = "FILE")]
        private_key_file: Option<PathBuf>,
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// List the keystores and their addresses.
    List,
    /// Print a wallet's address, read from its key (asks for the password).
    Address {
        #[command(flatten)]
        pick: Pick,
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// Log in to a pool's dashboard by signing its challenge with this wallet, and print the
    /// link that opens it as this account (its deals as a client, its tasks as a worker).
    Login {
        /// The dashboard's URL, e.g. http://127.0.0.1:8470.
        url: String,
        /// The pool whose dashboard it must be (default: client.pool, else worker.pool).
        #[arg(long, value_name = "N", default_value_t = 0)]
        pool: u64,
        #[command(flatten)]
        pick: Pick,
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// ETH, QCR in the wallet, and QCR free and frozen in the Hub.
    Balance {
        /// Any address (default: the wallet's).
        address: Option<Address>,
        #[command(flatten)]
        pick: Pick,
    },
    /// Move QCR from the wallet into the Hub (approve + deposit).
    Deposit(Transfer),
    /// Move free QCR from the Hub back to the wallet.
    Withdraw(Transfer),
    /// Send QCR (or ETH, with an `eth` suffix) from the wallet to an address.
    Send {
        /// The recipient (mixed-case addresses must carry a valid checksum).
        to: String,
        #[command(flatten)]
        transfer: Transfer,
    },
}

/// Which wallet.
#[derive(Debug, ClapArgs)]
pub(super) struct Pick {
    /// The wallet's name (default: wallet.name, else the only one).
    #[arg(long)]
    wallet: Option<String>,
}

/// Where the password comes from; never from an argument.
#[derive(Debug, ClapArgs)]
pub(super) struct PasswordArgs {
    /// A file whose first line is the password (else QUORATE_PASSWORD, else a prompt).
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
}

#[derive(Debug, ClapArgs)]
pub(super) struct Transfer {
    /// `12.5`, `12.5qcr`, an exact `12500000000000000000wei` (or `0.1eth` for `send`).
    amount: String,
    #[command(flatten)]
    pick: Pick,
    #[command(flatten)]
    password: PasswordArgs,
}

pub(super) async fn run(args: &Args, command: &WalletCommand) -> anyhow::Result<ExitCode> {
    let config = args.node_config()?;
    let wallets = Wallets::new(&config.wallet.keystore_dir);
    let mut out = std::io::stdout().lock();
    match command {
        WalletCommand::New { name, password } => {
            let source = PasswordSource::from_cli(password.password_file.clone());
            let password = source.read_new(name)?;
            let key = B256::from(PrivateKeySigner::random().to_bytes());
            let entry = wallets.create(name, &key, password.as_bytes(), KdfStrength::Standard)?;
            writeln!(out, "created wallet {name}: {}", address_text(entry.address))?;
            writeln!(out, "keystore: {}", entry.path.display())?;
            writeln!(
                out,
                "keep a copy of the keystore and its password: neither can be recovered"
            )?;
        }
        WalletCommand::Import { name, keystore, private_key_file, password } => {
            let source = PasswordSource::from_cli(password.password_file.clone());
            let entry = if let Some(file) = keystore {
                let password = source.read(&format!("Password of {}: ", file.display()))?;
                wallets.import_file(name, file, password.as_bytes())?.0
            } else {
                let secret = read_secret(private_key_file.as_ref(), "Private key (hex): ")?;
                let key: B256 =
                    secret.trim().parse().map_err(|_| wallet::WalletError::InvalidKey)?;
                let password = source.read_new(name)?;
                wallets.create(name, &key, password.as_bytes(), KdfStrength::Standard)?
            };
            writeln!(out, "imported wallet {name}: {}", address_text(entry.address))?;
            writeln!(out, "keystore: {}", entry.path.display())?;
        }
        WalletCommand::List => {
            let entries = wallets.list()?;
            if entries.is_empty() {
                writeln!(
                    out,
                    "no wallet in {}: create one with `quorate wallet new`",
                    wallets.dir().display()
                )?;
            }
            for entry in entries {
                writeln!(
                    out,
                    "{:<20} {}  {}",
                    entry.name,
                    address_text(entry.address),
                    entry.path.display()
                )?;
            }
            writeln!(
                out,
                "(addresses as each file records them; `quorate wallet address` checks one against its key)"
            )?;
        }
        WalletCommand::Address { pick, password } => {
            // Decrypted, so the address printed is the key's, not just what the file claims.
            writeln!(out, "{}", unlock(&config, pick, password)?.address())?;
        }
        WalletCommand::Login { url, pool, pick, password } => {
            let signer = unlock(&config, pick, password)?;
            // The challenge must name this node's chain, Hub and pool, when it knows them.
            let pool =
                [*pool, config.client.pool, config.worker.pool].into_iter().find(|p| *p != 0);
            let expected = crate::http::auth::Expected {
                chain_id: Some(config.chain.chain_id).filter(|c| *c != 0),
                hub: config.chain.hub,
                pool,
            };
            let opened = crate::http::auth::login_to(url, &signer, expected).await?;
            writeln!(out, "Logged in as {} until {} (unix).", opened.account, opened.expires)?;
            writeln!(out, "Open: {}/#token={}", url.trim_end_matches('/'), opened.token)?;
            writeln!(out, "The link holds the session: keep it to yourself.")?;
        }
        WalletCommand::Balance { address, pick } => {
            let account = match address {
                Some(a) => *a,
                None => {
                    let entry = wallets.choose(chosen(&config, pick))?;
                    match entry.address {
                        Some(a) => a,
                        None => {
                            unlock(&config, pick, &PasswordArgs { password_file: None })?.address()
                        }
                    }
                }
            };
            let hub = config.hub()?;
            let (provider, _) = connect_provider(&config.chain_config()?).await?;
            let balances = accounts::balances(&provider, hub, account).await?;
            writeln!(out, "{balances}")?;
        }
        WalletCommand::Deposit(t) | WalletCommand::Withdraw(t) => {
            let amount = parse_amount(&t.amount)
                .and_then(|a| a.in_currency(Currency::Qcr))
                .map_err(anyhow::Error::msg)?;
            let (chain, hub) = connect(&config, &t.pick, &t.password).await?;
            let (done, receipts) = if matches!(command, WalletCommand::Deposit(_)) {
                ("deposited", accounts::deposit(&chain, hub, amount).await?)
            } else {
                ("withdrew", vec![accounts::withdraw(&chain, hub, amount).await?])
            };
            writeln!(out, "{done} {}", show(amount, Currency::Qcr))?;
            print_receipts(&mut out, &receipts)?;
            writeln!(out, "{}", accounts::balances(chain.provider(), hub, chain.address()).await?)?;
        }
        WalletCommand::Send { to, transfer: t } => {
            let to = recipient(to)?;
            let parsed = parse_amount(&t.amount).map_err(anyhow::Error::msg)?;
            let (chain, hub) = connect(&config, &t.pick, &t.password).await?;
            let token = accounts::token(chain.provider(), hub).await?;
            if to == hub || to == token {
                anyhow::bail!(
                    "{to} is the {} contract: credits sent there are lost; to put QCR in the Hub use `quorate wallet deposit`",
                    if to == hub { "Hub" } else { "QCR token" }
                );
            }
            let to = &to;
            let (receipt, currency) = match parsed.currency {
                Some(Currency::Eth) => {
                    (accounts::send_eth(&chain, *to, parsed.wei).await?, Currency::Eth)
                }
                _ => (accounts::send_qcr(&chain, hub, *to, parsed.wei).await?, Currency::Qcr),
            };
            writeln!(out, "sent {} to {to}", show(parsed.wei, currency))?;
            print_receipts(&mut out, &[receipt])?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn chosen<'a>(config: &'a NodeConfig, pick: &'a Pick) -> Option<&'a str> {
    pick.wallet
        .as_deref()
        .or((!config.wallet.name.is_empty()).then_some(config.wallet.name.as_str()))
}

pub(super) fn unlock(
    config: &NodeConfig,
    pick: &Pick,
    password: &PasswordArgs,
) -> anyhow::Result<PrivateKeySigner> {
    let wallets = Wallets::new(&config.wallet.keystore_dir);
    let entry = wallets.choose(chosen(config, pick))?;
    let source = PasswordSource::from_cli(password.password_file.clone());
    let password = source.read(&format!("Password of wallet {}: ", entry.name))?;
    Ok(wallet::unlock(&entry.path, password.as_bytes())?)
}

/// The chosen wallet's address as its keystore names it, with no password asked (for reads).
pub(super) fn address_of(config: &NodeConfig, pick: &Pick) -> anyhow::Result<Address> {
    let wallets = Wallets::new(&config.wallet.keystore_dir);
    let entry = wallets.choose(chosen(config, pick))?;
    entry.address.ok_or_else(|| {
        anyhow::anyhow!(
            "the keystore {} does not name its address: pass --address",
            entry.path.display()
        )
    })
}

pub(super) async fn connect(
    config: &NodeConfig,
    pick: &Pick,
    password: &PasswordArgs,
) -> anyhow::Result<(Chain, Address)> {
    let hub = config.hub()?;
    let signer = unlock(config, pick, password)?;
    let chain = Chain::connect(&config.chain_config()?, signer).await?;
    Ok((chain, hub))
}

/// Parses a recipient: all-lowercase or all-uppercase hex as is, mixed case only with a valid
/// EIP-55 checksum (a typo in a checksummed address is caught).
pub(super) fn recipient(text: &str) -> anyhow::Result<Address> {
    let hex = text.trim().trim_start_matches("0x");
    let mixed =
        hex.chars().any(|c| c.is_ascii_lowercase()) && hex.chars().any(|c| c.is_ascii_uppercase());
    let parsed = if mixed {
        Address::parse_checksummed(text.trim(), None).ok()
    } else {
        text.trim().parse().ok()
    };
    parsed.ok_or_else(|| {
        anyhow::anyhow!(
            "{text:?} is not an address{}: check it and try again",
            if mixed { " (its checksum does not match)" } else { "" }
        )
    })
}

fn address_text(address: Option<Address>) -> String {
    address.map_or_else(|| "(address not recorded in the file)".into(), |a| a.to_string())
}

fn print_receipts(out: &mut impl Write, receipts: &[TransactionReceipt]) -> std::io::Result<()> {
    for r in receipts {
        writeln!(
            out,
            "  tx {} in block {} (gas {})",
            r.transaction_hash,
            r.block_number.unwrap_or_default(),
            r.gas_used
        )?;
    }
    Ok(())
}
