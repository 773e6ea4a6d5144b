//! Hostile pod UIDs and flags: exit 2, a clear message, nothing on disk.
//! Pool exhaustion: exit 1.

mod common;

use common::{EXIT_BAD_INPUT, EXIT_FAILED, Node, Run, names, range_of, snapshot};
use serde_json::json;

/// Pod UIDs that must never become paths. (A UID with an embedded NUL cannot
/// be passed through argv at all, so it is not tested here.)
fn hostile_uids() -> Vec<(String, &'static str)> {
    vec![
        ("..".to_owned(), "\"..\""),
        (".".to_owned(), "\".\""),
        ("a/b".to_owned(), "'/'"),
        ("../escape".to_owned(), "'/'"),
        ("/abs".to_owned(), "'/'"),
        (String::new(), "empty"),
        ("x".repeat(10 * 1024), "10240 bytes"),
        ("y".repeat(256), "256 bytes"),
    ]
}

/// The pods directory holds nothing, or only the lock file; the temporary
/// directory around it holds nothing but the pods directory.
fn assert_nothing_created(node: &Node, context: &str) {
    let inside = names(&node.pods());
    assert!(
        inside.is_empty() || inside == [".podns.lock"],
        "{context}: pods dir holds {inside:?}"
    );
    let around = names(node.temp.path());
    assert!(
        around.is_empty() || around == ["pods"],
        "{context}: temp dir holds {around:?}"
    );
}

fn assert_bad_uid(run: &Run, json: bool, reason: &str) {
    run.assert_code(EXIT_BAD_INPUT);
    assert!(run.stdout.is_empty(), "{run:#?}");
    assert_eq!(run.stderr.lines().count(), 1, "one line: {run:#?}");
    assert!(
        run.stderr.len() < 1000,
        "the message stays short: {} bytes",
        run.stderr.len()
    );
    let message = if json {
        let error = run.json_error();
        assert_eq!(error.kind, "invalid-pod-uid", "{run:#?}");
        error.error
    } else {
        assert!(run.stderr.starts_with("podns: "), "{run:#?}");
        run.stderr.clone()
    };
    assert!(message.contains("invalid pod UID"), "{message}");
    assert!(message.contains(reason), "{message} should say {reason}");
}

#[test]
fn hostile_pod_uids_are_bad_input_and_create_nothing() {
    for pre_create in [false, true] {
        let node = Node::new();
        if pre_create {
            std::fs::create_dir(node.pods()).unwrap();
        }
        for (uid, reason) in hostile_uids() {
            let shown: String = uid.chars().take(20).collect();
            for json in [false, true] {
                let json_flag: &[&str] = if json { &["--json"] } else { &[] };
                let commands: [Vec<&str>; 5] = [
                    vec!["alloc", &uid],
                    vec!["alloc", &uid, "--format", "oci"],
                    vec!["alloc", &uid, "--host-users", "true"],
                    vec!["release", &uid],
                    vec!["cleanup", "--keep", &uid],
                ];
                for command in commands {
                    let mut args = json_flag.to_vec();
                    args.extend(&command);
                    let run = node.run(&args);
                    assert_bad_uid(&run, json, reason);
                    assert_nothing_created(&node, &format!("{shown:?} {:?}", &command[0]));
                }
                // Dry runs validate the same way.
                let mut args = json_flag.to_vec();
                args.extend(["--dry-run", "alloc", &uid]);
                assert_bad_uid(&node.run(&args), json, reason);
            }
            assert_nothing_created(&node, &shown);
        }
        if pre_create {
            assert!(names(&node.pods()).is_empty(), "not even the lock file");
        } else {
            assert!(!node.pods().exists(), "the pods dir was not created");
        }
    }
}

/// A pod UID that names the lock file is refused without touching the lock.
#[test]
fn a_pod_named_like_the_lock_file_does_not_touch_the_lock() {
    let node = Node::new();
    node.alloc("a");
    let before = snapshot(&node.pods());
    let lock_path = node.pods().join(".podns.lock");
    let lock_before = std::fs::read(&lock_path).unwrap();
    // Names starting with ".podns" are reserved: bad input, before any I/O.
    for command in ["alloc", "release"] {
        let run = node.run(&["--json", command, ".podns.lock"]);
        run.assert_code(EXIT_BAD_INPUT);
        let error = run.json_error();
        assert_eq!(error.kind, "invalid-pod-uid", "{error:?}");
        assert!(error.error.contains("reserved"), "{error:?}");
    }
    assert_eq!(snapshot(&node.pods()), before);
    let lock = std::fs::symlink_metadata(&lock_path).unwrap();
    assert!(lock.is_file());
    assert_eq!(std::fs::read(&lock_path).unwrap(), lock_before);
    assert_eq!(
        range_of(&node.alloc("a")),
        range_of(&node.list()["allocations"][0])
    );
}

/// Pool settings the core rejects: exit 2, kind invalid-pool.
#[test]
fn invalid_pools_are_bad_input() {
    let cases: &[(&[&str], &str)] = &[
        (&["--ids-per-pod", "1000"], "ids per pod 1000"),
        (&["--ids-per-pod", "0"], "ids per pod 0"),
        (&["--id-count", "65536", "--max-pods", "2"], "max pods 2"),
        (&["--first-id", "1000"], "first ID 1000"),
        (&["--first-id", "0"], "first ID 0"),
        (&["--id-count", "100000"], "ID count 100000"),
        // Within u64, but past the 32-bit ID space (and overflowing the sum).
        (
            &["--first-id", "18446744073709486080"],
            "past host ID 4294967295",
        ),
        (
            &["--id-count", "18446744073709486080"],
            "past host ID 4294967295",
        ),
        (
            &["--first-id", "4294967296", "--id-count", "65536"],
            "past host ID 4294967295",
        ),
        // One slot, and it would contain host ID 4294967295.
        (
            &[
                "--first-id",
                "4294901760",
                "--id-count",
                "65536",
                "--max-pods",
                "1",
            ],
            "1 excluded",
        ),
    ];
    for (flags, needle) in cases {
        for command in [&["list"][..], &["alloc", "p"][..], &["release", "p"][..]] {
            let node = Node::new();
            let mut args = flags.to_vec();
            args.extend(command);
            let plain = node.run(&args);
            plain.assert_code(EXIT_BAD_INPUT);
            assert!(plain.stdout.is_empty(), "{plain:#?}");
            assert!(
                plain
                    .stderr
                    .starts_with("podns: invalid pool (kubelet's default): ")
                    || plain
                        .stderr
                        .starts_with("podns: invalid pool (an explicit range): "),
                "{plain:#?}"
            );
            assert!(
                plain.stderr.contains(needle),
                "{plain:#?} should say {needle}"
            );

            args.insert(0, "--json");
            let json = node.run(&args);
            assert!(json.stdout.is_empty(), "{json:#?}");
            assert_eq!(json.stderr.lines().count(), 1, "{json:#?}");
            let message = json.assert_failure(EXIT_BAD_INPUT, "invalid-pool");
            assert!(message.contains(needle), "{message}");
            assert!(!node.pods().exists(), "{flags:?}: pods dir created");
        }
    }
}

/// Flags whose values do not even parse: exit 2 and a message naming the
/// problem; nothing is created.
#[test]
fn unparseable_flags_are_bad_usage() {
    let cases: &[(&[&str], &str)] = &[
        (&["--max-pods", "-1"], "-1"),
        (&["--max-pods=-1"], "--max-pods"),
        (&["--first-id", "99999999999999999999999"], "--first-id"),
        // clap reads a negative number after a space as short flags.
        (&["--id-count", "-65536"], "unexpected argument"),
        (&["--ids-per-pod", "lots"], "--ids-per-pod"),
        (&["--seed", "1.5"], "--seed"),
        (&["--policy", "first-fit"], "first-fit"),
    ];
    for (flags, needle) in cases {
        let node = Node::new();
        let mut args = flags.to_vec();
        args.extend(["alloc", "p"]);
        let run = node.run(&args);
        run.assert_code(EXIT_BAD_INPUT);
        assert!(run.stdout.is_empty(), "{run:#?}");
        assert!(run.stderr.contains(needle), "{run:#?} should say {needle}");
        assert!(!node.pods().exists(), "{flags:?}: pods dir created");
    }
    // Command-level values too.
    let node = Node::new();
    for args in [
        &["alloc", "p", "--host-users", "maybe"][..],
        &["alloc", "p", "--handler-supports-userns", "yes"][..],
        &["alloc", "p", "--format", "yaml"][..],
        &["alloc"][..],
        &["release"][..],
        &["frobnicate"][..],
    ] {
        node.run(args).assert_code(EXIT_BAD_INPUT);
    }
    assert!(!node.pods().exists());
}

/// The contract says errors are one JSON line with `--json`; this includes
/// the errors clap detects while parsing.
#[test]

fn unparseable_flags_with_json_print_a_json_error() {
    for flags in [
        &["--max-pods", "-1"][..],
        &["--max-pods=-1"][..],
        &["--first-id", "99999999999999999999999"][..],
    ] {
        let node = Node::new();
        let mut args = vec!["--json"];
        args.extend(flags);
        args.extend(["alloc", "p"]);
        let run = node.run(&args);
        run.assert_code(EXIT_BAD_INPUT);
        assert_eq!(run.stderr.lines().count(), 1, "one line: {run:#?}");
        let error = run.json_error();
        assert!(!error.kind.is_empty(), "{run:#?}");
    }
}

#[test]
fn an_exhausted_pool_fails_with_pool_exhausted() {
    let node = Node::with_options(&["--id-count", "131072", "--max-pods", "2"]);
    let a = range_of(&node.alloc("a"));
    let b = range_of(&node.alloc("b"));
    let mut firsts = [a.first, b.first];
    firsts.sort_unstable();
    assert_eq!(firsts, [65536, 131072]);

    let run = node.run(&["--json", "alloc", "c"]);
    assert!(run.stdout.is_empty(), "{run:#?}");
    let message = run.assert_failure(EXIT_FAILED, "pool-exhausted");
    assert!(
        message.contains('2'),
        "the message gives the capacity: {message}"
    );
    assert!(!node.userns("c").exists());
    let plain = node.run(&["alloc", "c"]);
    plain.assert_code(EXIT_FAILED);
    assert!(plain.stderr.starts_with("podns: "), "{plain:#?}");

    // Existing pods are still served, and the list is unchanged.
    assert_eq!(range_of(&node.alloc("a")), a);
    let list = node.list();
    assert_eq!(list["capacity"], 2);
    assert_eq!(list["free"], 0);
    assert_eq!(list["problems"], json!([]));

    // A release in another process makes room.
    node.run(&["release", "a"]).ok_json();
    assert_eq!(range_of(&node.alloc("c")), a);
}

/// The last slot of the ID space contains 4294967295 and is never handed out.
#[test]
fn the_slot_holding_the_invalid_id_is_never_handed_out() {
    let node = Node::with_options(&[
        "--first-id",
        "4294836224",
        "--id-count",
        "131072",
        "--max-pods",
        "1",
    ]);
    let a = node.alloc("a");
    assert_eq!(range_of(&a).first, 4_294_836_224);
    node.run(&["--json", "alloc", "b"])
        .assert_failure(EXIT_FAILED, "pool-exhausted");
    let list = node.list();
    assert_eq!(list["capacity"], 1);
    assert_eq!(list["free"], 0);
}
