//! The worker's side: [`EvaluatorHandle`] spawns a `quorate-evaluator` process with pipes on
//! its stdin and stdout (no port, no socket path), and drives it with timeouts; [`Pool`] keeps
//! N of them.
//!
//! A handle whose process died (a V8 fatal error, a kill after a timeout) reports the task as
//! failed and respawns on the next call, reloading the job it had.

use std::{
    collections::VecDeque,
    io::{BufReader, Read},
    ops::{Deref, DerefMut},
    path::PathBuf,
    process::{Child, ChildStdin, Command, Stdio},
    sync::{
        Arc, Condvar, Mutex,
        atomic::{AtomicBool, Ordering},
        mpsc::{Receiver, RecvTimeoutError, sync_channel},
    },
    time::{Duration, Instant},
};

use quorate_primitives::ContentHash;

use crate::{
    Error, TaskErrorKind,
    engine::V8_FLAGS_ENV,
    hardening::ProcessLimits,
    protocol::{self, Capabilities, DEFAULT_MAX_FRAME, Request, Response},
    sandbox::{Event, TaskOutput, TaskSpec},
    v8lib::V8_DIR_ENV,
};

/// The sandbox binary's file name.
pub const PROGRAM: &str = "quorate-evaluator";

/// How much of the child's stderr is kept for error reports.
const STDERR_TAIL: usize = 8 << 10;

/// Responses queued from a child before the reader waits.
const RESPONSE_QUEUE: usize = 256;

/// How to start a sandbox process.
#[derive(Debug, Clone)]
pub struct SpawnConfig {
    /// The `quorate-evaluator` executable.
    pub program: PathBuf,
    /// Its process limits.
    pub limits: ProcessLimits,
    /// Where V8 is (`QUORATE_V8_DIR` for the child); `None` passes the worker's own setting.
    pub v8_dir: Option<PathBuf>,
    /// Limit for describe, load and reset.
    pub request_timeout: Duration,
    /// Added to a task's own timeout before the process is killed from outside.
    pub task_grace: Duration,
    /// Largest frame accepted from the child.
    pub max_frame: u32,
}

impl SpawnConfig {
    /// Defaults for `program`.
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Self {
            program: program.into(),
            limits: ProcessLimits::default(),
            v8_dir: None,
            request_timeout: Duration::from_secs(30),
            task_grace: Duration::from_secs(5),
            max_frame: DEFAULT_MAX_FRAME,
        }
    }

    /// Defaults, with the program next to the running executable (an installed layout).
    pub fn beside_current_exe() -> Result<Self, Error> {
        let exe = std::env::current_exe().map_err(|e| Error::io("finding the executable", &e))?;
        let dir = exe
            .parent()
            .ok_or_else(|| Error::Sandbox { reason: "no executable directory".into() })?;
        Ok(Self::new(dir.join(PROGRAM)))
    }
}

/// A running sandbox process.
#[derive(Debug)]
pub struct EvaluatorHandle {
    cfg: SpawnConfig,
    child: Child,
    stdin: ChildStdin,
    responses: Receiver<Result<Response, Error>>,
    stderr: Arc<Mutex<VecDeque<u8>>>,
    stderr_done: Arc<AtomicBool>,
    job: Option<(ContentHash, Arc<str>)>,
    dead: bool,
}

impl EvaluatorHandle {
    /// Starts a sandbox process. Its environment is cleared except for what it needs: the
    /// worker's secrets never reach it.
    pub fn spawn(cfg: SpawnConfig) -> Result<Self, Error> {
        let mut cmd = Command::new(&cfg.program);
        cmd.args([
            "--nice",
            &cfg.limits.nice.to_string(),
            "--memory-mb",
            &cfg.limits.memory_mb.to_string(),
            "--v8-heap-mb",
            &cfg.limits.v8_heap_mb.to_string(),
            "--load-timeout-ms",
            &cfg.limits.load_timeout_ms.to_string(),
            "--seccomp",
            if cfg.limits.seccomp { "on" } else { "off" },
            "--gpu",
            if cfg.limits.gpu { "on" } else { "off" },
        ]);
        cmd.env_clear().env("TZ", "UTC").env("LC_ALL", "C");
        match &cfg.v8_dir {
            Some(dir) => {
                cmd.env(V8_DIR_ENV, dir);
            }
            None => {
                if let Some(dir) = std::env::var_os(V8_DIR_ENV) {
                    cmd.env(V8_DIR_ENV, dir);
                }
            }
        }
        // V8 flags for measurements, and the Vulkan driver selection for the GPU path.
        for var in [V8_FLAGS_ENV, "WGPU_BACKEND", "VK_ICD_FILENAMES", "VK_DRIVER_FILES"] {
            if let Some(v) = std::env::var_os(var) {
                cmd.env(var, v);
            }
        }
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| Error::Sandbox {
            reason: format!("cannot start {}: {e}", cfg.program.display()),
        })?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill();
            return Err(Error::Sandbox { reason: "the child's pipes are missing".into() });
        };
        let (tx, responses) = sync_channel(RESPONSE_QUEUE);
        let max_frame = cfg.max_frame;
        std::thread::Builder::new()
            .name("evaluator-reader".into())
            .spawn(move || {
                let mut r = BufReader::new(stdout);
                loop {
                    match protocol::read_frame::<Response>(&mut r, max_frame) {
                        Ok(Some(msg)) => {
                            if tx.send(Ok(msg)).is_err() {
                                return;
                            }
                        }
                        Ok(None) => {
                            let _ = tx
                                .send(Err(Error::Sandbox { reason: "the process exited".into() }));
                            return;
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            return;
                        }
                    }
                }
            })
            .map_err(|e| Error::io("starting the reader thread", &e))?;
        let tail = Arc::new(Mutex::new(VecDeque::with_capacity(STDERR_TAIL)));
        let tail_w = Arc::clone(&tail);
        let stderr_done = Arc::new(AtomicBool::new(false));
        let done_w = Arc::clone(&stderr_done);
        std::thread::Builder::new()
            .name("evaluator-stderr".into())
            .spawn(move || {
                let mut r = stderr;
                let mut buf = [0u8; 1024];
                while let Ok(n) = r.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut t) = tail_w.lock() {
                        t.extend(buf.iter().take(n));
                        while t.len() > STDERR_TAIL {
                            t.pop_front();
                        }
                    }
                }
                done_w.store(true, Ordering::Release);
            })
            .map_err(|e| Error::io("starting the stderr thread", &e))?;
        Ok(Self { cfg, child, stdin, responses, stderr: tail, stderr_done, job: None, dead: false })
    }

    /// The process id of the sandbox.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// False once the process has died or been killed.
    pub fn is_alive(&self) -> bool {
        !self.dead
    }

    /// Asks for the sandbox's capabilities.
    pub fn describe(&mut self) -> Result<Capabilities, Error> {
        self.revive()?;
        match self.request(&Request::Describe {}, self.cfg.request_timeout, &mut |_| {})? {
            Response::Capabilities(c) => Ok(c),
            other => Err(unexpected(&other)),
        }
    }

    /// Loads a job (checked against `hash` by the sandbox). A dead process is replaced first,
    /// without loading the job it had: only this job's code runs.
    pub fn load_job(&mut self, hash: ContentHash, code: &str) -> Result<(), Error> {
        if self.dead && self.job.as_ref().is_some_and(|(h, _)| *h != hash) {
            self.job = None;
        }
        self.revive()?;
        self.load_inner(hash, Arc::from(code))
    }

    fn load_inner(&mut self, hash: ContentHash, code: Arc<str>) -> Result<(), Error> {
        if self.job.as_ref().is_some_and(|(h, _)| *h == hash) {
            return Ok(());
        }
        let req = Request::LoadJob { hash, code: code.to_string() };
        match self.request(&req, self.cfg.request_timeout, &mut |_| {})? {
            Response::Loaded { hash: h } if h == hash => {
                self.job = Some((hash, code));
                Ok(())
            }
            Response::Failed { message } => Err(Error::Job { reason: message }),
            other => Err(unexpected(&other)),
        }
    }

    /// Runs a task; progress and console go to `on_event`. A sandbox that does not answer
    /// within the task's timeout, the load limit (the job may be loaded again first) and the
    /// grace is killed (and respawned on the next call), and so is one that failed underneath
    /// the task (`internal`). A sandbox that could not stop what a task left running exits after
    /// answering, and is respawned on the next call.
    pub fn run(
        &mut self,
        spec: &TaskSpec,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<TaskOutput, Error> {
        self.revive()?;
        // The sandbox may first load the job again on a fresh context (under its own limit).
        let timeout = Duration::from_millis(spec.limits.timeout_ms)
            + Duration::from_millis(self.cfg.limits.load_timeout_ms)
            + self.cfg.task_grace;
        match self.request(&Request::RunTask { spec: spec.clone() }, timeout, on_event) {
            Ok(Response::Result { result, digest, dropped_events }) => {
                let result = result.into_bytes();
                if quorate_primitives::ResultDigest::of(spec.task_id, &result) != digest {
                    return Err(Error::Protocol {
                        reason: "the result does not match its digest".into(),
                    });
                }
                Ok(TaskOutput { result, digest, dropped_events })
            }
            Ok(Response::TaskError { kind: TaskErrorKind::Internal, message }) => {
                // The sandbox failed underneath the task (and may be exiting): start afresh.
                self.kill();
                Err(Error::task(TaskErrorKind::Internal, message))
            }
            Ok(Response::TaskError { kind, message }) => Err(Error::Task { kind, message }),
            Ok(Response::Failed { message }) => {
                self.kill();
                Err(Error::task(TaskErrorKind::Internal, message))
            }
            Ok(other) => Err(unexpected(&other)),
            Err(Error::Sandbox { reason }) => Err(self.classify_death(&reason)),
            Err(e) => Err(e),
        }
    }

    /// Replaces the sandbox's context (same process, same job).
    pub fn reset(&mut self) -> Result<(), Error> {
        self.revive()?;
        match self.request(&Request::Reset {}, self.cfg.request_timeout, &mut |_| {})? {
            Response::ResetDone {} => Ok(()),
            Response::Failed { message } => Err(Error::Sandbox { reason: message }),
            other => Err(unexpected(&other)),
        }
    }

    /// Kills the process now.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.dead = true;
    }

    /// Asks the process to exit and waits for it.
    pub fn shutdown(mut self) {
        let _ = protocol::write_frame(&mut self.stdin, &Request::Die {});
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                self.dead = true;
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.kill();
    }

    /// Respawns a dead process and reloads its job.
    fn revive(&mut self) -> Result<(), Error> {
        if !self.dead {
            return Ok(());
        }
        let job = self.job.take();
        let fresh = Self::spawn(self.cfg.clone())?;
        let old = std::mem::replace(self, fresh);
        drop(old);
        if let Some((hash, code)) = job {
            self.load_inner(hash, code)?;
        }
        Ok(())
    }

    fn request(
        &mut self,
        req: &Request,
        timeout: Duration,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<Response, Error> {
        if let Err(e) = protocol::write_frame(&mut self.stdin, req) {
            self.kill();
            return Err(Error::Sandbox { reason: format!("cannot send the request: {e}") });
        }
        let deadline = Instant::now() + timeout;
        loop {
            match self.responses.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(Ok(Response::Progress { fraction })) => {
                    on_event(Event::Progress { fraction });
                }
                Ok(Ok(Response::Console { level, text })) => {
                    on_event(Event::Console { level, text });
                }
                Ok(Ok(other)) => return Ok(other),
                Ok(Err(e)) => {
                    self.kill();
                    return Err(Error::Sandbox { reason: e.to_string() });
                }
                Err(RecvTimeoutError::Timeout) => {
                    self.kill();
                    return Err(Error::Sandbox {
                        reason: format!("no answer within {} ms; killed", timeout.as_millis()),
                    });
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.kill();
                    return Err(Error::Sandbox { reason: "the reader stopped".into() });
                }
            }
        }
    }

    /// Turns a process failure during a task into the task error it stands for.
    fn classify_death(&mut self, reason: &str) -> Error {
        // Let the stderr reader catch up with the process's last words (the process is dead
        // by now, so its stderr reaches end of file).
        let until = Instant::now() + Duration::from_secs(2);
        while !self.stderr_done.load(Ordering::Acquire) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
        let tail = self
            .stderr
            .lock()
            .map(|t| String::from_utf8_lossy(&t.iter().copied().collect::<Vec<_>>()).into_owned())
            .unwrap_or_default();
        let status =
            self.child.try_wait().ok().flatten().map(|s| s.to_string()).unwrap_or_default();
        if tail.contains("out of memory") || tail.contains("Out of memory") {
            return Error::task(
                TaskErrorKind::HeapLimit,
                format!("the sandbox ran out of memory and was replaced ({status})"),
            );
        }
        if reason.starts_with("no answer within") {
            return Error::task(TaskErrorKind::Timeout, format!("the sandbox {reason}"));
        }
        let last_line = tail.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").to_string();
        Error::task(
            TaskErrorKind::Internal,
            format!("the sandbox process failed ({reason}; {status}): {last_line}"),
        )
    }
}

impl Drop for EvaluatorHandle {
    fn drop(&mut self) {
        if !self.dead {
            self.kill();
        }
    }
}

fn unexpected(r: &Response) -> Error {
    match r {
        Response::Failed { message } => Error::Sandbox { reason: message.clone() },
        other => Error::Protocol { reason: format!("unexpected response {other:?}") },
    }
}

/// N sandbox processes; a task checks one out, uses it, and gives it back.
#[derive(Debug)]
pub struct Pool {
    idle: Mutex<Vec<EvaluatorHandle>>,
    returned: Condvar,
    size: usize,
}

impl Pool {
    /// Starts `n` sandboxes.
    pub fn new(n: usize, cfg: &SpawnConfig) -> Result<Self, Error> {
        let handles =
            (0..n).map(|_| EvaluatorHandle::spawn(cfg.clone())).collect::<Result<Vec<_>, _>>()?;
        Ok(Self { idle: Mutex::new(handles), returned: Condvar::new(), size: n })
    }

    /// How many sandboxes the pool has.
    pub fn size(&self) -> usize {
        self.size
    }

    /// How many are idle now.
    pub fn idle(&self) -> usize {
        self.idle.lock().map(|v| v.len()).unwrap_or(0)
    }

    /// Takes an idle sandbox, waiting up to `timeout` for one.
    pub fn checkout(&self, timeout: Duration) -> Option<Lease<'_>> {
        let deadline = Instant::now() + timeout;
        let mut idle = self.idle.lock().ok()?;
        loop {
            if let Some(h) = idle.pop() {
                return Some(Lease { pool: self, handle: Some(h) });
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            idle = self.returned.wait_timeout(idle, left).ok()?.0;
        }
    }

    /// Runs one task of a job on any idle sandbox.
    pub fn run(
        &self,
        hash: ContentHash,
        code: &str,
        spec: &TaskSpec,
        on_event: &mut dyn FnMut(Event),
        wait: Duration,
    ) -> Result<TaskOutput, Error> {
        let mut lease = self
            .checkout(wait)
            .ok_or_else(|| Error::Sandbox { reason: "no idle sandbox in the pool".into() })?;
        lease.load_job(hash, code)?;
        lease.run(spec, on_event)
    }
}

/// A sandbox checked out of a [`Pool`]; returned when dropped.
#[derive(Debug)]
pub struct Lease<'a> {
    pool: &'a Pool,
    handle: Option<EvaluatorHandle>,
}

impl Deref for Lease<'_> {
    type Target = EvaluatorHandle;
    fn deref(&self) -> &EvaluatorHandle {
        // Always `Some` until drop.
        self.handle.as_ref().unwrap_or_else(|| unreachable!("lease used after drop"))
    }
}

impl DerefMut for Lease<'_> {
    fn deref_mut(&mut self) -> &mut EvaluatorHandle {
        self.handle.as_mut().unwrap_or_else(|| unreachable!("lease used after drop"))
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let (Some(h), Ok(mut idle)) = (self.handle.take(), self.pool.idle.lock()) {
            idle.push(h);
            self.pool.returned.notify_one();
        }
    }
}
