//! Subpath steps of the simulated node: mount a file or directory of the
//! volume, or clean a volume's mount points.

use podns_core::{
    CleanSubpaths, HostDir, NodeRequest, NodeResponse, PrepareSubpath, SubpathName,
    SubpathNameField, SubpathRequest, SubpathTarget, parse_subpath,
};

use super::{Attempt, Sim, pod_uid};
use crate::workload::Step;
use crate::world::POD_DIR;

fn pod_dir() -> HostDir {
    HostDir::parse(POD_DIR).expect("an absolute pod dir")
}

/// Mounts, at `index` of the volume's container `app`, its file `config`
/// (even indexes) or its directory `dir` (odd ones); idmapped with
/// `pod-P`'s pinned user namespace for `idmap_pod` `Some(P)`, which the node
/// finds first.
pub(super) fn mount_request(volume: u8, index: u8, idmap_pod: Option<u8>) -> NodeRequest {
    let prepare = PrepareSubpath {
        subpath: parse_subpath(if index % 2 == 0 { "config" } else { "dir" })
            .expect("a clean subpath"),
        target: SubpathTarget::new(&format!("vol-{volume}"), "app", &index.to_string())
            .expect("valid names"),
        pod_dir: pod_dir(),
        idmap: None,
    };
    match idmap_pod {
        Some(pod) => NodeRequest::MountIdmappedSubpath {
            pod: pod_uid(pod),
            prepare,
        },
        None => NodeRequest::Subpath(SubpathRequest::Prepare(prepare)),
    }
}

/// Cleans the volume's mount points.
pub(super) fn clean_request(volume: u8) -> NodeRequest {
    NodeRequest::Subpath(SubpathRequest::Clean(CleanSubpaths {
        volume: SubpathName::new(SubpathNameField::Volume, &format!("vol-{volume}"))
            .expect("a valid name"),
        pod_dir: pod_dir(),
    }))
}

impl Sim {
    /// A subpath step: mount a file or directory of the volume, or clean a
    /// volume's mount points.
    /// The node drives it, as the library's `Node` does: an idmapped mount
    /// lists the pins first.
    pub(super) fn attempt_subpath(
        &mut self,
        step: &Step,
        request: NodeRequest,
        budget: usize,
    ) -> Attempt {
        let run = self.run_armed(step, |sim, _| {
            sim.world
                .drive_node(request, budget)
                .map(|result| match result {
                    Ok(NodeResponse::Subpath(response)) => Ok(response),
                    Ok(other) => Err(format!("a subpath request was answered with {other:?}")),
                    Err(error) => Err(error.to_string()),
                })
        });
        match run {
            Some((result, witness)) => Attempt::CompletedSubpath(result, witness),
            None => Attempt::Interrupted,
        }
    }
}
