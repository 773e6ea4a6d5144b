//! Pod-namespace steps of the simulated node: `ns create` (which allocates
//! the pod's range first, as the CLI does), `ns remove` and `ns sweep`, and
//! what the model learns from them.

use std::collections::BTreeMap;

use podns_core::{
    GetOrCreate, NsRequest, NsResponse, PodIdMaps, PodUid, Request, Response, UserNamespace,
};

use super::{Attempt, Sim, pod_name, pod_uid};
use crate::workload::{Op, Step};

impl Sim {
    /// A namespace step: `ns create` allocates the pod's range first, as the
    /// CLI does; `ns sweep` keeps the pods whose pins were acknowledged.
    pub(super) fn attempt_namespaces(&mut self, step: &Step, budget: usize) -> Attempt {
        let run = self.run_armed(step, |sim, start| match &step.op {
            Op::NsCreate { pod } => sim.create_namespaces(*pod, start, budget),
            Op::NsRemove { pod } => {
                sim.drive_namespaces(NsRequest::Remove { pod: pod_uid(*pod) }, budget)
            }
            _ => {
                let keep = sim
                    .model
                    .pinned
                    .iter()
                    .map(|pod| PodUid::new(pod.clone()).expect("valid"))
                    .collect();
                let allocations = sim.allocation_maps();
                sim.drive_namespaces(NsRequest::Sweep { keep, allocations }, budget)
            }
        });
        match run {
            Some((result, witness)) => Attempt::CompletedNamespaces(result, witness),
            None => Attempt::Interrupted,
        }
    }

    /// Runs a namespace request; the error is rendered, as every other
    /// failure of a namespace step is.
    fn drive_namespaces(
        &mut self,
        request: NsRequest,
        budget: usize,
    ) -> Option<Result<NsResponse, String>> {
        self.world
            .drive_namespaces(request, budget)
            .map(|result| result.map_err(|error| error.to_string()))
    }

    fn create_namespaces(
        &mut self,
        pod: u8,
        start: u64,
        budget: usize,
    ) -> Option<Result<NsResponse, String>> {
        let name = pod_name(pod);
        self.model.released.remove(&name);
        let allocated = self.world.drive(
            Request::GetOrCreate(GetOrCreate::pod_mode(pod_uid(pod))),
            budget,
        )?;
        let userns = match allocated {
            Ok(Response::UserNamespace(userns)) => userns,
            Ok(other) => return Some(Err(format!("unexpected {other:?}"))),
            Err(error) => return Some(Err(error.to_string())),
        };
        if let Some(mapping) = userns.userns.uid_mappings.first() {
            self.model.acknowledged.insert(name, mapping.host_range());
        }
        let maps = match PodIdMaps::from_userns(&userns.userns) {
            Ok(maps) => maps,
            Err(error) => return Some(Err(error.to_string())),
        };
        let used = (self.world.effects_executed() - start) as usize;
        self.drive_namespaces(
            NsRequest::Create {
                pod: pod_uid(pod),
                maps,
            },
            budget.saturating_sub(used),
        )
    }

    /// Every allocation's maps, as `podns ns sweep` passes them.
    fn allocation_maps(&self) -> BTreeMap<PodUid, PodIdMaps> {
        self.world
            .engine
            .allocations()
            .into_iter()
            .filter_map(|allocation| {
                let maps = PodIdMaps::from_userns(&UserNamespace::pod(allocation.mapping)).ok()?;
                Some((allocation.pod, maps))
            })
            .collect()
    }

    /// Updates the model after a namespace step; true when it was a
    /// completed sweep (after which pins must match the model exactly).
    pub(super) fn learn_namespaces(
        &mut self,
        op: &Op,
        result: &Result<NsResponse, String>,
    ) -> bool {
        match (op, result) {
            (Op::NsCreate { pod }, Ok(NsResponse::Created(_))) => {
                self.model.pinned.insert(pod_name(*pod));
                false
            }
            (Op::NsCreate { pod } | Op::NsRemove { pod }, _) => {
                self.model.pinned.remove(&pod_name(*pod));
                false
            }
            (Op::NsSweep, Ok(NsResponse::Swept(report))) => report.failures.is_empty(),
            _ => false,
        }
    }
}
