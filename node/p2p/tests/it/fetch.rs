//! Data fetch over real sockets: a provider that dies mid-transfer is asked again from the first
//! missing piece once it is back; a corrupted piece or a forged outline is caught by the hash
//! checks and its sender banned, and an honest provider beside it still serves the blob.

use std::time::Duration;

use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::{
    Multiaddr, PeerId, Stream, noise, request_response,
    swarm::{NetworkBehaviour, SwarmEvent},
    tcp, yamux,
};
use quorate_p2p::{
    Error, Event, Message,
    data::DATA_PROTOCOL,
    fetch::{FetchConfig, fetch},
    frame,
    identity::{IdentityProof, Purpose},
    protocol::{PROTOCOL, WireCodec},
    wire::{DataHeader, DataRequest},
};
use quorate_primitives::{ContentHash, Outline, PIECE_LEN};
use tokio::sync::mpsc;

use crate::common::{keypair, node, proof, signer, wait_for, within};

fn blob(len: usize, seed: u64) -> Vec<u8> {
    // xorshift: incompressible enough, reproducible.
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[derive(NetworkBehaviour)]
struct ProviderBehaviour {
    wire: request_response::Behaviour<WireCodec>,
    data: libp2p_stream::Behaviour,
}

/// How a hand-rolled provider misbehaves.
#[derive(Debug, Clone, Copy)]
enum Serve {
    /// Serves what is asked, honestly.
    Honest,
    /// Sends this many pieces of what is asked, then dies (its swarm and connections drop).
    DieAfter(usize),
    /// Flips one bit of the second piece.
    CorruptSecondPiece,
    /// Sends piece hashes that do not merge to the content hash.
    ForgedOutline,
    /// To a request that allows it, offers this direct port (and sends no bytes); serves
    /// honestly on the stream otherwise.
    OfferDirect(u16),
    /// Sends an outline that merges to the content hash but claims another length (the true
    /// piece hashes, or the hash itself as a one-piece blob), then closes without any bytes.
    WrongLengthThenClose,
}

/// A provider speaking our protocols from outside the crate: it proves its identity, serves one
/// blob on the data stream the way `serve` says, and reports each request's offset.
async fn provider(
    seed: u8,
    listen: Multiaddr,
    data: Vec<u8>,
    serve: Serve,
    offsets: mpsc::Sender<(u64, bool)>,
) -> Multiaddr {
    let key = keypair(seed);
    let hello: IdentityProof = proof(&signer(seed), &key, Purpose::Client, 3600);
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(tcp::Config::default(), noise::Config::new, yamux::Config::default)
        .unwrap()
        .with_behaviour(|_| ProviderBehaviour {
            wire: request_response::Behaviour::with_codec(
                WireCodec,
                [(PROTOCOL, request_response::ProtocolSupport::Full)],
                request_response::Config::default(),
            ),
            data: libp2p_stream::Behaviour::new(),
        })
        .unwrap()
        .build();
    let mut incoming = swarm.behaviour().data.new_control().accept(DATA_PROTOCOL).unwrap();
    swarm.listen_on(listen).unwrap();
    let peer = *swarm.local_peer_id();
    let addr = loop {
        if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
            break address.with(libp2p::multiaddr::Protocol::P2p(peer));
        }
    };
    let (died_tx, mut died) = mpsc::channel::<()>(1);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = died.recv() => return, // drops the swarm: every connection closes
                event = swarm.select_next_some() => {
                    let SwarmEvent::Behaviour(ProviderBehaviourEvent::Wire(
                        request_response::Event::Message {
                            message: request_response::Message::Request { request, channel, .. },
                            ..
                        },
                    )) = event
                    else {
                        continue;
                    };
                    let answer = match request {
                        Ok(Message::Hello(_)) => Message::HelloAck(hello.clone()),
                        _ => Message::Ack,
                    };
                    let _ = swarm.behaviour_mut().wire.send_response(channel, answer);
                }
                Some((_, mut stream)) = incoming.next() => {
                    let (data, offsets, died) = (data.clone(), offsets.clone(), died_tx.clone());
                    tokio::spawn(async move {
                        let Some(request) = read_request(&mut stream).await else { return };
                        let _ = offsets.try_send((request.offset, request.direct));
                        if answer(&mut stream, &request, &data, serve).await.is_none() {
                            let _ = died.send(()).await;
                        }
                    });
                }
            }
        }
    });
    addr
}

async fn read_request(stream: &mut Stream) -> Option<DataRequest> {
    let mut header = [0u8; frame::HEADER_LEN];
    stream.read_exact(&mut header).await.ok()?;
    let len = frame::decode_header(header, 1 << 20).ok()?;
    let mut payload = vec![0u8; len as usize];
    stream.read_exact(&mut payload).await.ok()?;
    match Message::decode(&payload).ok()? {
        Message::DataRequest(request) => Some(request),
        _ => None,
    }
}

/// Serves `request` as `serve` says; `None` when the provider is to die now.
async fn answer(
    stream: &mut Stream,
    request: &DataRequest,
    data: &[u8],
    serve: Serve,
) -> Option<()> {
    let mut pieces = Outline::of(data).pieces().to_vec();
    if let Serve::ForgedOutline = serve {
        pieces.swap(0, 1);
    }
    if let Serve::WrongLengthThenClose = serve {
        let total = if pieces.len() == 1 { 1 } else { data.len() as u64 - 1 };
        let header = DataHeader { hash: request.hash, total, pieces, direct_port: 0 };
        stream.write_all(&Message::DataHeader(header).encode_frame().ok()?).await.ok()?;
        return stream.close().await.ok();
    }
    let direct_port = match serve {
        Serve::OfferDirect(port) if request.direct => port,
        _ => 0,
    };
    let header = DataHeader { hash: request.hash, total: data.len() as u64, pieces, direct_port };
    stream.write_all(&Message::DataHeader(header).encode_frame().ok()?).await.ok()?;
    if direct_port != 0 {
        return stream.close().await.ok();
    }
    let start = request.offset as usize;
    for (i, piece) in data[start..].chunks(PIECE_LEN).enumerate() {
        if let Serve::DieAfter(n) = serve
            && i >= n
        {
            return None;
        }
        let mut piece = piece.to_vec();
        if let Serve::CorruptSecondPiece = serve
            && start / PIECE_LEN + i == 1
        {
            piece[1000] ^= 0x01;
        }
        stream.write_all(&piece).await.ok()?;
    }
    stream.close().await.ok()
}

fn loopback() -> Multiaddr {
    "/ip4/127.0.0.1/tcp/0".parse().unwrap()
}

fn quick() -> FetchConfig {
    FetchConfig { retry_initial: Duration::from_millis(100), ..FetchConfig::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_resumes_from_the_first_missing_piece_after_the_provider_restarts() {
    let data = blob(8 * PIECE_LEN + 12_345, 7);
    let hash = ContentHash::of(&data);
    let (offsets_tx, mut offsets) = mpsc::channel(16);
    // The provider dies after sending three pieces…
    let addr = provider(60, loopback(), data.clone(), Serve::DieAfter(3), offsets_tx.clone()).await;
    let provider_peer = match addr.iter().last() {
        Some(libp2p::multiaddr::Protocol::P2p(peer)) => peer,
        _ => unreachable!("the address ends in /p2p"),
    };
    let fetcher = node(61, &signer(61), Purpose::Worker).await;
    fetcher.client.dial(addr.clone()).await.unwrap();
    let client = fetcher.client.clone();
    let task = tokio::spawn(async move { fetch(&client, &[provider_peer], hash, &quick()).await });
    assert_eq!(within(10, offsets.recv()).await, Some((0, true)));

    // …and comes back on the same address and key, now honest.
    let listen: Multiaddr = addr.iter().take(2).collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    provider(60, listen, data.clone(), Serve::Honest, offsets_tx).await;
    let fetched = within(60, task).await.unwrap().unwrap();
    assert!(fetched == data, "fetched bytes differ");
    // The second request asked only for what was missing: from a piece boundary after the
    // start, no later than the three pieces sent (those in flight when it died are lost).
    let (resumed, _) = within(10, offsets.recv()).await.unwrap();
    assert!(resumed > 0 && resumed <= 3 * PIECE_LEN as u64, "resumed at {resumed}");
    assert_eq!(resumed % PIECE_LEN as u64, 0);
}

async fn caught_and_banned(serve: Serve, seed: u8) {
    let data = blob(3 * PIECE_LEN, 9);
    let hash = ContentHash::of(&data);
    let (offsets_tx, _offsets) = mpsc::channel(16);
    let liar_addr = provider(seed, loopback(), data.clone(), serve, offsets_tx).await;
    let liar: PeerId = match liar_addr.iter().last() {
        Some(libp2p::multiaddr::Protocol::P2p(peer)) => peer,
        _ => unreachable!("the address ends in /p2p"),
    };
    let mut fetcher = node(seed + 1, &signer(seed + 1), Purpose::Worker).await;
    fetcher.client.dial(liar_addr).await.unwrap();
    let result = within(30, fetch(&fetcher.client, &[liar], hash, &quick())).await;
    assert_eq!(result, Err(Error::ContentMismatch { expected: hash }), "{serve:?}");
    wait_for(&mut fetcher.events, 10, |e| {
        matches!(e, Event::Banned { peer, .. } if peer == liar).then_some(())
    })
    .await;

    // With an honest provider beside the liar, the fetch succeeds from the honest one.
    let honest = node(seed + 2, &signer(seed + 2), Purpose::Client).await;
    assert_eq!(honest.client.put_content(data.clone()).await.unwrap(), hash);
    fetcher.client.dial(honest.addr.clone()).await.unwrap();
    let fetched =
        within(30, fetch(&fetcher.client, &[liar, honest.peer], hash, &quick())).await.unwrap();
    assert!(fetched == data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_piece_is_caught_and_its_sender_banned() {
    caught_and_banned(Serve::CorruptSecondPiece, 62).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_outline_is_caught_and_its_sender_banned() {
    caught_and_banned(Serve::ForgedOutline, 66).await;
}

async fn provider_at(
    seed: u8,
    data: Vec<u8>,
    serve: Serve,
    offsets: mpsc::Sender<(u64, bool)>,
) -> Multiaddr {
    provider(seed, loopback(), data, serve, offsets).await
}

fn with_direct(seed: u8) -> quorate_p2p::Config {
    quorate_p2p::Config {
        direct_listen: Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
        ..quorate_p2p::Config::test(keypair(seed), crate::common::CHAIN)
    }
}

fn peer_of(addr: &Multiaddr) -> PeerId {
    match addr.iter().last() {
        Some(libp2p::multiaddr::Protocol::P2p(peer)) => peer,
        _ => unreachable!("the address ends in /p2p"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_direct_path_carries_the_bytes_and_falls_back_when_it_cannot() {
    let data = blob(3 * PIECE_LEN + 77, 11);
    // A provider with a direct listener: the bytes come over it.
    let provider = crate::common::start(
        with_direct(70),
        proof(&signer(70), &keypair(70), Purpose::Client, 3600),
    )
    .await;
    let hash = provider.client.put_content(data.clone()).await.unwrap();
    let fetcher = node(71, &signer(71), Purpose::Worker).await;
    fetcher.client.dial(provider.addr.clone()).await.unwrap();
    let fetched = within(30, fetch(&fetcher.client, &[provider.peer], hash, &quick())).await;
    assert!(fetched.unwrap() == data, "fetched bytes differ");
    assert_eq!(provider.client.stats().await.unwrap().direct_transfers, 1);
    // Asked not to, it sends them on the stream.
    let stream_only = FetchConfig { direct: false, ..quick() };
    let fetched = within(30, fetch(&fetcher.client, &[provider.peer], hash, &stream_only)).await;
    assert!(fetched.unwrap() == data, "fetched bytes differ");
    assert_eq!(provider.client.stats().await.unwrap().direct_transfers, 1);

    // A provider whose direct port cannot be reached: the fetch asks again on the stream.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (offsets_tx, mut offsets) = mpsc::channel(16);
    let addr = provider_at(72, data.clone(), Serve::OfferDirect(closed), offsets_tx).await;
    fetcher.client.dial(addr.clone()).await.unwrap();
    let fetched = within(30, fetch(&fetcher.client, &[peer_of(&addr)], hash, &quick())).await;
    assert!(fetched.unwrap() == data, "fetched bytes differ");
    assert_eq!(within(10, offsets.recv()).await, Some((0, true)));
    assert_eq!(within(10, offsets.recv()).await, Some((0, false)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_port_held_by_another_peer_is_refused() {
    let data = blob(2 * PIECE_LEN, 13);
    // An impostor: a real node holding the same blob, to which the fetcher is connected and
    // proven, so it would serve the fetcher if the fetcher talked to it.
    let impostor = crate::common::start(
        with_direct(73),
        proof(&signer(73), &keypair(73), Purpose::Client, 3600),
    )
    .await;
    let hash = impostor.client.put_content(data.clone()).await.unwrap();
    let fetcher = node(74, &signer(74), Purpose::Worker).await;
    fetcher.client.dial(impostor.addr.clone()).await.unwrap();
    within(10, fetcher.client.ready(impostor.peer)).await.unwrap();
    // The impostor serves this fetcher on its direct port.
    let fetched = within(30, fetch(&fetcher.client, &[impostor.peer], hash, &quick())).await;
    assert!(fetched.unwrap() == data);
    let impostor_port = impostor.client.direct_port().unwrap();
    assert_eq!(impostor.client.stats().await.unwrap().direct_transfers, 1);

    // A provider that points the fetcher at the impostor's port.
    let (offsets_tx, mut offsets) = mpsc::channel(16);
    let addr = provider_at(75, data.clone(), Serve::OfferDirect(impostor_port), offsets_tx).await;
    fetcher.client.dial(addr.clone()).await.unwrap();
    let fetched = within(30, fetch(&fetcher.client, &[peer_of(&addr)], hash, &quick())).await;
    assert!(fetched.unwrap() == data, "fetched bytes differ");
    // The TLS handshake refused the impostor's certificate: it served nothing more, and the
    // bytes came on the provider's own stream.
    assert_eq!(impostor.client.stats().await.unwrap().direct_transfers, 1);
    assert_eq!(within(10, offsets.recv()).await, Some((0, true)));
    assert_eq!(within(10, offsets.recv()).await, Some((0, false)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outline_with_a_false_length_does_not_get_honest_providers_blamed() {
    for (seed, data) in [(76u8, blob(3 * PIECE_LEN + 5000, 15)), (78, blob(700, 16))] {
        let hash = ContentHash::of(&data);
        let (offsets_tx, _offsets) = mpsc::channel(16);
        let liar = provider_at(seed, data.clone(), Serve::WrongLengthThenClose, offsets_tx).await;
        let honest = node(seed + 1, &signer(seed + 1), Purpose::Client).await;
        assert_eq!(honest.client.put_content(data.clone()).await.unwrap(), hash);
        let fetcher = node(seed + 100, &signer(seed + 100), Purpose::Worker).await;
        fetcher.client.dial(liar.clone()).await.unwrap();
        fetcher.client.dial(honest.addr.clone()).await.unwrap();
        let providers = [peer_of(&liar), honest.peer];
        let fetched = within(30, fetch(&fetcher.client, &providers, hash, &quick())).await;
        assert!(fetched.unwrap() == data, "fetched bytes differ");
        // Nobody was reported: the liar sent no bytes, the honest provider sent good ones.
        assert_eq!(fetcher.client.stats().await.unwrap().offences, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_empty_blob_crosses_both_paths() {
    let provider = crate::common::start(
        with_direct(90),
        proof(&signer(90), &keypair(90), Purpose::Client, 3600),
    )
    .await;
    let hash = provider.client.put_content(Vec::new()).await.unwrap();
    assert_eq!(hash, ContentHash::of(b""));
    let fetcher = node(91, &signer(91), Purpose::Worker).await;
    fetcher.client.dial(provider.addr.clone()).await.unwrap();
    let direct = within(30, fetch(&fetcher.client, &[provider.peer], hash, &quick())).await;
    assert_eq!(direct, Ok(Vec::new()));
    // The provider counts a direct transfer once its side is flushed, which can be just after
    // the fetcher of an empty blob is done.
    let counted = async {
        while provider.client.stats().await.unwrap().direct_transfers != 1 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    within(5, counted).await;
    let stream_only = FetchConfig { direct: false, ..quick() };
    let streamed = within(30, fetch(&fetcher.client, &[provider.peer], hash, &stream_only)).await;
    assert_eq!(streamed, Ok(Vec::new()));
}
