//! The `quorate` command line.

use std::io::Write;

use clap::{Parser, Subcommand};

/// Quorate: a decentralized compute marketplace settled on Ethereum.
#[derive(Debug, Parser)]
#[command(name = "quorate", version, about)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check that every tool and library this node needs is installed.
    Doctor,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    match args.command {
        Command::Doctor => {
            let checks = quorate_node::doctor::run();
            let mut out = std::io::stdout().lock();
            for check in &checks {
                writeln!(out, "{check}")?;
            }
            let missing = checks.iter().filter(|c| !c.is_ok()).count();
            if missing > 0 {
                writeln!(out, "{missing} missing: run ./scripts/setup")?;
                std::process::exit(1);
            }
            writeln!(out, "all {} checks passed", checks.len())?;
        }
    }
    Ok(())
}
