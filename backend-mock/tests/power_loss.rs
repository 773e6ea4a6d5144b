//! The power-loss model: what survives is exactly what the crash model allows.

use podns_backend_mock::{MockFs, Node, Pending, Survival};
use podns_core::{RelPath, Root, RootPath};

fn path(text: &str) -> RootPath {
    RootPath {
        root: Root::Pods,
        path: RelPath::parse(text).unwrap(),
    }
}

fn names(fs: &MockFs) -> Vec<String> {
    fs.tree(Root::Pods)
        .into_iter()
        .map(|(name, _)| name)
        .collect()
}

fn contents(fs: &MockFs, file: &str) -> Option<Vec<u8>> {
    fs.read_file(&path(file), 1 << 20).ok()
}

#[test]
fn nothing_unsynced_survives_a_plain_power_loss() {
    let mut fs = MockFs::new();
    fs.create_dir(&path("d")).unwrap();
    fs.write_new_file(&path("d/f"), b"data").unwrap();
    fs.lose_power();
    assert!(names(&fs).is_empty());
}

#[test]
fn synced_data_without_a_synced_entry_vanishes() {
    let mut fs = MockFs::new();
    fs.create_dir(&path("d")).unwrap();
    fs.sync_dir(&RootPath::root(Root::Pods)).unwrap();
    fs.write_new_file(&path("d/f"), b"data").unwrap();
    fs.sync_file(&path("d/f")).unwrap();
    fs.lose_power();
    assert_eq!(names(&fs), ["d"]);
}

#[test]
fn the_full_protocol_survives() {
    let mut fs = MockFs::new();
    fs.create_dir(&path("d")).unwrap();
    fs.sync_dir(&RootPath::root(Root::Pods)).unwrap();
    fs.write_new_file(&path("d/tmp"), b"data").unwrap();
    fs.sync_file(&path("d/tmp")).unwrap();
    fs.rename(&path("d/tmp"), &path("d/f")).unwrap();
    fs.sync_dir(&path("d")).unwrap();
    assert!(fs.pending().is_empty());
    fs.lose_power();
    assert_eq!(names(&fs), ["d", "d/f"]);
    assert_eq!(contents(&fs, "d/f").unwrap(), b"data");
}

#[test]
fn any_subset_of_entry_changes_can_survive_not_only_a_prefix() {
    let mut fs = MockFs::new();
    fs.plant(
        &path("d/old"),
        Node::File {
            data: b"x".to_vec(),
            durable_data: b"x".to_vec(),
        },
    );
    fs.write_new_file(&path("d/a"), b"").unwrap();
    fs.write_new_file(&path("d/b"), b"").unwrap();
    fs.remove_file(&path("d/old")).unwrap();
    assert_eq!(fs.pending().len(), 3);
    // Keep the second and third change but not the first.
    let mut index = 0;
    fs.lose_power_with(&mut |_| {
        index += 1;
        if index == 1 {
            Survival::Lost
        } else {
            Survival::Kept
        }
    });
    assert_eq!(names(&fs), ["d", "d/b"]);
}

#[test]
fn a_rename_is_atomic() {
    for fate in [Survival::Kept, Survival::Lost] {
        let mut fs = MockFs::new();
        fs.plant(
            &path("d/tmp"),
            Node::File {
                data: b"x".to_vec(),
                durable_data: b"x".to_vec(),
            },
        );
        fs.rename(&path("d/tmp"), &path("d/f")).unwrap();
        fs.lose_power_with(&mut |_| fate);
        let expected = if fate == Survival::Kept {
            "d/f"
        } else {
            "d/tmp"
        };
        assert_eq!(names(&fs), ["d", expected]);
    }
}

#[test]
fn unsynced_data_can_be_torn_zeroed_or_garbage() {
    let cases = [
        (Survival::Torn(3), b"abc".to_vec()),
        (Survival::ZeroFilled, vec![0; 6]),
        (Survival::Lost, Vec::new()),
        (Survival::Kept, b"abcdef".to_vec()),
    ];
    for (fate, expected) in cases {
        let mut fs = MockFs::new();
        fs.write_new_file(&path("f"), b"abcdef").unwrap();
        fs.lose_power_with(&mut |pending| match pending {
            Pending::Entry { .. } => Survival::Kept,
            Pending::Data { .. } => fate,
        });
        assert_eq!(contents(&fs, "f").unwrap(), expected, "{fate:?}");
    }
    let mut fs = MockFs::new();
    fs.write_new_file(&path("f"), b"abcdef").unwrap();
    fs.lose_power_with(&mut |pending| match pending {
        Pending::Entry { .. } => Survival::Kept,
        Pending::Data { .. } => Survival::Garbage(7),
    });
    let garbage = contents(&fs, "f").unwrap();
    assert_eq!(garbage.len(), 6);
    assert_ne!(garbage, b"abcdef");
}

#[test]
fn syncfs_makes_everything_durable() {
    let mut fs = MockFs::new();
    fs.create_dir(&path("d")).unwrap();
    fs.write_new_file(&path("d/f"), b"data").unwrap();
    fs.sync_all();
    fs.lose_power();
    assert_eq!(contents(&fs, "d/f").unwrap(), b"data");
}
