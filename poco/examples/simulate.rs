//! The Byzantine simulation: `cargo run --release -p quorate-poco --example simulate [-- --quick]`.
//!
//! Runs every scenario of `quorate_poco::sim` for T ∈ {10, 100, 1000} and f ∈ {0.05, 0.1, 0.2,
//! 0.3}, then BOINC's fixed 2-of-3 quorum on the same pools, and prints Markdown tables. The last
//! line is `worst wrong-rate x T (f <= 0.2): <number>`: the largest measured wrong-result rate
//! times T over every scenario and trust level with f ≤ 0.2 (at most 1 where the bound holds).
//! A last table compares reputation farming under Hub-wide scores and scores per pool owner.
//!
//! Options: `--quick` (fewer workers and tasks, under a minute), `--tasks N`, `--workers N`,
//! `--seed N`.
#![allow(clippy::print_stdout)]

use std::time::Instant;

use quorate_poco::sim::{self, Scenario, SimConfig, SimReport};

const TRUSTS: [u64; 3] = [10, 100, 1000];
const FAULTY: [f64; 4] = [0.05, 0.1, 0.2, 0.3];

struct Args {
    tasks: usize,
    workers: usize,
    seed: u64,
    quick: bool,
}

fn parse() -> Result<Args, String> {
    let mut args = Args { tasks: 20_000, workers: 200, seed: 0x5eed, quick: false };
    let mut it = std::env::args().skip(1);
    let mut tasks = None;
    let mut workers = None;
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| format!("{name} needs a number"))
        };
        match arg.as_str() {
            "--quick" => args.quick = true,
            "--tasks" => tasks = Some(value("--tasks")? as usize),
            "--workers" => workers = Some(value("--workers")? as usize),
            "--seed" => args.seed = value("--seed")?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.quick {
        args.tasks = 3_000;
        args.workers = 100;
    }
    args.tasks = tasks.unwrap_or(args.tasks);
    args.workers = workers.unwrap_or(args.workers);
    Ok(args)
}

fn config(args: &Args, scenario: Scenario, trust: u64, faulty: f64) -> SimConfig {
    SimConfig {
        workers: args.workers,
        tasks: args.tasks,
        seed: args.seed,
        ..SimConfig::new(scenario, trust, faulty)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse()?;
    let started = Instant::now();
    println!(
        "PoCo Byzantine simulation: {} workers, {} tasks per cell, seed {:#x}{}",
        args.workers,
        args.tasks,
        args.seed,
        if args.quick { " (quick)" } else { "" }
    );
    println!();
    println!(
        "| scenario | f | T | tasks | wrong | wrong rate | rate x T | replicas/task | first round | timeouts/task | failed | reopens | faulty pay share | barred |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut worst: f64 = 0.0;
    let mut worst_at = String::new();
    let mut worst_without_long_con: f64 = 0.0;
    let mut poco_t10: Vec<(Scenario, f64, SimReport)> = Vec::new();
    let mut poco_t100: Vec<SimReport> = Vec::new();
    for scenario in Scenario::ALL {
        for faulty in FAULTY {
            for trust in TRUSTS {
                let r = sim::run(config(&args, scenario, trust, faulty))?;
                let score = r.wrong_rate() * trust as f64;
                println!(
                    "| {} | {:.2} | {} | {} | {} | {:.5} | {:.3} | {:.2} | {:.2} | {:.2} | {} | {} | {:.3} | {} |",
                    scenario.name(),
                    faulty,
                    trust,
                    r.tasks,
                    r.wrong,
                    r.wrong_rate(),
                    score,
                    r.mean_replicas(),
                    r.mean_first_round(),
                    r.mean_timeouts(),
                    r.failed,
                    r.reopens,
                    r.faulty_share(),
                    r.barred,
                );
                if faulty <= 0.2 {
                    if score > worst {
                        worst = score;
                        worst_at = format!("{}, f = {faulty}, T = {trust}", scenario.name());
                    }
                    if scenario != Scenario::LongCon {
                        worst_without_long_con = worst_without_long_con.max(score);
                    }
                }
                if trust == 10 {
                    poco_t10.push((scenario, faulty, r));
                }
                if trust == 100 {
                    poco_t100.push(r);
                }
            }
        }
    }
    println!();
    println!("BOINC fixed 2-of-3 quorum on the same pools, beside PoCo at T = 10 and T = 100:");
    println!();
    println!(
        "| scenario | f | BOINC wrong rate | BOINC replicas/task | BOINC failed | BOINC faulty pay share | PoCo T=10 wrong rate | PoCo T=10 replicas/task | PoCo T=100 wrong rate | PoCo T=100 replicas/task |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for ((scenario, faulty, poco), poco100) in poco_t10.iter().zip(&poco_t100) {
        let b = sim::run_boinc(config(&args, *scenario, 10, *faulty))?;
        println!(
            "| {} | {:.2} | {:.5} | {:.2} | {} | {:.3} | {:.5} | {:.2} | {:.5} | {:.2} |",
            scenario.name(),
            faulty,
            b.wrong_rate(),
            b.mean_replicas(),
            b.failed,
            b.faulty_share(),
            poco.wrong_rate(),
            poco.mean_replicas(),
            poco100.wrong_rate(),
            poco100.mean_replicas(),
        );
    }
    println!();
    println!(
        "Reputation farming: colluders that farmed a score of 300 in a pool of their own join this \
         pool; Hub-wide scores (the first Hub) against scores per pool owner (the Hub now):"
    );
    println!();
    println!(
        "| f | T | wrong rate, Hub-wide scores | wrong rate, per pool owner | faulty pay share, Hub-wide | per pool owner |"
    );
    println!("|---|---|---|---|---|---|");
    for faulty in [0.1, 0.2] {
        for trust in TRUSTS {
            let scoped = config(&args, Scenario::FarmedSybils, trust, faulty);
            let wide = sim::run(SimConfig { hub_wide_scores: true, ..scoped })?;
            let own = sim::run(scoped)?;
            println!(
                "| {faulty:.2} | {trust} | {:.5} | {:.5} | {:.3} | {:.3} |",
                wide.wrong_rate(),
                own.wrong_rate(),
                wide.faulty_share(),
                own.faulty_share(),
            );
        }
    }
    println!();
    println!("elapsed: {:.1} s", started.elapsed().as_secs_f64());
    println!("worst case: {worst_at}");
    println!(
        "worst wrong-rate x T (f <= 0.2, every scenario but the long con without spot-checks): {worst_without_long_con:.3}"
    );
    println!("worst wrong-rate x T (f <= 0.2): {worst:.3}");
    Ok(())
}
