//! A Byzantine simulation of PoCo: a pool of workers whose reputations evolve across many
//! tasks, a fraction of them faulty, every task driven through the real [`Task`] state machine
//! and planner with a manual clock.
//!
//! Per task the simulated scheduler asks the planner for replicas one at a time (re-planning
//! after each assignment, so it sends the minimum for the workers it actually picked), delivers
//! answers and reveals at random latencies, times out silent replicas, and finalizes, reopens or
//! claims as [`Task::poll_actions`] says. Scores move exactly as finalize moves them on-chain.
//! [`run_boinc`] runs the same pool and behaviours under BOINC's fixed 2-of-3 quorum.
//!
//! Deterministic: the same [`SimConfig`] (seed included) gives the same [`SimReport`].

use quorate_primitives::{Address, Amount, B256, DealId, ResultDigest, TaskId, U256, keccak256};

use crate::{
    Error,
    consensus::Trust,
    payout::PayoutTerms,
    task::{Action, FailReason, Task, TaskConfig, TaskStatus},
};

/// How the faulty workers behave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scenario {
    /// Nobody lies; the faulty fraction crashes (never answers its replicas).
    Honest,
    /// Each faulty worker answers its own random wrong value.
    RandomWrong,
    /// All faulty workers vote the same wrong value.
    Colluders,
    /// Faulty workers copy the leading hash and seal from the chain instead of computing.
    LazyCopiers,
    /// Faulty workers vote the right hash but never reveal.
    NonRevealers,
    /// Colluders that come back under a fresh identity (score 0) after every task.
    Sybil,
    /// Colluders that behave honestly for the first half of the tasks, then defect together.
    LongCon,
    /// [`Scenario::LongCon`] against a scheduler that runs spot-checks: a share of tasks whose
    /// answer it knows; a worker caught voting wrong on one is never assigned again.
    LongConSpotChecks,
    /// Colluders that first farmed a high score ([`SimConfig::farmed_score`]) in a pool of their
    /// own, for gas alone, then join this pool and vote the same wrong value. Whether the farmed
    /// score counts here is [`SimConfig::hub_wide_scores`]. Not in [`Scenario::ALL`]: it compares
    /// two reputation rules rather than measuring the Hub's.
    FarmedSybils,
}

impl Scenario {
    /// Every scenario, in table order.
    pub const ALL: [Self; 8] = [
        Self::Honest,
        Self::RandomWrong,
        Self::Colluders,
        Self::LazyCopiers,
        Self::NonRevealers,
        Self::Sybil,
        Self::LongCon,
        Self::LongConSpotChecks,
    ];

    /// A short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Self::Honest => "honest (f crash)",
            Self::RandomWrong => "random wrong",
            Self::Colluders => "colluders",
            Self::LazyCopiers => "lazy copiers",
            Self::NonRevealers => "non-revealers",
            Self::Sybil => "fresh Sybils",
            Self::LongCon => "long con",
            Self::LongConSpotChecks => "long con + spot-checks",
            Self::FarmedSybils => "farmed Sybils",
        }
    }

    fn is_long_con(self) -> bool {
        matches!(self, Self::LongCon | Self::LongConSpotChecks)
    }
}

/// Settings of one simulation run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimConfig {
    /// Workers in the pool. Default 200.
    pub workers: usize,
    /// Tasks run one after the other. Default 20 000.
    pub tasks: usize,
    /// The clients' trust level.
    pub trust: u64,
    /// The share of faulty workers, 0.0..=1.0.
    pub faulty: f64,
    /// Their behaviour.
    pub scenario: Scenario,
    /// The replica cap per task. Default 32.
    pub max_replicas: u32,
    /// Share of spot-check tasks ([`Scenario::LongConSpotChecks`] only). Default 0.1.
    pub spot_check_rate: f64,
    /// PRNG seed.
    pub seed: u64,
    /// The score [`Scenario::FarmedSybils`] farmed elsewhere. Default 300 (weight 99).
    pub farmed_score: u64,
    /// True replays the Hub-wide scores of the first Hub: a score farmed in any pool counts in
    /// this one. False (the default) is the Hub's rule: scores are kept per pool owner, so a
    /// worker arrives in this pool with no score whatever it farmed elsewhere.
    pub hub_wide_scores: bool,
}

impl SimConfig {
    /// A config with the documented defaults.
    pub fn new(scenario: Scenario, trust: u64, faulty: f64) -> Self {
        Self {
            workers: 200,
            tasks: 20_000,
            trust,
            faulty,
            scenario,
            max_replicas: 32,
            spot_check_rate: 0.1,
            seed: 0x5eed,
            farmed_score: 300,
            hub_wide_scores: false,
        }
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<(), Error> {
        if self.workers < 2 || self.workers > 1 << 20 {
            return Err(Error::InvalidConfig { reason: "workers must be in 2..=2^20" });
        }
        if !(0.0..=1.0).contains(&self.faulty) || !(0.0..=1.0).contains(&self.spot_check_rate) {
            return Err(Error::InvalidConfig { reason: "fractions must be in 0..=1" });
        }
        if self.trust == 0 {
            return Err(Error::InvalidTrust);
        }
        Ok(())
    }
}

/// What a run measured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimReport {
    /// Tasks measured (for the long con: the tasks after the defection).
    pub tasks: u64,
    /// Measured tasks finalized with a wrong result.
    pub wrong: u64,
    /// Measured tasks that ended without a result (claimed).
    pub failed: u64,
    /// Replicas assigned over the measured tasks.
    pub replicas: u64,
    /// Replicas of the first round (the planner's minimum for the workers it picked, all
    /// agreeing).
    pub first_round: u64,
    /// Replicas that timed out.
    pub timeouts: u64,
    /// Rewards paid to faulty workers (smallest unit).
    pub faulty_rewards: u128,
    /// Rewards paid to all workers.
    pub rewards: u128,
    /// Faulty workers barred by spot-checks by the end.
    pub barred: u64,
    /// Reopens (a consensus whose voters all withheld their reveal) over the measured tasks.
    pub reopens: u64,
}

impl SimReport {
    /// Wrong results per measured task.
    pub fn wrong_rate(&self) -> f64 {
        ratio(self.wrong, self.tasks)
    }

    /// Mean replicas per measured task.
    pub fn mean_replicas(&self) -> f64 {
        ratio(self.replicas, self.tasks)
    }

    /// Mean first-round replicas per measured task.
    pub fn mean_first_round(&self) -> f64 {
        ratio(self.first_round, self.tasks)
    }

    /// Mean timed-out replicas per measured task.
    pub fn mean_timeouts(&self) -> f64 {
        ratio(self.timeouts, self.tasks)
    }

    /// Share of the workers' rewards that went to faulty workers.
    pub fn faulty_share(&self) -> f64 {
        if self.rewards == 0 { 0.0 } else { self.faulty_rewards as f64 / self.rewards as f64 }
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// SplitMix64: small, fast, deterministic; plenty for a simulation.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        let wide = u128::from(self.next_u64()).wrapping_mul(u128::from(n));
        u64::try_from(wide >> 64).unwrap_or(0)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64) / 9_007_199_254_740_992.0 < p
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Honest,
    Faulty,
}

#[derive(Debug, Clone)]
struct Worker {
    kind: Kind,
    score: U256,
    barred: bool,
    /// The task this worker holds a replica of (a worker takes one replica per task).
    busy_on: Option<usize>,
}

/// The address of worker `i`: its index in the low bytes.
fn address(i: usize) -> Address {
    let mut bytes = [0u8; 20];
    let index = (i as u64).to_be_bytes();
    for (dst, src) in bytes.iter_mut().skip(12).zip(index) {
        *dst = src;
    }
    Address::from(bytes)
}

fn index_of(address: &Address) -> usize {
    let mut index = [0u8; 8];
    for (dst, src) in index.iter_mut().zip(address.iter().skip(12)) {
        *dst = *src;
    }
    usize::try_from(u64::from_be_bytes(index)).unwrap_or(usize::MAX)
}

/// What a worker will do with a replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    /// Vote this digest (and reveal it if asked).
    Vote(ResultDigest),
    /// Vote the right digest, never reveal.
    Withhold(ResultDigest),
    /// Copy the leading hash and seal once one is on chain.
    Copy,
    /// Never answer.
    Silent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EventKind {
    Answer,
    Reveal,
}

#[derive(Debug, Clone, Copy)]
struct Event {
    at: u64,
    worker: usize,
    kind: EventKind,
}

const TIME_REF: u64 = 100;
const PRICE: u64 = 1_000_000;

/// The simulated pool.
#[derive(Debug)]
struct Pool {
    config: SimConfig,
    rng: Rng,
    workers: Vec<Worker>,
    owner: Address,
    deal: DealId,
}

impl Pool {
    fn new(config: SimConfig) -> Result<Self, Error> {
        config.validate()?;
        let mut rng = Rng::new(config.seed);
        let faulty = (config.workers as f64 * config.faulty).round() as usize;
        // The score a worker brings from elsewhere counts only where scores are Hub-wide.
        let farmed = config.scenario == Scenario::FarmedSybils && config.hub_wide_scores;
        let mut workers: Vec<Worker> = (0..config.workers)
            .map(|i| Worker {
                kind: if i < faulty { Kind::Faulty } else { Kind::Honest },
                score: if farmed && i < faulty {
                    U256::from(config.farmed_score)
                } else {
                    U256::ZERO
                },
                barred: false,
                busy_on: None,
            })
            .collect();
        // Shuffle so faulty workers are not the low indices (Fisher–Yates).
        for i in (1..workers.len()).rev() {
            let j = usize::try_from(rng.below(i.saturating_add(1) as u64)).unwrap_or(0);
            workers.swap(i, j);
        }
        Ok(Self {
            config,
            rng,
            workers,
            owner: Address::repeat_byte(0xb0),
            deal: DealId::derive(B256::repeat_byte(0x5e), U256::from(config.seed)),
        })
    }

    fn defecting(&self, task: usize) -> bool {
        !self.config.scenario.is_long_con() || task >= self.config.tasks / 2
    }

    /// What worker `i` will do on task `task` whose right answer is `right`.
    fn plan_for(&mut self, i: usize, task: usize, right: ResultDigest) -> Plan {
        let Some(w) = self.workers.get(i) else { return Plan::Silent };
        if w.kind == Kind::Honest {
            return Plan::Vote(right);
        }
        // Simulated answers only need to be told apart: plain hashes stand for digests.
        let collude = ResultDigest(keccak256(format!("wrong {task}")));
        match self.config.scenario {
            Scenario::Honest => Plan::Silent,
            Scenario::RandomWrong => {
                Plan::Vote(ResultDigest(keccak256(self.rng.next_u64().to_be_bytes())))
            }
            Scenario::Colluders | Scenario::Sybil | Scenario::FarmedSybils => Plan::Vote(collude),
            Scenario::LazyCopiers => Plan::Copy,
            Scenario::NonRevealers => Plan::Withhold(right),
            Scenario::LongCon | Scenario::LongConSpotChecks => {
                if self.defecting(task) {
                    Plan::Vote(collude)
                } else {
                    Plan::Vote(right)
                }
            }
        }
    }

    /// A random free, unbarred worker not yet on this task.
    fn pick(&mut self, task: usize) -> Option<usize> {
        let n = self.workers.len() as u64;
        for _ in 0..64 {
            let i = usize::try_from(self.rng.below(n)).unwrap_or(0);
            if let Some(w) = self.workers.get(i)
                && !w.barred
                && w.busy_on != Some(task)
            {
                return Some(i);
            }
        }
        // Dense pools: scan from a random start.
        let start = usize::try_from(self.rng.below(n)).unwrap_or(0);
        let len = self.workers.len();
        (0..len)
            .filter_map(|k| start.saturating_add(k).checked_rem(len))
            .find(|&i| self.workers.get(i).is_some_and(|w| !w.barred && w.busy_on != Some(task)))
    }

    fn latency(&mut self, max: u64) -> u64 {
        self.rng.below(max).saturating_add(1)
    }

    /// Runs one task to its end; adds to `report` when `measure`.
    fn run_task(
        &mut self,
        index: usize,
        report: &mut SimReport,
        measure: bool,
    ) -> Result<(), Error> {
        let task_id = TaskId::derive(self.deal, index as u64);
        let start = (index as u64).saturating_mul(20 * TIME_REF);
        let terms = PayoutTerms::new(Amount::from(PRICE), 10);
        let mut config = TaskConfig::new(
            task_id,
            Trust::from_u64(self.config.trust)?,
            start,
            TIME_REF,
            self.owner,
            terms,
        );
        config.max_replicas = self.config.max_replicas;
        let mut task = Task::new(config)?;
        let right = ResultDigest(keccak256(format!("right {index}")));
        let right_hash = right.vote(task_id);
        let spot = self.config.scenario == Scenario::LongConSpotChecks
            && self.rng.chance(self.config.spot_check_rate);

        let mut plans: Vec<(usize, Plan)> = Vec::new();
        let mut events: Vec<Event> = Vec::new();
        let mut asked_reveal: Vec<usize> = Vec::new();
        let mut first_round: Option<u64> = None;
        let mut timeouts = 0u64;
        let mut now = start;
        let mut outcome = None;

        for _ in 0..10_000 {
            // A reopen makes new actions due at once: poll again before time moves.
            let mut poll_again = false;
            for action in task.poll_actions() {
                match action {
                    Action::NeedReplicas { .. } => {
                        self.assign(&mut task, index, now, right, &mut plans, &mut events)?;
                    }
                    Action::RequestReveal { workers } => {
                        for addr in workers {
                            let i = index_of(&addr);
                            if asked_reveal.contains(&i) {
                                continue;
                            }
                            asked_reveal.push(i);
                            let plan = plans.iter().find(|(w, _)| *w == i).map(|(_, p)| *p);
                            if matches!(plan, Some(Plan::Vote(_))) {
                                let at = now.saturating_add(self.latency(30));
                                events.push(Event { at, worker: i, kind: EventKind::Reveal });
                            }
                        }
                    }
                    Action::Finalize => {
                        let settlement = task.handle_finalize(now, self.owner, |a| {
                            self.workers.get(index_of(a)).map_or(U256::ZERO, |w| w.score)
                        })?;
                        for payout in &settlement.workers {
                            let reward = payout.reward.raw().saturating_to::<u128>();
                            if let Some(w) = self.workers.get_mut(index_of(&payout.worker)) {
                                w.score = payout.score_after;
                                if measure {
                                    report.rewards = report.rewards.saturating_add(reward);
                                    if w.kind == Kind::Faulty {
                                        report.faulty_rewards =
                                            report.faulty_rewards.saturating_add(reward);
                                    }
                                }
                            }
                        }
                        outcome = Some(task.result_digest() == Some(right));
                    }
                    Action::Reopen => {
                        task.handle_reopen(now, self.owner)?;
                        if measure {
                            report.reopens = report.reopens.saturating_add(1);
                        }
                        asked_reveal.clear();
                        poll_again = true;
                    }
                    Action::Failed(FailReason::Claimable) => {
                        task.handle_claim(now, |a| {
                            self.workers.get(index_of(a)).map_or(U256::ZERO, |w| w.score)
                        })?;
                    }
                    Action::Failed(_) => {}
                }
                if matches!(task.status(), TaskStatus::Completed | TaskStatus::Failed) {
                    break;
                }
            }
            if first_round.is_none() {
                first_round = Some(task.replicas().len() as u64);
            }
            if matches!(task.status(), TaskStatus::Completed | TaskStatus::Failed) {
                break;
            }
            if poll_again {
                continue;
            }
            let next_event = events.iter().map(|e| e.at).min();
            let next = match (next_event, task.poll_deadline()) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => match a.or(b) {
                    Some(t) => t,
                    None => break,
                },
            };
            now = now.max(next);
            timeouts = timeouts.saturating_add(task.handle_timeout(now).len() as u64);
            let (due, later): (Vec<Event>, Vec<Event>) = events.iter().partition(|e| e.at <= now);
            events = later;
            for event in due {
                self.deliver(&mut task, event, now, &plans, spot, right_hash, &mut events);
            }
        }

        // Sybils come back fresh; everyone is free again.
        for (i, _) in &plans {
            if let Some(w) = self.workers.get_mut(*i) {
                if self.config.scenario == Scenario::Sybil && w.kind == Kind::Faulty {
                    w.score = U256::ZERO;
                }
                w.busy_on = None;
            }
        }
        if measure {
            report.tasks = report.tasks.saturating_add(1);
            report.replicas = report.replicas.saturating_add(task.replicas().len() as u64);
            report.first_round = report.first_round.saturating_add(first_round.unwrap_or(0));
            report.timeouts = report.timeouts.saturating_add(timeouts);
            match outcome {
                Some(true) => {}
                Some(false) => report.wrong = report.wrong.saturating_add(1),
                None => report.failed = report.failed.saturating_add(1),
            }
        }
        Ok(())
    }

    /// Assigns replicas one at a time while the planner still wants more.
    fn assign(
        &mut self,
        task: &mut Task,
        index: usize,
        now: u64,
        right: ResultDigest,
        plans: &mut Vec<(usize, Plan)>,
        events: &mut Vec<Event>,
    ) -> Result<(), Error> {
        loop {
            let plan = task.plan();
            if !(plan.reachable && plan.needed > 0) {
                return Ok(());
            }
            let Some(i) = self.pick(index) else { return Ok(()) };
            let score = self.workers.get(i).map_or(U256::ZERO, |w| w.score);
            if task.handle_assign(now, address(i), score, 0).is_err() {
                return Ok(());
            }
            if let Some(w) = self.workers.get_mut(i) {
                w.busy_on = Some(index);
            }
            let p = self.plan_for(i, index, right);
            plans.push((i, p));
            if p != Plan::Silent {
                let at = now.saturating_add(self.latency(60));
                events.push(Event { at, worker: i, kind: EventKind::Answer });
            }
        }
    }

    /// Delivers one answer or reveal. Refusals (late, task moved on) are what the chain would
    /// do with them: dropped.
    #[allow(clippy::too_many_arguments)]
    fn deliver(
        &mut self,
        task: &mut Task,
        event: Event,
        now: u64,
        plans: &[(usize, Plan)],
        spot: bool,
        right_hash: quorate_primitives::ResultHash,
        events: &mut Vec<Event>,
    ) {
        let Some(plan) = plans.iter().find(|(w, _)| *w == event.worker).map(|(_, p)| *p) else {
            return;
        };
        let addr = address(event.worker);
        let id = task.config().task;
        let score = self.workers.get(event.worker).map_or(U256::ZERO, |w| w.score);
        match (event.kind, plan) {
            (EventKind::Answer, Plan::Vote(d) | Plan::Withhold(d)) => {
                let hash = d.vote(id);
                if spot
                    && hash != right_hash
                    && let Some(w) = self.workers.get_mut(event.worker)
                {
                    w.barred = true;
                }
                task.handle_contribution(now, addr, hash, d.seal(addr, id), score).ok();
            }
            (EventKind::Answer, Plan::Copy) => {
                let leader = task.tally().leader().map(|g| g.hash);
                let copied = leader.and_then(|h| task.contributions().iter().find(|c| c.hash == h));
                match copied {
                    Some(c) => {
                        let (hash, seal) = (c.hash, c.seal);
                        task.handle_contribution(now, addr, hash, seal, score).ok();
                    }
                    None => {
                        // Nothing to copy yet: look again a little later.
                        let at = now.saturating_add(self.latency(20));
                        events.push(Event { at, ..event });
                    }
                }
            }
            (EventKind::Reveal, Plan::Vote(d)) => {
                task.handle_reveal(now, addr, d).ok();
            }
            _ => {}
        }
    }
}

/// Runs PoCo over `config.tasks` tasks and reports what happened.
pub fn run(config: SimConfig) -> Result<SimReport, Error> {
    let mut pool = Pool::new(config)?;
    let mut report = SimReport::default();
    for index in 0..config.tasks {
        let measure = pool.defecting(index);
        pool.run_task(index, &mut report, measure)?;
    }
    report.barred =
        pool.workers.iter().filter(|w| w.barred && w.kind == Kind::Faulty).count() as u64;
    Ok(report)
}

/// The same pool and behaviours under BOINC's fixed quorum: replicas until two results agree,
/// at most three results (a silent replica is replaced after its timeout and costs one more),
/// no reputation, no stake, no reveal. Copiers cannot see other results in BOINC and return
/// garbage; non-revealers withhold their result.
pub fn run_boinc(config: SimConfig) -> Result<SimReport, Error> {
    let mut pool = Pool::new(config)?;
    let mut report = SimReport::default();
    for index in 0..config.tasks {
        let measure = pool.defecting(index);
        let right = ResultDigest(keccak256(format!("right {index}")));
        let mut results: Vec<(usize, ResultDigest)> = Vec::new();
        let mut replicas = 0u64;
        let mut timeouts = 0u64;
        let mut outcome = None;
        while replicas < u64::from(config.max_replicas) && results.len() < 3 {
            let Some(i) = pool.pick(index) else { break };
            if let Some(w) = pool.workers.get_mut(i) {
                w.busy_on = Some(index);
            }
            replicas = replicas.saturating_add(1);
            let result = match pool.plan_for(i, index, right) {
                Plan::Vote(d) => Some(d),
                Plan::Copy => Some(ResultDigest(keccak256(pool.rng.next_u64().to_be_bytes()))),
                Plan::Withhold(_) | Plan::Silent => None,
            };
            let Some(d) = result else {
                timeouts = timeouts.saturating_add(1);
                continue;
            };
            let agreeing = results.iter().find(|(_, r)| *r == d).map(|(w, _)| *w);
            results.push((i, d));
            if let Some(first) = agreeing {
                outcome = Some(d == right);
                if measure {
                    // One unit of credit to each of the two agreeing workers.
                    for w in [first, i] {
                        report.rewards = report.rewards.saturating_add(1);
                        if pool.workers.get(w).is_some_and(|w| w.kind == Kind::Faulty) {
                            report.faulty_rewards = report.faulty_rewards.saturating_add(1);
                        }
                    }
                }
                break;
            }
        }
        for w in &mut pool.workers {
            if w.busy_on == Some(index) {
                w.busy_on = None;
            }
        }
        if measure {
            report.tasks = report.tasks.saturating_add(1);
            report.replicas = report.replicas.saturating_add(replicas);
            report.first_round = report.first_round.saturating_add(2);
            report.timeouts = report.timeouts.saturating_add(timeouts);
            match outcome {
                Some(true) => {}
                Some(false) => report.wrong = report.wrong.saturating_add(1),
                None => report.failed = report.failed.saturating_add(1),
            }
        }
    }
    Ok(report)
}
