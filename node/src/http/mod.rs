//! The HTTP servers of the long-running roles: the pool's dashboard (`quorate scheduler run`)
//! and the worker's status (`quorate worker run`), each with Prometheus `/metrics`.
//!
//! | module | does |
//! |---|---|
//! | this one | where to listen ([`Listen`]), the accept loop, plain or TLS (rustls) |
//! | [`auth`] | the operator's token, wallet logins (EIP-712 challenges) and their sessions |
//! | [`balances`] | an account's balances, read every few seconds for a status page |
//! | [`metrics`] | the Prometheus text format |
//!
//! One accept loop serves both: a bounded number of connections in all and from one address, a
//! deadline on the TLS handshake, on reading a request's head and on a connection's whole life,
//! HTTP/1.1 only. Each request carries the peer's socket address ([`Peer`]) for loopback-only
//! rules ([`local`]); every answer carries headers that keep the page out of frames and caches.

pub mod auth;
pub mod balances;
pub mod metrics;

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use anyhow::Context as _;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tower::ServiceExt as _;

/// Connections served at once; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 256;
/// Connections served at once from one IP address (loopback: any).
const MAX_PER_ADDRESS: usize = 16;
/// How long a TLS handshake, or a request's head, may take.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one connection is served: a slow client never holds a slot for long (browsers and
/// scrapers connect again).
const CONNECTION_LIFETIME: Duration = Duration::from_secs(120);
/// The largest request body taken (every body here is a small JSON object).
pub const MAX_BODY: usize = 4096;

/// A PEM certificate chain and its PEM private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The leaf's private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Where a server listens, and whether over TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listen {
    /// The socket address.
    pub addr: SocketAddr,
    /// TLS, when configured.
    pub tls: Option<TlsFiles>,
}

impl Listen {
    /// Reads `host:port` (empty: serve nowhere). An address beyond loopback without TLS is
    /// refused unless `plain_beyond_loopback`.
    pub fn from_config(
        text: &str,
        tls: Option<TlsFiles>,
        plain_beyond_loopback: bool,
    ) -> Result<Option<Self>, String> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        let addr: SocketAddr = text.parse().map_err(|_| {
            format!("{text:?} is not host:port with an IP address (e.g. 127.0.0.1:8470)")
        })?;
        if !addr.ip().is_loopback() && tls.is_none() && !plain_beyond_loopback {
            return Err(format!(
                "{addr} is beyond loopback: set dashboard.tls_cert and dashboard.tls_key, or \
                 dashboard.plain_http_beyond_loopback = true behind a TLS proxy"
            ));
        }
        Ok(Some(Self { addr, tls }))
    }

    /// The URL its root is served at (a wildcard address shown as loopback).
    pub fn url(&self, bound: SocketAddr) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let mut shown = bound;
        if shown.ip().is_unspecified() {
            shown.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        format!("{scheme}://{shown}")
    }
}

/// The socket address a request came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer(pub SocketAddr);

/// True when a request comes from this machine itself: a loopback peer (IPv4-mapped included),
/// not relayed by a proxy (no `Forwarded` or `X-Forwarded-For`), and addressed to a loopback
/// name or an IP literal, so that a web page whose domain was rebound to 127.0.0.1 is not
/// taken for a local program.
pub fn local(peer: Option<Peer>, headers: &axum::http::HeaderMap) -> bool {
    use axum::http::header;
    let Some(Peer(addr)) = peer else { return false };
    if !addr.ip().to_canonical().is_loopback()
        || headers.contains_key(header::FORWARDED)
        || headers.contains_key("x-forwarded-for")
    {
        return false;
    }
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return true;
    };
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok()
}

/// Adds the answer headers every page and API answer carries.
async fn secure_headers(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::{HeaderValue, header};
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
             img-src data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
             form-action 'none'",
        ),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A running server; dropping it stops accepting.
#[derive(Debug)]
pub struct Server {
    /// Where it listens (the port picked when 0 was asked for).
    pub addr: SocketAddr,
    /// The URL of its root.
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Binds `listen` and serves `router` on it (with [`MAX_BODY`] and the answer headers).
pub async fn serve(listen: &Listen, router: Router) -> anyhow::Result<Server> {
    let router = router
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn(secure_headers));
    let tls = listen.tls.as_ref().map(acceptor).transpose()?;
    let listener = tokio::net::TcpListener::bind(listen.addr).await.with_context(|| {
        format!(
            "cannot listen on {}: another program may hold the port; choose another",
            listen.addr
        )
    })?;
    let addr = listener.local_addr().context("reading the bound address")?;
    let task = tokio::spawn(accept(listener, tls, router));
    Ok(Server { addr, url: listen.url(addr), task })
}

async fn accept(
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    router: Router,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let per_address = Arc::new(std::sync::Mutex::new(std::collections::HashMap::new()));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else { return };
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors and the like: wait instead of spinning.
                tracing::warn!(target: "quorate::http", error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(held) = AddressSlot::take(&per_address, peer.ip()) else {
            // One address holds its share already: closed at once.
            continue;
        };
        let router = router.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let _held = held;
            let service = router.map_request(move |mut request: axum::extract::Request<_>| {
                request.extensions_mut().insert(Peer(peer));
                request
            });
            let service = hyper_util::service::TowerToHyperService::new(service);
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new()).header_read_timeout(HEAD_TIMEOUT);
            let served = async {
                match tls {
                    Some(tls) => {
                        match tokio::time::timeout(HEAD_TIMEOUT, tls.accept(stream)).await {
                            Ok(Ok(stream)) => {
                                http.serve_connection(TokioIo::new(stream), service).await
                            }
                            _ => Ok(()),
                        }
                    }
                    None => http.serve_connection(TokioIo::new(stream), service).await,
                }
            };
            match tokio::time::timeout(CONNECTION_LIFETIME, served).await {
                Ok(Err(e)) => {
                    tracing::debug!(target: "quorate::http", %peer, error = %e, "connection ended");
                }
                Ok(Ok(())) => {}
                Err(_) => {
                    tracing::debug!(target: "quorate::http", %peer, "connection served its time");
                }
            }
        });
    }
}

/// A connection's place in its address's share; given back when dropped.
struct AddressSlot {
    counts: Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>,
    ip: std::net::IpAddr,
}

impl AddressSlot {
    /// A place for a connection from `ip`, if its address has one left (loopback: always).
    fn take(
        counts: &Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>,
        ip: std::net::IpAddr,
    ) -> Option<Self> {
        let ip = ip.to_canonical();
        let mut map = counts.lock().unwrap_or_else(|e| e.into_inner());
        let held = map.entry(ip).or_insert(0);
        if *held >= MAX_PER_ADDRESS && !ip.is_loopback() {
            return None;
        }
        *held = held.saturating_add(1);
        Some(Self { counts: counts.clone(), ip })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut map = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(held) = map.get_mut(&self.ip) {
            *held = held.saturating_sub(1);
            if *held == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// The TLS acceptor of `files`.
fn acceptor(files: &TlsFiles) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject as _};
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|e| pem_error(&files.cert, "certificate chain", &e))?;
    if certs.is_empty() {
        anyhow::bail!(
            "{} holds no PEM certificate: give the certificate chain",
            files.cert.display()
        );
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| pem_error(&files.key, "private key", &e))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .with_context(|| {
            format!(
                "{} does not match {}: give the key of that certificate",
                files.key.display(),
                files.cert.display()
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

fn pem_error(path: &Path, what: &str, e: &rustls::pki_types::pem::Error) -> anyhow::Error {
    anyhow::anyhow!("cannot read the TLS {what} from {}: {e}; give a PEM file", path.display())
}

/// The JSON of a successful answer, or the server's `error` sentence.
pub async fn json_or_error<T: serde::de::DeserializeOwned>(
    answer: reqwest::Response,
) -> anyhow::Result<T> {
    let status = answer.status();
    let body = answer.bytes().await.map_err(|e| anyhow::anyhow!("the answer broke off: {e}"))?;
    if status.is_success() {
        return serde_json::from_slice(&body).map_err(|e| {
            anyhow::anyhow!(
                "the answer is not what was expected ({e}): is the URL a Quorate server?"
            )
        });
    }
    let error = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("HTTP {status}"));
    anyhow::bail!("{error}")
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    #[test]
    fn only_this_machine_s_own_requests_are_local() {
        use axum::http::{HeaderMap, HeaderValue, header};
        let at = |ip: &str| Some(Peer(SocketAddr::new(ip.parse().unwrap(), 5000)));
        let host = |name: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::HOST, HeaderValue::from_static(name));
            headers
        };
        assert!(local(at("127.0.0.1"), &host("127.0.0.1:8470")));
        assert!(local(at("::ffff:127.0.0.1"), &host("localhost:8470")));
        assert!(local(at("::1"), &host("[::1]:8470")));
        assert!(!local(at("10.0.0.2"), &host("127.0.0.1:8470")));
        assert!(!local(None, &host("127.0.0.1:8470")));
        // A rebound domain, and a local proxy's relay.
        assert!(!local(at("127.0.0.1"), &host("evil.example:8470")));
        let mut relayed = host("127.0.0.1:8470");
        relayed.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.9"));
        assert!(!local(at("127.0.0.1"), &relayed));
    }

    #[test]
    fn one_address_holds_a_bounded_share_of_the_connections() {
        let counts = Arc::new(std::sync::Mutex::new(std::collections::HashMap::new()));
        let far: std::net::IpAddr = "203.0.113.9".parse().unwrap();
        let held: Vec<_> =
            (0..MAX_PER_ADDRESS).map(|_| AddressSlot::take(&counts, far).unwrap()).collect();
        assert!(AddressSlot::take(&counts, far).is_none());
        assert!(AddressSlot::take(&counts, "127.0.0.1".parse().unwrap()).is_some());
        drop(held);
        assert!(AddressSlot::take(&counts, far).is_some());
    }

    #[test]
    fn addresses_beyond_loopback_need_tls_or_a_say_so() {
        assert_eq!(Listen::from_config("", None, false), Ok(None));
        assert!(Listen::from_config("127.0.0.1:8470", None, false).unwrap().is_some());
        let refused = Listen::from_config("0.0.0.0:8470", None, false).unwrap_err();
        assert!(refused.contains("dashboard.tls_cert"), "{refused}");
        assert!(Listen::from_config("0.0.0.0:8470", None, true).unwrap().is_some());
        let bad = Listen::from_config("localhost:x", None, false).unwrap_err();
        assert!(bad.contains("host:port"), "{bad}");
    }

    #[tokio::test]
    async fn tls_serves_with_the_configured_certificate_and_a_wrong_key_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert, made.cert.pem()).unwrap();
        std::fs::write(&key, made.key_pair.serialize_pem()).unwrap();
        let files = TlsFiles { cert: cert.clone(), key: key.clone() };
        let listen = Listen::from_config("127.0.0.1:0", Some(files), false).unwrap().unwrap();
        let router = Router::new().route("/", axum::routing::get(|| async { "over tls" }));
        let server = serve(&listen, router).await.unwrap();
        assert!(server.url.starts_with("https://127.0.0.1:"), "{}", server.url);

        let mut roots = rustls::RootCertStore::empty();
        roots.add(made.cert.der().clone()).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
        let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut tls = connector.connect(name, tcp).await.unwrap();
        tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        tls.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("over tls"), "{answer}");

        // Plain HTTP on the TLS port gets nothing served.
        let mut plain = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        plain.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut bytes = Vec::new();
        let _ = plain.read_to_end(&mut bytes).await;
        assert!(!String::from_utf8_lossy(&bytes).contains("over tls"));

        // Another certificate's key: refused with both files named.
        let other = rcgen::generate_simple_self_signed(vec!["x".into()]).unwrap();
        std::fs::write(&key, other.key_pair.serialize_pem()).unwrap();
        let listen =
            Listen { addr: "127.0.0.1:0".parse().unwrap(), tls: Some(TlsFiles { cert, key }) };
        let refused = serve(&listen, Router::new()).await.unwrap_err().to_string();
        assert!(refused.contains("does not match"), "{refused}");
    }
}
