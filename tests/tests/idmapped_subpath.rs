//! Idmapped subpath mounts on the mock: the node finds the pod's pinned user
//! namespace, the mount maps with it and keeps it alive, a pod without pins
//! or a file system that cannot idmap leaves nothing behind, and a clean
//! removes idmapped mounts like any other.

use podns_backend_mock::Node;
use podns_core::{
    CleanSubpaths, Errno, ErrorDetails, HostDir, NamespaceKind, NodeError, NodeRequest,
    NodeResponse, PrepareSubpath, PreparedSubpath, Root, SubpathCleanReport, SubpathError,
    SubpathName, SubpathNameField, SubpathRequest, SubpathResponse, SubpathTarget, parse_subpath,
};
use podns_tests::{NsNode, paths_below, pod, root_path};

const POD_DIR: &str = "/var/lib/kubelet/pods/p1";
const VOLUME_DIR: &str = "/var/lib/kubelet/pods/p1/volumes/kubernetes.io~empty-dir/data";

/// A node with pod `p1`'s namespaces pinned, and a volume holding `data/`.
fn node_with_pins() -> NsNode {
    let mut node = NsNode::new();
    node.create("p1").unwrap();
    let mounts = node.backend.mounts_mut();
    mounts.set_root_dir(Root::PodDir, POD_DIR);
    mounts.set_root_dir(Root::Volume, VOLUME_DIR);
    node.backend.fs_mut().plant(
        &root_path(Root::Volume, "data/file"),
        Node::durable_file("x"),
    );
    node.backend.take_log();
    node
}

fn prepare() -> PrepareSubpath {
    PrepareSubpath {
        subpath: parse_subpath("data").unwrap(),
        target: SubpathTarget::new("vol", "app", "0").unwrap(),
        pod_dir: HostDir::parse(POD_DIR).unwrap(),
        idmap: None,
    }
}

fn mount(node: &mut NsNode, idmap_pod: Option<&str>) -> Result<PreparedSubpath, NodeError> {
    let request = match idmap_pod {
        Some(uid) => NodeRequest::MountIdmappedSubpath {
            pod: pod(uid),
            prepare: prepare(),
        },
        None => NodeRequest::Subpath(SubpathRequest::Prepare(prepare())),
    };
    match node.request(request)? {
        NodeResponse::Subpath(SubpathResponse::Prepared(prepared)) => Ok(prepared),
        other => panic!("a prepare answered {other:?}"),
    }
}

fn clean(node: &mut NsNode) -> SubpathCleanReport {
    let request = NodeRequest::Subpath(SubpathRequest::Clean(CleanSubpaths {
        volume: SubpathName::new(SubpathNameField::Volume, "vol").unwrap(),
        pod_dir: HostDir::parse(POD_DIR).unwrap(),
    }));
    match node.request(request) {
        Ok(NodeResponse::Subpath(SubpathResponse::Cleaned(report))) => report,
        other => panic!("a clean answered {other:?}"),
    }
}

/// The mount table's lines for mounts below the pod directory.
fn pod_dir_mounts(node: &NsNode) -> Vec<String> {
    node.backend
        .mounts()
        .mountinfo()
        .lines()
        .filter(|line| line.contains("/volume-subpaths/"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_mount_maps_with_the_pods_pinned_user_namespace() {
    let mut node = node_with_pins();
    let (_, user) = node.pin_inodes("p1").unwrap();
    let prepared = mount(&mut node, Some("p1")).unwrap();
    let with = prepared.idmapped.expect("an idmapped mount");
    assert_eq!(with.userns.kind, NamespaceKind::User);
    assert_eq!(with.userns.ino, user);
    assert_eq!(with.pin, root_path(Root::Run, "p1/user"));
    let mounts = pod_dir_mounts(&node);
    assert_eq!(mounts.len(), 1, "{mounts:?}");
    assert!(mounts[0].contains(" rw,idmapped - "), "{}", mounts[0]);
    insta::assert_yaml_snapshot!(node.take_effects());

    // The same request again replaces it: the mount table does not say
    // with which namespace a mount is idmapped.
    let again = mount(&mut node, Some("p1")).unwrap();
    assert!(!again.already_mounted);
    assert_eq!(again.replaced_mounts, 1);
    assert_eq!(pod_dir_mounts(&node).len(), 1);
}

#[test]
fn a_pod_whose_namespaces_were_made_again_gets_a_mount_of_its_new_namespace() {
    let mut node = node_with_pins();
    let first = mount(&mut node, Some("p1")).unwrap().idmapped.unwrap();
    node.request(NodeRequest::RemovePodNamespaces { pod: pod("p1") })
        .unwrap();
    node.create("p1").unwrap();
    let (_, user) = node.pin_inodes("p1").unwrap();
    assert_ne!(user, first.userns.ino);
    let second = mount(&mut node, Some("p1")).unwrap();
    assert_eq!(second.idmapped.unwrap().userns.ino, user);
    assert_eq!(second.replaced_mounts, 1);
    // The old namespace had only the replaced mount left.
    assert!(
        !node
            .backend
            .namespaces()
            .namespaces()
            .contains_key(&first.userns.ino)
    );
}

#[test]
fn a_pod_without_an_allocation_or_pins_is_refused_before_anything_is_made() {
    let mut node = node_with_pins();
    let error = mount(&mut node, Some("p2")).unwrap_err();
    assert!(matches!(&error, NodeError::NotAllocated { pod } if pod.as_str() == "p2"));
    assert!(error.to_string().contains("podns ns create p2"), "{error}");
    node.maps("p3");
    node.backend.take_log();
    let error = mount(&mut node, Some("p3")).unwrap_err();
    assert!(matches!(&error, NodeError::NotPinned { pod, .. } if pod.as_str() == "p3"));
    assert!(paths_below(&node.backend, Root::PodDir).is_empty());
    let effects = node.take_effects();
    assert!(
        effects
            .iter()
            .all(|line| !line.starts_with("make-dir") && !line.starts_with("create")),
        "{effects:?}"
    );
}

#[test]
fn pins_that_no_longer_match_the_allocation_are_refused() {
    let mut node = node_with_pins();
    // p1's range goes to p0; p1 gets another one, its old pins stay.
    node.release("p1");
    node.maps("p0");
    node.maps("p1");
    let error = mount(&mut node, Some("p1")).unwrap_err();
    assert_eq!(error.kind(), "pins-mismatch", "{error}");
    assert!(pod_dir_mounts(&node).is_empty());
    assert!(paths_below(&node.backend, Root::PodDir).is_empty());
}

#[test]
fn a_file_system_that_cannot_idmap_leaves_nothing_mounted_nor_made() {
    let mut node = node_with_pins();
    node.backend.set_idmap_supported(false);
    let error = mount(&mut node, Some("p1")).unwrap_err();
    let NodeError::Subpath(failure @ SubpathError::NotIdmappable { .. }) = &error else {
        panic!("{error:?}");
    };
    assert_eq!(failure.kind(), "not-idmappable");
    assert_eq!(failure.errno(), Some(Errno::EOPNOTSUPP));
    let message = error.to_string();
    assert!(
        message.contains("mockfs does not support idmapped mounts"),
        "{message}"
    );
    assert!(message.contains("nothing was mounted"), "{message}");
    assert!(pod_dir_mounts(&node).is_empty());
    assert!(paths_below(&node.backend, Root::PodDir).is_empty());
}

#[test]
fn a_mount_idmapped_otherwise_than_asked_is_replaced() {
    let mut node = node_with_pins();
    let plain = mount(&mut node, None).unwrap();
    assert!(plain.idmapped.is_none());
    let idmapped = mount(&mut node, Some("p1")).unwrap();
    assert!(!idmapped.already_mounted);
    assert_eq!(idmapped.replaced_mounts, 1);
    assert!(pod_dir_mounts(&node)[0].contains("idmapped"));
    let plain_again = mount(&mut node, None).unwrap();
    assert_eq!(plain_again.replaced_mounts, 1);
    let mounts = pod_dir_mounts(&node);
    assert_eq!(mounts.len(), 1);
    assert!(!mounts[0].contains("idmapped"), "{}", mounts[0]);
}

#[test]
fn the_mount_keeps_the_user_namespace_until_a_clean_removes_it() {
    let mut node = node_with_pins();
    let (net, user) = node.pin_inodes("p1").unwrap();
    mount(&mut node, Some("p1")).unwrap();
    node.request(NodeRequest::RemovePodNamespaces { pod: pod("p1") })
        .unwrap();
    let live = node.backend.namespaces().namespaces();
    assert!(
        !live.contains_key(&net),
        "the network namespace had only its pin"
    );
    assert!(
        live.contains_key(&user),
        "the idmapped mount holds the user namespace"
    );

    let report = clean(&mut node);
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.unmounted.len(), 1);
    assert!(pod_dir_mounts(&node).is_empty());
    assert!(paths_below(&node.backend, Root::PodDir).is_empty());
    assert!(node.backend.namespaces().namespaces().is_empty());
}
