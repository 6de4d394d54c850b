//! `quorate config defaults | get`.

use std::{io::Write, process::ExitCode};

use clap::Subcommand;

use super::Args;
use crate::config::{DEFAULTS, get};

#[derive(Debug, Subcommand)]
pub(super) enum ConfigCommand {
    /// Print the compiled-in defaults, with what each key means.
    Defaults,
    /// Print one value in force (`chain.rpc_url`), a section (`chain`), or all of it (--all).
    Get {
        /// The dotted key.
        #[arg(required_unless_present = "all")]
        key: Option<String>,
        /// Print the whole configuration in force, derived paths filled in.
        #[arg(long, conflicts_with = "key")]
        all: bool,
    },
}

pub(super) fn run(args: &Args, command: &ConfigCommand) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match command {
        ConfigCommand::Defaults => write!(out, "{DEFAULTS}")?,
        ConfigCommand::Get { key, all } => {
            let config = args.node_config()?;
            if *all {
                write!(out, "{}", toml::to_string(&config)?)?;
            } else if let Some(key) = key {
                match get(&config, key) {
                    Some(value) => writeln!(out, "{value}")?,
                    None => anyhow::bail!(
                        "there is no configuration key `{key}`: `quorate config defaults` lists them all"
                    ),
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
