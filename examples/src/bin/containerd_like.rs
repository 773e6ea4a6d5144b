//! A containerd-like sandbox set-up with podns, through the blocking form
//! of the node's calls: allocate the pod's range and pin its namespaces,
//! hand the runtime its OCI join spec, bind-mount a volume subpath for a
//! container, then tear everything down in reverse.
//!
//! `containerd-like --pods-dir DIR --run-dir DIR --volume DIR` (root).

use podns_backend_linux::{
    MountSubpath, Node, NodeConfig, PodUid, RelPath, SubpathName, SubpathNameField, SubpathTarget,
    block_on, parse_subpath,
};
use podns_examples::dir_arg;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pods_dir = dir_arg("pods-dir")?;
    let volume = dir_arg("volume")?;
    let config = NodeConfig::default()
        .with_pods_dir(&pods_dir)
        .with_run_dir(dir_arg("run-dir")?);
    let node = block_on(Node::open(config))?;
    let pod = PodUid::new("sandbox-1")?;

    // RunPodSandbox: range, pinned user + network namespaces, join spec.
    let sandbox = block_on(node.create_pod_namespaces(&pod))?;
    println!("spec: {}", serde_json::to_string(&sandbox.join_spec)?);

    // A container's volume mount with a subpath, made before it starts and
    // idmapped with the pod's user namespace, so the pod's root owns it.
    block_on(node.safe_make_dir(&volume, &RelPath::parse("data/logs")?, 0o2750))?;
    let pod_dir = pods_dir.join(pod.as_str());
    let mounted = block_on(node.mount_subpath(MountSubpath {
        volume,
        subpath: parse_subpath("data")?,
        pod_dir: pod_dir.clone(),
        target: SubpathTarget::new("vol", "app", "0")?,
        idmap_pod: Some(pod.clone()),
    }))?;
    println!("mounted {}", mounted.host_path);

    // StopPodSandbox + RemovePodSandbox, in reverse.
    let volume_name = SubpathName::new(SubpathNameField::Volume, "vol")?;
    let cleaned = block_on(node.clean_subpaths(&pod_dir, &volume_name))?;
    let removed = block_on(node.remove_pod_namespaces(&pod))?;
    let released = block_on(node.release(&pod))?;
    println!(
        "teardown: {} unmounted, {} pins unmounted, range released: {}",
        cleaned.unmounted.len(),
        removed.unmounted,
        released.released
    );
    Ok(())
}
