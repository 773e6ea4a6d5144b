//! Subpath steps of the simulated node: mount a file or directory of the
//! volume, or clean a volume's mount points.

use podns_core::{
    CleanSubpaths, HostDir, PrepareSubpath, SubpathName, SubpathNameField, SubpathRequest,
    SubpathTarget, parse_subpath,
};

use super::{Attempt, Sim};
use crate::workload::{Op, Step};
use crate::world::POD_DIR;

impl Sim {
    /// A subpath step: mount a file or directory of the volume, or clean a
    /// volume's mount points.
    pub(super) fn attempt_subpath(&mut self, step: &Step, budget: usize) -> Attempt {
        let pod_dir = HostDir::parse(POD_DIR).expect("an absolute pod dir");
        let request = match &step.op {
            Op::SubpathMount { volume, index } => SubpathRequest::Prepare(PrepareSubpath {
                subpath: parse_subpath(if index % 2 == 0 { "config" } else { "dir" })
                    .expect("a clean subpath"),
                target: SubpathTarget::new(&format!("vol-{volume}"), "app", &index.to_string())
                    .expect("valid names"),
                pod_dir,
            }),
            Op::SubpathClean { volume } => SubpathRequest::Clean(CleanSubpaths {
                volume: SubpathName::new(SubpathNameField::Volume, &format!("vol-{volume}"))
                    .expect("a valid name"),
                pod_dir,
            }),
            _ => unreachable!("only subpath steps come here"),
        };
        let start = self.arm_fault(step);
        let result = self.world.drive_subpath(request, budget);
        let witness = self.disarm_fault(step, start);
        self.record_effects();
        match result {
            Some(result) => {
                let result = result.map_err(|error| error.to_string());
                self.trace
                    .record(&format!("{result:?}"), || format!("  => {result:?}"));
                Attempt::CompletedSubpath(result, witness)
            }
            None => Attempt::Interrupted,
        }
    }
}
