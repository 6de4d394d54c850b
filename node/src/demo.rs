//! `quorate devnet --demo`: the example Mandelbrot job (examples/mandelbrot) submitted from the
//! devnet's client to its pool, its progress shown, its verified tiles assembled into a PNG,
//! and who was paid what, read from the Hub.

use std::{io::Write, path::Path, time::Duration};

use alloy::{
    primitives::{Address, I256, U256},
    signers::local::PrivateKeySigner,
};
use quorate_devnet::{Devnet, Role};
use quorate_primitives::{EvaluatorKind, JobLimits, TaskOutcome};

use crate::{
    accounts,
    chain::Chain,
    client::{
        report::{self, TaskOnChain},
        submit::{Progress, Request, submit},
    },
    devnet::node_config,
    devnet_pool::DevnetPool,
    job::Job,
    png,
    units::{Currency, short},
};

/// The example's work function and tiles, shipped in the binary.
const TILE_JS: &str = include_str!("../../examples/mandelbrot/tile.js");
const TILES: &str = include_str!("../../examples/mandelbrot/tiles.jsonl");
/// The picture's size and iteration cap, as in the tiles.
const SIZE: u32 = 256;
const MAX_ITER: u64 = 200;

/// Runs the demo on `net`'s pool; the picture goes to `dir/mandelbrot.png`.
pub async fn run(
    net: &Devnet,
    dir: &Path,
    pool: &DevnetPool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let config = node_config(net, dir);
    let chain_config = config.chain_config()?;
    let hub = net.deployment().hub;
    let client_account =
        net.account(Role::Client).ok_or_else(|| anyhow::anyhow!("no client account"))?;
    let client_key = PrivateKeySigner::from_bytes(&client_account.key)?;
    let client = Chain::connect(&chain_config, client_key.clone()).await?;
    let job = Job {
        code: TILE_JS.to_owned(),
        inputs: crate::job::inputs::parse(TILES, crate::job::InputsFormat::Lines, "tiles.jsonl")?,
        args: "[]".into(),
        limits: JobLimits::default(),
        evaluator: EvaluatorKind::JavaScript,
        gpu: quorate_primitives::GpuNeeds::NONE,
        modules: Vec::new(),
    };
    let watched: Vec<(String, Address)> = net
        .accounts()
        .iter()
        .filter(|a| a.role != Role::HubOwner)
        .map(|a| (a.name.clone(), a.address))
        .collect();
    let before = holdings(&client, hub, &watched).await?;

    writeln!(
        out,
        "\nDemo: {} tiles of a {SIZE}×{SIZE} Mandelbrot picture, trust 3, from the client's wallet.",
        job.task_count()
    )?;
    let request = Request {
        pool: Some(pool.pool),
        trust: 3,
        max_price: U256::from(10u8).pow(U256::from(18u8)),
        bootstrap: vec![pool.scheduler.clone()],
    };
    let session = submit(&client, &client_key, hub, &job, &request, |progress| {
        let line = match progress {
            Progress::Order { price, total, .. } => format!(
                "  the pool asks {} QCR per task: {} QCR locked",
                short(*price, Currency::Qcr),
                short(*total, Currency::Qcr)
            ),
            Progress::Fetching { fetched, total } => {
                format!("  the pool fetched {fetched} of {total} blobs")
            }
            Progress::Consented => "  the pool checked the job and consented".into(),
            Progress::Deal(deal) => format!("  deal {deal} created on chain"),
            Progress::Done { .. } => return true,
        };
        let _ = writeln!(out, "{line}");
        true
    })
    .await?;
    let outcomes = session
        .results(&client, hub, |progress| {
            if let Progress::Done { done, total } = progress {
                let _ = writeln!(
                    out,
                    "  {done} of {total} tiles verified against the digests revealed on chain"
                );
            }
        })
        .await?;

    // The picture, from the verified tiles.
    let mut pixels = vec![0u8; (SIZE * SIZE) as usize];
    for outcome in &outcomes {
        let TaskOutcome::Value(json) = outcome else { anyhow::bail!("a tile failed: {outcome:?}") };
        let tile: serde_json::Value = serde_json::from_slice(json)?;
        let y0 = tile["y0"].as_u64().unwrap_or(0);
        for (dy, row) in tile["rows"].as_array().into_iter().flatten().enumerate() {
            for (x, iterations) in row.as_array().into_iter().flatten().enumerate() {
                let i = iterations.as_u64().unwrap_or(0).min(MAX_ITER);
                let shade = if i >= MAX_ITER { 0 } else { 255 - (i * 255 / MAX_ITER) };
                let at = (y0 as usize + dy) * SIZE as usize + x;
                if let Some(p) = pixels.get_mut(at) {
                    *p = u8::try_from(shade).unwrap_or(0);
                }
            }
        }
    }
    let picture = dir.join("mandelbrot.png");
    std::fs::write(
        &picture,
        png::gray(SIZE, SIZE, &pixels).ok_or_else(|| anyhow::anyhow!("no picture"))?,
    )?;
    writeln!(out, "  picture: {}", picture.display())?;

    // Who was paid what, once every task is settled on chain.
    for _ in 0..120 {
        let report = report::read(client.provider(), hub, session.deal).await?;
        if report.tasks.iter().all(|t| t.state == TaskOnChain::Completed) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let after = holdings(&client, hub, &watched).await?;
    writeln!(out, "  Hub balances (free + frozen), before → after:")?;
    for ((name, _), (b, a)) in watched.iter().zip(before.iter().zip(&after)) {
        let change =
            I256::try_from(*a).unwrap_or_default() - I256::try_from(*b).unwrap_or_default();
        let sign = if change.is_negative() { "-" } else { "+" };
        writeln!(
            out,
            "    {name:<10} {} → {} QCR ({sign}{})",
            short(*b, Currency::Qcr),
            short(*a, Currency::Qcr),
            short(change.unsigned_abs(), Currency::Qcr)
        )?;
    }
    Ok(())
}

async fn holdings(
    chain: &Chain,
    hub: Address,
    who: &[(String, Address)],
) -> anyhow::Result<Vec<U256>> {
    let mut out = Vec::with_capacity(who.len());
    for (_, address) in who {
        let b = accounts::balances(chain.provider(), hub, *address).await?;
        out.push(b.free.saturating_add(b.frozen));
    }
    Ok(out)
}
