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
}

/// A provider speaking our protocols from outside the crate: it proves its identity, serves one
/// blob on the data stream the way `serve` says, and reports each request's offset.
async fn provider(
    seed: u8,
    listen: Multiaddr,
    data: Vec<u8>,
    serve: Serve,
    offsets: mpsc::Sender<u64>,
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
                        let _ = offsets.try_send(request.offset);
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
    let header = DataHeader { hash: request.hash, total: data.len() as u64, pieces };
    stream.write_all(&Message::DataHeader(header).encode_frame().ok()?).await.ok()?;
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
    assert_eq!(within(10, offsets.recv()).await, Some(0));

    // …and comes back on the same address and key, now honest.
    let listen: Multiaddr = addr.iter().take(2).collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    provider(60, listen, data.clone(), Serve::Honest, offsets_tx).await;
    let fetched = within(60, task).await.unwrap().unwrap();
    assert!(fetched == data, "fetched bytes differ");
    // The second request asked only for what was missing: from a piece boundary after the
    // start, no later than the three pieces sent (those in flight when it died are lost).
    let resumed = within(10, offsets.recv()).await.unwrap();
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
