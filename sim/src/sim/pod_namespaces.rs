//! Pod-namespace steps of the simulated node: `ns create` (the node's flow,
//! which allocates the pod's range first), `ns remove` and `ns sweep`, and
//! what the model learns from them.

use podns_core::{NodeRequest, NodeResponse, PodUid};

use super::{Attempt, Sim, pod_name, pod_uid};
use crate::workload::{Op, Step};

impl Sim {
    /// A namespace step: `ns sweep` keeps the pods whose pins were
    /// acknowledged.
    pub(super) fn attempt_namespaces(&mut self, step: &Step, budget: usize) -> Attempt {
        let request = match &step.op {
            Op::NsCreate { pod } => {
                self.model.released.remove(&pod_name(*pod));
                NodeRequest::CreatePodNamespaces { pod: pod_uid(*pod) }
            }
            Op::NsRemove { pod } => NodeRequest::RemovePodNamespaces { pod: pod_uid(*pod) },
            _ => NodeRequest::SweepNamespaces {
                keep: self
                    .model
                    .pinned
                    .iter()
                    .map(|pod| PodUid::new(pod.clone()).expect("valid"))
                    .collect(),
            },
        };
        let run = self.run_armed(step, |sim, _| {
            sim.world
                .drive_node(request, budget)
                .map(|result| result.map_err(|error| error.to_string()))
        });
        if let Op::NsCreate { pod } = &step.op {
            self.learn_allocation(*pod);
        }
        match run {
            Some((result, witness)) => Attempt::CompletedNamespaces(result, witness),
            None => Attempt::Interrupted,
        }
    }

    /// A create allocates the pod's range before anything else: once the
    /// engine holds it, it was acknowledged durably, even when the rest of
    /// the create failed or a crash cut it short.
    fn learn_allocation(&mut self, pod: u8) {
        // Answered from memory after an out-of-band removal: no promise.
        if self.model.removed_out_of_band.contains(&pod_name(pod)) {
            return;
        }
        if let Some(allocation) = self.world.engine().allocation(&pod_uid(pod)) {
            self.model
                .acknowledged
                .insert(pod_name(pod), allocation.mapping.host_range());
        }
    }

    /// Updates the model after a namespace step; true when it was a
    /// completed sweep (after which pins must match the model exactly).
    pub(super) fn learn_namespaces(
        &mut self,
        op: &Op,
        result: &Result<NodeResponse, String>,
    ) -> bool {
        match (op, result) {
            (Op::NsCreate { pod }, Ok(NodeResponse::PodNamespaces(_)))
                if !self.model.removed_out_of_band.contains(&pod_name(*pod)) =>
            {
                self.model.pinned.insert(pod_name(*pod));
                false
            }
            (Op::NsCreate { pod } | Op::NsRemove { pod }, _) => {
                self.model.pinned.remove(&pod_name(*pod));
                false
            }
            (Op::NsSweep, Ok(NodeResponse::Swept(report))) => report.failures.is_empty(),
            _ => false,
        }
    }
}
