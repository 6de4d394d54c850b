//! Hostile peers: oversized frames, garbage, floods and half-open connections. The offender is
//! banned (or, without an identity, cut off), honest traffic goes on, nothing panics.

use std::{io, time::Duration};

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, StreamExt, future::join_all};
use libp2p::{
    Multiaddr, PeerId, StreamProtocol, Swarm, noise, request_response, swarm::SwarmEvent, tcp,
    yamux,
};
use quorate_p2p::{
    Config, Event, Message,
    fetch::{FetchConfig, fetch},
    guard::{GuardConfig, Offence},
    identity::Purpose,
    protocol::PROTOCOL,
    wire::Heartbeat,
};
use quorate_primitives::ContentHash;
use tokio::{io::AsyncReadExt as _, io::AsyncWriteExt as _, net::TcpStream};

use crate::common::{CHAIN, Node, POOL, keypair, node, proof, signer, start, wait_for, within};

/// Writes whatever bytes it is given on our protocol: a peer that speaks libp2p correctly but
/// our wire protocol wrongly.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

impl request_response::Codec for RawCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Vec<u8>> {
        read_capped(io).await
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Vec<u8>> {
        read_capped(io).await
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Vec<u8>,
    ) -> io::Result<()> {
        io.write_all(&req).await?;
        io.close().await
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Vec<u8>,
    ) -> io::Result<()> {
        io.write_all(&res).await?;
        io.close().await
    }
}

/// Reads a whole raw message, at most 64 KiB.
async fn read_capped<T: AsyncRead + Unpin + Send>(io: &mut T) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    io.take(64 * 1024).read_to_end(&mut out).await?;
    Ok(out)
}

fn raw_swarm(seed: u8) -> Swarm<request_response::Behaviour<RawCodec>> {
    libp2p::SwarmBuilder::with_existing_identity(keypair(seed))
        .with_tokio()
        .with_tcp(tcp::Config::default(), noise::Config::new, yamux::Config::default)
        .unwrap()
        .with_behaviour(|_| {
            request_response::Behaviour::with_codec(
                RawCodec,
                [(PROTOCOL, request_response::ProtocolSupport::Full)],
                request_response::Config::default().with_request_timeout(Duration::from_secs(5)),
            )
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(30)))
        .build()
}

/// Connects the raw swarm to `target` and sends each payload as a request.
async fn attack(
    swarm: &mut Swarm<request_response::Behaviour<RawCodec>>,
    target: PeerId,
    addr: Multiaddr,
    payloads: Vec<Vec<u8>>,
) {
    swarm.dial(addr).unwrap();
    within(10, async {
        loop {
            if let SwarmEvent::ConnectionEstablished { peer_id, .. } =
                swarm.select_next_some().await
                && peer_id == target
            {
                break;
            }
        }
    })
    .await;
    for payload in payloads {
        swarm.behaviour_mut().send_request(&target, payload);
    }
    // Drive the swarm until the target closes on us.
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. } =
                swarm.select_next_some().await
                && peer_id == target
            {
                break;
            }
        }
    })
    .await;
}

fn victim_config(seed: u8) -> Config {
    Config {
        guard: GuardConfig { rate_per_s: 20.0, burst: 20.0, ..GuardConfig::default() },
        handshake_timeout: Duration::from_secs(1),
        max_pending_incoming: 128,
        ..Config::test(keypair(seed), CHAIN)
    }
}

async fn victim(seed: u8) -> Node {
    let config = victim_config(seed);
    start(
        config.clone(),
        proof(&signer(seed), &config.keypair, Purpose::Scheduler { pool: POOL }, 3600),
    )
    .await
}

/// An honest worker's data fetch (admitted like any request) still gets its bytes.
async fn honest_round_trip(honest: &Node, victim: &Node, hash: ContentHash) {
    let fetched = within(10, fetch(&honest.client, &[victim.peer], hash, &once())).await;
    assert!(fetched.is_ok_and(|bytes| ContentHash::of(&bytes) == hash));
}

fn once() -> FetchConfig {
    FetchConfig { attempts: 1, stall: Duration::from_secs(3), ..FetchConfig::default() }
}

async fn banned(victim: &mut Node, offender: PeerId) -> Offence {
    wait_for(&mut victim.events, 15, |e| match e {
        Event::Banned { peer, offence } if peer == offender => Some(offence),
        _ => None,
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_frames_and_garbage_get_the_sender_banned() {
    let mut target = victim(30).await;
    let hash = target.client.put_content(b"honest data".to_vec()).await.unwrap();
    let honest = node(31, &signer(31), Purpose::Worker).await;
    honest.client.dial(target.addr.clone()).await.unwrap();
    honest_round_trip(&honest, &target, hash).await;

    // A frame header declaring 256 MiB: refused from its header, the sender banned.
    let mut big = raw_swarm(32);
    let big_peer = *big.local_peer_id();
    let mut oversized = vec![1];
    oversized.extend_from_slice(&(256u32 << 20).to_be_bytes());
    oversized.extend_from_slice(&[0; 1024]);
    let (peer, addr) = (target.peer, target.addr.clone());
    let (offence, ()) = tokio::join!(
        banned(&mut target, big_peer),
        attack(&mut big, peer, addr.clone(), vec![oversized])
    );
    assert_eq!(offence, Offence::Oversized);
    honest_round_trip(&honest, &target, hash).await;

    // Garbage: an unknown version, a truncated message, a response kind sent as a request.
    let mut junk = raw_swarm(33);
    let junk_peer = *junk.local_peer_id();
    let garbage = vec![
        vec![7, 1, 2, 3, 4, 5, 6],
        vec![1, 0, 0, 0, 9, 8, 0],
        Message::Ack.encode_frame().unwrap(),
    ];
    let (offence, ()) =
        tokio::join!(banned(&mut target, junk_peer), attack(&mut junk, peer, addr, garbage));
    assert!(matches!(offence, Offence::Malformed | Offence::ProtocolViolation), "{offence:?}");
    honest_round_trip(&honest, &target, hash).await;

    // A banned peer cannot come back.
    junk.dial(target.addr.clone()).unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            junk.select_next_some().await;
        }
    })
    .await;
    assert!(!junk.is_connected(&target.peer), "a banned peer must not stay connected");
    let stats = target.client.stats().await.unwrap();
    assert_eq!(stats.banned, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_peer_is_banned_while_honest_traffic_goes_on() {
    let ban = Duration::from_secs(6);
    let mut config = victim_config(40);
    config.guard.ban = ban;
    let purpose = Purpose::Scheduler { pool: POOL };
    let mut target =
        start(config.clone(), proof(&signer(40), &config.keypair, purpose, 3600)).await;
    let hash = target.client.put_content(b"honest data".to_vec()).await.unwrap();
    let honest = node(41, &signer(41), Purpose::Worker).await;
    let flooder = node(42, &signer(42), Purpose::Worker).await;
    honest.client.dial(target.addr.clone()).await.unwrap();
    flooder.client.dial(target.addr.clone()).await.unwrap();
    honest_round_trip(&honest, &target, hash).await;

    // A verified worker sends far more than its rate allows.
    let heartbeat = Message::Heartbeat(Heartbeat { pool: POOL, free_slots: 0, running: 0 });
    let flood = join_all((0..300).map(|_| flooder.client.request(target.peer, heartbeat.clone())));
    let (offence, _) = tokio::join!(banned(&mut target, flooder.peer), flood);
    let banned_at = std::time::Instant::now();
    assert_eq!(offence, Offence::Flood);
    assert!(within(5, fetch(&flooder.client, &[target.peer], hash, &once())).await.is_err());
    assert!(banned_at.elapsed() < ban, "the refusal must come while the ban holds");
    honest_round_trip(&honest, &target, hash).await;
    // The ban is timed: once it ends the peer is served again.
    tokio::time::sleep((ban + Duration::from_millis(600)).saturating_sub(banned_at.elapsed()))
        .await;
    let fetched = within(10, fetch(&flooder.client, &[target.peer], hash, &once())).await;
    assert!(fetched.is_ok(), "{fetched:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_connections_and_raw_garbage_are_cut_off() {
    let target = victim(50).await;
    let hash = target.client.put_content(b"honest data".to_vec()).await.unwrap();
    let tcp_addr = target.client.listen_addrs().await.unwrap().into_iter().find_map(|a| {
        let mut ip = None;
        let mut port = None;
        for p in a.iter() {
            match p {
                libp2p::multiaddr::Protocol::Ip4(i) => ip = Some(i),
                libp2p::multiaddr::Protocol::Tcp(p) => port = Some(p),
                _ => {}
            }
        }
        Some(std::net::SocketAddr::from((ip?, port?)))
    });
    let tcp_addr = tcp_addr.expect("a TCP listener");
    // 40 connections that never finish a handshake, and 10 that send garbage.
    let mut silent = Vec::new();
    for _ in 0..40 {
        silent.push(TcpStream::connect(tcp_addr).await.unwrap());
    }
    let mut noisy = Vec::new();
    for i in 0..10u8 {
        let mut s = TcpStream::connect(tcp_addr).await.unwrap();
        let _ = s.write_all(&[i; 4096]).await;
        noisy.push(s);
    }
    // Honest traffic goes on meanwhile.
    let honest = node(51, &signer(51), Purpose::Worker).await;
    honest.client.dial(target.addr.clone()).await.unwrap();
    honest_round_trip(&honest, &target, hash).await;
    // Every one of them is closed by the target within the handshake timeout (1 s here).
    for mut socket in silent.into_iter().chain(noisy) {
        let mut buf = [0u8; 1024];
        let closed = within(10, async {
            loop {
                match socket.read(&mut buf).await {
                    Ok(0) | Err(_) => return true,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(closed);
    }
    honest_round_trip(&honest, &target, hash).await;
}

#[derive(libp2p::swarm::NetworkBehaviour)]
struct DataAttacker {
    wire: request_response::Behaviour<quorate_p2p::protocol::WireCodec>,
    data: libp2p_stream::Behaviour,
}

fn data_attacker(seed: u8) -> Swarm<DataAttacker> {
    libp2p::SwarmBuilder::with_existing_identity(keypair(seed))
        .with_tokio()
        .with_tcp(tcp::Config::default(), noise::Config::new, yamux::Config::default)
        .unwrap()
        .with_behaviour(|_| DataAttacker {
            wire: request_response::Behaviour::with_codec(
                quorate_p2p::protocol::WireCodec,
                [(PROTOCOL, request_response::ProtocolSupport::Full)],
                request_response::Config::default(),
            ),
            data: libp2p_stream::Behaviour::new(),
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(30)))
        .build()
}

/// A data attacker connected to `target` and driven in the background; with `prove`, it first
/// proves its identity (Hello answered by HelloAck). Returns its peer id and stream control.
async fn connected_data_attacker(
    seed: u8,
    target: &Node,
    prove: bool,
) -> (PeerId, libp2p_stream::Control) {
    let mut attacker = data_attacker(seed);
    let control = attacker.behaviour().data.new_control();
    let peer = *attacker.local_peer_id();
    attacker.dial(target.addr.clone()).unwrap();
    if prove {
        let hello = Message::Hello(proof(&signer(seed), &keypair(seed), Purpose::Worker, 3600));
        attacker.behaviour_mut().wire.send_request(&target.peer, Ok(hello));
        within(10, async {
            loop {
                if let SwarmEvent::Behaviour(DataAttackerEvent::Wire(
                    request_response::Event::Message {
                        message:
                            request_response::Message::Response {
                                response: Message::HelloAck(_), ..
                            },
                        ..
                    },
                )) = attacker.select_next_some().await
                {
                    break;
                }
            }
        })
        .await;
    }
    tokio::spawn(async move {
        loop {
            attacker.select_next_some().await;
        }
    });
    (peer, control)
}

/// Opens a data stream, writes `bytes`, and reads the answer frame, if any.
async fn data_exchange(
    control: &mut libp2p_stream::Control,
    target: PeerId,
    bytes: &[u8],
) -> Option<Message> {
    let mut stream = control.open_stream(target, quorate_p2p::data::DATA_PROTOCOL).await.ok()?;
    stream.write_all(bytes).await.ok()?;
    stream.flush().await.ok()?;
    let mut header = [0u8; quorate_p2p::frame::HEADER_LEN];
    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut header))
        .await
        .ok()?
        .ok()?;
    let len = quorate_p2p::frame::decode_header(header, 1 << 20).ok()?;
    let mut payload = vec![0u8; len as usize];
    stream.read_exact(&mut payload).await.ok()?;
    Message::decode(&payload).ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_streams_from_unproven_or_garbage_sending_peers_are_refused_and_scored() {
    let mut target = victim(56).await;
    let hash = target.client.put_content(vec![3; 3 << 20]).await.unwrap();
    let honest = node(57, &signer(57), Purpose::Worker).await;
    honest.client.dial(target.addr.clone()).await.unwrap();
    let request = |offset| {
        Message::DataRequest(quorate_p2p::wire::DataRequest {
            hash,
            offset,
            len: u64::MAX,
            direct: false,
        })
        .encode_frame()
        .unwrap()
    };

    // Without an identity proof: refused with the reason, twice is a ban.
    let (stranger_peer, mut control) = connected_data_attacker(58, &target, false).await;
    let answer = within(10, data_exchange(&mut control, target.peer, &request(0))).await;
    assert!(
        matches!(&answer, Some(Message::Refused { reason }) if reason.contains("identity")),
        "{answer:?}"
    );
    let _ = within(10, data_exchange(&mut control, target.peer, &request(0))).await;
    assert_eq!(banned(&mut target, stranger_peer).await, Offence::ProtocolViolation);

    // With a proven identity: a misaligned offset is refused (no fault); garbage and an
    // oversized frame get the sender banned.
    let (proven_peer, mut control) = connected_data_attacker(59, &target, true).await;
    let answer = within(10, data_exchange(&mut control, target.peer, &request(5))).await;
    assert!(
        matches!(&answer, Some(Message::Refused { reason }) if reason.contains("piece boundary")),
        "{answer:?}"
    );
    let mut garbage = quorate_p2p::frame::encode_header(4).to_vec();
    garbage.extend_from_slice(&[0xfe, 1, 2, 3]);
    assert_eq!(within(10, data_exchange(&mut control, target.peer, &garbage)).await, None);
    let oversized = [quorate_p2p::frame::VERSION, 0xff, 0xff, 0xff, 0xff];
    assert_eq!(within(10, data_exchange(&mut control, target.peer, &oversized)).await, None);
    let offence = banned(&mut target, proven_peer).await;
    assert!(matches!(offence, Offence::Oversized | Offence::Malformed), "{offence:?}");

    honest_round_trip(&honest, &target, hash).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_direct_port_refuses_garbage_impostors_and_strangers() {
    let config = Config {
        direct_listen: Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
        ..victim_config(80)
    };
    let purpose = Purpose::Scheduler { pool: POOL };
    let target = start(config.clone(), proof(&signer(80), &config.keypair, purpose, 3600)).await;
    let port = target.client.direct_port().unwrap();
    let hash = target.client.put_content(vec![5; 2 << 20]).await.unwrap();
    let loopback = std::net::IpAddr::from([127, 0, 0, 1]);

    // Bytes that are not TLS: the connection is closed, nothing is served.
    let mut raw = TcpStream::connect((loopback, port)).await.unwrap();
    raw.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), raw.read_to_end(&mut answer)).await;
    assert!(matches!(read, Ok(Ok(_)) | Ok(Err(_))), "the connection must close");
    assert!(!answer.windows(4).any(|w| w == [5, 5, 5, 5]), "no blob bytes to garbage");

    // A stranger with a valid libp2p certificate, from an address no proven peer uses: dropped
    // before any TLS work.
    let target_peer = target.peer;
    let stranger = quorate_p2p::direct::DirectTls::new(&keypair(81)).unwrap();
    let early = stranger.clone();
    let dropped = tokio::task::spawn_blocking(move || {
        let timeout = Duration::from_secs(5);
        quorate_p2p::direct::connect(&early, target_peer, loopback, port, timeout).map(|_| ())
    })
    .await
    .unwrap();
    assert!(dropped.is_err(), "no handshake for an address without a proven peer");

    // Once a proven peer is connected from that address, the stranger gets through TLS, but
    // its own identity was never proven over libp2p: refused with the reason.
    let honest = node(83, &signer(83), Purpose::Worker).await;
    honest.client.dial(target.addr.clone()).await.unwrap();
    within(10, honest.client.ready(target.peer)).await.unwrap();
    let answer = tokio::task::spawn_blocking(move || {
        let timeout = Duration::from_secs(5);
        let mut session =
            quorate_p2p::direct::connect(&stranger, target_peer, loopback, port, timeout)?;
        let request = Message::DataRequest(quorate_p2p::wire::DataRequest {
            hash,
            offset: 0,
            len: u64::MAX,
            direct: false,
        });
        let _ = quorate_p2p::direct::write_frame(&mut session, &request);
        quorate_p2p::direct::read_frame(&mut session)
    })
    .await
    .unwrap();
    assert!(
        matches!(&answer, Ok(Message::Refused { reason }) if reason.contains("not admitted")),
        "{answer:?}"
    );

    // Expecting another peer behind the port: the handshake fails (no man in the middle).
    let other = quorate_p2p::direct::DirectTls::new(&keypair(82)).unwrap();
    let wrong = tokio::task::spawn_blocking(move || {
        quorate_p2p::direct::connect(
            &other,
            PeerId::random(),
            loopback,
            port,
            Duration::from_secs(5),
        )
        .map(|_| ())
    })
    .await
    .unwrap();
    assert!(wrong.is_err(), "a handshake with the wrong peer must fail");

    // A proven peer is still served on the direct path.
    honest_round_trip(&honest, &target, hash).await;
    assert_eq!(target.client.stats().await.unwrap().direct_transfers, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_peer_cannot_take_every_data_slot() {
    let target = victim(84).await;
    let hash = target.client.put_content(vec![9; 8 << 20]).await.unwrap();
    let (_, mut control) = connected_data_attacker(85, &target, true).await;
    let request = Message::DataRequest(quorate_p2p::wire::DataRequest {
        hash,
        offset: 0,
        len: u64::MAX,
        direct: false,
    })
    .encode_frame()
    .unwrap();
    // Four streams that ask for 8 MiB and never read: each holds a slot.
    let mut held = Vec::new();
    for _ in 0..4 {
        let opened = control.open_stream(target.peer, quorate_p2p::data::DATA_PROTOCOL);
        let mut stream = within(10, opened).await.unwrap();
        stream.write_all(&request).await.unwrap();
        stream.flush().await.unwrap();
        held.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The fifth is refused for this peer alone…
    let answer = within(10, data_exchange(&mut control, target.peer, &request)).await;
    assert!(
        matches!(&answer, Some(Message::Refused { reason }) if reason.contains("from this peer")),
        "{answer:?}"
    );
    // …while another peer is served.
    let honest = node(86, &signer(86), Purpose::Worker).await;
    honest.client.dial(target.addr.clone()).await.unwrap();
    honest_round_trip(&honest, &target, hash).await;
    drop(held);
}
