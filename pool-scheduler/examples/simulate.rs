//! The Byzantine simulation through the real scheduler core:
//! `cargo run --release -p quorate-scheduler --example simulate [-- --quick]`.
//!
//! Every scenario of `quorate_scheduler::sim` for T ∈ {10, 100, 1000} and f ∈ {0.1, 0.2, 0.3}
//! (200 workers, 2,000 tasks per cell; `--quick`: 100 workers, 1,000 tasks),
//! with the default anti-long-con policy, 1 % message loss and churn; then the long con under
//! each policy. Prints Markdown tables; the last line is
//! `worst wrong-rate x T (f <= 0.2, scheduler): <n>` (at most 1 where the bound holds).
//! Options: `--quick`, `--tasks N`, `--workers N`, `--seed N`.
#![allow(clippy::print_stdout)]

use std::time::Instant;

use quorate_scheduler::{
    LongConPolicy,
    sim::{self, Scenario, SimConfig},
};

const TRUSTS: [u64; 3] = [10, 100, 1000];
const FAULTY: [f64; 3] = [0.1, 0.2, 0.3];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut tasks = 2_000u64;
    let mut workers = 200usize;
    let mut seed = 0x5eed_u64;
    let mut quick = false;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().and_then(|v| v.parse::<u64>().ok()).ok_or("needs a number");
        match arg.as_str() {
            "--quick" => {
                quick = true;
                tasks = 1_000;
                workers = 100;
            }
            "--tasks" => tasks = value()?,
            "--workers" => workers = usize::try_from(value()?)?,
            "--seed" => seed = value()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let started = Instant::now();
    // The long con measures only the tasks after the defection: it runs twice as many.
    let base = |scenario, trust, faulty| {
        let tasks = if scenario == Scenario::LongCon { tasks * 2 } else { tasks };
        SimConfig { tasks, workers, seed, ..SimConfig::new(scenario, trust, faulty) }
    };
    println!(
        "Scheduler-core Byzantine simulation: {workers} workers, {tasks} tasks per cell (twice as many for the long con), seed {seed:#x}{}",
        if quick { " (quick)" } else { "" }
    );
    println!();
    println!(
        "| scenario | f | T | tasks | wrong | wrong rate | rate x T | replicas/task | failed | reopens | faulty pay share | barred faulty | barred honest |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut worst: f64 = 0.0;
    let mut worst_at = String::new();
    for scenario in Scenario::ALL {
        for faulty in FAULTY {
            for trust in TRUSTS {
                let r = sim::run(base(scenario, trust, faulty))?;
                let score = r.wrong_rate() * trust as f64;
                println!(
                    "| {} | {:.2} | {} | {} | {} | {:.5} | {:.3} | {:.2} | {} | {} | {:.3} | {} | {} |",
                    scenario.name(),
                    faulty,
                    trust,
                    r.tasks,
                    r.wrong,
                    r.wrong_rate(),
                    score,
                    r.mean_replicas(),
                    r.failed,
                    r.reopens,
                    r.faulty_share(),
                    r.barred_faulty,
                    r.barred_honest,
                );
                let broken =
                    r.unfinished + r.double_assignments + r.over_capacity + r.mixed_classes;
                if broken > 0 {
                    println!("invariant broken: {r:?}");
                }
                if faulty <= 0.2 && score > worst {
                    worst = score;
                    worst_at = format!("{}, f = {faulty}, T = {trust}", scenario.name());
                }
            }
        }
    }
    println!();
    println!("The long con (f = 0.2) under each anti-long-con policy:");
    println!();
    println!(
        "| policy | T | wrong rate | rate x T | replicas/task | failed | barred faulty | barred honest |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let policies = [
        (
            "none",
            LongConPolicy { min_contributors_one_in: None, spot_check_permille: 0, relax: true },
        ),
        (
            "spot-checks 10 %",
            LongConPolicy { min_contributors_one_in: None, spot_check_permille: 100, relax: true },
        ),
        ("min contributors, strict", LongConPolicy { relax: false, ..LongConPolicy::default() }),
        ("min contributors, relaxing (default)", LongConPolicy::default()),
        (
            "min contributors, relaxing + spot-checks 10 %",
            LongConPolicy { spot_check_permille: 100, ..LongConPolicy::default() },
        ),
    ];
    for (name, policy) in policies {
        for trust in TRUSTS {
            let r = sim::run(SimConfig { policy, ..base(Scenario::LongCon, trust, 0.2) })?;
            println!(
                "| {name} | {trust} | {:.5} | {:.3} | {:.2} | {} | {} | {} |",
                r.wrong_rate(),
                r.wrong_rate() * trust as f64,
                r.mean_replicas(),
                r.failed,
                r.barred_faulty,
                r.barred_honest,
            );
        }
    }
    println!();
    println!("elapsed: {:.1} s", started.elapsed().as_secs_f64());
    println!("worst case: {worst_at}");
    println!("worst wrong-rate x T (f <= 0.2, scheduler): {worst:.3}");
    Ok(())
}
