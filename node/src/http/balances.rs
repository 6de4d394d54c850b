//! An account's balances as a status page shows them (the operator's on the dashboard, the
//! worker's on its status), read from the chain every [`EVERY`] by a task of their own, so a
//! slow chain node never holds a page or a loop.

use std::time::Duration;

use alloy::{primitives::Address, providers::RootProvider};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// How often the balances are read.
pub const EVERY: Duration = Duration::from_secs(15);

/// Balances, wei as decimal strings (JSON numbers cannot hold them).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Balances {
    /// When they were read, unix seconds (0: not yet).
    pub at: u64,
    /// Ether for gas, wei.
    pub eth: String,
    /// Credits in the wallet, wei.
    pub wallet: String,
    /// Free in the Hub (stakes new tasks), wei.
    pub hub_free: String,
    /// Locked in the Hub as stakes, wei.
    pub hub_frozen: String,
    /// Why they could not be read last time, if they could not.
    pub error: Option<String>,
}

impl Balances {
    /// Adds them to a scrape as `quorate_balance_credits{account}`, for `whose` (the help text).
    pub fn metrics(&self, e: &mut super::metrics::Exposition, whose: &str) {
        use super::metrics::{Kind, credits};
        let name = "quorate_balance_credits";
        e.family(name, Kind::Gauge, &format!("The {whose}'s balances, in credits (QCR) or ether."));
        for (account, value) in [
            ("wallet", &self.wallet),
            ("hub_free", &self.hub_free),
            ("hub_frozen", &self.hub_frozen),
            ("eth", &self.eth),
        ] {
            if let Ok(wei) = value.parse::<alloy::primitives::U256>() {
                e.sample(name, &[("account", account)], credits(wei));
            }
        }
    }
}

/// Reads `account`'s balances into `out` every [`EVERY`], until `out` has no reader.
pub async fn follow(
    provider: RootProvider,
    hub: Address,
    account: Address,
    out: watch::Sender<Balances>,
) {
    let mut every = tokio::time::interval(EVERY);
    loop {
        every.tick().await;
        if out.is_closed() {
            return;
        }
        let read = crate::accounts::balances(&provider, hub, account).await;
        let now = crate::unix_now();
        out.send_modify(|b| match read {
            Ok(read) => {
                *b = Balances {
                    at: now,
                    eth: read.eth.to_string(),
                    wallet: read.wallet.to_string(),
                    hub_free: read.free.to_string(),
                    hub_frozen: read.frozen.to_string(),
                    error: None,
                };
            }
            Err(e) => {
                // The node's own error may carry its URL (and an API key in it): logged only.
                tracing::warn!(target: "quorate::http", error = %e, "cannot read the balances");
                b.error = Some("the chain node did not answer: see the log".into());
            }
        });
    }
}
