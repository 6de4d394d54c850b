//! Data fetch over real sockets: resumes after the provider restarts mid-transfer; a corrupted
//! chunk is caught by the hash check and its sender banned.

use std::time::Duration;

use futures::StreamExt;
use libp2p::{Multiaddr, noise, request_response, swarm::SwarmEvent, tcp, yamux};
use quorate_p2p::{
    Config, Error, Event, Message,
    fetch::{FetchConfig, fetch},
    guard::GuardConfig,
    identity::Purpose,
    protocol::{PROTOCOL, WireCodec},
    wire::DataChunk,
};
use quorate_primitives::ContentHash;

use crate::common::{CHAIN, keypair, node, proof, signer, start, wait_for, within};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_resumes_after_the_provider_restarts() {
    let data = blob(8 << 20, 7);
    let provider_key = keypair(60);
    let provider_signer = signer(60);
    // Tiny chunks make thousands of requests a second: above the default per-peer rate limit,
    // which would (rightly) ban the fetcher. Lift it for this provider.
    let guard = GuardConfig { rate_per_s: 1e6, burst: 1e6, ..GuardConfig::default() };
    let config = Config { guard, ..Config::test(provider_key.clone(), CHAIN) };
    let provider =
        start(config.clone(), proof(&provider_signer, &provider_key, Purpose::Client, 3600)).await;
    let hash = provider.client.put_content(data.clone()).await.unwrap();
    let listen: Multiaddr = provider.addr.iter().take(2).collect();

    let mut fetcher = node(61, &signer(61), Purpose::Worker).await;
    fetcher.client.dial(provider.addr.clone()).await.unwrap();
    let provider_peer = provider.peer;
    wait_for(&mut fetcher.events, 10, |e| {
        matches!(e, Event::PeerVerified { peer, .. } if peer == provider_peer).then_some(())
    })
    .await;
    // 2048 sequential round trips: still running when the provider stops.
    let slow = FetchConfig {
        chunk: 4 * 1024,
        window: 1,
        retry_initial: Duration::from_millis(100),
        ..FetchConfig::default()
    };
    let client = fetcher.client.clone();
    let task = tokio::spawn(async move { fetch(&client, &[provider_peer], hash, &slow).await });

    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(!task.is_finished(), "the transfer must still be running when the provider stops");
    drop(provider); // the event loop stops: connections and listener close
    tokio::time::sleep(Duration::from_millis(700)).await;
    let restarted = start(
        Config { listen: vec![listen], ..config },
        proof(&provider_signer, &provider_key, Purpose::Client, 3600),
    )
    .await;
    assert_eq!(restarted.client.put_content(data.clone()).await.unwrap(), hash);

    let fetched = within(60, task).await.unwrap().unwrap();
    assert!(fetched == data, "fetched bytes differ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_chunk_is_caught_and_its_sender_banned() {
    let data = blob(3 << 20, 9);
    let hash = ContentHash::of(&data);
    // A provider that proves its identity correctly but flips one byte of the second chunk.
    let liar_key = keypair(62);
    let liar_proof = proof(&signer(62), &liar_key, Purpose::Client, 3600);
    let mut liar = libp2p::SwarmBuilder::with_existing_identity(liar_key)
        .with_tokio()
        .with_tcp(tcp::Config::default(), noise::Config::new, yamux::Config::default)
        .unwrap()
        .with_behaviour(|_| {
            request_response::Behaviour::with_codec(
                WireCodec,
                [(PROTOCOL, request_response::ProtocolSupport::Full)],
                request_response::Config::default(),
            )
        })
        .unwrap()
        .build();
    liar.listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap()).unwrap();
    let liar_peer = *liar.local_peer_id();
    let liar_addr = loop {
        if let SwarmEvent::NewListenAddr { address, .. } = liar.select_next_some().await {
            break address.with(libp2p::multiaddr::Protocol::P2p(liar_peer));
        }
    };
    let served = data.clone();
    tokio::spawn(async move {
        loop {
            let SwarmEvent::Behaviour(request_response::Event::Message {
                message: request_response::Message::Request { request, channel, .. },
                ..
            }) = liar.select_next_some().await
            else {
                continue;
            };
            let answer = match request {
                Ok(Message::Hello(_)) => Message::HelloAck(liar_proof.clone()),
                Ok(Message::DataRequest(r)) => {
                    let start = r.offset as usize;
                    let end = (start + r.len as usize).min(served.len());
                    let mut bytes = served[start..end].to_vec();
                    if start > 0 && !bytes.is_empty() && start < 2 << 20 {
                        bytes[0] ^= 0x01;
                    }
                    Message::DataChunk(DataChunk {
                        hash: r.hash,
                        offset: r.offset,
                        total: served.len() as u64,
                        bytes,
                    })
                }
                _ => Message::Ack,
            };
            let _ = liar.behaviour_mut().send_response(channel, answer);
        }
    });

    let mut fetcher = node(63, &signer(63), Purpose::Worker).await;
    fetcher.client.dial(liar_addr).await.unwrap();
    let result =
        within(30, fetch(&fetcher.client, &[liar_peer], hash, &FetchConfig::default())).await;
    assert_eq!(result, Err(Error::ContentMismatch { expected: hash }));
    wait_for(&mut fetcher.events, 10, |e| {
        matches!(e, Event::Banned { peer, .. } if peer == liar_peer).then_some(())
    })
    .await;

    // With an honest provider beside the liar, the fetch succeeds from the honest one.
    let honest = node(64, &signer(64), Purpose::Client).await;
    assert_eq!(honest.client.put_content(data.clone()).await.unwrap(), hash);
    fetcher.client.dial(honest.addr.clone()).await.unwrap();
    let fetched = within(
        30,
        fetch(&fetcher.client, &[liar_peer, honest.peer], hash, &FetchConfig::default()),
    )
    .await
    .unwrap();
    assert!(fetched == data);
}
