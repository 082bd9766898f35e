//! CapsuleBench's live server (`cargo capsule serve`) and the runner's
//! stream client (`cargo capsule bench --stream URL`).
//!
//! A runner streams its run's hash-chained events over a WebSocket as they
//! happen; the server stores them only in chain order, acknowledges them,
//! and tells a reconnecting runner where to resume. When the pack arrives
//! the server verifies it (the same verifier and options as `verify`,
//! nothing from the pack executed), checks that the stream it stored is the
//! pack's sealed event log, and only then shows a verdict. Pages watch a
//! run live over server-sent events. The protocol: docs/spec/stream.md.
//!
//! [`store`] keeps runs (SQLite, embedded); [`app`] is the router;
//! [`tokens`] the runner tokens and rate limits; [`client`] the runner's
//! side.

pub mod app;
pub mod client;
pub mod store;
pub mod tokens;
mod ui;

use std::net::SocketAddr;

pub use app::{Config, Limits, router};

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The address could not be bound.
    #[error("failed to listen on `{addr}`")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The runtime could not start, or serving failed.
    #[error("the server failed")]
    Io(#[source] std::io::Error),
}

/// Serves `config` on `addr` until SIGINT or SIGTERM, on a runtime of its
/// own; `ready` gets the bound address first.
pub fn run(addr: &str, config: Config, ready: impl FnOnce(SocketAddr)) -> Result<(), ServerError> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(ServerError::Io)?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Bind { addr: addr.to_owned(), source })?;
        ready(listener.local_addr().map_err(ServerError::Io)?);
        axum::serve(listener, router(config)).with_graceful_shutdown(shutdown()).await.map_err(ServerError::Io)
    })
}

async fn shutdown() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}
