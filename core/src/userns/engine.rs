//! [`UsernsEngine`]: the state machine that decides every allocation, release,
//! recovery and cleanup of per-pod host ID ranges.

use std::collections::BTreeSet;

use super::broken_variant::BrokenVariant;
use super::mapping::IdMapping;
use super::ops::{ActiveOp, AllocateOp, CleanupOp, RecoverOp, ReleaseOp, Step};
use super::pool::{Pool, SlotIndex};
use super::problem::Problem;
use super::registry::{Claim, Registry};
use super::request::{GetOrCreate, PodUserNamespace, UsernsError, UsernsRequest, UsernsResponse};
use super::seeded_rng::SeededRng;
use super::{HostIdRange, UserNamespace, file_format::TEMP_FILE_PREFIX};
use crate::effect::{Effect, Outcome};
use crate::path::{PodUid, RootLabels};
use crate::request_slot::RequestSlot;

/// How a free slot is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AllocationPolicy {
    /// kubelet's behaviour: a seeded random start, then the next free slot.
    /// Ranges of pods that come and go are spread over the pool.
    #[default]
    RandomStartThenNextFree,
    /// Always the lowest free slot: the densest, most predictable layout.
    LowestFree,
}

/// One pod's allocation, as [`UsernsEngine::allocations`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    /// The pod.
    pub pod: PodUid,
    /// Its host IDs.
    pub range: HostIdRange,
    /// The mapping a runtime uses: container ID 0 to the range.
    pub mapping: IdMapping,
}

/// The user-namespace ID range engine. It performs no I/O: it hands out
/// [`Effect`]s and is told their [`Outcome`]s.
///
/// # Methods, by group
/// - Construction: [`UsernsEngine::new`].
/// - Commands: [`UsernsEngine::submit`] starts a [`UsernsRequest`].
/// - Driving: [`UsernsEngine::poll_effect`] returns the next effect to execute;
///   [`UsernsEngine::handle_outcome`] takes its result.
/// - Completion: [`UsernsEngine::poll_completion`] returns the request's result.
/// - Getters: [`UsernsEngine::allocations`], [`UsernsEngine::problems`],
///   [`UsernsEngine::capacity`], [`UsernsEngine::free`].
///
/// It follows the [`crate::Engine`] contract. What differs: the first
/// request must be [`UsernsRequest::Recover`] (any other fails with
/// [`UsernsError::NotRecovered`]), and `submit` reserves a slot in memory
/// before any file is written. Getters never change anything. Recovery
/// rebuilds the registry in the `poll_effect` that follows the outcome of its
/// final `syncfs`, and only then marks the engine recovered.
#[derive(Debug, Clone)]
pub struct UsernsEngine {
    registry: Registry,
    rng: SeededRng,
    policy: AllocationPolicy,
    recovered: bool,
    next_temp: u64,
    request: RequestSlot<ActiveOp, UsernsResponse, UsernsError>,
    broken: Option<BrokenVariant>,
}

impl UsernsEngine {
    /// An engine over `pool` whose random choices all derive from `seed`.
    pub fn new(pool: Pool, seed: u64, policy: AllocationPolicy) -> Self {
        Self {
            registry: Registry::new(pool),
            rng: SeededRng::new(seed),
            policy,
            recovered: false,
            next_temp: 0,
            request: RequestSlot::default(),
            broken: None,
        }
    }

    /// Runs a deliberately broken protocol from now on (simulator tests only).
    #[cfg(feature = "broken-variants")]
    #[doc(hidden)]
    pub fn set_broken_variant(&mut self, variant: Option<BrokenVariant>) {
        self.broken = variant;
    }

    /// Starts `request`. The result comes from [`UsernsEngine::poll_completion`]
    /// once [`UsernsEngine::poll_effect`] returns `None`; it may be ready at
    /// once, with no effect at all.
    pub fn submit(&mut self, request: UsernsRequest) -> Result<(), UsernsError> {
        if self.request.is_busy() {
            return Err(UsernsError::Busy);
        }
        if !self.recovered && !matches!(request, UsernsRequest::Recover | UsernsRequest::Inspect) {
            return Err(UsernsError::NotRecovered);
        }
        match self.start(request) {
            Ok(op) => self.request.start(op),
            Err(result) => self.request.finish_at_once(result),
        }
        Ok(())
    }

    /// The next effect to execute, or `None` when the request is complete (or
    /// when the previous effect's outcome has not been handed back yet).
    pub fn poll_effect(&mut self) -> Option<Effect> {
        self.request.poll(|op| {
            let step = op.poll(&mut self.registry);
            if matches!((&*op, &step), (ActiveOp::Recover(recover), Step::Finish(Ok(_))) if !recover.is_read_only())
            {
                self.recovered = true;
            }
            step
        })
    }

    /// The outcome of the effect last returned by
    /// [`UsernsEngine::poll_effect`]. Ignored when no effect is outstanding.
    pub fn handle_outcome(&mut self, outcome: Outcome) {
        self.request.handle(outcome, |op, outcome| {
            op.handle(&mut self.registry, outcome)
        });
    }

    /// The result of the submitted request, once it is complete.
    pub fn poll_completion(&mut self) -> Option<Result<UsernsResponse, UsernsError>> {
        self.request.poll_completion()
    }

    /// Names the roots in every message with `labels` (the real directories,
    /// when the caller knows them).
    pub fn set_root_labels(&mut self, labels: RootLabels) {
        self.registry.set_labels(labels);
    }

    /// True once a [`UsernsRequest::Recover`] has completed.
    pub fn is_recovered(&self) -> bool {
        self.recovered
    }

    /// The validated pool.
    pub fn pool(&self) -> &Pool {
        self.registry.pool()
    }

    /// Every pod with a known range it may be started with, sorted by pod.
    pub fn allocations(&self) -> Vec<Allocation> {
        self.registry
            .claims()
            .filter_map(|(pod, claim)| self.usable(pod, claim))
            .collect()
    }

    /// Every known range a pod claims, whether it may be started with or
    /// not (in doubt, conflicting, outside the pool): each keeps the slots it
    /// overlaps taken.
    pub fn claimed_ranges(&self) -> impl Iterator<Item = HostIdRange> + '_ {
        self.registry.claims().filter_map(|(_, claim)| match claim {
            Claim::Known(known) => Some(known.range),
            Claim::Unknown { .. } => None,
        })
    }

    /// The pod's range, when it has a known one it may be started with.
    pub fn allocation(&self, pod: &PodUid) -> Option<Allocation> {
        self.usable(pod, self.registry.claim(pod)?)
    }

    fn usable(&self, pod: &PodUid, claim: &Claim) -> Option<Allocation> {
        let Claim::Known(known) = claim else {
            return None;
        };
        let problem = self.registry.problem_of(pod);
        if problem.is_some_and(|problem| !problem.kind.keeps_mapping()) {
            return None;
        }
        Some(Allocation {
            pod: pod.clone(),
            range: known.range,
            mapping: IdMapping::root_to(known.range)?,
        })
    }

    /// Every recorded problem, sorted by pod.
    pub fn problems(&self) -> Vec<Problem> {
        self.registry.problems()
    }

    /// Slots that can ever be handed out.
    pub fn capacity(&self) -> u32 {
        self.registry.capacity()
    }

    /// Slots free now.
    pub fn free(&self) -> u32 {
        self.registry.free()
    }

    /// Heap bytes of the slot map (the allocator state beyond per-pod records).
    pub fn slot_map_heap_bytes(&self) -> usize {
        self.registry.slot_map_heap_bytes()
    }

    fn start(
        &mut self,
        request: UsernsRequest,
    ) -> Result<ActiveOp, Result<UsernsResponse, UsernsError>> {
        match request {
            UsernsRequest::Recover => Ok(ActiveOp::Recover(RecoverOp::new(self.broken))),
            UsernsRequest::Inspect => Ok(ActiveOp::Recover(RecoverOp::inspect())),
            UsernsRequest::GetOrCreate(request) => self.start_get_or_create(request),
            UsernsRequest::Release { pod } => ReleaseOp::of_claim(pod, &self.registry, self.broken)
                .map(ActiveOp::Release)
                .map_err(|nothing| Ok(UsernsResponse::Released(nothing))),
            UsernsRequest::Cleanup { keep } => {
                Ok(ActiveOp::Cleanup(CleanupOp::new(keep, self.broken)))
            }
        }
    }

    fn start_get_or_create(
        &mut self,
        request: GetOrCreate,
    ) -> Result<ActiveOp, Result<UsernsResponse, UsernsError>> {
        let GetOrCreate {
            pod,
            host_users,
            runtime_handler,
            handler_supports_userns,
        } = request;
        if host_users != Some(false) {
            return Err(Ok(UsernsResponse::UserNamespace(PodUserNamespace {
                pod,
                userns: UserNamespace::node(),
                created: false,
            })));
        }
        if !handler_supports_userns {
            return Err(Err(UsernsError::HandlerWithoutUserns {
                pod,
                handler: runtime_handler,
            }));
        }
        if let Some(existing) = self.registry.usable_mapping(&pod) {
            return Err(match existing {
                Ok(userns) => Ok(UsernsResponse::UserNamespace(PodUserNamespace {
                    pod,
                    userns,
                    created: false,
                })),
                Err(problem) => Err(UsernsError::PodProblem { problem }),
            });
        }
        let frozen_by = self.registry.unknown_claims();
        if !frozen_by.is_empty() {
            return Err(Err(UsernsError::AllocationsFrozen {
                pods: frozen_by.iter().cloned().collect(),
            }));
        }
        let start = self.start_slot();
        let Some(slot) = self.registry.reserve_slot(start) else {
            return Err(Err(UsernsError::PoolExhausted {
                capacity: self.registry.capacity(),
            }));
        };
        let range = self.registry.pool().slot_range(slot);
        let Some(mapping) = IdMapping::root_to(range) else {
            self.registry.unreserve_slot(slot);
            return Err(Err(UsernsError::PoolExhausted {
                capacity: self.registry.capacity(),
            }));
        };
        let temp_name = format!("{TEMP_FILE_PREFIX}{}", self.next_temp);
        self.next_temp += 1;
        Ok(ActiveOp::Allocate(AllocateOp::new(
            pod,
            slot,
            mapping,
            &temp_name,
            self.broken,
        )))
    }

    fn start_slot(&mut self) -> SlotIndex {
        match self.policy {
            AllocationPolicy::RandomStartThenNextFree => {
                self.rng.below(self.registry.pool().slot_count())
            }
            AllocationPolicy::LowestFree => 0,
        }
    }

    /// Pods in the registry, sorted.
    pub fn pods(&self) -> BTreeSet<PodUid> {
        self.registry.claims().map(|(pod, _)| pod.clone()).collect()
    }
}

crate::driver::impl_engine!(UsernsEngine, UsernsRequest, UsernsResponse, UsernsError);

#[cfg(test)]
mod tests {
    use async_trait::async_trait;

    use super::*;
    use crate::backend::Backend;
    use crate::driver::drive;
    use crate::effect::{EffectError, Observation};
    use crate::userns::PoolConfig;

    /// A pods directory that is empty: every listing is empty, every other
    /// effect succeeds.
    struct EmptyDisk;

    #[async_trait]
    impl Backend for EmptyDisk {
        async fn execute(&mut self, effect: &Effect) -> Result<Observation, EffectError> {
            Ok(match effect {
                Effect::ListDir { .. } => Observation::Listing(Vec::new()),
                _ => Observation::Done,
            })
        }
    }

    fn run(
        engine: &mut UsernsEngine,
        request: UsernsRequest,
    ) -> Result<UsernsResponse, UsernsError> {
        pollster::block_on(drive(engine, &mut EmptyDisk, request))
    }

    #[test]
    fn an_inspection_does_not_count_as_recovery() {
        let pool = PoolConfig::default().validate().unwrap();
        let mut engine = UsernsEngine::new(pool, 1, AllocationPolicy::LowestFree);
        let pod = PodUid::new("a").unwrap();
        assert!(run(&mut engine, UsernsRequest::Inspect).is_ok());
        assert!(!engine.is_recovered());
        assert_eq!(
            engine.submit(UsernsRequest::GetOrCreate(GetOrCreate::pod_mode(
                pod.clone()
            ))),
            Err(UsernsError::NotRecovered)
        );
        assert!(run(&mut engine, UsernsRequest::Recover).is_ok());
        assert!(engine.is_recovered());
        assert!(
            run(
                &mut engine,
                UsernsRequest::GetOrCreate(GetOrCreate::pod_mode(pod))
            )
            .is_ok()
        );
    }
}
