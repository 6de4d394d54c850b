//! A JSON-RPC endpoint as strict as public Ethereum nodes: in front of a real node (anvil), it
//! refuses any `eth_getLogs` spanning more than a few blocks (an absent or `latest` bound
//! counts as the head), as Infura, Alchemy and most public endpoints do. Everything else is
//! passed through. Refusals are counted, so a test can say none happened.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use alloy::providers::{Provider, RootProvider};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
};

/// The endpoint, served by a thread of its own until the process ends.
pub(crate) struct StrictRpc {
    /// Its URL.
    pub(crate) url: String,
    refused: Arc<AtomicU64>,
}

impl StrictRpc {
    /// Serves `upstream` with log queries capped at `max_blocks` blocks.
    pub(crate) fn start(upstream: &str, max_blocks: u64) -> Self {
        let upstream = RootProvider::new_http(upstream.parse().unwrap());
        let refused = Arc::new(AtomicU64::new(0));
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let counting = Arc::clone(&refused);
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                loop {
                    let Ok((stream, _)) = listener.accept().await else { continue };
                    let (upstream, refused) = (upstream.clone(), Arc::clone(&counting));
                    tokio::spawn(serve(stream, upstream, max_blocks, refused));
                }
            });
        });
        let addr = rx.recv().unwrap();
        Self { url: format!("http://{addr}"), refused }
    }

    /// Log queries refused so far.
    pub(crate) fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

/// One connection: HTTP/1.1 requests, one after the other, each a JSON-RPC call.
async fn serve(
    stream: TcpStream,
    upstream: RootProvider,
    max_blocks: u64,
    refused: Arc<AtomicU64>,
) {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    loop {
        let mut length = 0usize;
        let mut line = String::new();
        loop {
            line.clear();
            match read.read_line(&mut line).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if read.read_exact(&mut body).await.is_err() {
            return;
        }
        let answer = match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Array(calls)) => {
                let mut out = Vec::new();
                for call in calls {
                    out.push(answer(&upstream, call, max_blocks, &refused).await);
                }
                Value::Array(out)
            }
            Ok(call) => answer(&upstream, call, max_blocks, &refused).await,
            Err(_) => {
                json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": "parse error"}})
            }
        };
        let text = answer.to_string();
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{text}",
            text.len()
        );
        if write.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

async fn answer(
    upstream: &RootProvider,
    call: Value,
    max_blocks: u64,
    refused: &AtomicU64,
) -> Value {
    let id = call.get("id").cloned().unwrap_or(Value::Null);
    let method = call.get("method").and_then(Value::as_str).unwrap_or_default().to_owned();
    let params = call.get("params").cloned().unwrap_or(Value::Array(Vec::new()));
    if method == "eth_getLogs" {
        let head = upstream.get_block_number().await.unwrap_or(u64::MAX);
        let filter = params.get(0).cloned().unwrap_or_default();
        let bound = |key: &str| match filter.get(key).and_then(Value::as_str) {
            None | Some("latest" | "pending" | "safe" | "finalized") => head,
            Some("earliest") => 0,
            Some(hex) => u64::from_str_radix(hex.trim_start_matches("0x"), 16).unwrap_or(0),
        };
        let by_hash = filter.get("blockHash").is_some();
        let (from, to) = (bound("fromBlock"), bound("toBlock"));
        if !by_hash && to.saturating_sub(from).saturating_add(1) > max_blocks {
            refused.fetch_add(1, Ordering::Relaxed);
            return json!({"jsonrpc": "2.0", "id": id, "error": {
                "code": -32005,
                "message": format!("query exceeds max block range {max_blocks} ({from}..{to})"),
            }});
        }
    }
    match upstream.raw_request::<_, Value>(method.into(), params).await {
        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        Err(e) => {
            let error = e
                .as_error_resp()
                .map_or_else(|| json!({"code": -32000, "message": e.to_string()}), |r| json!(r));
            json!({"jsonrpc": "2.0", "id": id, "error": error})
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_strict_endpoint_refuses_wide_log_queries_and_passes_the_rest() {
    use alloy::rpc::types::Filter;
    use quorate_devnet::{Anvil, AnvilConfig};
    let anvil = Anvil::spawn(AnvilConfig::default()).unwrap();
    let strict = StrictRpc::start(&anvil.endpoint(), 4);
    let provider: RootProvider = RootProvider::new_http(strict.url.parse().unwrap());
    assert_eq!(provider.get_chain_id().await.unwrap(), 31337);
    assert!(provider.get_logs(&Filter::new().from_block(0).to_block(3)).await.is_ok());
    let wide = provider.get_logs(&Filter::new().from_block(0).to_block(4)).await.unwrap_err();
    assert!(wide.to_string().contains("exceeds max block range 4"), "{wide}");
    assert_eq!(strict.refused(), 1);
}
