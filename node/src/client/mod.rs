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
