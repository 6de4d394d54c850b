//! The direct data path: blob bytes over their own TCP connection with TLS 1.3, beside libp2p.
//!
//! libp2p's muxed connection (Noise's ChaCha20-Poly1305, then Yamux's 16 KiB frames and stream
//! windows) moves bulk bytes at about a third of a plain loopback copy on a 2-core machine.
//! A provider that opens a direct listener ([`crate::Config::direct_listen`]) therefore offers,
//! in its [`crate::wire::DataHeader`], to send the bytes on a direct connection instead:
//!
//! ```text
//! fetcher ── libp2p data stream: DataRequest{direct: true} ──▶ provider
//! fetcher ◀── DataHeader{outline, direct_port} ──  (no bytes on the stream)
//! fetcher ══ TCP to <the provider's IP on the libp2p connection>:direct_port, TLS 1.3 ══▶
//!            both sides present libp2p TLS certificates (the libp2p TLS spec's extension,
//!            signed by the peer's libp2p key); the fetcher refuses any peer but the provider,
//!            the provider serves only peers whose identity proof it verified over libp2p
//! fetcher ══ frame(DataRequest) ══▶ ; ◀══ frame(DataHeader) + raw bytes ══ provider
//! ```
//!
//! The cipher is AES-GCM (hardware-accelerated on x86-64 and ARMv8 servers), ChaCha20-Poly1305
//! where the peer offers nothing else. Every piece is still checked against the outline, so the
//! path adds confidentiality and peer authentication, not trust. A fetch whose direct connection
//! fails (a firewall, NAT) asks again on the libp2p stream.
//!
//! Both ends run the TLS session on blocking threads (`spawn_blocking`): one connection, one
//! thread, no async layers between the socket and the blob's buffer. Because threads are the
//! scarce resource, a provider drops a TCP connection from an address where no proven peer is
//! connected before any TLS work, bounds the handshakes in flight, gives each handshake one
//! deadline in all, and cuts off a reader that does not take a piece within the deadline
//! ([`crate::data`]'s `accept_direct`).

use std::{
    io::{Read, Write},
    net::{IpAddr, SocketAddr, TcpStream},
    sync::Arc,
    time::{Duration, Instant},
};

use libp2p::{PeerId, identity::Keypair};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme,
    client::{
        ResolvesClientCert,
        danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    },
    crypto::{CryptoProvider, aws_lc_rs},
    pki_types::{CertificateDer, ServerName, UnixTime},
    server::{
        ClientHello, ResolvesServerCert,
        danger::{ClientCertVerified, ClientCertVerifier},
    },
    sign::CertifiedKey,
};

use crate::{
    Error, frame,
    wire::{MAX_MESSAGE, Message},
};

/// A node's TLS identity for direct connections: a libp2p TLS certificate of its keypair.
#[derive(Clone)]
pub struct DirectTls {
    provider: Arc<CryptoProvider>,
    key: Arc<CertifiedKey>,
    server: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for DirectTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DirectTls")
    }
}

fn tls_error(e: impl std::fmt::Display) -> Error {
    Error::Transport { reason: format!("direct TLS: {e}") }
}

impl DirectTls {
    /// A certificate for `keypair` (the libp2p TLS spec's), with AES-GCM preferred.
    pub fn new(keypair: &Keypair) -> Result<Self, Error> {
        let mut provider = aws_lc_rs::default_provider();
        // AES-GCM first: with AES-NI/VAES it is several times faster than ChaCha20-Poly1305.
        provider.cipher_suites = vec![
            aws_lc_rs::cipher_suite::TLS13_AES_128_GCM_SHA256,
            aws_lc_rs::cipher_suite::TLS13_AES_256_GCM_SHA384,
            aws_lc_rs::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
        ];
        let provider = Arc::new(provider);
        let (cert, private) = libp2p_tls::certificate::generate(keypair).map_err(tls_error)?;
        let signing = provider.key_provider.load_private_key(private).map_err(tls_error)?;
        let key = Arc::new(CertifiedKey::new(vec![cert], signing));
        let server = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(tls_error)?
            .with_client_cert_verifier(Arc::new(PeerVerifier::new(None, &provider)))
            .with_cert_resolver(Arc::new(OwnCert(Arc::clone(&key))));
        // Every direct connection is a fresh session: no tickets to issue or keep.
        let mut server = server;
        server.send_tls13_tickets = 0;
        Ok(Self { provider, key, server: Arc::new(server) })
    }

    fn client(&self, provider: PeerId) -> Result<Arc<rustls::ClientConfig>, Error> {
        let config = rustls::ClientConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(tls_error)?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PeerVerifier::new(
                Some(provider),
                &self.provider,
            )))
            .with_client_cert_resolver(Arc::new(OwnCert(Arc::clone(&self.key))));
        Ok(Arc::new(config))
    }
}

/// Presents this node's certificate, as server and as client.
#[derive(Debug)]
struct OwnCert(Arc<CertifiedKey>);

impl ResolvesServerCert for OwnCert {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }
}

impl ResolvesClientCert for OwnCert {
    fn resolve(&self, _: &[&[u8]], _: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// Accepts exactly one self-signed libp2p TLS certificate whose extension is validly signed by
/// the peer's libp2p key, and (as a client) only the peer it meant to reach.
#[derive(Debug)]
struct PeerVerifier {
    expected: Option<PeerId>,
    schemes: Vec<SignatureScheme>,
}

impl PeerVerifier {
    fn new(expected: Option<PeerId>, provider: &CryptoProvider) -> Self {
        // libp2p certificates are signed with these; the handshake may use any the provider has.
        let schemes = provider.signature_verification_algorithms.supported_schemes();
        Self { expected, schemes }
    }

    fn peer_of(
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
    ) -> Result<PeerId, rustls::Error> {
        if !intermediates.is_empty() {
            return Err(rustls::Error::General("a libp2p peer presents one certificate".into()));
        }
        libp2p_tls::certificate::parse(end_entity)
            .map(|cert| cert.peer_id())
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadSignature))
    }

    fn handshake_signature(
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        libp2p_tls::certificate::parse(cert)
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadSignature))?
            .verify_signature(dss.scheme, message, dss.signature())
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadSignature))?;
        Ok(HandshakeSignatureValid::assertion())
    }

    fn tls12() -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("direct connections speak TLS 1.3 only".into()))
    }
}

impl ServerCertVerifier for PeerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let peer = Self::peer_of(end_entity, intermediates)?;
        if self.expected.is_some_and(|expected| expected != peer) {
            return Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Self::tls12()
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Self::handshake_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes.clone()
    }
}

impl ClientCertVerifier for PeerVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Self::peer_of(end_entity, intermediates)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Self::tls12()
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Self::handshake_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes.clone()
    }
}

/// Longest wait for a direct connection's TCP connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// One blocking TLS session over a TCP connection.
pub type Session<C> = rustls::StreamOwned<C, Socket>;

/// Socket reads per buffer fill. rustls asks for 4 KiB at a time; serving those from one
/// large read cuts the receiver's system calls about fiftyfold.
const READ_BUFFER: usize = 256 * 1024;

/// A TCP connection with a read buffer (writes go straight through: rustls already batches
/// them).
#[derive(Debug)]
pub struct Socket(std::io::BufReader<TcpStream>);

impl Socket {
    fn new(socket: TcpStream) -> Self {
        // Room for a few milliseconds of bulk transfer in the kernel on both ends: fewer
        // wake-ups per megabyte. (Linux may cap these at net.core.[rw]mem_max.)
        let sock = socket2::SockRef::from(&socket);
        let _ = sock.set_send_buffer_size(SOCKET_BUFFER);
        let _ = sock.set_recv_buffer_size(SOCKET_BUFFER);
        Self(std::io::BufReader::with_capacity(READ_BUFFER, socket))
    }
}

/// Kernel socket buffer asked for on direct connections.
const SOCKET_BUFFER: usize = 4 * 1024 * 1024;

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.get_mut().write(buf)
    }

    fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
        self.0.get_mut().write_vectored(bufs)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.get_mut().flush()
    }
}

/// Connects to a provider's direct port and completes the handshake, refusing any peer but
/// `provider`. Blocking: run on a blocking thread.
pub fn connect(
    tls: &DirectTls,
    provider: PeerId,
    ip: IpAddr,
    port: u16,
    timeout: Duration,
) -> Result<Session<rustls::ClientConnection>, Error> {
    let io = |e: std::io::Error| Error::Transport { reason: format!("direct connection: {e}") };
    // A firewalled port is the common failure: give up on it quickly, the stream remains.
    let connect_timeout = timeout.min(CONNECT_TIMEOUT);
    let socket =
        TcpStream::connect_timeout(&SocketAddr::new(ip, port), connect_timeout).map_err(io)?;
    socket.set_nodelay(true).map_err(io)?;
    socket.set_read_timeout(Some(timeout)).map_err(io)?;
    socket.set_write_timeout(Some(timeout)).map_err(io)?;
    let name = ServerName::try_from("quorate.direct").map_err(tls_error)?;
    let mut conn = rustls::ClientConnection::new(tls.client(provider)?, name).map_err(tls_error)?;
    let mut socket = Socket::new(socket);
    handshake(&mut conn, &mut socket, timeout)?;
    Ok(rustls::StreamOwned::new(conn, socket))
}

/// Accepts a direct connection's TLS session and names the peer behind it. Blocking.
pub(crate) fn accept(
    tls: &DirectTls,
    socket: TcpStream,
    timeout: Duration,
) -> Result<(PeerId, Session<rustls::ServerConnection>), Error> {
    let io = |e: std::io::Error| Error::Transport { reason: format!("direct connection: {e}") };
    socket.set_nodelay(true).map_err(io)?;
    socket.set_read_timeout(Some(timeout)).map_err(io)?;
    socket.set_write_timeout(Some(timeout)).map_err(io)?;
    let mut conn = rustls::ServerConnection::new(Arc::clone(&tls.server)).map_err(tls_error)?;
    let mut socket = Socket::new(socket);
    handshake(&mut conn, &mut socket, timeout)?;
    let peer = conn
        .peer_certificates()
        .and_then(|certs| certs.first())
        .and_then(|cert| libp2p_tls::certificate::parse(cert).ok())
        .map(|cert| cert.peer_id())
        .ok_or_else(|| tls_error("no peer certificate"))?;
    Ok((peer, rustls::StreamOwned::new(conn, socket)))
}

/// Completes a TLS handshake within `timeout` in all: a peer that trickles handshake bytes is
/// cut off however slowly each read returns.
fn handshake<C, D>(conn: &mut C, socket: &mut Socket, timeout: Duration) -> Result<(), Error>
where
    C: std::ops::DerefMut<Target = rustls::ConnectionCommon<D>>,
{
    let started = Instant::now();
    while conn.is_handshaking() {
        if started.elapsed() > timeout {
            return Err(tls_error("handshake too slow"));
        }
        conn.complete_io(socket)
            .map_err(|e| Error::Transport { reason: format!("direct handshake: {e}") })?;
    }
    Ok(())
}

/// Writes `bytes` within `deadline` in all (each socket write is bounded by the socket's own
/// timeout too).
pub(crate) fn write_within(
    io: &mut impl Write,
    mut bytes: &[u8],
    deadline: Duration,
) -> Result<(), Error> {
    let started = Instant::now();
    while !bytes.is_empty() {
        if started.elapsed() > deadline {
            return Err(Error::Transport { reason: "direct write: the reader stalled".into() });
        }
        match io.write(bytes) {
            Ok(0) => return Err(Error::Transport { reason: "direct write: closed".into() }),
            Ok(n) => bytes = bytes.get(n..).unwrap_or_default(),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::Transport { reason: format!("direct write: {e}") }),
        }
    }
    Ok(())
}

/// Fills `buf` within `deadline` in all.
pub(crate) fn read_within(
    io: &mut impl Read,
    buf: &mut [u8],
    deadline: Duration,
) -> std::io::Result<()> {
    let started = Instant::now();
    let mut filled = 0;
    while filled < buf.len() {
        if started.elapsed() > deadline {
            return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "the sender stalled"));
        }
        match io.read(buf.get_mut(filled..).unwrap_or_default()) {
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => filled = filled.saturating_add(n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads one framed message from a blocking stream (header checked before the payload). A
/// stream that ends or stalls inside the frame is a transport failure, not the peer's offence;
/// a frame over the cap or one that does not decode is.
pub fn read_frame(io: &mut impl Read) -> Result<Message, Error> {
    let io_error = |e: std::io::Error| Error::Transport { reason: format!("direct read: {e}") };
    let mut header = [0u8; frame::HEADER_LEN];
    io.read_exact(&mut header).map_err(io_error)?;
    let len = frame::decode_header(header, MAX_MESSAGE as u32)?;
    let mut payload = vec![0u8; len as usize];
    io.read_exact(&mut payload).map_err(io_error)?;
    Message::decode(&payload)
}

/// Writes one framed message to a blocking stream.
pub fn write_frame(io: &mut impl Write, message: &Message) -> Result<(), Error> {
    let bytes = message.encode_frame()?;
    io.write_all(&bytes).map_err(|e| Error::Transport { reason: format!("direct write: {e}") })
}
