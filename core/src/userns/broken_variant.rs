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
}

impl BrokenVariant {
    /// Every variant.
    pub const ALL: [BrokenVariant; 5] = [
        BrokenVariant::ReleaseFreesBeforeDirSync,
        BrokenVariant::NoTempFileSync,
        BrokenVariant::AckBeforeDirSync,
        BrokenVariant::RecoveryTrustsTempFile,
        BrokenVariant::NoSyncFsAtRecovery,
    ];
}
