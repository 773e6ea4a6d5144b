//! A kubelet-like runtime embedding podns on tokio: open the node once,
//! get-or-create the ranges and namespaces of several pods at once, hand each
//! its join spec, release a stopped pod, then clean up orphans.
//!
//! `kubelet-like --pods-dir DIR --run-dir DIR` (root: it pins namespaces).

use std::collections::BTreeSet;
use std::sync::Arc;

use podns_backend_linux::{Node, NodeConfig, PidMode, PodUid, UsernsOptions};
use podns_examples::dir_arg;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = NodeConfig::default()
        .with_pods_dir(dir_arg("pods-dir")?)
        .with_run_dir(dir_arg("run-dir")?);
    // Recovers once; a bad file is a problem to report, never a reason to stop.
    let node = Arc::new(Node::open(config).await?);
    for problem in node.recovery_report().problems {
        eprintln!("{}: {}", problem.pod, problem.message);
    }
    // The pod workers: each pod's sandbox is set up concurrently ("stale"
    // stands for a pod the API server has since forgotten).
    let pods: Vec<PodUid> = ["web", "db", "cache", "stale"]
        .into_iter()
        .map(PodUid::new)
        .collect::<Result<_, _>>()?;
    let mut workers = Vec::new();
    for pod in pods.clone() {
        let node = Arc::clone(&node);
        workers.push(tokio::spawn(async move {
            let userns = node
                .get_or_create_user_namespace(&pod, UsernsOptions::pod_mode())
                .await?;
            let sandbox = node.create_pod_namespaces(&pod).await?;
            let spec = node
                .join_spec(&pod, PidMode::Pod, Some(std::process::id()))
                .await?;
            println!(
                "{pod}: host IDs {}+{}, net pin {}, {} namespaces to join",
                userns.userns.uid_mappings[0].host_id,
                userns.userns.uid_mappings[0].length,
                sandbox.namespaces.net_pin,
                spec.namespaces.len()
            );
            Ok::<_, podns_backend_linux::Error>(())
        }));
    }
    for worker in workers {
        worker.await??;
    }
    // "db" stopped: its sandbox goes, then its range.
    let db = &pods[1];
    node.remove_pod_namespaces(db).await?;
    println!("db: released {}", node.release(db).await?.released);
    // Housekeeping: the API server knows "web", the runtime runs "cache";
    // pins of anyone else are swept, ranges of anyone else released.
    let known = BTreeSet::from([pods[0].clone()]);
    let running = BTreeSet::from([pods[2].clone()]);
    let keep: BTreeSet<PodUid> = known.union(&running).cloned().collect();
    let swept = node.sweep(&keep).await?;
    let cleaned = node.cleanup_orphaned(&known, &running).await?;
    println!(
        "housekeeping: {} swept, {} released, {} allocations left",
        swept.swept.len(),
        cleaned.released.len(),
        node.allocations().len()
    );
    // Node shutdown (the pods leave the node).
    for pod in &keep {
        node.remove_pod_namespaces(pod).await?;
        node.release(pod).await?;
    }
    Ok(())
}
