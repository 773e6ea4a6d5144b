//! The exact effect lists of subpath prepares and cleans against the mock
//! backend, each effect with its outcome, reviewed as snapshots.

use podns_backend_mock::{MockBackend, Node};
use podns_core::{
    CleanSubpaths, Effect, Errno, HostDir, Observation, PrepareSubpath, Root, SubpathEngine,
    SubpathError, SubpathName, SubpathNameField, SubpathRequest, SubpathResponse, SubpathTarget,
    drive, parse_subpath,
};
use podns_tests::{mock_volume, paths_below, root_path, trace};

const POD_DIR: &str = "/var/lib/kubelet/pods/pod-1";
const VOLUME_DIR: &str = "/var/lib/kubelet/pods/pod-1/volumes/kubernetes.io~empty-dir/data";

struct Node1 {
    backend: MockBackend,
}

impl Node1 {
    /// A pod directory and a volume holding `data/` (with a file), a file
    /// `config`, `inside -> data` and `escape -> /`.
    fn new() -> Self {
        let backend = mock_volume(
            POD_DIR,
            VOLUME_DIR,
            vec![
                ("data/file", Node::durable_file("inside")),
                ("config", Node::durable_file("key=value")),
                ("inside", Node::symlink("data")),
                ("escape", Node::symlink("/")),
                ("up", Node::symlink("data/../..")),
            ],
        );
        Self { backend }
    }

    fn plant(&mut self, root: Root, text: &str, node: Node) {
        self.mock().fs_mut().plant(&root_path(root, text), node);
    }

    fn mock(&mut self) -> &mut MockBackend {
        &mut self.backend
    }

    fn run(
        &mut self,
        request: SubpathRequest,
    ) -> (Result<SubpathResponse, SubpathError>, Vec<String>) {
        self.backend.take_log();
        let mut engine = SubpathEngine::new();
        let result = pollster::block_on(drive(&mut engine, &mut self.backend, request));
        (result, trace(&self.backend.take_log()))
    }

    fn prepare(
        &mut self,
        subpath: &str,
        container: &str,
        index: &str,
    ) -> (Result<SubpathResponse, SubpathError>, Vec<String>) {
        self.run(SubpathRequest::Prepare(PrepareSubpath {
            subpath: parse_subpath(subpath).unwrap(),
            target: SubpathTarget::new("data", container, index).unwrap(),
            pod_dir: HostDir::parse(POD_DIR).unwrap(),
            idmap: None,
        }))
    }

    fn clean(&mut self, volume: &str) -> (Result<SubpathResponse, SubpathError>, Vec<String>) {
        self.run(SubpathRequest::Clean(CleanSubpaths {
            volume: SubpathName::new(SubpathNameField::Volume, volume).unwrap(),
            pod_dir: HostDir::parse(POD_DIR).unwrap(),
        }))
    }

    /// Every mount as `mount point <- source path`.
    fn mounts(&mut self) -> Vec<String> {
        let mounts = self.mock().mounts().clone();
        mounts
            .iter()
            .map(|(point, mount)| format!("{point} <- {:?}", mount.source))
            .collect()
    }

    /// Every path below the pod directory.
    fn pod_paths(&mut self) -> Vec<String> {
        paths_below(&self.backend, Root::PodDir)
    }
}

fn prepared(result: Result<SubpathResponse, SubpathError>) -> podns_core::PreparedSubpath {
    match result {
        Ok(SubpathResponse::Prepared(prepared)) => prepared,
        other => panic!("not prepared: {other:?}"),
    }
}

fn cleaned(result: Result<SubpathResponse, SubpathError>) -> podns_core::SubpathCleanReport {
    match result {
        Ok(SubpathResponse::Cleaned(report)) => report,
        other => panic!("not cleaned: {other:?}"),
    }
}

#[test]
fn prepare_a_directory_subpath() {
    let mut node = Node1::new();
    let (result, trace) = node.prepare("data", "app", "0");
    let prepared = prepared(result);
    assert_eq!(
        prepared.host_path,
        format!("{POD_DIR}/volume-subpaths/data/app/0")
    );
    assert!(!prepared.already_mounted);
    assert_eq!(node.mounts().len(), 1);
    insta::assert_yaml_snapshot!(trace);
}

#[test]
fn prepare_a_file_subpath() {
    let mut node = Node1::new();
    let (result, trace) = node.prepare("config", "app", "1");
    prepared(result);
    insta::assert_yaml_snapshot!(trace);
}

#[test]
fn a_symlink_inside_the_volume_is_followed() {
    let mut node = Node1::new();
    let (result, _) = node.prepare("data", "app", "0");
    let direct = prepared(result).source;
    let (result, trace) = node.prepare("inside/../inside", "app", "1");
    assert_eq!(prepared(result).source, direct);
    insta::assert_yaml_snapshot!(trace);
}

#[test]
fn preparing_the_same_file_again_does_nothing() {
    let mut node = Node1::new();
    prepared(node.prepare("data", "app", "0").0);
    let (result, trace) = node.prepare("inside", "app", "0");
    assert!(prepared(result).already_mounted);
    assert_eq!(node.mounts().len(), 1);
    insta::assert_yaml_snapshot!(trace);
}

#[test]
fn a_mount_of_another_file_is_replaced() {
    let mut node = Node1::new();
    node.plant(Root::Volume, "other", Node::empty_dir());
    prepared(node.prepare("other", "app", "0").0);
    let (result, trace) = node.prepare("data", "app", "0");
    let prepared = prepared(result);
    assert_eq!(prepared.replaced_mounts, 1);
    assert_eq!(node.mounts().len(), 1);
    insta::assert_yaml_snapshot!(trace);
}

#[test]
fn symlinks_out_of_the_volume_mount_nothing() {
    for subpath in ["escape", "escape/etc", "up", "up/etc"] {
        let mut node = Node1::new();
        let (result, trace) = node.prepare(subpath, "app", "0");
        match result {
            Err(SubpathError::Unsafe { errno, .. }) => assert_eq!(errno, Errno::EXDEV),
            other => panic!("{subpath}: {other:?}"),
        }
        assert!(node.mounts().is_empty(), "{subpath}");
        assert!(node.pod_paths().is_empty(), "{subpath}");
        if subpath == "escape" {
            insta::assert_yaml_snapshot!(trace);
        }
    }
}

#[test]
fn a_missing_subpath_is_reported_and_nothing_is_created() {
    let mut node = Node1::new();
    let (result, _) = node.prepare("nope", "app", "0");
    assert!(
        matches!(result, Err(SubpathError::Missing { .. })),
        "{result:?}"
    );
    assert!(node.pod_paths().is_empty());
}

#[test]
fn a_failed_bind_is_rolled_back_up_to_the_first_non_empty_directory() {
    let mut node = Node1::new();
    prepared(node.prepare("data", "other-app", "0").0);
    // The bind of the next prepare is its fifth effect.
    let next = node.mock().executed();
    node.mock().fail_nth(next + 4, Errno::EPERM);
    let (result, trace) = node.prepare("data", "app", "0");
    assert!(
        matches!(&result, Err(SubpathError::Io { source, .. }) if source.errno == Errno::EPERM),
        "{result:?}"
    );
    assert_eq!(
        node.pod_paths(),
        [
            "volume-subpaths",
            "volume-subpaths/data",
            "volume-subpaths/data/other-app",
            "volume-subpaths/data/other-app/0",
        ]
    );
    insta::assert_yaml_snapshot!(trace);
}

#[test]
fn a_mount_point_of_the_wrong_kind_is_replaced() {
    let mut node = Node1::new();
    node.plant(
        Root::PodDir,
        "volume-subpaths/data/app/0",
        Node::durable_file(""),
    );
    node.plant(
        Root::PodDir,
        "volume-subpaths/data/app/1",
        Node::empty_dir(),
    );
    let (result, trace_dir) = node.prepare("data", "app", "0");
    prepared(result);
    let (result, trace_file) = node.prepare("config", "app", "1");
    prepared(result);
    insta::assert_yaml_snapshot!((trace_dir, trace_file));
}

#[test]
fn clean_unmounts_and_removes_everything_of_one_volume() {
    let mut node = Node1::new();
    prepared(node.prepare("data", "app", "0").0);
    prepared(node.prepare("config", "app", "1").0);
    prepared(node.prepare("data", "sidecar", "0").0);
    // A stacked mount, and leftovers a crash could leave.
    let stacked = root_path(Root::PodDir, "volume-subpaths/data/app/0");
    node.mock().mounts_mut().mount(
        stacked,
        podns_backend_mock::MountSource::Other {
            root: "/".into(),
            fs_type: "tmpfs".into(),
            source: "tmpfs".into(),
        },
    );
    node.plant(
        Root::PodDir,
        "volume-subpaths/data/app/2",
        Node::durable_file(""),
    );
    node.plant(
        Root::PodDir,
        "volume-subpaths/data/app/3",
        Node::symlink("/etc"),
    );
    node.plant(
        Root::PodDir,
        "volume-subpaths/data/stray-file",
        Node::durable_file(""),
    );
    // Another volume, and the pod's other directories: never touched.
    node.plant(
        Root::PodDir,
        "volume-subpaths/logs/app/0",
        Node::empty_dir(),
    );
    node.plant(Root::PodDir, "volumes/keep", Node::durable_file(""));
    let (result, trace) = node.clean("data");
    let report = cleaned(result);
    assert!(report.is_complete(), "{report:?}");
    assert!(node.mounts().is_empty());
    assert_eq!(
        node.pod_paths(),
        [
            "volume-subpaths",
            "volume-subpaths/logs",
            "volume-subpaths/logs/app",
            "volume-subpaths/logs/app/0",
            "volumes",
            "volumes/keep",
        ]
    );
    insta::assert_yaml_snapshot!(trace);
}

#[test]
fn clean_keeps_what_it_cannot_remove_and_stops_going_up() {
    let mut node = Node1::new();
    prepared(node.prepare("data", "app", "0").0);
    // Not a mount point, not empty: never removed recursively.
    node.plant(
        Root::PodDir,
        "volume-subpaths/data/app/1/left",
        Node::durable_file("x"),
    );
    prepared(node.prepare("data", "sidecar", "0").0);
    let (result, trace) = node.clean("data");
    let report = cleaned(result);
    let kept: Vec<String> = report
        .kept
        .iter()
        .map(|kept| format!("{} {}", kept.path, kept.error.errno))
        .collect();
    assert_eq!(
        kept,
        ["<pod-dir>/volume-subpaths/data/app/1 ENOTEMPTY (Directory not empty)"]
    );
    assert!(node.mounts().is_empty());
    assert_eq!(
        node.pod_paths(),
        [
            "volume-subpaths",
            "volume-subpaths/data",
            "volume-subpaths/data/app",
            "volume-subpaths/data/app/1",
            "volume-subpaths/data/app/1/left",
        ]
    );
    insta::assert_yaml_snapshot!(trace);
}

#[test]
fn clean_ignores_mounts_outside_the_volume_and_the_pod() {
    let mut node = Node1::new();
    prepared(node.prepare("data", "app", "0").0);
    let outside = [
        // Another pod whose name starts like this one's.
        "/var/lib/kubelet/pods/pod-10/volume-subpaths/data/app/0",
        // Another volume of this pod.
        "/var/lib/kubelet/pods/pod-1/volume-subpaths/data2/app/0",
        "/",
    ];
    let table = {
        let mounts = node.mock().mounts().mountinfo();
        let mut lines: Vec<String> = mounts.lines().map(str::to_owned).collect();
        for (index, point) in outside.iter().enumerate() {
            lines.push(format!(
                "{} 1 0:9 / {point} rw - tmpfs tmpfs rw",
                900 + index
            ));
        }
        lines.join("\n")
    };
    // The table the engine sees, with those extra mounts.
    let mut engine = SubpathEngine::new();
    engine
        .submit(SubpathRequest::Clean(CleanSubpaths {
            volume: SubpathName::new(SubpathNameField::Volume, "data").unwrap(),
            pod_dir: HostDir::parse(POD_DIR).unwrap(),
        }))
        .unwrap();
    let mut unmounts = Vec::new();
    while let Some(effect) = engine.poll_effect() {
        let outcome = match &effect {
            Effect::ReadMountInfo => Ok(Observation::Contents(table.clone().into_bytes())),
            Effect::Unmount { target } => {
                unmounts.push(target.to_string());
                pollster::block_on(podns_core::Backend::execute(node.mock(), &effect))
            }
            _ => pollster::block_on(podns_core::Backend::execute(node.mock(), &effect)),
        };
        engine.handle_outcome(outcome);
    }
    assert!(cleaned(engine.poll_completion().unwrap()).is_complete());
    assert_eq!(unmounts, ["<pod-dir>/volume-subpaths/data/app/0"]);
}

#[test]
fn a_bad_mount_table_changes_nothing() {
    let mut node = Node1::new();
    prepared(node.prepare("data", "app", "0").0);
    let mut engine = SubpathEngine::new();
    engine
        .submit(SubpathRequest::Clean(CleanSubpaths {
            volume: SubpathName::new(SubpathNameField::Volume, "data").unwrap(),
            pod_dir: HostDir::parse(POD_DIR).unwrap(),
        }))
        .unwrap();
    let effect = engine.poll_effect().unwrap();
    assert_eq!(effect, Effect::ReadMountInfo);
    engine.handle_outcome(Ok(Observation::Contents(b"not a mount table\n".to_vec())));
    assert!(engine.poll_effect().is_none());
    let result = engine.poll_completion().unwrap();
    assert!(
        matches!(result, Err(SubpathError::MountInfo { .. })),
        "{result:?}"
    );
}
