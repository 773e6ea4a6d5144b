//! Which effects fail, and with which errno.

use podns_core::{Effect, Errno};

/// When a fault fires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultTrigger {
    /// Only the effect with this 0-based index (counted over every effect the
    /// backend has executed).
    Nth(u64),
    /// Every effect from this index on (a persistent fault).
    From(u64),
    /// Every effect of this kind (by [`Effect::name`]), persistently.
    Kind(&'static str),
}

/// One planned fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// When.
    pub trigger: FaultTrigger,
    /// The errno the effect fails with. The failed effect changes nothing,
    /// except where a real failure part-way would leave something behind:
    /// an [`Effect::WriteNewFile`] failing with `ENOSPC` or `EIO` leaves a
    /// file with the first half of the contents, and an
    /// [`Effect::CreatePodNamespaces`] failing with `EIO` can leave the
    /// network namespace pinned.
    pub errno: Errno,
    /// The effect takes place and still reports `errno` (a rename applied
    /// before its journal commit failed, a `write` that wrote, a mount that
    /// was made): FoundationDB's "commit unknown result". Only a mutating
    /// effect can be ambiguous; on another it is an ordinary failure.
    pub ambiguous: bool,
}

impl Fault {
    pub(crate) fn fires(&self, index: u64, effect: &Effect) -> bool {
        match &self.trigger {
            FaultTrigger::Nth(nth) => *nth == index,
            FaultTrigger::From(first) => index >= *first,
            FaultTrigger::Kind(kind) => effect.name() == *kind,
        }
    }
}
