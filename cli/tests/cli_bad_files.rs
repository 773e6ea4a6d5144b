//! Bad `userns` files planted next to a good pod: each is reported with the
//! right problem kind, never modified, and blocks exactly what it should.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::symlink;
use std::path::PathBuf;

use common::{
    EXIT_FAILED, Entry, Node, Range, allocations, kubelet_userns_file, mkfifo, problem_kinds,
    range_of, snapshot,
};
use serde_json::json;

/// What `podns alloc <bad pod>` does.
#[derive(Debug, Clone, Copy)]
enum BadPodAlloc {
    /// Refused (exit 1, kind pod-problem).
    Refused,
    /// Returns the recorded mapping.
    Keeps(Range),
}

/// One scenario: what is planted, and what podns must make of it.
#[derive(Debug)]
struct Scenario {
    /// Global options (the pool), on every invocation.
    pool: &'static [&'static str],
    /// Pods with a planted file and the problem kind each must get.
    bad: &'static [(&'static str, &'static str)],
    /// Whether the problem freezes new allocations node-wide.
    frozen: bool,
    bad_alloc: BadPodAlloc,
}

/// What a scenario left, for extra checks.
#[derive(Debug)]
struct Outcome {
    node: Node,
    good: Range,
    /// The pods directory after the planting, before any command.
    planted: BTreeMap<PathBuf, Entry>,
    /// Whether `alloc newpod` succeeded, and its range.
    new_pod: Option<Range>,
}

const DEFAULT_POOL: &[&str] = &[];

/// Allocates `good`, plants the bad file(s) with `plant`, then runs `list`,
/// `alloc newpod` and `alloc <bad pod>` in separate processes, checking
/// everything `scenario` says, and that no planted file changed.
fn run_scenario(scenario: Scenario, plant: impl FnOnce(&Node)) -> Outcome {
    let node = Node::with_options(scenario.pool);
    std::fs::create_dir_all(node.outside()).unwrap();
    let good = range_of(&node.alloc("good"));
    plant(&node);
    let planted = snapshot(&node.pods());
    for (pod, _) in scenario.bad {
        assert!(
            planted.contains_key(&PathBuf::from(pod).join("userns")),
            "{pod}'s file was planted"
        );
    }
    let outside = snapshot(&node.outside());

    // list: every bad pod reported with its kind, the good pod still listed.
    let list = node.list();
    let mut expected_problems: Vec<(String, String)> = scenario
        .bad
        .iter()
        .map(|(pod, kind)| ((*pod).to_owned(), (*kind).to_owned()))
        .collect();
    expected_problems.sort();
    assert_eq!(problem_kinds(&list), expected_problems, "{list}");
    for problem in list["problems"].as_array().unwrap() {
        let pod = problem["pod"].as_str().unwrap();
        assert_eq!(
            problem["path"],
            node.userns(pod).to_str().unwrap(),
            "{problem}"
        );
        assert!(
            problem["message"].as_str().unwrap().contains(pod),
            "the message names the pod: {problem}"
        );
    }
    let listed = allocations(&list);
    assert_eq!(range_of(&listed["good"]), good, "{list}");
    for (pod, _) in scenario.bad {
        match scenario.bad_alloc {
            BadPodAlloc::Keeps(range) => assert_eq!(range_of(&listed[*pod]), range, "{list}"),
            BadPodAlloc::Refused => assert!(!listed.contains_key(*pod), "{list}"),
        }
    }
    let expected_listed = 1 + match scenario.bad_alloc {
        BadPodAlloc::Keeps(_) => scenario.bad.len(),
        BadPodAlloc::Refused => 0,
    };
    assert_eq!(listed.len(), expected_listed, "{list}");

    // alloc newpod: refused node-wide, or a range clear of everything.
    let run = node.run(&["--json", "alloc", "newpod"]);
    let new_pod = if scenario.frozen {
        let message = run.assert_failure(EXIT_FAILED, "allocations-frozen");
        assert!(run.stdout.is_empty(), "{run:#?}");
        for (pod, _) in scenario.bad {
            assert!(message.contains(pod), "the message names {pod}: {message}");
        }
        assert!(!node.userns("newpod").exists());
        None
    } else {
        let output = run.ok_json();
        let range = range_of(&output);
        assert!(!range.overlaps(good), "{output}");
        if let BadPodAlloc::Keeps(bad) = scenario.bad_alloc {
            assert!(!range.overlaps(bad), "{output}");
        }
        Some(range)
    };

    // alloc <bad pod>.
    for (pod, kind) in scenario.bad {
        let run = node.run(&["--json", "alloc", pod]);
        match scenario.bad_alloc {
            BadPodAlloc::Refused => {
                let message = run.assert_failure(EXIT_FAILED, "pod-problem");
                assert!(message.contains(pod), "{message}");
                assert!(
                    run.stderr.contains(&format!("({kind})")),
                    "the warning names the kind: {run:#?}"
                );
            }
            BadPodAlloc::Keeps(range) => {
                let output = run.ok_json();
                assert_eq!(range_of(&output), range, "{output}");
            }
        }
    }
    // The good pod is still served.
    assert_eq!(range_of(&node.alloc("good")), good);

    // Nothing but the new allocation changed; the outside is untouched.
    let mut after = snapshot(&node.pods());
    if new_pod.is_some() {
        let new_dir = PathBuf::from("newpod");
        assert!(after.remove(&new_dir.join("userns")).is_some());
        assert!(after.remove(&new_dir).is_some());
    }
    assert_eq!(after, planted, "planted files were modified");
    assert_eq!(snapshot(&node.outside()), outside, "outside was modified");

    Outcome {
        node,
        good,
        planted,
        new_pod,
    }
}

const FROZEN_CORRUPT: Scenario = Scenario {
    pool: DEFAULT_POOL,
    bad: &[("bad", "corrupt")],
    frozen: true,
    bad_alloc: BadPodAlloc::Refused,
};

const FROZEN_UNREADABLE: Scenario = Scenario {
    pool: DEFAULT_POOL,
    bad: &[("bad", "unreadable")],
    frozen: true,
    bad_alloc: BadPodAlloc::Refused,
};

const UNSAFE: Scenario = Scenario {
    pool: DEFAULT_POOL,
    bad: &[("bad", "unsafe-range")],
    frozen: false,
    bad_alloc: BadPodAlloc::Refused,
};

#[test]
fn garbage_is_corrupt_and_freezes_allocation() {
    run_scenario(FROZEN_CORRUPT, |node| {
        node.plant("bad", b"garbage\n");
    });
}

#[test]
fn truncated_json_is_corrupt() {
    run_scenario(FROZEN_CORRUPT, |node| {
        let full = kubelet_userns_file(131072, 65536);
        node.plant("bad", &full.as_bytes()[..full.len() / 2]);
    });
}

#[test]
fn an_empty_file_is_corrupt() {
    run_scenario(FROZEN_CORRUPT, |node| node.plant("bad", b""));
}

#[test]
fn a_ten_mib_file_is_unreadable() {
    run_scenario(FROZEN_UNREADABLE, |node| {
        // Valid JSON at the start, so only the size can condemn it.
        let mut contents = kubelet_userns_file(131072, 65536).into_bytes();
        contents.resize(10 << 20, b' ');
        node.plant("bad", &contents);
    });
}

#[test]
fn a_symlink_named_userns_is_unreadable_and_its_target_untouched() {
    let outcome = run_scenario(FROZEN_UNREADABLE, |node| {
        let target = node.outside().join("userns");
        std::fs::write(&target, kubelet_userns_file(131072, 65536)).unwrap();
        std::fs::create_dir_all(node.pods().join("bad")).unwrap();
        symlink(&target, node.userns("bad")).unwrap();
    });
    // Releasing the pod removes the link, never the file it points to.
    let node = &outcome.node;
    let released = node.run(&["release", "bad"]).ok_json();
    assert_eq!(released["released"], true, "{released}");
    assert!(std::fs::symlink_metadata(node.userns("bad")).is_err());
    assert_eq!(
        std::fs::read_to_string(node.outside().join("userns")).unwrap(),
        kubelet_userns_file(131072, 65536)
    );
}

#[test]
fn a_directory_named_userns_is_unreadable() {
    run_scenario(FROZEN_UNREADABLE, |node| {
        std::fs::create_dir_all(node.userns("bad")).unwrap();
        std::fs::write(node.userns("bad").join("inner"), b"keep me").unwrap();
    });
}

#[test]
fn a_fifo_named_userns_is_unreadable_and_nothing_hangs() {
    // Every invocation runs under the helper's hang guard: a podns that
    // opened the FIFO for reading would block forever and be reported.
    run_scenario(FROZEN_UNREADABLE, |node| {
        std::fs::create_dir_all(node.pods().join("bad")).unwrap();
        mkfifo(&node.userns("bad"));
    });
}

#[test]
fn host_id_zero_is_an_unsafe_range() {
    let outcome = run_scenario(UNSAFE, |node| {
        node.plant("bad", kubelet_userns_file(0, 65536).as_bytes());
    });
    assert!(outcome.new_pod.is_some());
}

#[test]
fn a_range_containing_the_invalid_id_is_unsafe() {
    let outcome = run_scenario(UNSAFE, |node| {
        node.plant("bad", kubelet_userns_file(4_294_901_760, 65536).as_bytes());
    });
    assert!(outcome.new_pod.is_some());
}

#[test]
fn two_pods_with_the_same_range_both_conflict() {
    let outcome = run_scenario(
        Scenario {
            pool: DEFAULT_POOL,
            bad: &[("twin-a", "conflict"), ("twin-b", "conflict")],
            frozen: false,
            bad_alloc: BadPodAlloc::Refused,
        },
        |node| {
            node.plant("twin-a", kubelet_userns_file(131072, 65536).as_bytes());
            node.plant("twin-b", kubelet_userns_file(131072, 65536).as_bytes());
        },
    );
    let new_pod = outcome.new_pod.unwrap();
    assert!(!new_pod.overlaps(Range {
        first: 131072,
        len: 65536
    }));
    // Others keep allocating, never into the contested range.
    let node = &outcome.node;
    for pod in ["other-1", "other-2"] {
        let range = range_of(&node.alloc_with(pod, &["--policy", "lowest-free"]));
        assert!(
            !range.overlaps(Range {
                first: 131072,
                len: 65536
            }),
            "{range:?}"
        );
        assert!(!range.overlaps(outcome.good) && !range.overlaps(new_pod));
    }
    // Releasing one twin resolves the conflict for the other.
    node.run(&["release", "twin-a"]).ok_json();
    let list = node.list();
    assert_eq!(list["problems"], json!([]), "{list}");
    assert_eq!(
        range_of(&node.alloc("twin-b")),
        Range {
            first: 131072,
            len: 65536
        }
    );
}

#[test]
fn a_misaligned_range_is_reported_and_kept() {
    let misaligned = Range {
        first: 135168,
        len: 65536,
    };
    let outcome = run_scenario(
        Scenario {
            pool: DEFAULT_POOL,
            bad: &[("bad", "misaligned")],
            frozen: false,
            bad_alloc: BadPodAlloc::Keeps(misaligned),
        },
        |node| node.plant("bad", kubelet_userns_file(135168, 65536).as_bytes()),
    );
    // The two slots it overlaps stay blocked: lowest-free skips them.
    let node = &outcome.node;
    for pod in ["low-1", "low-2"] {
        let range = range_of(&node.alloc_with(pod, &["--policy", "lowest-free"]));
        assert!(!range.overlaps(misaligned), "{pod}: {range:?}");
    }
    // good, newpod, low-1 and low-2 take one slot each; the misaligned range
    // blocks the two slots it straddles.
    assert_eq!(node.list()["free"], 65534 - 4 - 2);
}

#[test]
fn a_range_outside_the_pool_is_reported_and_kept() {
    let outside = Range {
        first: 2_147_483_648,
        len: 65536,
    };
    let outcome = run_scenario(
        Scenario {
            pool: &[
                "--first-id",
                "65536",
                "--id-count",
                "7208960",
                "--max-pods",
                "110",
            ],
            bad: &[("bad", "out-of-pool")],
            frozen: false,
            bad_alloc: BadPodAlloc::Keeps(outside),
        },
        |node| node.plant("bad", kubelet_userns_file(2_147_483_648, 65536).as_bytes()),
    );
    let list = outcome.node.list();
    assert_eq!(list["capacity"], 110);
    // good and newpod take slots; the foreign range takes none of the pool's.
    assert_eq!(list["free"], 108, "{list}");
    let new_pod = outcome.new_pod.unwrap();
    assert!(new_pod.first >= 65536 && new_pod.end() <= 65536 + 7_208_960);
}

#[test]
fn releasing_the_corrupt_pod_unfreezes_allocation() {
    let outcome = run_scenario(FROZEN_CORRUPT, |node| {
        node.plant("bad", b"{\"uidMappings\":")
    });
    let node = &outcome.node;
    let released = node.run(&["--json", "release", "bad"]).ok_json();
    assert_eq!(released["pod"], "bad");
    assert_eq!(released["released"], true, "{released}");
    assert!(!node.userns("bad").exists());

    let list = node.list();
    assert_eq!(list["problems"], json!([]), "{list}");
    let new_pod = range_of(&node.alloc("newpod"));
    assert!(!new_pod.overlaps(outcome.good));
    let listed: Vec<String> = allocations(&node.list()).into_keys().collect();
    assert_eq!(listed, ["good", "newpod"]);
    // The planted snapshot had the bad file; it is the only thing gone.
    assert!(outcome.planted.contains_key(&PathBuf::from("bad/userns")));
}

/// A pod "directory" that is a symlink to a directory outside is not
/// followed: nothing is read or written through it. The remedy its problem
/// names works: releasing the pod (or a cleanup that does not keep it)
/// removes the link itself, never what it points to.
#[test]
fn a_symlinked_pod_directory_is_not_followed_and_its_release_removes_the_link() {
    let node = Node::new();
    let good = range_of(&node.alloc("good"));
    let elsewhere = node.outside().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::write(elsewhere.join("userns"), kubelet_userns_file(131072, 65536)).unwrap();
    symlink(&elsewhere, node.pods().join("linked")).unwrap();
    let outside = snapshot(&node.outside());

    // What the link points to could hold any range: it is reported, never
    // followed, and new allocations wait until it is replaced or removed.
    let list = node.list();
    let listed: Vec<String> = allocations(&list).into_keys().collect();
    assert_eq!(listed, ["good"], "{list}");
    let problem = &list["problems"][0];
    assert_eq!(problem["pod"], "linked", "{list}");
    assert_eq!(problem["kind"], "unreadable", "{list}");
    assert!(
        problem["message"]
            .as_str()
            .unwrap()
            .contains("symbolic link"),
        "{list}"
    );
    assert!(
        problem["message"]
            .as_str()
            .unwrap()
            .contains("podns release linked"),
        "{list}"
    );
    let run = node.run(&["--json", "alloc", "linked"]);
    run.assert_code(EXIT_FAILED);
    run.json_error();
    let frozen = node.run(&["--json", "alloc", "newpod"]);
    frozen.assert_code(EXIT_FAILED);
    assert_eq!(frozen.json_error().kind, "allocations-frozen");
    assert_eq!(snapshot(&node.outside()), outside);
    assert_eq!(range_of(&node.alloc("good")), good);

    // The suggested remedy: the release removes the link, and only it.
    let released = node.run(&["--json", "release", "linked"]).ok_json();
    assert_eq!(released["released"], true, "{released}");
    assert!(std::fs::symlink_metadata(node.pods().join("linked")).is_err());
    assert_eq!(snapshot(&node.outside()), outside);
    assert!(node.list()["problems"].as_array().unwrap().is_empty());
    node.alloc("newpod");

    // A cleanup that does not keep such a pod does the same.
    symlink(&elsewhere, node.pods().join("linked-again")).unwrap();
    let cleaned = node
        .run(&["--json", "cleanup", "--keep", "good", "--keep", "newpod"])
        .ok_json();
    assert_eq!(cleaned["released"][0]["pod"], "linked-again", "{cleaned}");
    assert_eq!(cleaned["failures"], json!([]), "{cleaned}");
    assert!(std::fs::symlink_metadata(node.pods().join("linked-again")).is_err());
    assert_eq!(snapshot(&node.outside()), outside);
    node.alloc("third");
}

#[test]
fn a_range_of_the_wrong_length_is_reported_and_kept() {
    let wide = Range {
        first: 131072,
        len: 131072,
    };
    let outcome = run_scenario(
        Scenario {
            pool: DEFAULT_POOL,
            bad: &[("bad", "wrong-length")],
            frozen: false,
            bad_alloc: BadPodAlloc::Keeps(wide),
        },
        |node| node.plant("bad", kubelet_userns_file(131072, 131072).as_bytes()),
    );
    // good, newpod and the two slots the wide range covers.
    assert_eq!(outcome.node.list()["free"], 65534 - 2 - 2);
}

/// Messages name the pod exactly as it is, even when its UID contains the
/// `<pods>` placeholder the core uses for an unlabelled root.
#[test]

fn messages_name_a_pod_whose_uid_contains_the_placeholder() {
    let node = Node::new();
    node.alloc("good");
    let pod = "x<pods>y";
    node.plant(pod, b"garbage");
    let mangled = format!("x{}y", node.pods().display());

    let list = node.list();
    assert_eq!(
        problem_kinds(&list),
        [(pod.to_owned(), "corrupt".to_owned())]
    );
    let message = list["problems"][0]["message"].as_str().unwrap();
    assert!(!message.contains(&mangled), "{message}");
    assert!(
        message.contains(&format!("podns release {pod}")),
        "{message}"
    );
    assert!(
        message.contains(node.userns(pod).to_str().unwrap()),
        "{message}"
    );

    let run = node.run(&["--json", "alloc", "newpod"]);
    let error = run.assert_failure(EXIT_FAILED, "allocations-frozen");
    assert!(!error.contains(&mangled), "{error}");
    assert!(error.contains(pod), "{error}");
    assert!(!run.stderr.contains(&mangled), "{run:#?}");
}
