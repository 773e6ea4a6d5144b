//! How long an async runtime's other tasks wait while podns works: the
//! longest gap between the ticks of a 1 ms ticker on a current-thread
//! runtime during durable allocations on the disk, with the engine driven
//! on the runtime's own thread (what an embedder had to do before `Node`)
//! and through a `Node` (whose requests run on its own thread).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use podns_backend_linux::{LinuxBackend, Node, NodeConfig, PodUid, UsernsOptions};
use podns_core::{GetOrCreate, UsernsRequest, drive};
use serde::{Deserialize, Serialize};

use crate::fixtures::default_engine;

/// Where `benches/ticker_gap.rs` leaves its figures for the summary.
pub const RESULT_FILE: &str = "target/podns-bench/ticker_gap.json";

/// One run of both ways.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TickerGaps {
    /// Allocations made each way.
    pub allocations: u32,
    /// Longest gap, driving the engine on the runtime's thread (ms).
    pub before_ms: f64,
    /// Longest gap, through a `Node` (ms).
    pub after_ms: f64,
    /// Wall time of the allocations driven on the runtime's thread (ms).
    pub before_total_ms: f64,
    /// Wall time of the allocations through a `Node` (ms).
    pub after_total_ms: f64,
}

/// Runs `work` on a current-thread runtime beside a 1 ms ticker; returns
/// the longest gap between two ticks and the time `work` took.
fn beside_a_ticker<F: std::future::Future<Output = ()>>(work: F) -> (Duration, Duration) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    let stop = Arc::new(AtomicBool::new(false));
    let longest = Arc::new(AtomicU64::new(0));
    runtime.block_on(async {
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let ticker = tokio::spawn({
            let (stop, longest) = (Arc::clone(&stop), Arc::clone(&longest));
            async move {
                let mut interval = tokio::time::interval(Duration::from_millis(1));
                interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                interval.tick().await;
                let mut last = Instant::now();
                let _ = started_tx.send(());
                while !stop.load(Ordering::Relaxed) {
                    interval.tick().await;
                    let now = Instant::now();
                    let gap = now.duration_since(last).as_nanos() as u64;
                    longest.fetch_max(gap, Ordering::Relaxed);
                    last = now;
                }
            }
        });
        // The work starts once the ticker has taken its first tick.
        started_rx.await.expect("the ticker starts");
        let started = Instant::now();
        work.await;
        let took = started.elapsed();
        // One more tick measures the gap the work's end left open.
        tokio::time::sleep(Duration::from_millis(2)).await;
        stop.store(true, Ordering::Relaxed);
        ticker.await.expect("the ticker ends");
        (Duration::from_nanos(longest.load(Ordering::Relaxed)), took)
    })
}

fn pod(index: u32) -> PodUid {
    PodUid::new(format!("ticker-pod-{index}")).expect("a valid pod UID")
}

/// Both ways, `allocations` durable allocations each, in fresh pods
/// directories below `parent`.
pub fn measure(parent: &Path, allocations: u32) -> TickerGaps {
    let before_dir = tempfile::tempdir_in(parent).expect("a temp dir");
    let mut backend = LinuxBackend::open(before_dir.path()).expect("open");
    let mut engine = default_engine();
    let (before, before_total) = beside_a_ticker(async {
        drive(&mut engine, &mut backend, UsernsRequest::Recover)
            .await
            .expect("recovery");
        for index in 0..allocations {
            let request = UsernsRequest::GetOrCreate(GetOrCreate::pod_mode(pod(index)));
            drive(&mut engine, &mut backend, request)
                .await
                .expect("allocation");
        }
    });
    let after_dir = tempfile::tempdir_in(parent).expect("a temp dir");
    let config = NodeConfig::default()
        .with_pods_dir(after_dir.path())
        .without_namespaces()
        .with_seed(1);
    let (after, after_total) = beside_a_ticker(async {
        let node = Node::open(config).await.expect("open");
        for index in 0..allocations {
            node.get_or_create_user_namespace(&pod(index), UsernsOptions::pod_mode())
                .await
                .expect("allocation");
        }
        node.shutdown().await;
    });
    let ms = |duration: Duration| duration.as_secs_f64() * 1e3;
    TickerGaps {
        allocations,
        before_ms: ms(before),
        after_ms: ms(after),
        before_total_ms: ms(before_total),
        after_total_ms: ms(after_total),
    }
}
