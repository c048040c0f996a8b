//! The baseline for `scripts/bench`'s wrk rounds: a bare hyper HTTP/1.1 server answering every
//! request with a fixed JSON body of a given size, on the same runtime and connection settings
//! as `patchbay dev` (multi-threaded tokio, `TCP_NODELAY`), and nothing else.
//!
//!     cargo run --release -p patchbay --example bare_hyper -- 127.0.0.1:18081 186
//!
//! Prints `listening on http://ADDR` once bound.
#![allow(clippy::print_stdout)]

use std::convert::Infallible;

use axum::body::Body;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:18081".to_owned());
    let size: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(186);
    // `{"pad":"xxx…"}`, exactly `size` bytes (at least the 10 of the frame).
    let body: &'static str =
        Box::leak(format!("{{\"pad\":\"{}\"}}", "x".repeat(size.saturating_sub(10))).into_boxed_str());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |_: Request<Incoming>| async move {
                let response = Response::builder()
                    .header("content-type", "application/json; charset=utf-8")
                    .header("cache-control", "no-store")
                    .body(Body::from(body));
                Ok::<_, Infallible>(response.unwrap_or_default())
            });
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}
