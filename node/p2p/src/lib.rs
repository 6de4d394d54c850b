//! # quorate-p2p
//!
//! The network schedulers, workers and clients share (docs/architecture.md §3): a libp2p swarm
//! with discovery, the versioned wire protocol, and the binding of peer ids to Ethereum
//! addresses. Depends on `quorate-primitives` among our crates; the node wires it to the rest.
//!
//! ## What it owns
//!
//! | module | contents |
//! |---|---|
//! | [`frame`] | length-prefixed, size-capped frames: the envelope of every wire message |
//! | [`wire`] | every message, pure encode/decode, per-kind size caps, strict decoding |
//! | [`identity`] | EIP-191 identity proofs binding a peer id to an address and a purpose; join credentials |
//! | [`guard`] | per-peer rate limits, misbehaviour scores and timed bans (pure, clock passed in) |
//! | [`config`] | [`Config`]: documented defaults and `validate()` |
//! | [`protocol`] | the request-response codec on `/quorate/wire/1` |
//! | [`service`] | the network actor: its [`Client`] handle and [`Event`]s, a thin event loop owning the swarm, and the pure state machines it applies (per-peer sessions, scheduler discovery, admission) |
//! | [`data`] | the data stream `/quorate/data/1`: blobs served by content hash, off the event loop, each to the proven addresses its [`data::Access`] allows |
//! | [`direct`] | the direct data path: blob bytes on their own TLS 1.3 (AES-GCM) connection, peers authenticated by libp2p certificates |
//! | [`fetch`] | streamed, resumable data fetch by content hash, every 1 MiB piece verified on arrival |
//!
//! ## Data flow
//!
//! ```text
//!             Client (clone per task) ──bounded commands──▶ EventLoop ──▶ libp2p Swarm
//!  application ◀──bounded events (Request, Announcement, PeerVerified, Banned…)──┘  │
//!                                                                                    │
//!  Swarm: TCP+Noise+Yamux, QUIC │ identify, ping │ Kademlia (pool providers) │ mDNS (devnets)
//!         gossipsub (announcements, orders) │ request-response /quorate/wire/1 (frames)
//!         libp2p-stream /quorate/data/1 (blobs: admitted by the loop, served by their own tasks)
//!         connection limits │ block list (timed bans from the guard)
//! ```
//!
//! A peer's session: connected → both sides send `Hello(IdentityProof)` and answer
//! `HelloAck(IdentityProof)`; a peer is *verified* once its proof checks out and *ready* once it
//! acknowledged ours. Only then do other requests flow; anything earlier is refused and scored.
//! Forged proofs, oversized or undecodable frames, floods and role violations add to a score
//! that ends in a disconnect and a timed ban.
//!
//! ## What the application still checks
//!
//! - Signed pool orders arrive as [`Event::Order`] unverified: their EIP-712 signature is the
//!   contracts crate's to check.
//! - A pool's owner is known here only when configured ([`Config::pool_owners`]) or given to
//!   [`Client::find_scheduler`]; otherwise announcements arrive with `owner_confirmed: false`
//!   and the chain must be asked. Scheduler proofs for known pools are refused unless signed by
//!   the owner.
//! - A task assignment's authorization: [`wire::TaskAssignment::check_authorization`] (the one
//!   `quorate_primitives::TaskAuthorization` type, round included).
//! - A job offer's pool, order, task count and trust, and which deals a client may ask about:
//!   the admission only checks who may send each request ([`wire::Message::senders`]).
//!
//! ## Example: a worker finds its pool's scheduler and asks to join
//!
//! ```no_run
//! # async fn example(
//! #     worker_key: libp2p::identity::Keypair,
//! #     proof: quorate_p2p::identity::IdentityProof,
//! #     bootstrap: libp2p::Multiaddr,
//! #     pool: quorate_p2p::identity::PoolId,
//! #     owner: alloy_primitives::Address,
//! # ) -> Result<(), quorate_p2p::Error> {
//! use quorate_p2p::{Config, Message, wire::{WorkerCapabilities, JoinRequest, evaluators}};
//!
//! let config = Config { bootstrap: vec![bootstrap], dht_server: false, ..Config::new(worker_key, 1) };
//! let (client, mut events) = quorate_p2p::spawn(config, proof)?;
//! let scheduler = client.find_scheduler(pool, owner).await?;
//! let capabilities = WorkerCapabilities { slots: 3, memory_mib: 512, evaluators: evaluators::JS, gpu_class: None, gpu_memory_mib: 0, float_probe: None };
//! let answer = client
//!     .request(scheduler, Message::JoinRequest(JoinRequest { pool, capabilities, credential: None }))
//!     .await?;
//! # let _ = (answer, events.recv().await);
//! # Ok(())
//! # }
//! ```
//!
//! ## Frames
//!
//! ```text
//! ┌────────────┬──────────────┬────────────────────────────────────┐
//! │ version u8 │ length u32be │ payload: kind u8, fields (≤ cap)   │
//! └────────────┴──────────────┴────────────────────────────────────┘
//! ```
//!
//! ```
//! use quorate_p2p::{Message, wire::RevealRequest};
//! use quorate_primitives::TaskId;
//!
//! let message = Message::RevealRequest(RevealRequest { task: TaskId::default() });
//! let bytes = message.encode_frame()?;
//! assert_eq!(bytes[..6], [1, 0, 0, 0, 33, 11]); // version 1, 33-byte payload, kind 11
//! assert_eq!(Message::decode_frame(&bytes)?, message);
//! # Ok::<(), quorate_p2p::Error>(())
//! ```

mod codec;
pub mod config;
pub mod data;
pub mod direct;
pub mod error;
pub mod fetch;
pub mod frame;
pub mod guard;
pub mod identity;
pub mod protocol;
pub mod service;
pub mod wire;

pub use config::Config;
pub use error::Error;
/// The libp2p types the API speaks, so a user needs no libp2p dependency of its own.
pub use libp2p::{Multiaddr, PeerId, identity::Keypair, multiaddr};
pub use service::{Client, Event, Responder, spawn};
pub use wire::Message;
