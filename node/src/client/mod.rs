//! The client role: a job built and submitted from a wallet, followed as a stream of events
//! ([`stream`]: [`Client`], [`Job::builder`](crate::job::Job::builder), [`JobEvent`]); the pool
//! protocol's client side ([`submit`], [`session`]); pools' orders from gossip ([`orders`]);
//! and the chain side: buying a deal ([`deal`]), reading it back from any machine ([`report`],
//! [`deals`]), and settling what it left unfinished after its deadline ([`refund`]).

pub mod deal;
pub mod deals;
pub mod orders;
pub mod refund;
pub mod report;
pub mod session;
pub mod stream;
pub mod submit;

pub use stream::{Client, JobBuilder, JobEvent, JobStream, Terms};

/// Text from another party (a pool's refusal, a work function's console line, a platform's
/// name) as it may go to a terminal: control and bidirectional-override characters escaped, so
/// none acts on the terminal.
pub fn terminal_safe(text: &str) -> String {
    let mut shown = String::with_capacity(text.len());
    for c in text.chars() {
        let bidi = matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if c.is_control() || bidi {
            shown.extend(c.escape_unicode());
        } else {
            shown.push(c);
        }
    }
    shown
}
