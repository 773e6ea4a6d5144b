/// Deliberately broken versions of the crash-safety protocol.
///
/// They exist only so that the simulator can prove it catches each kind of
/// mistake (a simulator that cannot fail proves nothing). They can only be
/// selected with the `broken-variants` feature, which nothing but the
/// simulator's tests enables.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokenVariant {
    /// Release acknowledges (and frees the slot) right after the unlink,
    /// without syncing the pod directory: kubelet's behaviour.
    ReleaseFreesBeforeDirSync,
    /// Allocation renames the temp file into place without syncing it first.
    NoTempFileSync,
    /// Allocation acknowledges right after the rename, before the directory
    /// sync.
    AckBeforeDirSync,
    /// Recovery reads a temp file as the pod's `userns` when there is no
    /// `userns`, and leaves it in place.
    RecoveryTrustsTempFile,
    /// Recovery skips its final `syncfs`.
    NoSyncFsAtRecovery,
    /// Release takes a failed removal of the `userns` file to mean that
    /// nothing changed, without looking: wrong when the removal took place
    /// and still reported an error (an ambiguous failure).
    ReleaseTrustsFailedRemoval,
    /// Release of a pod whose file is already gone (removed out of band,
    /// unsynced) frees the slot without syncing that absence.
    ReleaseOfMissingFileSkipsSync,
}

impl BrokenVariant {
    /// Every variant.
    pub const ALL: [BrokenVariant; 7] = [
        BrokenVariant::ReleaseFreesBeforeDirSync,
        BrokenVariant::NoTempFileSync,
        BrokenVariant::AckBeforeDirSync,
        BrokenVariant::RecoveryTrustsTempFile,
        BrokenVariant::NoSyncFsAtRecovery,
        BrokenVariant::ReleaseTrustsFailedRemoval,
        BrokenVariant::ReleaseOfMissingFileSkipsSync,
    ];
}
