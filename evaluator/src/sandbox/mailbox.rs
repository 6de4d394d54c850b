//! The mailbox: the `SharedArrayBuffer` through which the runtime (`runtime.js`) talks to the
//! host. Its layout and message kinds are defined here, once, and handed to the runtime when a
//! context boots ([`boundary_js`]), so both sides use the same names.
//!
//! Two ways across: a *message* (console text, "the promise settled", "a GPU request is
//! queued") is written to the buffer and announced by calling the host's notify function, which
//! reads it on the isolate thread while JavaScript waits ([`on_message`]); a *sample* (progress,
//! the count of console calls dropped) is only stored with `Atomics.store`, and the host reads it
//! from its own thread whenever it wakes ([`sample_progress`]), so `progress()` never calls the
//! host and costs no memory however often it is called.

use std::{
    sync::{
        Mutex,
        atomic::{AtomicU32, AtomicU64, Ordering},
        mpsc::SyncSender,
    },
    time::Instant,
};

use crate::{
    engine::Wake,
    ffi::SharedWords,
    sandbox::{ConsoleLevel, Event},
};

/// Byte offsets of the mailbox's fields.
pub(crate) mod layout {
    /// `f64`: the fraction of the latest `progress()` (−1: indeterminate).
    pub(crate) const FRACTION: usize = 0;
    /// `u32`: the [`super::Kind`] of the message being posted.
    pub(crate) const KIND: usize = 8;
    /// `u32`: the message's text length, in UTF-16 units.
    pub(crate) const LEN: usize = 12;
    /// `u32`: the progress sequence number, odd while the fraction is being written.
    pub(crate) const PROGRESS_SEQ: usize = 16;
    /// `u32`: console calls dropped this task (the budget ran out).
    pub(crate) const DROPPED: usize = 20;
    /// UTF-16 text of the message.
    pub(crate) const TEXT: usize = 32;
    /// Largest text, in UTF-16 units.
    pub(crate) const TEXT_CAP: usize = 32768;
}

/// The kinds of message the runtime posts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `console.log`, `info`, `debug`.
    Log,
    /// `console.warn`.
    Warn,
    /// `console.error`.
    Error,
    /// The task's promise settled (the runtime holds the outcome for `take`).
    Settled,
    /// `gpu.compute` queued a request.
    Gpu,
}

impl Kind {
    const ALL: [Self; 5] = [Self::Log, Self::Warn, Self::Error, Self::Settled, Self::Gpu];

    /// The number on the wire.
    pub(crate) const fn code(self) -> u32 {
        match self {
            Self::Log => 2,
            Self::Warn => 3,
            Self::Error => 4,
            Self::Settled => 5,
            Self::Gpu => 7,
        }
    }

    /// The name the runtime knows it by.
    const fn name(self) -> &'static str {
        match self {
            Self::Log => "log",
            Self::Warn => "warn",
            Self::Error => "error",
            Self::Settled => "settled",
            Self::Gpu => "gpu",
        }
    }

    fn from_code(code: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }
}

/// The mailbox's layout and kinds as a JavaScript object literal, the runtime's argument.
pub(crate) fn boundary_js() -> String {
    let kinds: Vec<String> =
        Kind::ALL.iter().map(|k| format!("{}: {}", k.name(), k.code())).collect();
    format!(
        "{{ fraction: {}, kind: {}, len: {}, progressSeq: {}, dropped: {}, text: {}, textCap: {}, kinds: {{ {} }} }}",
        layout::FRACTION,
        layout::KIND,
        layout::LEN,
        layout::PROGRESS_SEQ,
        layout::DROPPED,
        layout::TEXT,
        layout::TEXT_CAP,
        kinds.join(", ")
    )
}

/// What the listener hands the waiting host thread.
#[derive(Debug)]
pub(crate) enum Note {
    Event(Event),
    /// A wake-up: the promise settled or `gpu.compute` queued a request (both recorded in
    /// [`Shared`], so losing this note when the queue is full loses nothing).
    Wake,
}

/// State shared by the listener (isolate thread) and the host thread.
#[derive(Debug)]
pub(crate) struct Shared {
    /// When progress was last seen (the watchdog's reference).
    pub(crate) last_progress: Mutex<Instant>,
    /// The progress sequence number last turned into an event.
    pub(crate) progress_seen: AtomicU32,
    /// Events dropped because the queue was full.
    pub(crate) dropped: AtomicU64,
    /// Console bytes left this task.
    pub(crate) console_left: AtomicU64,
    /// The task's promise settled.
    pub(crate) settled: std::sync::atomic::AtomicBool,
    /// `gpu.compute` requests queued in the runtime and not yet served.
    pub(crate) gpu_requests: AtomicU64,
}

impl Shared {
    pub(crate) fn new() -> Self {
        Self {
            last_progress: Mutex::new(Instant::now()),
            progress_seen: AtomicU32::new(0),
            dropped: AtomicU64::new(0),
            console_left: AtomicU64::new(0),
            settled: std::sync::atomic::AtomicBool::new(false),
            gpu_requests: AtomicU64::new(0),
        }
    }

    /// Prepares for a task: nothing reported before it counts.
    pub(crate) fn start_task(&self, words: &SharedWords, console_bytes: u64, now: Instant) {
        if let Ok(mut t) = self.last_progress.lock() {
            *t = now;
        }
        self.progress_seen.store(words.load(layout::PROGRESS_SEQ).unwrap_or(0), Ordering::SeqCst);
        self.dropped.store(0, Ordering::Relaxed);
        self.console_left.store(console_bytes, Ordering::Relaxed);
        self.settled.store(false, Ordering::SeqCst);
        self.gpu_requests.store(0, Ordering::SeqCst);
    }

    /// Console calls and events dropped this task.
    pub(crate) fn dropped(&self, words: &SharedWords) -> u64 {
        self.dropped.load(Ordering::Relaxed) + u64::from(words.load(layout::DROPPED).unwrap_or(0))
    }
}

/// The latest progress, if it changed since it was last taken (from any thread: whoever takes a
/// sequence number first reports it). Resets the watchdog.
pub(crate) fn sample_progress(words: &SharedWords, shared: &Shared) -> Option<Event> {
    for _ in 0..8 {
        let seq = words.load(layout::PROGRESS_SEQ)?;
        if seq & 1 == 1 {
            std::hint::spin_loop();
            continue;
        }
        let lo = words.load(layout::FRACTION)?;
        let hi = words.load(layout::FRACTION + 4)?;
        if words.load(layout::PROGRESS_SEQ)? != seq {
            continue;
        }
        let seen = shared.progress_seen.load(Ordering::SeqCst);
        if seen == seq
            || shared
                .progress_seen
                .compare_exchange(seen, seq, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
        {
            return None;
        }
        if let Ok(mut t) = shared.last_progress.lock() {
            *t = Instant::now();
        }
        let f = f64::from_bits((u64::from(hi) << 32) | u64::from(lo));
        return Some(Event::Progress { fraction: (0.0..=1.0).contains(&f).then_some(f) });
    }
    None
}

/// Reads one message. Runs on the isolate thread while JS waits: no blocking.
pub(crate) fn on_message(
    bytes: &[u8],
    words: &SharedWords,
    tx: &SyncSender<Wake<Note>>,
    shared: &Shared,
) {
    let read_u32 =
        |at: usize| bytes.get(at..at + 4).and_then(|b| b.try_into().ok()).map(u32::from_le_bytes);
    let (Some(kind), Some(len)) = (read_u32(layout::KIND), read_u32(layout::LEN)) else {
        return;
    };
    let Some(kind) = Kind::from_code(kind) else { return };
    let level = match kind {
        Kind::Settled | Kind::Gpu => {
            if kind == Kind::Settled {
                shared.settled.store(true, Ordering::SeqCst);
            } else {
                shared.gpu_requests.fetch_add(1, Ordering::SeqCst);
            }
            // Only a wake-up: when the queue is full, the waiter wakes for what is in it.
            let _ = tx.try_send(Wake::Event(Note::Wake));
            return;
        }
        Kind::Log => ConsoleLevel::Log,
        Kind::Warn => ConsoleLevel::Warn,
        Kind::Error => ConsoleLevel::Error,
    };
    // Progress reported before this line comes before it.
    if let Some(p) = sample_progress(words, shared) {
        send(tx, shared, p);
    }
    let units: Vec<u16> = bytes
        .get(layout::TEXT..)
        .unwrap_or_default()
        .chunks_exact(2)
        .take(len as usize)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    let mut text = String::from_utf16_lossy(&units);
    let left = shared.console_left.load(Ordering::Relaxed);
    if left == 0 {
        shared.dropped.fetch_add(1, Ordering::Relaxed);
        return;
    }
    if text.len() as u64 > left {
        let mut cut = usize::try_from(left).unwrap_or(usize::MAX);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    shared.console_left.fetch_sub((text.len() as u64).min(left), Ordering::Relaxed);
    send(tx, shared, Event::Console { level, text });
}

/// Queues an event for the host thread; counts it as dropped when the queue is full.
pub(crate) fn send(tx: &SyncSender<Wake<Note>>, shared: &Shared, event: Event) {
    if tx.try_send(Wake::Event(Note::Event(event))).is_err() {
        shared.dropped.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_the_boundary_names_each_once() {
        for k in Kind::ALL {
            assert_eq!(Kind::from_code(k.code()), Some(k));
        }
        assert_eq!(Kind::from_code(1), None);
        let js = boundary_js();
        for k in Kind::ALL {
            assert_eq!(js.matches(&format!(" {}: {}", k.name(), k.code())).count(), 1, "{js}");
        }
    }
}
