//! The HTTP side of `zombietrace serve`, on the tracer's own event loop (axum on tokio):
//! `GET /metrics` (OpenMetrics text) and `GET /healthz` (200 once every probe is attached,
//! 503 before and while stopping). A scrape only reads the metrics' atomics; a client that
//! never reads its answer holds only its own connection.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use anyhow::{Context as _, Result};
use axum::{
    Router,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::IntoResponse,
    routing::get,
};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

use crate::output::exposition::{render, render_classic};

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const CLASSIC: &str = "text/plain; version=0.0.4; charset=utf-8";

struct Shared {
    registry: Registry,
    ready: AtomicBool,
}

/// Whether `/healthz` says ready.
#[derive(Clone)]
pub struct Readiness(Arc<Shared>);

impl Readiness {
    pub fn set(&self, ready: bool) {
        self.0.ready.store(ready, Ordering::SeqCst);
    }
}

/// Binds the address first of all (before anything is loaded), so a port in use is the first
/// and only error.
pub async fn bind(listen: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))
}

/// Starts serving on the current runtime; not ready until told.
pub fn start(listener: TcpListener, registry: Registry) -> Readiness {
    let shared = Arc::new(Shared {
        registry,
        ready: AtomicBool::new(false),
    });
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .with_state(shared.clone());
    tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, app).await {
            eprintln!("zombietrace: the metrics server stopped: {err}");
        }
    });
    Readiness(shared)
}

/// OpenMetrics for a scraper that asks for it (Prometheus does), the classic text format for
/// the rest.
async fn metrics(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> impl IntoResponse {
    let open = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    if open {
        (
            [(header::CONTENT_TYPE, OPENMETRICS)],
            render(&shared.registry),
        )
    } else {
        (
            [(header::CONTENT_TYPE, CLASSIC)],
            render_classic(&shared.registry),
        )
    }
}

async fn healthz(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    if shared.ready.load(Ordering::SeqCst) {
        (StatusCode::OK, "ok\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: attaching or stopping\n",
        )
    }
}
