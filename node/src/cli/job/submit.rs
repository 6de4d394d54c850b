//! `quorate job submit`: checks the job here, takes a pool's order, says what it locks, pays,
//! and writes the verified results in input order (or returns once the deal is bought, with
//! `--detach`).

use std::{
    io::{IsTerminal, Write},
    process::ExitCode,
    sync::Arc,
};

use futures::StreamExt;
use quorate_primitives::PoolId;

use super::{SubmitArgs, watch::Watch, write_results};
use crate::{
    chain::Chain,
    cli::{
        Args,
        wallet::{PasswordArgs, Pick, unlock},
    },
    client::{Client, JobEvent, Terms},
    config::NodeConfig,
    job::{
        Job,
        local::{self, LocalConfig, LocalOutcome},
    },
    units::{Currency, parse_amount, short},
};

pub(super) async fn submit(args: &Args, submit: &SubmitArgs) -> anyhow::Result<ExitCode> {
    let config = args.node_config()?;
    let job = submit.job.job()?;
    let pool = submit.pool.or((config.client.pool != 0).then_some(config.client.pool));
    let max_price = parse_amount(&submit.max_price)
        .and_then(|a| a.in_currency(Currency::Qcr))
        .map_err(|e| anyhow::anyhow!("--max-price: {e}"))?;
    if !submit.yes && !std::io::stdin().is_terminal() {
        anyhow::bail!("paying needs your confirmation: run in a terminal, or pass --yes");
    }
    // The work function must load and run its first task here before anything is paid.
    check_locally(&config, &job)?;
    let client = client(&config, &submit.bootstrap, &submit.pick, &submit.password).await?;

    let tasks = job.task_count();
    let yes = submit.yes;
    let terms = Terms {
        pool: pool.map(PoolId),
        trust: submit.trust,
        max_price,
        approve: Some(Arc::new(move |pool: PoolId, price, total| {
            let _ = writeln!(
                std::io::stderr().lock(),
                "Pool {} asks {} QCR per task: {tasks} tasks lock {} QCR from your Hub balance until they finish.",
                pool.0,
                short(price, Currency::Qcr),
                short(total, Currency::Qcr)
            );
            // The question waits on the terminal, off the async threads.
            yes || tokio::task::block_in_place(|| confirm("Submit and pay? [y/N] "))
        })),
    };
    let mut events = client.submit(job, terms);
    let mut watch = Watch::new(u32::try_from(tasks).unwrap_or(u32::MAX), submit.watch);
    let mut outcomes = vec![None; tasks];
    let mut failed = std::collections::BTreeMap::new();
    let mut bought = None;
    while let Some(event) = events.next().await {
        let event = event?;
        let mut err = std::io::stderr().lock();
        match &event {
            JobEvent::Fetching { fetched, total } => {
                writeln!(err, "The pool is fetching the job: {fetched} of {total} blobs.")?;
            }
            JobEvent::Consented => writeln!(err, "The pool took the job; buying the deal.")?,
            JobEvent::Deal { deal } => {
                bought = Some(*deal);
                if submit.detach {
                    writeln!(
                        err,
                        "Deal {deal} bought; its results: `quorate job results {deal}` (any machine with this wallet)."
                    )?;
                    writeln!(std::io::stdout().lock(), "{deal}")?;
                    return Ok(ExitCode::SUCCESS);
                }
                writeln!(
                    err,
                    "Deal {deal} created (`quorate job status {deal}` from any machine)."
                )?;
            }
            JobEvent::Result { index, outcome } => {
                if let Some(slot) = outcomes.get_mut(*index as usize) {
                    *slot = Some(outcome.clone());
                }
            }
            JobEvent::Failed { index, reason } => {
                writeln!(err, "Task {index} failed: {reason}.")?;
                failed.insert(*index as usize, reason.clone());
            }
            JobEvent::Finished { .. } => break,
            _ => {}
        }
        drop(err);
        watch.event(&event);
    }
    watch.finish();
    let finalized = super::finalized_without_result(&client, bought, &outcomes).await?;
    write_results(&outcomes, &finalized, &failed, submit.out.as_deref())
}

/// The client of a command: the wallet unlocked once, its chain connected, the network's
/// entry points from the flags or `client.bootstrap`.
pub(super) async fn client(
    config: &NodeConfig,
    bootstrap: &[String],
    pick: &Pick,
    password: &PasswordArgs,
) -> anyhow::Result<Client> {
    let texts = if bootstrap.is_empty() { &config.client.bootstrap } else { bootstrap };
    let bootstrap = crate::cli::multiaddrs("--bootstrap", texts)?;
    if bootstrap.is_empty() {
        anyhow::bail!(
            "no way into the network: pass --bootstrap with the pool's scheduler address, or set client.bootstrap"
        );
    }
    let hub = config.hub()?;
    let signer = unlock(config, pick, password)?;
    let chain = Chain::connect(&config.chain_config()?, signer.clone()).await?;
    Ok(Client::new(chain, signer, hub, bootstrap))
}

/// Loads the work function in a sandbox and runs the first task: a job that cannot is
/// refused before anything is paid.
fn check_locally(config: &NodeConfig, job: &Job) -> anyhow::Result<()> {
    let first = Job { inputs: job.inputs.iter().take(1).cloned().collect(), ..job.clone() };
    let local = LocalConfig {
        program: config.evaluator.program(),
        sandboxes: 1,
        nice: i32::try_from(config.evaluator.nice).unwrap_or(19),
    };
    let outcomes = tokio::task::block_in_place(|| local::run(&first, &local, |_| {}))?;
    if let Some(LocalOutcome::Failed { kind, message }) = outcomes.first() {
        anyhow::bail!(
            "the first task failed on this machine ({kind}): {message}; fix it before paying (try `quorate job run-local`)"
        );
    }
    Ok(())
}

fn confirm(question: &str) -> bool {
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "{question}");
    let _ = err.flush();
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).is_ok() && matches!(answer.trim(), "y" | "Y" | "yes")
}
