//! Subpath steps of the simulated node: mount a file or directory of the
//! volume, or clean a volume's mount points.

use podns_core::{
    CleanSubpaths, HostDir, PrepareSubpath, SubpathName, SubpathNameField, SubpathRequest,
    SubpathTarget, parse_subpath,
};

use super::{Attempt, Sim};
use crate::workload::Step;
use crate::world::POD_DIR;

fn pod_dir() -> HostDir {
    HostDir::parse(POD_DIR).expect("an absolute pod dir")
}

/// Mounts, at `index` of the volume's container `app`, its file `config`
/// (even indexes) or its directory `dir` (odd ones).
pub(super) fn mount_request(volume: u8, index: u8) -> SubpathRequest {
    SubpathRequest::Prepare(PrepareSubpath {
        subpath: parse_subpath(if index % 2 == 0 { "config" } else { "dir" })
            .expect("a clean subpath"),
        target: SubpathTarget::new(&format!("vol-{volume}"), "app", &index.to_string())
            .expect("valid names"),
        pod_dir: pod_dir(),
    })
}

/// Cleans the volume's mount points.
pub(super) fn clean_request(volume: u8) -> SubpathRequest {
    SubpathRequest::Clean(CleanSubpaths {
        volume: SubpathName::new(SubpathNameField::Volume, &format!("vol-{volume}"))
            .expect("a valid name"),
        pod_dir: pod_dir(),
    })
}

impl Sim {
    /// A subpath step: mount a file or directory of the volume, or clean a
    /// volume's mount points.
    pub(super) fn attempt_subpath(
        &mut self,
        step: &Step,
        request: SubpathRequest,
        budget: usize,
    ) -> Attempt {
        let run = self.run_armed(step, |sim, _| {
            sim.world
                .drive_subpath(request, budget)
                .map(|result| result.map_err(|error| error.to_string()))
        });
        match run {
            Some((result, witness)) => Attempt::CompletedSubpath(result, witness),
            None => Attempt::Interrupted,
        }
    }
}
