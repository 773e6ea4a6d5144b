//! [`Node`]: one object over the engines and a host, for a runtime to own.

mod error;
mod worker;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};

use futures_channel::oneshot;
use podns_core::{
    Allocation, AllocationPolicy, CleanSubpaths, CleanupReport, GetOrCreate, Host, JoinSpec,
    MakeDir, NamespaceListing, NamespaceMode, NodeError, NodeRequest, NodeResponse, NsRemoval,
    OciIdMappings, ParentMaps, PidMode, PodSandbox, PodUid, PodUserNamespace, Pool, PrepareSubpath,
    PreparedSubpath, Problem, RecoveryReport, RelPath, Release, Root, RootLabels, RunDirPath,
    SubpathCleanReport, SubpathName, SubpathRequest, SubpathResponse, SubpathTarget, SweepReport,
    UsernsRequest, UsernsResponse,
};

pub use error::Error;
use worker::{Shared, Worker};

use crate::config::NodeConfig;
use crate::host::LinuxHost;

/// What a [`Node`] runs with: the validated pool, the seed and policy of
/// its allocator, its run directory and the real paths of its roots.
/// [`LinuxHost::open`] makes them from a [`NodeConfig`]; a test host makes
/// its own.
#[derive(Debug, Clone)]
pub struct NodeSettings {
    /// The pool.
    pub pool: Pool,
    /// Every random choice derives from it.
    pub seed: u64,
    /// How a free range is chosen.
    pub policy: AllocationPolicy,
    /// False for a node of subpath mounts only: it recovers nothing and
    /// refuses range and namespace requests.
    pub has_pods_dir: bool,
    /// The canonical run directory, or `None` for no pod namespaces.
    pub run_dir: Option<RunDirPath>,
    /// The real directories of the roots, for messages.
    pub labels: RootLabels,
    /// In a rootless user namespace, its own maps: pod maps are split
    /// against them ([`podns_core::NodeEngine::with_parent_maps`]).
    pub parent_maps: Option<ParentMaps>,
    /// Where the pool came from, in words ([`Node::pool_origin`]).
    pub pool_origin: String,
}

/// How a pod asks for its user namespace: kubelet's inputs to
/// `GetOrCreateUserNamespaceMappings`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsernsOptions {
    /// The pod spec's `hostUsers`: unset or true means NODE mode (no
    /// range), false means POD mode.
    pub host_users: Option<bool>,
    /// The RuntimeClass handler's name, for messages.
    pub runtime_handler: String,
    /// Whether that handler supports user namespaces; POD mode on one that
    /// does not is an error naming the handler.
    pub handler_supports_userns: bool,
}

impl UsernsOptions {
    /// `hostUsers: false` on a handler that supports user namespaces.
    pub fn pod_mode() -> Self {
        Self {
            host_users: Some(false),
            runtime_handler: String::new(),
            handler_supports_userns: true,
        }
    }
}

/// A subpath to bind-mount for a container (kubelet's subpath volume
/// mount).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSubpath {
    /// The volume's directory.
    pub volume: PathBuf,
    /// The file or directory to mount, relative to the volume
    /// ([`podns_core::parse_subpath`] makes one from text).
    pub subpath: RelPath,
    /// The pod's directory (kubelet's `<pods-dir>/<pod-uid>`).
    pub pod_dir: PathBuf,
    /// The mount point's names: volume, container, index.
    pub target: SubpathTarget,
    /// Idmap the mount with this pod's pinned user namespace (made by
    /// [`Node::create_pod_namespaces`]), so that the pod's IDs own what the
    /// host's own: host root's files are root's inside the pod, and what
    /// the pod's root creates is host root's on disk. `None` for a plain
    /// bind mount, through which the pod sees host-owned files as the
    /// overflow ID (65534).
    pub idmap_pod: Option<PodUid>,
}

/// A request for the node's thread, and where its result goes.
type Job<H> = Box<dyn FnOnce(&mut Worker<H>) + Send>;

/// The isolation state of one node's pods, owned by a runtime: ranges,
/// pinned namespaces and subpath mounts, crash-safe and shared safely with
/// other podns processes on the same directories.
///
/// # Methods, by group
/// - Opening: [`Node::open`] (Linux, from a [`NodeConfig`]),
///   [`Node::with_host`] (any [`Host`], e.g. the mock's); both recover the
///   pods directory once. [`Node::shutdown`] waits for the last request.
/// - User-namespace ranges (kubelet's `UsernsManager`):
///   [`Node::get_or_create_user_namespace`], [`Node::release`],
///   [`Node::cleanup_orphaned`].
/// - Pod namespaces (containerd's sandbox setup):
///   [`Node::create_pod_namespaces`], [`Node::join_spec`],
///   [`Node::remove_pod_namespaces`], [`Node::sweep`],
///   [`Node::list_namespaces`].
/// - Subpaths: [`Node::mount_subpath`], [`Node::clean_subpaths`],
///   [`Node::safe_make_dir`].
/// - Getters, without I/O and without waiting for a running request:
///   [`Node::allocation`], [`Node::allocations`], [`Node::problems`],
///   [`Node::capacity`], [`Node::free`], [`Node::recovery_report`]. They
///   show what this node knew after its last request; [`Node::refresh`]
///   re-reads what other processes changed since.
///
/// # What blocks, what is cancellation-safe, what the lock means
/// - **Nothing blocks the caller.** Every request runs on the node's own
///   thread (one per node); the futures only wait for its answer, on any
///   executor. The blocking form of any method is
///   [`crate::block_on`]`(node.method(..))`, outside an executor.
/// - **Dropping a future is always safe.** A request whose future is
///   dropped before the node's thread starts it never starts; one that has
///   started runs to completion (or to its rollback) and its result is
///   discarded. No drop leaves a slot reserved, a temp file behind or the
///   node busy.
/// - **One request at a time holds the lock.** Each request takes the
///   `flock` of `<pods-dir>/.podns.lock` (and of the run directory's for a
///   namespace request) and releases it when done, so other podns
///   processes and nodes wait at most for one request. Under the lock a
///   node reads the change counter kept in the lock file: when another
///   process moved it, the node reads the pods directory again before it
///   decides, so two writers never hand out one range. The common path is
///   one lock, one 21-byte read and no re-read.
///
/// `Node` is `Send + Sync`; share it with an `Arc` and call it from many
/// tasks at once: requests queue up on the node's thread.
pub struct Node<H: Host + 'static = LinuxHost> {
    jobs: mpsc::Sender<Job<H>>,
    shared: Arc<Shared>,
    /// Signalled when the node's thread has ended.
    finished: Mutex<Option<oneshot::Receiver<()>>>,
}

impl<H: Host + 'static> std::fmt::Debug for Node<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("labels", &self.shared.labels())
            .finish_non_exhaustive()
    }
}

impl Node<LinuxHost> {
    /// Opens the node `config` describes: creates the pods directory (and
    /// the run directory) when missing, opens them and their lock files,
    /// and recovers the pods directory once, keeping what recovery found
    /// ([`Node::recovery_report`]). Nothing runs on the caller's thread.
    pub async fn open(config: NodeConfig) -> Result<Node<LinuxHost>, Error> {
        Self::start(move || LinuxHost::open(&config)).await
    }
}

impl NodeSettings {
    /// Settings for a test host: `pool`, `seed`, kubelet's policy, a pods
    /// directory, and pod namespaces under `run_dir` when given.
    pub fn new(pool: Pool, seed: u64, run_dir: Option<RunDirPath>) -> Self {
        Self {
            pool,
            seed,
            policy: AllocationPolicy::default(),
            has_pods_dir: true,
            run_dir,
            labels: RootLabels::new(),
            parent_maps: None,
            pool_origin: "a test pool".to_owned(),
        }
    }
}

impl<H: Host + 'static> Node<H> {
    /// A node over `host` with `settings`: recovers the pods directory once.
    /// With the mock's host, an embedder's tests run this same node with
    /// faults and crashes.
    pub async fn with_host(host: H, settings: NodeSettings) -> Result<Node<H>, Error> {
        Self::start(move || Ok((host, settings))).await
    }

    async fn start(
        build: impl FnOnce() -> Result<(H, NodeSettings), Error> + Send + 'static,
    ) -> Result<Node<H>, Error> {
        let (jobs, queue) = mpsc::channel::<Job<H>>();
        let (ready, opened) = oneshot::channel();
        let (done, finished) = oneshot::channel();
        std::thread::Builder::new()
            .name("podns-node".to_owned())
            .spawn(move || {
                let started = build().and_then(|(host, settings)| Worker::start(host, settings));
                let mut worker = match started {
                    Ok((worker, shared)) => {
                        let _ = ready.send(Ok(shared));
                        worker
                    }
                    Err(error) => {
                        let _ = ready.send(Err(error));
                        return;
                    }
                };
                // Ends when every handle is gone.
                for job in queue {
                    job(&mut worker);
                }
                drop(worker);
                let _ = done.send(());
            })
            .map_err(|error| {
                Error::Host(podns_core::HostError {
                    kind: "io",
                    action: "start",
                    path: "the node's thread".to_owned(),
                    errno: podns_core::Errno(
                        error.raw_os_error().unwrap_or(podns_core::Errno::EAGAIN.0),
                    ),
                    hint: "the process may be out of threads or memory".to_owned(),
                })
            })?;
        let shared = opened.await.unwrap_or(Err(Error::Stopped))?;
        Ok(Node {
            jobs,
            shared,
            finished: Mutex::new(Some(finished)),
        })
    }

    /// Runs `work` on the node's thread. A future dropped before the
    /// thread takes the job up never runs it.
    async fn call<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Worker<H>) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let (reply, answer) = oneshot::channel();
        let job: Job<H> = Box::new(move |worker| {
            if reply.is_canceled() {
                return;
            }
            let _ = reply.send(work(worker));
        });
        self.jobs.send(job).map_err(|_| Error::Stopped)?;
        answer.await.unwrap_or(Err(Error::Stopped))
    }

    /// Runs `request` on the node's thread.
    async fn request(&self, request: NodeRequest) -> Result<NodeResponse, Error> {
        self.call(move |worker| worker.run(request)).await
    }

    /// kubelet's `GetOrCreateUserNamespaceMappings`: NODE mode when
    /// `hostUsers` is unset or true; otherwise the pod's range, allocated
    /// durably the first time and the same one afterwards; an error naming
    /// the handler when it does not support user namespaces.
    pub async fn get_or_create_user_namespace(
        &self,
        pod: &PodUid,
        options: UsernsOptions,
    ) -> Result<PodUserNamespace, Error> {
        let request = UsernsRequest::GetOrCreate(GetOrCreate {
            pod: pod.clone(),
            host_users: options.host_users,
            runtime_handler: options.runtime_handler,
            handler_supports_userns: options.handler_supports_userns,
        });
        match self.request(NodeRequest::Userns(request)).await? {
            NodeResponse::Userns(UsernsResponse::UserNamespace(userns)) => Ok(userns),
            other => Err(mismatched("get-or-create", &other)),
        }
    }

    /// Releases the pod's range: its file is removed and the removal made
    /// durable before the range can go to another pod. A pod without a
    /// range is a no-op.
    pub async fn release(&self, pod: &PodUid) -> Result<Release, Error> {
        let request = UsernsRequest::Release { pod: pod.clone() };
        match self.request(NodeRequest::Userns(request)).await? {
            NodeResponse::Userns(UsernsResponse::Released(release)) => Ok(release),
            other => Err(mismatched("release", &other)),
        }
    }

    /// kubelet's `CleanupOrphanedPodUsernsAllocations`: releases every
    /// range whose pod is neither in `pods` (known to the API server) nor in
    /// `running_pods`, and every range whose pod directory is gone. One
    /// failure does not stop the others (see [`CleanupReport::failures`]).
    pub async fn cleanup_orphaned(
        &self,
        pods: &BTreeSet<PodUid>,
        running_pods: &BTreeSet<PodUid>,
    ) -> Result<CleanupReport, Error> {
        let keep = pods.union(running_pods).cloned().collect();
        match self
            .request(NodeRequest::Userns(UsernsRequest::Cleanup { keep }))
            .await?
        {
            NodeResponse::Userns(UsernsResponse::CleanedUp(report)) => Ok(report),
            other => Err(mismatched("cleanup", &other)),
        }
    }

    /// Gets or creates the pod's range (POD mode) and its user and network
    /// namespaces with that range's maps, pinned under the run directory
    /// and checked against what the kernel applied; returns the pins and
    /// the OCI join spec of the sandbox container. A crashed create is
    /// repaired first; pins that do not match the range are refused.
    pub async fn create_pod_namespaces(&self, pod: &PodUid) -> Result<PodSandbox, Error> {
        let request = NodeRequest::CreatePodNamespaces { pod: pod.clone() };
        match self.request(request).await? {
            NodeResponse::PodNamespaces(sandbox) => Ok(*sandbox),
            other => Err(mismatched("create-pod-namespaces", &other)),
        }
    }

    /// Unmounts and removes the pod's pins (its range stays allocated).
    pub async fn remove_pod_namespaces(&self, pod: &PodUid) -> Result<NsRemoval, Error> {
        let request = NodeRequest::RemovePodNamespaces { pod: pod.clone() };
        match self.request(request).await? {
            NodeResponse::NamespacesRemoved(removal) => Ok(removal),
            other => Err(mismatched("remove-pod-namespaces", &other)),
        }
    }

    /// Removes every pin that should not be there: of a pod not in `keep`,
    /// of a pod without a range, incomplete, or not matching its range.
    pub async fn sweep(&self, keep: &BTreeSet<PodUid>) -> Result<SweepReport, Error> {
        let request = NodeRequest::SweepNamespaces { keep: keep.clone() };
        match self.request(request).await? {
            NodeResponse::Swept(report) => Ok(report),
            other => Err(mismatched("sweep", &other)),
        }
    }

    /// Every pod directory and pin of the run directory, and which of those
    /// pods have a range.
    pub async fn list_namespaces(&self) -> Result<NamespaceListing, Error> {
        match self.request(NodeRequest::ListNamespaces).await? {
            NodeResponse::Namespaces(listing) => Ok(listing),
            other => Err(mismatched("list-namespaces", &other)),
        }
    }

    /// The OCI `linux.namespaces`, `uidMappings` and `gidMappings` of a
    /// container of `pod`: network and user from its pins; IPC, UTS and (in
    /// POD mode) PID from `sandbox_pid`, or new ones for the sandbox itself.
    pub async fn join_spec(
        &self,
        pod: &PodUid,
        pid_mode: PidMode,
        sandbox_pid: Option<u32>,
    ) -> Result<JoinSpec, Error> {
        let request = NodeRequest::JoinSpec {
            pod: pod.clone(),
            pid_mode,
            sandbox_pid,
        };
        match self.request(request).await? {
            NodeResponse::JoinSpec(spec) => Ok(spec),
            other => Err(mismatched("join-spec", &other)),
        }
    }

    /// Bind-mounts a volume subpath on its mount point below the pod
    /// directory so that no symlink, rename race or magic link can mount
    /// anything outside the volume; mounting the same file again does
    /// nothing.
    ///
    /// With [`MountSubpath::idmap_pod`] the mount is idmapped with that
    /// pod's pinned user namespace, once its pins check out against its
    /// allocation (under the pods and run directories' locks); it is made
    /// again each time. A pod without an allocation or pins, pins that do
    /// not match, or a volume on a file system that cannot be idmapped is an
    /// error naming it, and nothing is left mounted.
    pub async fn mount_subpath(&self, mount: MountSubpath) -> Result<PreparedSubpath, Error> {
        let response = self
            .call(move |worker| {
                worker.open_subpath_root(Root::Volume, &mount.volume)?;
                let pod_dir = worker.open_subpath_root(Root::PodDir, &mount.pod_dir)?;
                let prepare = PrepareSubpath {
                    subpath: mount.subpath,
                    target: mount.target,
                    pod_dir,
                    idmap: None,
                };
                worker.run_subpath(match mount.idmap_pod {
                    None => NodeRequest::Subpath(SubpathRequest::Prepare(prepare)),
                    Some(pod) => NodeRequest::MountIdmappedSubpath { pod, prepare },
                })
            })
            .await?;
        match response {
            NodeResponse::Subpath(SubpathResponse::Prepared(prepared)) => Ok(prepared),
            other => Err(mismatched("mount-subpath", &other)),
        }
    }

    /// Unmounts and removes every subpath mount point of `volume` below
    /// `pod_dir`, never following a symlink, never removing anything
    /// recursively; what it cannot remove is listed in the report's `kept`.
    pub async fn clean_subpaths(
        &self,
        pod_dir: &Path,
        volume: &SubpathName,
    ) -> Result<SubpathCleanReport, Error> {
        let pod_dir = pod_dir.to_owned();
        let volume = volume.clone();
        let response = self
            .call(move |worker| {
                let pod_dir = worker.open_subpath_root(Root::PodDir, &pod_dir)?;
                worker.run_subpath(NodeRequest::Subpath(SubpathRequest::Clean(CleanSubpaths {
                    volume,
                    pod_dir,
                })))
            })
            .await?;
        match response {
            NodeResponse::Subpath(SubpathResponse::Cleaned(report)) => Ok(report),
            other => Err(mismatched("clean-subpaths", &other)),
        }
    }

    /// kubelet's `SafeMakeDir`: creates `subdir` and its missing parents
    /// below `base` with exactly `mode` (setgid, setuid and sticky bits
    /// kept), following the base's symlinks only while they stay inside it.
    /// True when the last component was created.
    pub async fn safe_make_dir(
        &self,
        base: &Path,
        subdir: &RelPath,
        mode: u32,
    ) -> Result<bool, Error> {
        let base = base.to_owned();
        let dir = subdir.clone();
        let response = self
            .call(move |worker| {
                worker.open_subpath_root(Root::Volume, &base)?;
                worker.run_subpath(NodeRequest::Subpath(SubpathRequest::MakeDir(MakeDir {
                    dir,
                    mode,
                })))
            })
            .await?;
        match response {
            NodeResponse::Subpath(SubpathResponse::MadeDir { created }) => Ok(created),
            other => Err(mismatched("safe-make-dir", &other)),
        }
    }

    /// Re-reads the pods directory if another process changed it since this
    /// node's last request, so that the getters show it; true when it did.
    pub async fn refresh(&self) -> Result<bool, Error> {
        self.call(|worker| worker.refresh_now()).await
    }

    /// Runs `inspect` on the host, on the node's thread, between requests
    /// (a test reads its counters, a dry run its plan).
    pub async fn with_host_mut<R: Send + 'static>(
        &self,
        inspect: impl FnOnce(&mut H) -> R + Send + 'static,
    ) -> Result<R, Error> {
        self.call(move |worker| Ok(inspect(&mut worker.host))).await
    }

    /// Waits until every request queued before it has finished, then ends
    /// the node's thread. Dropping a node without it lets the thread finish
    /// the queued requests on its own.
    pub async fn shutdown(self) {
        let finished = self
            .finished
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        drop(self.jobs);
        if let Some(finished) = finished {
            let _ = finished.await;
        }
    }

    /// The pod's range, when it has one it may be started with.
    pub fn allocation(&self, pod: &PodUid) -> Option<Allocation> {
        self.shared.engine().userns().allocation(pod)
    }

    /// The `linux.uidMappings`/`gidMappings` a runtime must use for `userns`
    /// (a pod's user namespace): its allocation's maps, split against the
    /// maps of the namespace podns runs in when that is not the initial one.
    /// NODE mode has none.
    pub fn runtime_mappings(&self, userns: &PodUserNamespace) -> Result<OciIdMappings, Error> {
        if userns.userns.mode != NamespaceMode::Pod {
            return Ok(userns.userns.to_oci());
        }
        let engine = self.shared.engine();
        let maps = engine.pod_id_maps(&userns.pod, &userns.userns)?;
        Ok(maps.to_oci())
    }

    /// Every pod with a range it may be started with, sorted by pod.
    pub fn allocations(&self) -> Vec<Allocation> {
        self.shared.engine().userns().allocations()
    }

    /// Every recorded problem, sorted by pod.
    pub fn problems(&self) -> Vec<Problem> {
        self.shared.engine().userns().problems()
    }

    /// Where the pool came from, in words: kubelet's default, the IDs a
    /// rootless namespace maps, a user's subordinate range (and whether
    /// `getsubids` or the files gave it), or an explicit range.
    pub fn pool_origin(&self) -> &str {
        &self.shared.pool_origin
    }

    /// Slots that can ever be handed out.
    pub fn capacity(&self) -> u32 {
        self.shared.engine().userns().capacity()
    }

    /// Slots free now.
    pub fn free(&self) -> u32 {
        self.shared.engine().userns().free()
    }

    /// What the last recovery found (at open, or when another process had
    /// changed the pods directory).
    pub fn recovery_report(&self) -> RecoveryReport {
        self.shared.report()
    }

    /// The real directories of the node's roots (the subpath roots as of
    /// the last subpath request), to name paths the way its messages do.
    pub fn labels(&self) -> RootLabels {
        self.shared.labels()
    }

    /// The canonical run directory, when the node has one.
    pub fn run_dir(&self) -> Option<&RunDirPath> {
        self.shared.run_dir.as_ref()
    }
}

/// The error for a response of another request, which no engine gives.
fn mismatched(request: &str, response: &NodeResponse) -> Error {
    Error::Node(NodeError::Internal(format!(
        "{request} was answered with {response:?}"
    )))
}
