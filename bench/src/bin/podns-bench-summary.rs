//! Prints one Markdown table of every benchmark figure next to its target.
//!
//! Reads the medians `cargo bench -p podns-bench` left under
//! `target/criterion`, and measures the rest itself: fsyncs per operation,
//! syscalls per pod during recovery (with `strace -c`), the allocator's
//! memory, and the peak RSS of `podns list` over 10,000 pods (with
//! `/usr/bin/time`). Run it through `bench/run.sh`.

use std::path::{Path, PathBuf};
use std::process::Command;

use podns_backend_linux::LinuxBackend;
use podns_bench::fixtures::populate_pods_dir;
use podns_core::{AllocationPolicy, GetOrCreate, PodUid, PoolConfig, Request, UsernsEngine, drive};

/// kubelet's allocator as measured on this kind of machine (ns per pair).
const KUBELET_REFERENCE_NS: [(u32, f64); 4] =
    [(0, 272.0), (5000, 66.0), (9900, 391.0), (9999, 36_890.0)];

struct Row {
    figure: String,
    measured: String,
    target: String,
    verdict: String,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The median of a criterion benchmark, in nanoseconds.
fn median_ns(id: &str) -> Option<f64> {
    let path = workspace_root()
        .join("target/criterion")
        .join(id)
        .join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    value["median"]["point_estimate"].as_f64()
}

fn verdict(met: Option<bool>) -> String {
    match met {
        Some(true) => "met".into(),
        Some(false) => "NOT met".into(),
        None => "not run".into(),
    }
}

fn show_ns(value: Option<f64>) -> String {
    match value {
        Some(ns) if ns >= 1e6 => format!("{:.2} ms", ns / 1e6),
        Some(ns) if ns >= 1e3 => format!("{:.2} µs", ns / 1e3),
        Some(ns) => format!("{ns:.1} ns"),
        None => "not run".into(),
    }
}

fn percent(basis_points: u32) -> String {
    format!("{}%", f64::from(basis_points) / 100.0)
}

fn allocator_rows(rows: &mut Vec<Row>) {
    for (occupancy, kubelet_reference) in KUBELET_REFERENCE_NS {
        let podns = median_ns(&format!("alloc_release_pair/podns/{occupancy}"));
        let kubelet = median_ns(&format!("alloc_release_pair/kubelet-style/{occupancy}"));
        let engine = median_ns(&format!("alloc_release_pair/engine/{occupancy}"));
        // Ratios are the other allocator's time over podns's: above 1, podns
        // is faster.
        let ratio = match (podns, kubelet) {
            (Some(podns), Some(kubelet)) => format!(
                "kubelet-style re-implementation in this run {} (ratio {:.1}); kubelet as measured {} (ratio {:.1})",
                show_ns(Some(kubelet)),
                kubelet / podns,
                show_ns(Some(kubelet_reference)),
                kubelet_reference / podns
            ),
            _ => "not run".into(),
        };
        rows.push(Row {
            figure: format!(
                "alloc + release pair, {} occupied (slot allocator)",
                percent(occupancy)
            ),
            measured: format!("{} ({ratio})", show_ns(podns)),
            target: "≤ 50 ns median, ahead of kubelet".into(),
            verdict: verdict(podns.map(|ns| ns <= 50.0 && ns < kubelet_reference)),
        });
        rows.push(Row {
            figure: format!(
                "alloc + release pair, {} occupied (whole engine, effects planned)",
                percent(occupancy)
            ),
            measured: show_ns(engine),
            target: "(informational)".into(),
            verdict: "-".into(),
        });
    }
}

fn recovery_rows(rows: &mut Vec<Row>) {
    const SIZES: [u32; 4] = [110, 1000, 10_000, 65_535];
    for pods in SIZES {
        let per_pod =
            |group: &str| median_ns(&format!("{group}/{pods}")).map(|ns| ns / f64::from(pods));
        let planning = per_pod("recovery_planning");
        rows.push(Row {
            figure: format!("core recovery planning, {pods} pods, per pod"),
            measured: show_ns(planning),
            target: "≤ 1 µs per pod, linear".into(),
            verdict: verdict(planning.map(|ns| ns <= 1000.0)),
        });
        let tmpfs = per_pod("recovery_linux_tmpfs");
        rows.push(Row {
            figure: format!("Linux recovery end to end on tmpfs, {pods} pods, per pod"),
            measured: show_ns(tmpfs),
            target: "≤ 10 µs per pod".into(),
            verdict: verdict(tmpfs.map(|ns| ns <= 10_000.0)),
        });
        let disk = per_pod("recovery_linux_disk");
        rows.push(Row {
            figure: format!("Linux recovery end to end on disk, {pods} pods, per pod"),
            measured: show_ns(disk),
            target: "(reported)".into(),
            verdict: "-".into(),
        });
    }
    // Linear: the cost per pod does not grow with the number of pods, beyond
    // what a larger working set costs in cache misses.
    let per_pod =
        |pods: u32| median_ns(&format!("recovery_planning/{pods}")).map(|ns| ns / f64::from(pods));
    let growth = per_pod(SIZES[3])
        .zip(per_pod(SIZES[0]))
        .map(|(large, small)| large / small);
    rows.push(Row {
        figure: format!(
            "core recovery planning, cost per pod at {} pods over the cost at {}",
            SIZES[3], SIZES[0]
        ),
        measured: growth.map_or_else(|| "not run".into(), |ratio| format!("{ratio:.2}")),
        target: "≤ 2 (linear)".into(),
        verdict: verdict(growth.map(|ratio| ratio <= 2.0)),
    });
}

fn durable_rows(rows: &mut Vec<Row>) {
    for (medium, group) in [("tmpfs", "durable_tmpfs"), ("disk", "durable_disk")] {
        for op in ["alloc", "release"] {
            rows.push(Row {
                figure: format!("durable {op} end to end on {medium}, latency"),
                measured: show_ns(median_ns(&format!("{group}/{op}"))),
                target: "(reported)".into(),
                verdict: "-".into(),
            });
        }
    }
    let (alloc, release) = fsyncs_per_operation();
    rows.push(Row {
        figure: "fsyncs per durable alloc (pod dir exists) / release".into(),
        measured: format!("{alloc} / {release}"),
        target: "exactly 2 / exactly 1".into(),
        verdict: verdict(Some(alloc == 2 && release == 1)),
    });
}

fn fsyncs_per_operation() -> (u64, u64) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let pod = PodUid::new("pod").expect("valid");
    std::fs::create_dir(dir.path().join("pod")).expect("pod dir");
    let mut backend = LinuxBackend::open(dir.path()).expect("open");
    let mut engine = UsernsEngine::new(
        PoolConfig::default().validate().expect("valid"),
        1,
        AllocationPolicy::RandomStartThenNextFree,
    );
    let run = |engine: &mut UsernsEngine, backend: &mut LinuxBackend, request| {
        let before = backend.fsync_count();
        pollster::block_on(drive(engine, backend, request)).expect("request");
        backend.fsync_count() - before
    };
    run(&mut engine, &mut backend, Request::Recover);
    let alloc = run(
        &mut engine,
        &mut backend,
        Request::GetOrCreate(GetOrCreate::pod_mode(pod.clone())),
    );
    let release = run(&mut engine, &mut backend, Request::Release { pod });
    (alloc, release)
}

fn podns_binary() -> PathBuf {
    workspace_root().join("target/release/podns")
}

/// Syscalls of `podns list` over `pods` pods, by name, from `strace -c -f`.
fn strace_counts(pods_dir: &Path) -> Option<Vec<(String, u64)>> {
    let out = tempfile::NamedTempFile::new().ok()?;
    let status = Command::new("strace")
        .arg("-c")
        .arg("-f")
        .arg("-o")
        .arg(out.path())
        .arg(podns_binary())
        .arg("--pods-dir")
        .arg(pods_dir)
        .arg("list")
        .stdout(std::process::Stdio::null())
        .status()
        .ok()?;
    if !status.success() {
        return None;
    }
    let text = std::fs::read_to_string(out.path()).ok()?;
    Some(
        text.lines()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                // % time, seconds, usecs/call, calls, [errors], syscall
                if fields.len() < 5 || fields[0].parse::<f64>().is_err() {
                    return None;
                }
                let calls = fields[3].parse().ok()?;
                let name = (*fields.last()?).to_owned();
                // The summary line of strace -c is not a syscall.
                (name != "total").then_some((name, calls))
            })
            .collect(),
    )
}

fn syscall_rows(rows: &mut Vec<Row>) {
    const PODS: u32 = 1000;
    let empty = tempfile::tempdir().expect("a temp dir");
    let full = tempfile::tempdir().expect("a temp dir");
    populate_pods_dir(full.path(), PODS).expect("populate");
    let (Some(base), Some(loaded)) = (strace_counts(empty.path()), strace_counts(full.path()))
    else {
        rows.push(Row {
            figure: "syscalls per pod during recovery (`podns list`)".into(),
            measured: "strace or target/release/podns not available".into(),
            target: "dir listing + open, read, close".into(),
            verdict: "not run".into(),
        });
        return;
    };
    let base_of = |name: &str| {
        base.iter()
            .find(|(call, _)| call == name)
            .map_or(0, |(_, calls)| *calls)
    };
    let mut per_pod: Vec<(String, f64)> = loaded
        .iter()
        .map(|(name, calls)| {
            (
                name.clone(),
                (calls.saturating_sub(base_of(name))) as f64 / f64::from(PODS),
            )
        })
        .filter(|(_, per)| *per >= 0.01)
        .collect();
    per_pod.sort_by(|a, b| b.1.total_cmp(&a.1));
    let total: f64 = per_pod.iter().map(|(_, per)| per).sum();
    let breakdown: Vec<String> = per_pod
        .iter()
        .map(|(name, per)| format!("{name} {per:.2}"))
        .collect();
    rows.push(Row {
        figure: format!("syscalls per pod during recovery (`podns list`, {PODS} pods, strace -c)"),
        measured: format!("{total:.2}: {}", breakdown.join(", ")),
        target: "≤ 7: the pod dir's listing (openat2, getdents64 ×2, close) + open, read, close"
            .into(),
        verdict: verdict(Some(total <= 7.1)),
    });
}

fn memory_rows(rows: &mut Vec<Row>) {
    let engine = UsernsEngine::new(
        PoolConfig::default().validate().expect("valid"),
        1,
        AllocationPolicy::RandomStartThenNextFree,
    );
    let bytes = engine.slot_map_heap_bytes();
    rows.push(Row {
        figure: "allocator state for 65,535 slots (beyond per-pod records)".into(),
        measured: format!("{:.1} KiB", bytes as f64 / 1024.0),
        target: "≤ 64 KiB".into(),
        verdict: verdict(Some(bytes <= 64 * 1024)),
    });
    let dir = tempfile::tempdir().expect("a temp dir");
    populate_pods_dir(dir.path(), 10_000).expect("populate");
    let output = Command::new("/usr/bin/time")
        .args(["-f", "%M"])
        .arg(podns_binary())
        .arg("--pods-dir")
        .arg(dir.path())
        .arg("list")
        .stdout(std::process::Stdio::null())
        .output();
    let peak_kib = output.ok().and_then(|output| {
        String::from_utf8_lossy(&output.stderr)
            .lines()
            .last()
            .and_then(|line| line.trim().parse::<f64>().ok())
    });
    rows.push(Row {
        figure: "peak RSS of `podns list` over 10,000 pods".into(),
        measured: peak_kib.map_or("not run".into(), |kib| format!("{:.1} MiB", kib / 1024.0)),
        target: "≤ 32 MiB".into(),
        verdict: verdict(peak_kib.map(|kib| kib <= 32.0 * 1024.0)),
    });
}

fn simulation_rows(rows: &mut Vec<Row>) {
    let per_scenario = median_ns("simulation/scenario_100_ops");
    rows.push(Row {
        figure: "simulator scenarios (100 operations each) per second".into(),
        measured: per_scenario.map_or("not run".into(), |ns| format!("{:.0}/s", 1e9 / ns)),
        target: "(reported)".into(),
        verdict: "-".into(),
    });
}

/// Pod namespaces per second beside `ip netns add` + `ip netns delete`,
/// from the medians of `benches/namespaces.rs` (one run measures all three).
fn subpath_rows(rows: &mut Vec<Row>) {
    let per_pair = median_ns("subpath/mount_and_clean");
    rows.push(Row {
        figure: "subpath mount + clean per second (library, tmpfs)".into(),
        measured: per_pair.map_or("not run (needs root)".into(), |ns| {
            format!("{:.0}/s ({} per pair)", 1e9 / ns, show_ns(Some(ns)))
        }),
        target: "(reported)".into(),
        verdict: "-".into(),
    });
}

fn namespace_rows(rows: &mut Vec<Row>) {
    let per_second =
        |ns: Option<f64>| ns.map_or("not run".into(), |ns| format!("{:.0}/s", 1e9 / ns));
    let library = median_ns("namespaces/podns_library_create_remove");
    let cli = median_ns("namespaces/podns_cli_create_remove");
    let ip = median_ns("namespaces/ip_netns_add_delete");
    let ratio = |podns: Option<f64>| match (podns, ip) {
        (Some(podns), Some(ip)) => format!("{:.2}x the rate of ip netns add + delete", ip / podns),
        (Some(_), None) => "ip netns not measured (not root, or no iproute2)".into(),
        _ => "not run".into(),
    };
    rows.push(Row {
        figure: "pod namespaces create + pin + check + remove per second (library)".into(),
        measured: format!("{} ({})", per_second(library), ratio(library)),
        target: "(reported beside ip netns)".into(),
        verdict: "-".into(),
    });
    rows.push(Row {
        figure: "`podns ns create` + `podns ns remove` per second (two processes, like ip)".into(),
        measured: format!("{} ({})", per_second(cli), ratio(cli)),
        target: "(reported beside ip netns)".into(),
        verdict: "-".into(),
    });
    rows.push(Row {
        figure: "`ip netns add` + `ip netns delete` per second (same run)".into(),
        measured: per_second(ip),
        target: "(reference)".into(),
        verdict: "-".into(),
    });
}

fn main() {
    let mut rows = Vec::new();
    allocator_rows(&mut rows);
    recovery_rows(&mut rows);
    durable_rows(&mut rows);
    syscall_rows(&mut rows);
    memory_rows(&mut rows);
    simulation_rows(&mut rows);
    namespace_rows(&mut rows);
    subpath_rows(&mut rows);
    println!("| figure | measured | target | verdict |");
    println!("|---|---|---|---|");
    for row in rows {
        println!(
            "| {} | {} | {} | {} |",
            row.figure, row.measured, row.target, row.verdict
        );
    }
}
