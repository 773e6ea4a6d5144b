//! What the simulated callers were told: the reference the invariants check
//! the node against.

use std::collections::{BTreeMap, BTreeSet};

use podns_core::HostIdRange;

/// Everything acknowledged so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Model {
    /// Pods whose allocation was acknowledged, with the range they were told.
    pub acknowledged: BTreeMap<String, HostIdRange>,
    /// Pods whose release was acknowledged and which nobody has tried to
    /// allocate since.
    pub released: BTreeSet<String>,
    /// Pods whose namespaces were acknowledged as created (and not removed
    /// since, nor lost with the power): a sweep must keep exactly their pins.
    pub pinned: BTreeSet<String>,
    /// Pods whose file was removed out of band since the node last read
    /// its pods directory: its answers for them come from memory.
    pub removed_out_of_band: BTreeSet<String>,
}

impl Model {
    /// The outcome of `pod` is no longer known (an operation on it failed or
    /// was cut short): neither its allocation nor its release is promised.
    pub fn forget(&mut self, pod: &str) {
        self.acknowledged.remove(pod);
        self.released.remove(pod);
        // Pins are only valid with the allocation they were made for.
        self.pinned.remove(pod);
    }
}
