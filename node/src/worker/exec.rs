//! The worker's sandboxes: blocking evaluator processes, each on its own thread, behind a
//! bounded queue (ROLES.md: the evaluator pool is blocking code). The loop submits a task and
//! awaits its outcome; a full queue is refused at once, so the loop never blocks on it and
//! never takes more tasks than it has sandboxes for.

use std::{
    sync::{Arc, Condvar, Mutex, mpsc},
    thread::JoinHandle,
};

use quorate_evaluator::{
    client::{EvaluatorHandle, SpawnConfig},
    hardening::ProcessLimits,
    protocol::Capabilities,
    sandbox::{Event, TaskSpec},
};
use quorate_primitives::{ContentHash, TaskId};
use tokio::sync::oneshot;

use crate::job::local::{LocalOutcome, classify, load_reason};

/// How the worker runs its sandboxes.
#[derive(Debug, Clone)]
pub struct ExecConfig {
    /// The `quorate-evaluator` executable.
    pub program: std::path::PathBuf,
    /// Sandboxes (processes, threads) at once.
    pub sandboxes: usize,
    /// Their scheduling priority (0 to 19).
    pub nice: i32,
    /// The most memory one task may be given, MiB (the process caps sit above it).
    pub task_memory_mib: u64,
    /// Open a GPU in every sandbox for `gpu.compute`.
    pub gpu: bool,
    /// WebGPU tasks run at once at most (the device's share of the sandboxes); others wait
    /// their turn for a GPU slot.
    pub gpu_slots: usize,
    /// GPU memory the worker gives its tasks, MiB; 0 for all the device says it has. Tasks
    /// run at once never declare more than this in all.
    pub gpu_memory_mib: u64,
}

/// One task to run.
#[derive(Debug)]
pub struct Work {
    /// The job's code, by content hash (a sandbox loads it once and keeps it for later tasks).
    pub code_hash: ContentHash,
    /// The code.
    pub code: Arc<str>,
    /// The task.
    pub spec: TaskSpec,
    /// Whether it uses the GPU (a WebGPU job): it waits for a GPU slot and the GPU memory it
    /// declared (`spec.limits.gpu_bytes`).
    pub gpu: bool,
    /// Where its progress and console lines go; when it is full they are dropped (the
    /// evaluator caps and counts console text per task already).
    pub events: Option<tokio::sync::mpsc::Sender<(TaskId, Event)>>,
    /// Where its outcome goes.
    pub reply: oneshot::Sender<LocalOutcome>,
}

/// The sandboxes and their queue.
#[derive(Debug)]
pub struct Executor {
    queue: Option<mpsc::SyncSender<Work>>,
    threads: Vec<JoinHandle<()>>,
    sandboxes: usize,
    capabilities: Option<Capabilities>,
    gpu: Arc<GpuSlots>,
}

/// The GPU's slots and memory, shared by the sandbox threads: a WebGPU task runs once it
/// holds a slot and the GPU memory it declared, so the device never holds more tasks than it
/// has memory for. Tasks are served in turn, so small ones never starve a large one.
#[derive(Debug)]
struct GpuSlots {
    free: Mutex<Free>,
    freed: Condvar,
    /// All the memory, MiB.
    memory_mib: u64,
}

/// What is free now, and whose turn it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Free {
    slots: usize,
    mib: u64,
    /// The next waiter's ticket, and the ticket served next.
    next: u64,
    turn: u64,
}

impl GpuSlots {
    fn new(slots: usize, memory_mib: u64) -> Self {
        let free = Free { slots: slots.max(1), mib: memory_mib, next: 0, turn: 0 };
        Self { free: Mutex::new(free), freed: Condvar::new(), memory_mib }
    }

    /// Waits for its turn, then for a slot and `mib` of memory (at most all of it: a task the
    /// worker would not fit was refused before it came here).
    fn take(&self, mib: u64) -> GpuSlot<'_> {
        let mib = mib.min(self.memory_mib);
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        let ticket = free.next;
        free.next = free.next.wrapping_add(1);
        while free.turn != ticket || free.slots == 0 || free.mib < mib {
            free = self.freed.wait(free).unwrap_or_else(|e| e.into_inner());
        }
        free.slots = free.slots.saturating_sub(1);
        free.mib = free.mib.saturating_sub(mib);
        free.turn = free.turn.wrapping_add(1);
        // The next in turn may fit in what is left.
        self.freed.notify_all();
        GpuSlot { slots: self, mib }
    }
}

/// A GPU slot and its memory, held; given back when dropped.
struct GpuSlot<'a> {
    slots: &'a GpuSlots,
    mib: u64,
}

impl Drop for GpuSlot<'_> {
    fn drop(&mut self) {
        let mut free = self.slots.free.lock().unwrap_or_else(|e| e.into_inner());
        free.slots = free.slots.saturating_add(1);
        free.mib = free.mib.saturating_add(self.mib);
        // The waiter whose turn it is looks again.
        self.slots.freed.notify_all();
    }
}

impl Executor {
    /// Starts `config.sandboxes` sandboxes (at least one); fails when one cannot start.
    pub fn start(config: &ExecConfig) -> Result<Self, String> {
        Self::start_queued(config, 1)
    }

    /// As [`Executor::start`], with room for `per_sandbox` waiting tasks per sandbox (a worker
    /// that takes more tasks than it has sandboxes queues them here).
    pub fn start_queued(config: &ExecConfig, per_sandbox: usize) -> Result<Self, String> {
        let sandboxes = config.sandboxes.max(1);
        let spawn = spawn_config(config);
        let mut handles = (0..sandboxes)
            .map(|_| EvaluatorHandle::spawn(spawn.clone()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                format!(
                    "cannot start the sandbox {}: {e}; run ./scripts/setup, or set evaluator.program to where quorate-evaluator is",
                    spawn.program.display()
                )
            })?;
        // What the sandboxes compute on (all alike: one program, one machine): the pool groups
        // a task's replicas by it.
        let capabilities = handles.first_mut().and_then(|h| h.describe().ok());
        if config.gpu && capabilities.as_ref().is_some_and(|c| c.gpu.is_none()) {
            return Err("worker.gpu is set but the sandbox found no GPU adapter: install a Vulkan driver (mesa-vulkan-drivers for a CPU one), or set worker.gpu = false".into());
        }
        let detected = capabilities.as_ref().and_then(|c| c.gpu_memory_mib).unwrap_or(0);
        let gpu_memory_mib = match (config.gpu, config.gpu_memory_mib) {
            (false, _) => 0,
            (true, 0) if detected == 0 => {
                return Err("the GPU's driver does not say how much memory it has: set worker.gpu_memory_mib".into());
            }
            (true, 0) => detected,
            (true, set) => set,
        };
        let gpu = Arc::new(GpuSlots::new(config.gpu_slots, gpu_memory_mib));
        // Room for every task the worker may hold: the loop never waits on the queue.
        let (tx, rx) = mpsc::sync_channel::<Work>(sandboxes.saturating_mul(per_sandbox.max(1)));
        let rx = Arc::new(Mutex::new(rx));
        let threads = handles
            .into_iter()
            .enumerate()
            .map(|(i, handle)| {
                let rx = Arc::clone(&rx);
                let gpu = Arc::clone(&gpu);
                std::thread::Builder::new()
                    .name(format!("sandbox-{i}"))
                    .spawn(move || serve(handle, &rx, &gpu))
                    .map_err(|e| format!("cannot start a sandbox thread: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { queue: Some(tx), threads, sandboxes, capabilities, gpu })
    }

    /// What the sandboxes said they are: V8's version, the GPU adapter class, the float probe.
    pub fn capabilities(&self) -> Option<&Capabilities> {
        self.capabilities.as_ref()
    }

    /// GPU slots free now.
    pub fn gpu_slots_free(&self) -> usize {
        self.gpu.free.lock().unwrap_or_else(|e| e.into_inner()).slots
    }

    /// The GPU memory the worker gives its tasks, MiB (0 without a GPU).
    pub fn gpu_memory_mib(&self) -> u32 {
        u32::try_from(self.gpu.memory_mib).unwrap_or(u32::MAX)
    }

    /// How many sandboxes run.
    pub fn sandboxes(&self) -> usize {
        self.sandboxes
    }

    /// Queues `work`, or gives it back at once when the queue is full.
    pub fn submit(&self, work: Work) -> Result<(), Box<Work>> {
        let Some(queue) = &self.queue else { return Err(Box::new(work)) };
        queue.try_send(work).map_err(|e| match e {
            mpsc::TrySendError::Full(work) | mpsc::TrySendError::Disconnected(work) => {
                Box::new(work)
            }
        })
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        // Closing the queue ends every thread after its current task.
        self.queue.take();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// One sandbox's thread: takes the next task, loads its job's code when it differs from the
/// one loaded, runs it (a WebGPU task once it holds a GPU slot), answers.
fn serve(mut sandbox: EvaluatorHandle, queue: &Mutex<mpsc::Receiver<Work>>, gpu: &GpuSlots) {
    let mut loaded: Option<ContentHash> = None;
    loop {
        let work = match queue.lock() {
            Ok(rx) => match rx.recv() {
                Ok(work) => work,
                Err(_) => break,
            },
            Err(_) => break,
        };
        let Work { code_hash, code, spec, gpu: on_gpu, events, reply } = work;
        if loaded != Some(code_hash) {
            if let Err(e) = sandbox.load_job(code_hash, &code) {
                loaded = None;
                let _ = reply.send(LocalOutcome::Failed {
                    kind: "load_failed".into(),
                    message: load_reason(e),
                });
                continue;
            }
            loaded = Some(code_hash);
        }
        let task = spec.task_id;
        // Never more WebGPU tasks at once than the device's slots and memory hold.
        let _slot = on_gpu.then(|| gpu.take(spec.limits.gpu_bytes.div_ceil(1 << 20)));
        let result = sandbox.run(&spec, &mut |event| {
            if let Some(events) = &events {
                let _ = events.try_send((task, event));
            }
        });
        let _ = reply.send(classify(result));
    }
    sandbox.shutdown();
}

/// The adapter class of the GPU a sandbox of `program` opens, if it finds one.
pub fn gpu_class(program: &std::path::Path) -> Option<String> {
    let mut spawn = SpawnConfig::new(program);
    spawn.limits.gpu = true;
    let mut sandbox = EvaluatorHandle::spawn(spawn).ok()?;
    let class = sandbox.describe().ok().and_then(|c| c.gpu);
    sandbox.shutdown();
    class
}

fn spawn_config(config: &ExecConfig) -> SpawnConfig {
    let defaults = ProcessLimits::default();
    let mut spawn = SpawnConfig::new(&config.program);
    spawn.limits = ProcessLimits {
        nice: config.nice,
        memory_mb: defaults
            .memory_mb
            .max(config.task_memory_mib.saturating_mul(2).saturating_add(512)),
        v8_heap_mb: defaults.v8_heap_mb.max(config.task_memory_mib.saturating_add(256)),
        gpu: config.gpu,
        ..defaults
    };
    spawn
}

#[cfg(test)]
mod tests {
    use std::{
        sync::mpsc::{Receiver, sync_channel},
        thread::JoinHandle,
        time::Duration,
    };

    use super::*;

    /// A task on another thread taking `mib` of `slots` and holding it 50 ms; it says `name`
    /// once it holds it.
    fn task(
        slots: &Arc<GpuSlots>,
        mib: u64,
        name: &'static str,
    ) -> (JoinHandle<()>, Receiver<&'static str>) {
        let (slots, (tx, rx)) = (Arc::clone(slots), sync_channel(1));
        let thread = std::thread::spawn(move || {
            let held = slots.take(mib);
            tx.send(name).unwrap();
            std::thread::sleep(Duration::from_millis(50));
            drop(held);
        });
        (thread, rx)
    }

    fn waits(rx: &Receiver<&'static str>) -> bool {
        rx.recv_timeout(Duration::from_millis(200)).is_err()
    }

    fn runs(rx: &Receiver<&'static str>) -> &'static str {
        rx.recv_timeout(Duration::from_secs(5)).expect("it ran")
    }

    #[test]
    fn gpu_tasks_wait_for_a_slot_and_the_memory_they_declared() {
        let slots = Arc::new(GpuSlots::new(4, 256));
        let first = slots.take(200);
        // A slot is free but 56 MiB are not enough for 100: it waits for the first to end.
        let (waiter, rx) = task(&slots, 100, "second");
        assert!(waits(&rx), "it ran beside the first");
        drop(first);
        runs(&rx);
        waiter.join().unwrap();
        // Everything is back; more than the device has is taken as all of it, never waited on
        // forever.
        let free = *slots.free.lock().unwrap();
        assert_eq!((free.slots, free.mib), (4, 256));
        drop(slots.take(1 << 20));
        // One slot: the second task waits for it, whatever its memory.
        let one = Arc::new(GpuSlots::new(1, 1024));
        let held = one.take(16);
        let (waiter, rx) = task(&one, 16, "second");
        assert!(waits(&rx));
        drop(held);
        runs(&rx);
        waiter.join().unwrap();
    }

    #[test]
    fn a_large_gpu_task_is_not_starved_by_small_ones_after_it() {
        let slots = Arc::new(GpuSlots::new(4, 256));
        let small = slots.take(100);
        // The large task waits for memory; a small one after it waits its turn.
        let (large, large_rx) = task(&slots, 200, "large");
        std::thread::sleep(Duration::from_millis(100));
        let (after, after_rx) = task(&slots, 50, "small");
        assert!(waits(&after_rx), "the small one went first");
        drop(small);
        assert_eq!(runs(&large_rx), "large");
        assert_eq!(runs(&after_rx), "small");
        large.join().unwrap();
        after.join().unwrap();
    }
}
