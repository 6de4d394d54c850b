//! Network benchmarks on loopback, printed as a Markdown table:
//!
//! - request-response round trip (sequential) and messages/s (64 in flight), TCP and QUIC: a
//!   heartbeat answered by the receiving application;
//! - a 100 MB data fetch (streamed, every piece BLAKE3-verified) against a plain TCP copy of the
//!   same bytes, measured in the same run, with and without the receiver's hash check, and
//!   against the same copy encrypted with ChaCha20-Poly1305 (Noise's cipher) in 64 KiB frames:
//!   the ceiling any Noise-encrypted stream meets on this machine;
//! - the time 25 workers take to find a pool's scheduler from cold, with only a bootstrap
//!   address configured.
//!
//! Run: `cargo run --release -p quorate-p2p --example bench` (add `-- quick` for a short run,
//! `-- rtt`, `-- fetch` or `-- discovery` for one part).

#![allow(clippy::print_stdout, reason = "an example that prints its measurements")]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alloy_primitives::B256;
use alloy_signer_local::PrivateKeySigner;
use futures::{StreamExt, stream};
use libp2p::{Multiaddr, identity::Keypair, multiaddr::Protocol};
use quorate_p2p::{
    Client, Config, Message,
    config::{loopback_quic, loopback_tcp},
    fetch::{FetchConfig, fetch},
    guard::GuardConfig,
    identity::{IdentityProof, PoolId, Purpose},
    wire::Heartbeat,
};
use quorate_primitives::ContentHash;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CHAIN: u64 = 31337;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn signer(seed: u8) -> PrivateKeySigner {
    PrivateKeySigner::from_bytes(&B256::repeat_byte(seed)).expect("valid key")
}

fn keypair(seed: u8) -> Keypair {
    Keypair::ed25519_from_bytes([seed; 32]).expect("valid key")
}

async fn start(seed: u8, purpose: Purpose, mut config: Config) -> Result<(Client, Multiaddr)> {
    let signer = signer(seed);
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let peer = config.keypair.public().to_peer_id();
    let proof = IdentityProof::sign(&signer, signer.address(), &peer, purpose, CHAIN, now + 3600)?;
    config.event_buffer = 4096;
    let (client, mut events) = quorate_p2p::spawn(config, proof)?;
    let answering = client.clone();
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            if let quorate_p2p::Event::Request { responder, .. } = event {
                let _ = answering.respond(responder, Message::Ack).await;
            }
        }
    });
    let addr = client.listen_addrs().await?.first().cloned().ok_or("no listen address")?;
    Ok((client, addr.with(Protocol::P2p(peer))))
}

/// Two peers measuring the stack's limits: the per-peer rate limit (a policy, 200/s by
/// default) is lifted so it does not cap the figures.
fn pair_config(seed: u8, listen: Multiaddr) -> Config {
    let guard = GuardConfig { rate_per_s: 1e7, burst: 1e7, ..GuardConfig::default() };
    let direct_listen = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    Config { listen: vec![listen], guard, direct_listen, ..Config::test(keypair(seed), CHAIN) }
}

async fn rtt(
    transport: &str,
    listen: fn() -> Multiaddr,
    rounds: usize,
    burst: usize,
) -> Result<()> {
    let (server, addr) = start(1, Purpose::Client, pair_config(1, listen())).await?;
    let (client, _) = start(2, Purpose::Worker, pair_config(2, listen())).await?;
    client.dial(addr).await?;
    let pool = PoolId(9);
    let request = Message::Heartbeat(Heartbeat { pool, free_slots: 1, running: 0 });
    for _ in 0..50 {
        client.request(server.peer_id(), request.clone()).await?;
    }
    let mut samples = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        client.request(server.peer_id(), request.clone()).await?;
        samples.push(t.elapsed());
    }
    samples.sort();
    let p50 = samples[rounds / 2];
    let p99 = samples[rounds * 99 / 100];
    let t = Instant::now();
    let ok = stream::iter(0..burst)
        .map(|_| client.request(server.peer_id(), request.clone()))
        .buffer_unordered(64)
        .filter(|r| futures::future::ready(r.is_ok()))
        .count()
        .await;
    let rate = ok as f64 / t.elapsed().as_secs_f64();
    println!(
        "| request-response RTT, {transport} | p50 {:.0} µs, p99 {:.0} µs ({rounds} sequential) |",
        p50.as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6
    );
    println!("| messages/s, {transport} (64 in flight) | {rate:.0} ({ok}/{burst} answered) |");
    Ok(())
}

async fn plain_tcp(data: &[u8], verify: bool) -> Result<Duration> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let payload = data.to_vec();
    // The same kernel buffers as the direct data path asks for, so neither side gets an edge.
    let buffers = |socket: &tokio::net::TcpStream| {
        let sock = socket2::SockRef::from(socket);
        let _ = sock.set_send_buffer_size(4 << 20);
        let _ = sock.set_recv_buffer_size(4 << 20);
    };
    let sender = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await?;
        buffers(&socket);
        socket.write_all(&payload).await?;
        socket.shutdown().await
    });
    let t = Instant::now();
    let mut socket = tokio::net::TcpStream::connect(addr).await?;
    buffers(&socket);
    let mut received = Vec::with_capacity(data.len());
    socket.read_to_end(&mut received).await?;
    if verify && !ContentHash::of(data).verifies(&received) {
        return Err("plain copy corrupted".into());
    }
    let elapsed = t.elapsed();
    sender.await??;
    if received.len() != data.len() {
        return Err("short plain copy".into());
    }
    Ok(elapsed)
}

/// The plain copy again, every 64 KiB frame sealed with ChaCha20-Poly1305 by the sender and
/// opened by the receiver: what the cipher alone costs, without libp2p.
fn chacha_tcp(data: &[u8]) -> Result<Duration> {
    use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
    use std::io::{Read, Write};
    const FRAME: usize = 65_519; // Noise's largest plaintext per frame
    let key = || LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &[7; 32]).expect("key"));
    let nonce = |i: u64| {
        let mut n = [0u8; 12];
        n[4..].copy_from_slice(&i.to_le_bytes());
        Nonce::assume_unique_for_key(n)
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let payload = data.to_vec();
    let t = Instant::now();
    let sender = std::thread::spawn(move || -> std::io::Result<()> {
        let sealing = key();
        let mut socket = std::net::TcpStream::connect(addr)?;
        let mut frame = Vec::with_capacity(FRAME + 16);
        for (i, chunk) in payload.chunks(FRAME).enumerate() {
            frame.clear();
            frame.extend_from_slice(chunk);
            sealing
                .seal_in_place_append_tag(nonce(i as u64), Aad::empty(), &mut frame)
                .map_err(|_| std::io::Error::other("seal"))?;
            socket.write_all(&(frame.len() as u32).to_be_bytes())?;
            socket.write_all(&frame)?;
        }
        Ok(())
    });
    let (mut socket, _) = listener.accept()?;
    let opening = key();
    let mut received = vec![0u8; data.len()];
    let mut frame = vec![0u8; FRAME + 16];
    let (mut at, mut i) = (0, 0u64);
    while at < received.len() {
        let mut len = [0u8; 4];
        socket.read_exact(&mut len)?;
        let len = u32::from_be_bytes(len) as usize;
        let sealed = frame.get_mut(..len).ok_or("frame too long")?;
        socket.read_exact(sealed)?;
        let plain = opening.open_in_place(nonce(i), Aad::empty(), sealed).map_err(|_| "open")?;
        received[at..at + plain.len()].copy_from_slice(plain);
        at += plain.len();
        i += 1;
    }
    let elapsed = t.elapsed();
    sender.join().map_err(|_| "sender panicked")??;
    if received != data {
        return Err("encrypted copy corrupted".into());
    }
    Ok(elapsed)
}

/// Median and range of a set of timings, as MB/s for `mb` megabytes.
fn rates(mb: f64, times: &mut [Duration]) -> (f64, f64, f64) {
    times.sort();
    let rate = |d: &Duration| mb / d.as_secs_f64();
    let median = times.get(times.len() / 2).map_or(0.0, rate);
    let slowest = times.last().map_or(0.0, rate);
    let fastest = times.first().map_or(0.0, rate);
    (median, slowest, fastest)
}

async fn throughput(size: usize, rounds: usize) -> Result<()> {
    let data: Vec<u8> = (0..size)
        .map(|i| (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes()[0])
        .collect();
    let mb = size as f64 / 1e6;
    let mut pairs = Vec::new();
    for (transport, listen) in [("TCP", loopback_tcp as fn() -> Multiaddr), ("QUIC", loopback_quic)]
    {
        let (server, addr) = start(3, Purpose::Client, pair_config(3, listen())).await?;
        let (client, _) = start(4, Purpose::Worker, pair_config(4, listen())).await?;
        let hash = server.put_content(data.clone()).await?;
        client.dial(addr).await?;
        // Warm the connection (identity handshake, stream windows) with a small blob.
        let warm = server.put_content(vec![1; 1 << 20]).await?;
        fetch(&client, &[server.peer_id()], warm, &FetchConfig::default()).await?;
        pairs.push((transport, server, client, hash));
    }
    let stream_only = FetchConfig { direct: false, ..FetchConfig::default() };
    let direct = FetchConfig::default();
    // Every measure once per round, interleaved, so a noisy moment hits them all alike.
    let names = [
        "plain TCP copy".to_string(),
        "plain TCP copy + the receiver's BLAKE3 check".to_string(),
        "the plain copy sealed with ChaCha20-Poly1305 (Noise's cipher), no libp2p".to_string(),
        "data fetch, TCP, libp2p data stream (Noise, Yamux)".to_string(),
        "data fetch, TCP, direct TLS connection (AES-GCM)".to_string(),
        "data fetch, QUIC, libp2p data stream".to_string(),
    ];
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); names.len()];
    for _ in 0..rounds {
        times[0].push(plain_tcp(&data, false).await?);
        times[1].push(plain_tcp(&data, true).await?);
        let sealed = data.clone();
        times[2].push(
            tokio::task::spawn_blocking(move || chacha_tcp(&sealed).map_err(|e| e.to_string()))
                .await??,
        );
        for (k, (_, server, client, hash), config) in
            [(3, &pairs[0], &stream_only), (4, &pairs[0], &direct), (5, &pairs[1], &stream_only)]
        {
            let t = Instant::now();
            let fetched = fetch(client, &[server.peer_id()], *hash, config).await?;
            times[k].push(t.elapsed());
            if fetched != data {
                return Err("fetch returned other bytes".into());
            }
        }
    }
    if pairs[0].1.stats().await?.direct_transfers < rounds as u64 {
        return Err("the direct path was not taken".into());
    }
    let (plain, _, _) = rates(mb, &mut times[0]);
    for (name, mut t) in names.iter().zip(times) {
        let (median, slowest, fastest) = rates(mb, &mut t);
        println!(
            "| {name}, {mb:.0} MB | {median:.0} MB/s ({slowest:.0}–{fastest:.0}): {:.0} % of the plain copy |",
            median / plain * 100.0
        );
    }
    Ok(())
}

async fn discovery(workers: u8) -> Result<()> {
    let pool = PoolId(0x42);
    let owner = signer(100);
    let (_bootstrap, bootstrap_addr) =
        start(101, Purpose::Client, Config::test(keypair(101), CHAIN)).await?;
    let scheduler_config =
        Config { bootstrap: vec![bootstrap_addr.clone()], ..Config::test(keypair(100), CHAIN) };
    let (scheduler, _) = start(100, Purpose::Scheduler { pool }, scheduler_config).await?;
    scheduler.provide(pool).await?;
    let t = Instant::now();
    let mut clients = Vec::new();
    for i in 0..workers {
        let config = Config {
            bootstrap: vec![bootstrap_addr.clone()],
            dht_server: false,
            ..Config::test(keypair(110 + i), CHAIN)
        };
        clients.push(start(110 + i, Purpose::Worker, config).await?.0);
    }
    let found = futures::future::join_all(clients.iter().map(|c| {
        tokio::time::timeout(Duration::from_secs(60), c.find_scheduler(pool, owner.address()))
    }))
    .await;
    let elapsed = t.elapsed();
    let ok =
        found.into_iter().filter(|r| matches!(r, Ok(Ok(p)) if *p == scheduler.peer_id())).count();
    println!(
        "| {workers} workers discover the scheduler from cold (start + DHT lookup + dial + identity) | {:.0} ms ({ok}/{workers} found) |",
        elapsed.as_secs_f64() * 1e3
    );
    Ok(())
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<()> {
    let quick = std::env::args().any(|a| a == "quick");
    let (rounds, burst, size) =
        if quick { (200, 2000, 10_000_000) } else { (2000, 20_000, 100_000_000) };
    let only = |part: &str| {
        let parts = ["rtt", "fetch", "discovery"];
        let named: Vec<String> = std::env::args().filter(|a| parts.contains(&a.as_str())).collect();
        named.is_empty() || named.iter().any(|a| a == part)
    };
    println!("| measure | result |\n|---|---|");
    if only("rtt") {
        rtt("TCP", loopback_tcp, rounds, burst).await?;
        rtt("QUIC", loopback_quic, rounds, burst).await?;
    }
    if only("fetch") {
        throughput(size, if quick { 2 } else { 5 }).await?;
    }
    if only("discovery") {
        discovery(25).await?;
    }
    Ok(())
}
