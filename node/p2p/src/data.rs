//! The data stream: blobs served by content hash on their own libp2p stream, `/quorate/data/1`.
//!
//! Bulk bytes never pass through the event loop and are never framed per chunk. A fetcher opens
//! a stream to a provider and sends one [`DataRequest`]; the provider answers with one frame and,
//! when it holds the blob, the requested bytes straight after it:
//!
//! ```text
//! fetcher ── frame(DataRequest{hash, offset, len}) ──▶ provider
//! fetcher ◀── frame(DataHeader{hash, total, piece hashes}) ── raw bytes [offset, end) ── close
//!        or ◀── frame(DataUnavailable{hash}) / frame(Refused{reason})
//! ```
//!
//! The header carries the blob's [`Outline`]: the fetcher checks that it merges to the content
//! hash it asked for, then checks each 1 MiB piece the moment it arrives ([`crate::fetch`]), so a
//! corrupted piece is blamed on the provider that sent it and everything before it is kept.
//!
//! The event loop admits each inbound stream as it would a request (the peer must have proven
//! its identity, pass the rate limit and not be banned); a serving task then reads the request,
//! with a deadline, from the shared [`Store`] and writes the bytes from the stored buffer
//! without copying them.
//!
//! Each blob has an [`Access`] rule: [`Access::Public`] (any proven peer may fetch it) or
//! [`Access::Only`] a set of Ethereum addresses, checked against the address the requester
//! proved ([`crate::identity`]). A scheduler puts a private job's data for the workers it assigns
//! and a deal's results for its client ([`crate::Client::put_content_for`], `grant`, `revoke`).
//! A request for a blob the requester may not fetch is answered exactly as one for a blob not
//! held, `DataUnavailable`, on the stream and on the direct path alike, so a peer cannot learn
//! what is held. At most [`crate::Config::max_data_streams`] transfers are served at once,
//! [`crate::Config::max_data_streams_per_peer`] of them for one peer, and each 1 MiB piece must
//! drain within the request deadline; a peer that sends a malformed request is scored like any
//! other offender.

use std::{
    collections::{BTreeSet, HashMap},
    io::Write,
    sync::atomic::{AtomicU64, Ordering},
    sync::{Arc, Mutex, PoisonError, RwLock},
    time::Duration,
};

use alloy_primitives::Address;
use futures::AsyncWriteExt;
use libp2p::{PeerId, Stream, StreamProtocol};
use quorate_primitives::{ContentHash, Outline, PIECE_LEN};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};
use tracing::debug;

use crate::{
    Error,
    direct::{self, DirectTls},
    guard::Offence,
    protocol::{read_message, write_frame},
    wire::{DataHeader, DataRequest, MAX_PIECES, Message},
};

/// The data stream's protocol id.
pub const DATA_PROTOCOL: StreamProtocol = StreamProtocol::new("/quorate/data/1");

/// Bytes that must drain within one deadline while serving: one piece, as on the direct path,
/// so a reader slower than a piece per deadline is cut off.
const WRITE_SLICE: usize = PIECE_LEN;

/// One blob held for serving, with its piece hashes computed once.
#[derive(Debug)]
pub(crate) struct Blob {
    pub(crate) bytes: Vec<u8>,
    pub(crate) outline: Outline,
}

impl Blob {
    pub(crate) fn new(bytes: Vec<u8>) -> Self {
        let outline = Outline::of(&bytes);
        Self { bytes, outline }
    }
}

/// Who may fetch a blob: checked against the address a requester proved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Any peer with a proven identity.
    Public,
    /// Only peers proven with one of these addresses.
    Only(BTreeSet<Address>),
}

impl Access {
    /// Only the peers proven with these addresses.
    pub fn only(addresses: impl IntoIterator<Item = Address>) -> Self {
        Self::Only(addresses.into_iter().collect())
    }

    /// True when a peer proven with `address` may fetch the blob.
    pub fn allows(&self, address: &Address) -> bool {
        match self {
            Self::Public => true,
            Self::Only(allowed) => allowed.contains(address),
        }
    }

    /// Widens this rule by `other`'s: the allowed sets merge, and public wins.
    pub fn merge(&mut self, other: Self) {
        match (self, other) {
            (Self::Public, _) => {}
            (this, Self::Public) => *this = Self::Public,
            (Self::Only(allowed), Self::Only(more)) => allowed.extend(more),
        }
    }
}

#[derive(Debug)]
struct Held {
    blob: Arc<Blob>,
    access: Access,
}

#[derive(Debug, Default)]
struct Blobs {
    by_hash: HashMap<ContentHash, Held>,
    bytes: u64,
}

/// The blobs this node serves, shared by its [`crate::Client`]s and the serving tasks.
#[derive(Debug, Clone, Default)]
pub(crate) struct Store {
    inner: Arc<RwLock<Blobs>>,
}

impl Store {
    /// Adds a blob for the peers `access` allows, unless that would hold more than `max_bytes`
    /// in all. A blob already held keeps its bytes and widens its access by `access`
    /// ([`Access::merge`]).
    pub(crate) fn put(
        &self,
        blob: Blob,
        access: Access,
        max_bytes: u64,
    ) -> Result<ContentHash, Error> {
        let hash = blob.outline.root();
        let size = blob.bytes.len() as u64;
        if blob.outline.pieces().len() > MAX_PIECES {
            return Err(Error::ContentTooLarge { size, max: (MAX_PIECES * PIECE_LEN) as u64 });
        }
        let mut blobs = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(held) = blobs.by_hash.get_mut(&hash) {
            held.access.merge(access);
            return Ok(hash);
        }
        let total = blobs.bytes.saturating_add(size);
        if total > max_bytes {
            return Err(Error::ContentTooLarge { size, max: max_bytes });
        }
        blobs.bytes = total;
        blobs.by_hash.insert(hash, Held { blob: Arc::new(blob), access });
        Ok(hash)
    }

    pub(crate) fn remove(&self, hash: &ContentHash) {
        let mut blobs = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(held) = blobs.by_hash.remove(hash) {
            blobs.bytes = blobs.bytes.saturating_sub(held.blob.bytes.len() as u64);
        }
    }

    /// The blob, if it is held and a peer proven with `address` may fetch it: the two cases
    /// are one answer, so the requester cannot tell them apart.
    pub(crate) fn get_for(&self, hash: &ContentHash, address: &Address) -> Option<Arc<Blob>> {
        let blobs = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        blobs
            .by_hash
            .get(hash)
            .filter(|held| held.access.allows(address))
            .map(|held| Arc::clone(&held.blob))
    }

    /// A held blob's access rule.
    pub(crate) fn access(&self, hash: &ContentHash) -> Option<Access> {
        let blobs = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        blobs.by_hash.get(hash).map(|held| held.access.clone())
    }

    /// Lets `address` fetch a held blob (a public blob stays public).
    pub(crate) fn grant(&self, hash: &ContentHash, address: Address) -> Result<(), Error> {
        self.with_access(hash, |access| match access {
            Access::Public => Ok(()),
            Access::Only(allowed) => {
                allowed.insert(address);
                Ok(())
            }
        })
    }

    /// Stops `address` from fetching a held, restricted blob. A public blob cannot be revoked
    /// from one address: [`Error::PublicContent`].
    pub(crate) fn revoke(&self, hash: &ContentHash, address: &Address) -> Result<(), Error> {
        self.with_access(hash, |access| match access {
            Access::Public => Err(Error::PublicContent { hash: *hash }),
            Access::Only(allowed) => {
                allowed.remove(address);
                Ok(())
            }
        })
    }

    fn with_access(
        &self,
        hash: &ContentHash,
        change: impl FnOnce(&mut Access) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut blobs = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        match blobs.by_hash.get_mut(hash) {
            Some(held) => change(&mut held.access),
            None => Err(Error::ContentUnavailable { hash: *hash, reason: "not held here".into() }),
        }
    }
}

/// The data-serving capacity, shared by the stream and direct paths: so many transfers in all,
/// and so many per peer, so one peer (slow on purpose or not) cannot take every slot.
#[derive(Debug, Clone)]
pub(crate) struct Slots {
    all: Arc<Semaphore>,
    capacity: usize,
    per_peer: usize,
    peers: Arc<Mutex<HashMap<PeerId, usize>>>,
}

/// One transfer's place in [`Slots`], given back when dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    _all: OwnedSemaphorePermit,
    peer: PeerId,
    peers: Arc<Mutex<HashMap<PeerId, usize>>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut peers = self.peers.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = peers.get_mut(&self.peer) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                peers.remove(&self.peer);
            }
        }
    }
}

impl Slots {
    pub(crate) fn new(capacity: usize, per_peer: usize) -> Self {
        Self { all: Arc::new(Semaphore::new(capacity)), capacity, per_peer, peers: Arc::default() }
    }

    /// A slot for `peer`, or why not (worth telling it).
    pub(crate) fn take(&self, peer: PeerId) -> Result<Slot, &'static str> {
        let mut peers = self.peers.lock().unwrap_or_else(PoisonError::into_inner);
        let count = peers.get(&peer).copied().unwrap_or(0);
        if count >= self.per_peer {
            return Err("busy: too many data streams from this peer");
        }
        let permit =
            Arc::clone(&self.all).try_acquire_owned().map_err(|_| "busy: too many data streams")?;
        peers.insert(peer, count.saturating_add(1));
        Ok(Slot { _all: permit, peer, peers: Arc::clone(&self.peers) })
    }
}

/// What a serving task needs besides its stream.
#[derive(Debug, Clone)]
pub(crate) struct Server {
    pub(crate) store: Store,
    /// The event loop (offences, admissions); weak, so serving never keeps the loop alive.
    pub(crate) to_loop: mpsc::WeakSender<ToLoop>,
    /// Longest wait for the request, and for each write to drain.
    pub(crate) deadline: Duration,
    /// The direct listener's port, 0 when there is none ([`crate::direct`]).
    pub(crate) direct_port: u16,
    /// Direct transfers completed.
    pub(crate) direct_transfers: Arc<AtomicU64>,
}

/// An inbound data request's answer: the refusal, or what to send.
enum Plan {
    Refuse(Message),
    Send { header: DataHeader, blob: Arc<Blob>, start: usize, end: usize },
}

/// What data serving tells or asks the event loop.
#[derive(Debug)]
pub(crate) enum ToLoop {
    /// A peer misbehaved on a data stream or direct connection.
    Offence(PeerId, Offence),
    /// Before TLS: is some peer with a proven identity connected from this address? Only then
    /// may a direct connection take a handshake slot.
    AdmitIp(std::net::IpAddr, oneshot::Sender<bool>),
    /// After TLS: may this peer be served now ([`crate::service`]'s `admit_data`), and with
    /// which proven address? `None`: not admitted.
    AdmitPeer(PeerId, oneshot::Sender<Option<Address>>),
}

impl Server {
    /// Serves one admitted stream to its end, for the peer proven with `address`; `slot` counts
    /// it against the concurrency caps.
    pub(crate) async fn serve(
        self,
        peer: PeerId,
        address: Address,
        mut stream: Stream,
        slot: Slot,
    ) {
        let request = match tokio::time::timeout(self.deadline, read_message(&mut stream)).await {
            Ok(Ok(Message::DataRequest(request))) => request,
            Ok(Ok(other)) => {
                debug!(target: "quorate::p2p", %peer, kind = other.kind().name(), "not a data request");
                self.report(peer, Offence::ProtocolViolation).await;
                return;
            }
            Ok(Err(e)) => {
                if let Some(offence) = crate::protocol::decode_failure(&e).and_then(Offence::of) {
                    self.report(peer, offence).await;
                }
                return;
            }
            Err(_) => return,
        };
        if let Err(e) = self.answer(&mut stream, &request, &address).await {
            debug!(target: "quorate::p2p", %peer, hash = %request.hash, "data stream ended: {e}");
        }
        drop(slot);
    }

    /// What to answer `request` from the peer proven with `address` with; `direct_port` goes
    /// into the header (0: bytes follow). A blob not held and one `address` may not fetch get
    /// the same answer.
    fn plan(&self, request: &DataRequest, address: &Address, direct_port: u16) -> Plan {
        let Some(blob) = self.store.get_for(&request.hash, address) else {
            return Plan::Refuse(Message::DataUnavailable { hash: request.hash });
        };
        let total = blob.bytes.len() as u64;
        if !request.offset.is_multiple_of(PIECE_LEN as u64) || request.offset > total {
            let reason = "offset is not a piece boundary inside the blob".to_string();
            return Plan::Refuse(Message::Refused { reason });
        }
        let header = DataHeader {
            hash: request.hash,
            total,
            pieces: blob.outline.pieces().to_vec(),
            direct_port,
        };
        let start = usize::try_from(request.offset).unwrap_or(usize::MAX);
        let end = usize::try_from(request.offset.saturating_add(request.len).min(total))
            .unwrap_or(usize::MAX);
        Plan::Send { header, blob, start, end: end.max(start) }
    }

    async fn answer(
        &self,
        stream: &mut Stream,
        request: &DataRequest,
        address: &Address,
    ) -> std::io::Result<()> {
        let direct_port = if request.direct { self.direct_port } else { 0 };
        let (header, blob, start, end) = match self.plan(request, address, direct_port) {
            Plan::Refuse(message) => return self.send(stream, &message).await,
            Plan::Send { header, blob, start, end } => (header, blob, start, end),
        };
        self.send(stream, &Message::DataHeader(header)).await?;
        if direct_port == 0 {
            for slice in blob.bytes.get(start..end).unwrap_or_default().chunks(WRITE_SLICE) {
                self.within(stream.write_all(slice)).await?;
            }
        }
        self.within(stream.close()).await
    }

    /// Serves one direct connection to its end. Blocking: runs on a blocking thread, with
    /// `runtime` to reach the event loop.
    fn serve_direct(
        &self,
        tls: &DirectTls,
        socket: std::net::TcpStream,
        slots: &Slots,
        handshake: OwnedSemaphorePermit,
        runtime: &tokio::runtime::Handle,
    ) {
        let (peer, mut session) = match direct::accept(tls, socket, self.deadline) {
            Ok(accepted) => accepted,
            Err(e) => {
                debug!(target: "quorate::p2p", "direct handshake failed: {e}");
                return;
            }
        };
        let Some(address) = runtime.block_on(self.ask(|reply| ToLoop::AdmitPeer(peer, reply)))
        else {
            let reason = "not admitted: prove your identity over libp2p first".to_string();
            let _ = direct::write_frame(&mut session, &Message::Refused { reason });
            return;
        };
        // Admitted: the connection now counts against the data cap, not the handshake cap.
        let _serving = match slots.take(peer) {
            Ok(slot) => slot,
            Err(reason) => {
                let reason = reason.to_string();
                let _ = direct::write_frame(&mut session, &Message::Refused { reason });
                return;
            }
        };
        drop(handshake);
        let request = match direct::read_frame(&mut session) {
            Ok(Message::DataRequest(request)) => request,
            Ok(_) => return runtime.block_on(self.report(peer, Offence::ProtocolViolation)),
            Err(e) => {
                if let Some(offence) = Offence::of(&e) {
                    runtime.block_on(self.report(peer, offence));
                }
                return;
            }
        };
        let result = match self.plan(&request, &address, 0) {
            Plan::Refuse(message) => direct::write_frame(&mut session, &message).map(|()| false),
            Plan::Send { header, blob, start, end } => {
                direct::write_frame(&mut session, &Message::DataHeader(header)).and_then(|()| {
                    // Each piece must drain within the deadline: a reader that trickles is cut
                    // off, not served for hours one byte at a time.
                    let bytes = blob.bytes.get(start..end).unwrap_or_default();
                    for piece in bytes.chunks(PIECE_LEN) {
                        direct::write_within(&mut session, piece, self.deadline)?;
                    }
                    session
                        .flush()
                        .map(|()| true)
                        .map_err(|e| Error::Transport { reason: format!("direct write: {e}") })
                })
            }
        };
        session.conn.send_close_notify();
        let _ = session.flush();
        match result {
            Ok(sent) => {
                if sent {
                    self.direct_transfers.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(e) => debug!(target: "quorate::p2p", %peer, "direct transfer ended: {e}"),
        }
    }

    async fn send(&self, stream: &mut Stream, message: &Message) -> std::io::Result<()> {
        self.within(write_frame(stream, message)).await
    }

    async fn within(&self, io: impl Future<Output = std::io::Result<()>>) -> std::io::Result<()> {
        tokio::time::timeout(self.deadline, io).await.unwrap_or_else(|_| {
            Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "reader stalled"))
        })
    }

    async fn report(&self, peer: PeerId, offence: Offence) {
        if let Some(to_loop) = self.to_loop.upgrade() {
            let _ = to_loop.send(ToLoop::Offence(peer, offence)).await;
        }
    }

    /// Asks the event loop; the default answer (no) when it has stopped.
    async fn ask<T: Default>(&self, make: impl FnOnce(oneshot::Sender<T>) -> ToLoop) -> T {
        let Some(to_loop) = self.to_loop.upgrade() else { return T::default() };
        let (reply, answer) = oneshot::channel();
        if to_loop.send(make(reply)).await.is_err() {
            return T::default();
        }
        answer.await.unwrap_or_default()
    }
}

/// Accepts direct connections until the event loop stops (`stop` closes). A connection is
/// dropped at once unless a peer with a proven identity is connected over libp2p from the same
/// address; it then takes one of `max_data_streams` handshake slots (the handshake has one
/// deadline in all), and once its peer is admitted, one of the data slots it shares with the
/// libp2p data streams. Each connection is served on its own blocking thread.
pub(crate) async fn accept_direct(
    listener: tokio::net::TcpListener,
    tls: DirectTls,
    server: Server,
    slots: Slots,
    mut stop: watch::Receiver<()>,
) {
    let runtime = tokio::runtime::Handle::current();
    let handshakes = Arc::new(Semaphore::new(slots.capacity.max(1)));
    loop {
        let (socket, from) = tokio::select! {
            _ = stop.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors or the like: wait, do not spin.
                    debug!(target: "quorate::p2p", "direct accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        if !server.ask(|reply| ToLoop::AdmitIp(from.ip().to_canonical(), reply)).await {
            continue; // nobody proven comes from there: dropped before any TLS work
        }
        let Ok(handshake) = Arc::clone(&handshakes).try_acquire_owned() else {
            continue; // busy: the connection is dropped
        };
        let Ok(socket) = socket.into_std().and_then(|s| s.set_nonblocking(false).map(|()| s))
        else {
            continue;
        };
        let (tls, server, slots, runtime) =
            (tls.clone(), server.clone(), slots.clone(), runtime.clone());
        tokio::task::spawn_blocking(move || {
            server.serve_direct(&tls, socket, &slots, handshake, &runtime);
        });
    }
}

/// Writes a refusal on a stream the event loop did not admit, then closes it.
pub(crate) async fn refuse(mut stream: Stream, reason: &str, deadline: Duration) {
    let refusal = Message::Refused { reason: reason.into() };
    let _ = tokio::time::timeout(deadline, async {
        write_frame(&mut stream, &refusal).await?;
        stream.close().await
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(byte: u8) -> Address {
        Address::repeat_byte(byte)
    }

    #[test]
    fn access_allows_its_addresses_and_merges_toward_public() {
        let (a, b, c) = (who(1), who(2), who(3));
        assert!(Access::Public.allows(&a));
        let only_a = Access::only([a]);
        assert!(only_a.allows(&a) && !only_a.allows(&b));
        let mut merged = only_a.clone();
        merged.merge(Access::only([b]));
        assert_eq!(merged, Access::only([a, b]));
        assert!(!merged.allows(&c));
        merged.merge(Access::Public);
        assert_eq!(merged, Access::Public);
        let mut public = Access::Public;
        public.merge(only_a);
        assert_eq!(public, Access::Public, "public wins either way");
        assert!(!Access::only([]).allows(&a), "an empty set allows nobody");
    }

    #[test]
    fn the_store_serves_a_blob_only_to_the_addresses_its_access_allows() {
        let store = Store::default();
        let (scheduler, worker, client) = (who(1), who(2), who(3));
        let hash = store.put(Blob::new(b"manifest".to_vec()), Access::only([scheduler]), 1 << 20);
        let hash = hash.unwrap();
        assert!(store.get_for(&hash, &scheduler).is_some());
        assert!(store.get_for(&hash, &worker).is_none());
        // Granted, then revoked.
        store.grant(&hash, worker).unwrap();
        assert!(store.get_for(&hash, &worker).is_some());
        store.revoke(&hash, &worker).unwrap();
        assert!(store.get_for(&hash, &worker).is_none());
        assert_eq!(store.access(&hash), Some(Access::only([scheduler])));
        // The same bytes put again for another address: both may fetch; bytes counted once.
        let again = store.put(Blob::new(b"manifest".to_vec()), Access::only([client]), 8);
        assert_eq!(again, Ok(hash), "held already: no room needed");
        assert_eq!(store.access(&hash), Some(Access::only([scheduler, client])));
        // Put public once: public for good, and a revoke says so.
        store.put(Blob::new(b"manifest".to_vec()), Access::Public, 1 << 20).unwrap();
        assert!(store.get_for(&hash, &worker).is_some());
        assert_eq!(store.revoke(&hash, &worker), Err(Error::PublicContent { hash }));
        store.grant(&hash, worker).unwrap();
        assert_eq!(store.access(&hash), Some(Access::Public));
        // Nothing to grant or revoke on a blob not held.
        let missing = ContentHash::of(b"missing");
        assert!(matches!(store.grant(&missing, worker), Err(Error::ContentUnavailable { .. })));
        assert!(matches!(store.revoke(&missing, &worker), Err(Error::ContentUnavailable { .. })));
        store.remove(&hash);
        assert!(store.get_for(&hash, &scheduler).is_none());
        assert_eq!(store.access(&hash), None);
    }

    #[test]
    fn a_blob_the_requester_may_not_fetch_is_answered_as_one_not_held() {
        let (to_loop, _from_serving) = mpsc::channel(1);
        let server = Server {
            store: Store::default(),
            to_loop: to_loop.downgrade(),
            deadline: Duration::from_secs(1),
            direct_port: 7,
            direct_transfers: Arc::default(),
        };
        let (owner, stranger) = (who(1), who(2));
        let held = server.store.put(Blob::new(vec![5; 100]), Access::only([owner]), 1 << 20);
        let held = held.unwrap();
        let missing = ContentHash::of(b"not held");
        let plan = |hash, address: &Address| {
            let request = DataRequest { hash, offset: 0, len: u64::MAX, direct: true };
            server.plan(&request, address, 7)
        };
        let refusal = |hash, address: &Address| match plan(hash, address) {
            Plan::Refuse(message) => Some(message),
            Plan::Send { .. } => None,
        };
        let Plan::Send { header, start, end, .. } = plan(held, &owner) else {
            panic!("the owner must be served");
        };
        assert_eq!((header.total, header.direct_port, start, end), (100, 7, 0, 100));
        // Not allowed and not held: the same answer, naming the hash asked for.
        assert_eq!(refusal(held, &stranger), Some(Message::DataUnavailable { hash: held }));
        assert_eq!(refusal(missing, &stranger), Some(Message::DataUnavailable { hash: missing }));
        assert_eq!(refusal(missing, &owner), Some(Message::DataUnavailable { hash: missing }));
    }
}
