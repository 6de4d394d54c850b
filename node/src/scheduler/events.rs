//! Hub events as the scheduler core takes them ([`ChainEvent`] at a [`ChainCursor`]).
//!
//! Task events go to the core whatever their deal: it knows its own tasks and answers the
//! others with a stale error, which the shell ignores (the core's cursor still moves). A deal
//! is this pool's only when its `DealCreated` names the pool; the core's [`Deal`] then needs
//! what the event does not carry: the deal's start, time reference and ratios (from the Hub's
//! `deal` view) and the job's evaluator and memory (from the manifest the pool consented to):
//! [`Translated::Deal`] asks the shell for them, and [`deal`] puts them together.

use alloy::primitives::Address;
use quorate_contracts::bindings::{Hub::HubEvents, IHub::DealView};
use quorate_poco::weight::score_for_weight;
use quorate_primitives::{
    Amount, ContentHash, DealId, JobManifest, PoolId, ResultDigest, ResultHash, ResultSeal, TaskId,
};
use quorate_scheduler::{ChainCursor, ChainEvent, Deal};

use crate::chain::HubLog;

/// What a Hub event means to this pool's core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Translated {
    /// Give the core this event.
    Event(ChainEvent),
    /// A deal of this pool: read its view and its job's manifest, then [`deal`].
    Deal {
        /// The deal.
        deal: DealId,
        /// Its job (the request's job hash).
        job: ContentHash,
        /// The client.
        client: Address,
    },
    /// Not for the core (another pool's deal, an account or pool event, a consensus the core
    /// computes itself).
    Skip,
}

/// Where `log` sits in the chain, as the core counts.
pub fn cursor(log: &HubLog) -> ChainCursor {
    ChainCursor {
        block: log.block,
        log: u32::try_from(log.log_index).unwrap_or(u32::MAX),
        time: log.time,
    }
}

/// What `log` means to the core of `pool`, owned by `owner`.
pub fn translate(log: &HubLog, pool: PoolId, owner: Address) -> Translated {
    let event = match &log.event {
        HubEvents::DealCreated(e) if e.pool == pool.0 => {
            return Translated::Deal {
                deal: DealId::from(e.dealId),
                job: ContentHash(e.request.jobHash),
                client: e.client,
            };
        }
        HubEvents::TaskInitialized(e) => ChainEvent::TaskInitialized {
            task: TaskId::from(e.taskId),
            deal: DealId::from(e.dealId),
            index: u64::try_from(e.index).unwrap_or(u64::MAX),
        },
        HubEvents::TaskContributed(e) => ChainEvent::Contributed {
            task: TaskId::from(e.taskId),
            worker: e.worker,
            hash: ResultHash::from(e.resultHash),
            seal: ResultSeal::from(e.resultSeal),
            // The event carries the vote's weight; any score of that weight tallies the same.
            score: score_for_weight(e.weight),
        },
        HubEvents::TaskRevealed(e) => ChainEvent::Revealed {
            task: TaskId::from(e.taskId),
            worker: e.worker,
            digest: ResultDigest::from(e.resultDigest),
        },
        HubEvents::TaskReopened(e) => ChainEvent::Reopened { task: TaskId::from(e.taskId) },
        HubEvents::TaskFinalized(e) => ChainEvent::Finalized { task: TaskId::from(e.taskId) },
        HubEvents::TaskClaimed(e) => ChainEvent::Claimed { task: TaskId::from(e.taskId) },
        HubEvents::ScoreUpdated(e) if e.poolOwner == owner => {
            ChainEvent::ScoreChanged { worker: e.worker, score: e.score }
        }
        _ => return Translated::Skip,
    };
    Translated::Event(event)
}

/// The core's deal from the Hub's view of it and the job's manifest.
pub fn deal(view: &DealView, manifest: &JobManifest) -> Deal {
    Deal {
        id: DealId::from(view.dealId),
        tasks: u64::from(view.taskCount),
        trust: u64::from(view.trust),
        start: view.start.to::<u64>(),
        time_ref: u64::from(view.timeRef),
        price: Amount::from(alloy::primitives::U256::from(view.price)),
        scheduler_ratio: u64::from(view.schedulerRewardRatio),
        evaluator: manifest.evaluator.code(),
        memory_mib: manifest.limits.heap_mib,
        gpu_memory_mib: manifest.gpu.memory_mib,
        gpu_class: super::platform::needed_class(&manifest.gpu),
    }
}

#[cfg(test)]
mod tests {
    use alloy::primitives::{B256, Bytes, U256, aliases::U40};
    use quorate_contracts::bindings::Hub;
    use quorate_primitives::{EvaluatorKind, JobLimits};

    use super::*;

    fn log(event: HubEvents) -> HubLog {
        HubLog { block: 7, time: 1_700_000_000, log_index: 3, tx: B256::ZERO, event }
    }

    const POOL: PoolId = PoolId(4);
    const OWNER: Address = Address::repeat_byte(0xb0);

    #[test]
    fn a_deal_is_this_pools_only_when_its_event_names_the_pool() {
        let request = quorate_contracts::bindings::IHub::Request {
            jobHash: B256::repeat_byte(5),
            taskCount: 3,
            maxPrice: alloy::primitives::aliases::U96::from(10u8),
            trust: 2,
            category: 0,
            tag: B256::ZERO,
            beneficiary: Address::ZERO,
        };
        let created = |pool: u64| {
            log(HubEvents::DealCreated(Hub::DealCreated {
                dealId: B256::repeat_byte(1),
                pool,
                client: Address::repeat_byte(0xc1),
                orderHash: B256::ZERO,
                price: alloy::primitives::aliases::U96::from(10u8),
                nonce: U256::ZERO,
                request: request.clone(),
            }))
        };
        assert_eq!(
            translate(&created(4), POOL, OWNER),
            Translated::Deal {
                deal: DealId::from(B256::repeat_byte(1)),
                job: ContentHash(B256::repeat_byte(5)),
                client: Address::repeat_byte(0xc1),
            }
        );
        assert_eq!(translate(&created(5), POOL, OWNER), Translated::Skip);
        assert_eq!(cursor(&created(4)), ChainCursor { block: 7, log: 3, time: 1_700_000_000 });
    }

    #[test]
    fn task_events_carry_what_the_core_needs() {
        let task = B256::repeat_byte(9);
        let worker = Address::repeat_byte(0x77);
        let contributed = log(HubEvents::TaskContributed(Hub::TaskContributed {
            taskId: task,
            worker,
            resultHash: B256::repeat_byte(1),
            resultSeal: B256::repeat_byte(2),
            weight: U256::from(32u8),
        }));
        let Translated::Event(ChainEvent::Contributed { score, .. }) =
            translate(&contributed, POOL, OWNER)
        else {
            panic!("not a contribution");
        };
        assert_eq!(quorate_poco::weight::vote_weight(score), U256::from(32u8));
        let finalized = log(HubEvents::TaskFinalized(Hub::TaskFinalized {
            taskId: task,
            resultsRef: Bytes::new(),
        }));
        assert_eq!(
            translate(&finalized, POOL, OWNER),
            Translated::Event(ChainEvent::Finalized { task: TaskId::from(task) })
        );
        // Scores move per pool owner: another owner's domain is not this pool's.
        let score = |owner| {
            log(HubEvents::ScoreUpdated(Hub::ScoreUpdated {
                poolOwner: owner,
                worker,
                score: U256::from(5u8),
            }))
        };
        assert_eq!(
            translate(&score(OWNER), POOL, OWNER),
            Translated::Event(ChainEvent::ScoreChanged { worker, score: U256::from(5u8) })
        );
        assert_eq!(translate(&score(Address::ZERO), POOL, OWNER), Translated::Skip);
    }

    #[test]
    fn a_deal_takes_the_chain_s_terms_and_the_job_s_needs() {
        let view = DealView {
            dealId: B256::repeat_byte(1),
            pool: 4,
            poolOwner: OWNER,
            client: Address::repeat_byte(0xc1),
            price: alloy::primitives::aliases::U96::from(1_000u32),
            trust: 3,
            taskCount: 50,
            category: 1,
            start: U40::from(1_700_000_100u64),
            timeRef: 60,
            workerStakeRatio: 30,
            schedulerRewardRatio: 10,
        };
        let manifest = JobManifest {
            evaluator: EvaluatorKind::WebGpu,
            limits: JobLimits { heap_mib: 1024, ..JobLimits::default() },
            gpu: quorate_primitives::GpuNeeds { memory_mib: 512, class: "nvidia".into() },
            code: ContentHash::of(b"x"),
            args: "[]".into(),
            modules: Vec::new(),
            inputs: vec![ContentHash::of(b"1")],
            salt: Default::default(),
        };
        let d = deal(&view, &manifest);
        assert_eq!(
            (d.tasks, d.trust, d.start, d.time_ref, d.scheduler_ratio, d.evaluator, d.memory_mib),
            (50, 3, 1_700_000_100, 60, 10, 1, 1024)
        );
        assert_eq!(
            (d.gpu_memory_mib, d.gpu_class),
            (512, crate::scheduler::platform::class_id("nvidia"))
        );
        assert_eq!(d.price, Amount::from(1_000u64));
    }
}
