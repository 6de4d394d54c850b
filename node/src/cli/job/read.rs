//! The read commands of a deal, from any machine (`status`, `results`, `list`), and `claim`,
//! which settles what a deal left unfinished after its final deadline.

use std::{io::Write, process::ExitCode};

use alloy::providers::Provider;
use futures::StreamExt;

use super::{
    ClaimArgs, ListArgs, ResultsArgs, StatusArgs, count, deal_id, submit::client, watch::Watch,
    write_results,
};
use crate::{
    chain::connect_provider,
    cli::{
        Args,
        wallet::{address_of, connect},
    },
    client::{
        JobEvent, deals, refund,
        report::{self, TaskOnChain},
    },
    units::{Currency, short},
};

pub(super) async fn status(args: &Args, status: &StatusArgs) -> anyhow::Result<ExitCode> {
    let config = args.node_config()?;
    let deal = deal_id(&status.deal)?;
    let hub = config.hub()?;
    let (provider, _) = connect_provider(&config.chain_config()?).await?;
    let report = report::read(&provider, hub, deal).await?;
    let mut out = std::io::stdout().lock();
    if status.json {
        let tasks: Vec<_> = report
            .tasks
            .iter()
            .map(|t| {
                serde_json::json!({
                    "index": t.index,
                    "task": t.id,
                    "state": t.state.name(),
                    "contributors": t.contributors,
                    "winners": t.winners,
                    "reveals": t.reveals,
                })
            })
            .collect();
        let json = serde_json::json!({
            "deal": report.id,
            "pool": report.pool,
            "client": report.client,
            "price": report.price.to_string(),
            "trust": report.trust,
            "start": report.start,
            "final_deadline": report.final_deadline,
            "tasks": tasks,
        });
        writeln!(out, "{json}")?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "Deal {} in pool {}: {} at {} QCR each, trust {}, bought by {}.",
        report.id,
        report.pool,
        count(report.tasks.len(), "task"),
        short(report.price, Currency::Qcr),
        report.trust,
        report.client
    )?;
    writeln!(out, "Tasks: {}.", by_state(&report))?;
    writeln!(
        out,
        "Unfinished tasks can be claimed from unix time {} (`quorate job claim {}`).",
        report.final_deadline, report.id
    )?;
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn claim(args: &Args, claim: &ClaimArgs) -> anyhow::Result<ExitCode> {
    let config = args.node_config()?;
    let deal = deal_id(&claim.deal)?;
    let (chain, hub) = connect(&config, &claim.pick, &claim.password).await?;
    let now = chain.latest_time().await?;
    let settled = refund::settle(&chain, hub, deal, now).await?;
    let mut out = std::io::stdout().lock();
    if settled == refund::Settled::default() {
        writeln!(
            out,
            "Deal {deal} has nothing left to settle: every task is completed or refunded."
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "Deal {deal}: {} refunded, {} finalized with their revealed results ({} opened first).",
        count(settled.claimed.len(), "task"),
        count(settled.finalized.len(), "task"),
        settled.initialized
    )?;
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn results(args: &Args, results: &ResultsArgs) -> anyhow::Result<ExitCode> {
    let config = args.node_config()?;
    let deal = deal_id(&results.deal)?;
    let client = client(&config, &results.bootstrap, &results.pick, &results.password).await?;
    let mut events = client.follow(deal);
    let mut outcomes = Vec::new();
    let mut failed = std::collections::BTreeMap::new();
    let mut watch = None;
    while let Some(event) = events.next().await {
        let event = event?;
        match &event {
            JobEvent::Deal { .. } => {
                let terms = report::terms(client.chain().provider(), client.hub(), deal).await?;
                outcomes = vec![None; terms.task_count as usize];
                watch = Some(Watch::new(terms.task_count, results.watch));
            }
            JobEvent::Result { index, outcome } => {
                if let Some(slot) = outcomes.get_mut(*index as usize) {
                    *slot = Some(outcome.clone());
                }
            }
            JobEvent::Failed { index, reason } => {
                failed.insert(*index as usize, reason.clone());
            }
            JobEvent::Finished { .. } => break,
            _ => {}
        }
        if let Some(watch) = &mut watch {
            watch.event(&event);
        }
    }
    if let Some(watch) = &mut watch {
        watch.finish();
    }
    let finalized = super::finalized_without_result(&client, Some(deal), &outcomes).await?;
    write_results(&outcomes, &finalized, &failed, results.out.as_deref())
}

pub(super) async fn list(args: &Args, list: &ListArgs) -> anyhow::Result<ExitCode> {
    let config = args.node_config()?;
    let client = match &list.address {
        Some(text) => crate::cli::wallet::recipient(text)?,
        None => address_of(&config, &list.pick)?,
    };
    let hub = config.hub()?;
    let chain_config = config.chain_config()?;
    let (provider, _) = connect_provider(&chain_config).await?;
    let latest = provider
        .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
        .await?
        .map_or(0, |b| b.header.timestamp);
    let since = latest.saturating_sub(list.days.saturating_mul(86_400));
    let bought =
        deals::bought_by(&provider, hub, client, since, chain_config.log_block_range).await?;
    let mut out = std::io::stdout().lock();
    if bought.is_empty() && !list.json {
        writeln!(out, "{client} bought no deal in the last {} days.", list.days)?;
    }
    for deal in bought {
        let report = report::read(&provider, hub, deal.deal).await?;
        if list.json {
            let states: serde_json::Map<String, serde_json::Value> =
                STATES.iter().map(|s| (s.name().to_owned(), report.count(*s).into())).collect();
            let line = serde_json::json!({
                "deal": deal.deal,
                "pool": deal.pool,
                "job": deal.job.0,
                "tasks": deal.tasks,
                "price": deal.price.to_string(),
                "trust": deal.trust,
                "block": deal.block,
                "final_deadline": report.final_deadline,
                "states": states,
            });
            writeln!(out, "{line}")?;
        } else {
            writeln!(
                out,
                "{}  pool {}  {} at {} QCR, trust {}: {}",
                deal.deal,
                deal.pool,
                count(deal.tasks as usize, "task"),
                short(deal.price, Currency::Qcr),
                deal.trust,
                by_state(&report)
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

const STATES: [TaskOnChain; 5] = [
    TaskOnChain::Unset,
    TaskOnChain::Active,
    TaskOnChain::Revealing,
    TaskOnChain::Completed,
    TaskOnChain::Failed,
];

/// `2 completed, 1 running`.
fn by_state(report: &report::DealReport) -> String {
    STATES
        .iter()
        .filter(|s| report.count(**s) > 0)
        .map(|s| format!("{} {}", report.count(*s), s.name()))
        .collect::<Vec<_>>()
        .join(", ")
}
