//! Prints one Markdown table of every benchmark figure next to its target.
//!
//! Reads the medians `cargo bench -p podns-bench` left under
//! `target/criterion`, and measures the rest itself: fsyncs per operation,
//! syscalls per pod during recovery (with `strace -c`), the allocator's
//! memory, and the peak RSS of `podns list` over 10,000 pods (with
//! `/usr/bin/time`). Run it through `bench/run.sh`. It also draws the two
//! pictures of `bench/plots/` (`--plots-only`: only them).

use std::path::{Path, PathBuf};
use std::process::Command;

use podns_backend_linux::LinuxBackend;
use podns_bench::fixtures::{default_engine, populate_pods_dir};
use podns_bench::plots::{Chart, Series};
use podns_bench::recovery_sizes::SIZES;
use podns_core::{GetOrCreate, PodUid, UsernsEngine, UsernsRequest, drive};

/// kubelet's allocator as measured on this kind of machine (ns per pair).
const KUBELET_REFERENCE_NS: [(u32, f64); 4] =
    [(0, 272.0), (5000, 66.0), (9900, 391.0), (9999, 36_890.0)];

struct Row {
    figure: String,
    measured: String,
    target: String,
    verdict: String,
}

impl Row {
    /// A figure with a target, and whether it was met (`None`: not run).
    fn checked(
        figure: impl Into<String>,
        measured: impl Into<String>,
        target: impl Into<String>,
        met: Option<bool>,
    ) -> Self {
        Self {
            figure: figure.into(),
            measured: measured.into(),
            target: target.into(),
            verdict: verdict(met),
        }
    }

    /// A figure without a target, shown for what it is.
    fn reported(figure: impl Into<String>, measured: impl Into<String>) -> Self {
        Self::noted(figure, measured, "(reported)")
    }

    /// A figure without a target, with `note` in the target column.
    fn noted(figure: impl Into<String>, measured: impl Into<String>, note: &str) -> Self {
        Self {
            figure: figure.into(),
            measured: measured.into(),
            target: note.into(),
            verdict: "-".into(),
        }
    }
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
    value.map_or_else(|| "not run".into(), podns_bench::show_ns)
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
        rows.push(Row::checked(
            format!(
                "alloc + release pair, {} occupied (slot allocator)",
                percent(occupancy)
            ),
            format!("{} ({ratio})", show_ns(podns)),
            "≤ 50 ns median, ahead of kubelet",
            podns.map(|ns| ns <= 50.0 && ns < kubelet_reference),
        ));
        rows.push(Row::noted(
            format!(
                "alloc + release pair, {} occupied (whole engine, effects planned)",
                percent(occupancy)
            ),
            show_ns(engine),
            "(informational)",
        ));
    }
}

fn recovery_rows(rows: &mut Vec<Row>) {
    let per_pod = |group: &str, pods: u32| {
        median_ns(&format!("{group}/{pods}")).map(|ns| ns / f64::from(pods))
    };
    let mut planning_per_pod = Vec::new();
    for pods in SIZES {
        let planning = per_pod("recovery_planning", pods);
        planning_per_pod.push(planning);
        rows.push(Row::checked(
            format!("core recovery planning, {pods} pods, per pod"),
            show_ns(planning),
            "≤ 1 µs per pod, linear",
            planning.map(|ns| ns <= 1000.0),
        ));
        let tmpfs = per_pod("recovery_linux_tmpfs", pods);
        rows.push(Row::checked(
            format!("Linux recovery end to end on tmpfs, {pods} pods, per pod"),
            show_ns(tmpfs),
            "≤ 10 µs per pod",
            tmpfs.map(|ns| ns <= 10_000.0),
        ));
        let kubelet = per_pod("recovery_linux_tmpfs/kubelet-path", pods);
        rows.push(Row::noted(
            format!("kubelet's recovery path rebuilt, on tmpfs, {pods} pods, per pod"),
            match (tmpfs, kubelet) {
                (Some(podns), Some(kubelet)) => format!(
                    "{} (podns takes {:.2}× its time)",
                    show_ns(Some(kubelet)),
                    podns / kubelet
                ),
                _ => show_ns(kubelet),
            },
            "(anchor, same run)",
        ));
        rows.push(Row::reported(
            format!("Linux recovery end to end on disk, {pods} pods, per pod"),
            show_ns(per_pod("recovery_linux_disk", pods)),
        ));
    }
    // Linear: the cost per pod does not grow with the number of pods, beyond
    // what a larger working set costs in cache misses.
    let (smallest, largest) = (SIZES[0], SIZES[SIZES.len() - 1]);
    let growth = planning_per_pod[SIZES.len() - 1]
        .zip(planning_per_pod[0])
        .map(|(large, small)| large / small);
    rows.push(Row::checked(
        format!(
            "core recovery planning, cost per pod at {largest} pods over the cost at {smallest}"
        ),
        growth.map_or_else(|| "not run".into(), |ratio| format!("{ratio:.2}")),
        "≤ 2 (linear)",
        growth.map(|ratio| ratio <= 2.0),
    ));
}

fn durable_rows(rows: &mut Vec<Row>) {
    for (medium, group) in [("tmpfs", "durable_tmpfs"), ("disk", "durable_disk")] {
        for op in ["alloc", "release"] {
            rows.push(Row::reported(
                format!("durable {op} end to end on {medium}, latency"),
                show_ns(median_ns(&format!("{group}/{op}"))),
            ));
        }
    }
    let (alloc, release) = fsyncs_per_operation();
    rows.push(Row::checked(
        "fsyncs per durable alloc (pod dir exists) / release",
        format!("{alloc} / {release}"),
        "exactly 2 / exactly 1",
        Some(alloc == 2 && release == 1),
    ));
}

fn fsyncs_per_operation() -> (u64, u64) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let pod = PodUid::new("pod").expect("valid");
    std::fs::create_dir(dir.path().join("pod")).expect("pod dir");
    let mut backend = LinuxBackend::open(dir.path()).expect("open");
    let mut engine = default_engine();
    let run = |engine: &mut UsernsEngine, backend: &mut LinuxBackend, request| {
        let before = backend.fsync_count();
        pollster::block_on(drive(engine, backend, request)).expect("request");
        backend.fsync_count() - before
    };
    run(&mut engine, &mut backend, UsernsRequest::Recover);
    let alloc = run(
        &mut engine,
        &mut backend,
        UsernsRequest::GetOrCreate(GetOrCreate::pod_mode(pod.clone())),
    );
    let release = run(&mut engine, &mut backend, UsernsRequest::Release { pod });
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

/// Per pod: its directory's listing (openat2, getdents64 ×2, close) and its
/// `userns` file (openat2, read, close). The pods directory's own listing
/// grows with the pods too, one more getdents64 per bufferful of entries:
/// 0.05 per pod is allowed for it. Calls made less than once per 100 pods
/// (the heap growing, say) are not per-pod work and are left out.
const SYSCALL_TARGET: &str = "per pod 2 openat2, 2 getdents64, 2 close, 1 read (its directory's \
     listing and its userns file), plus the pods directory's own listing: getdents64 ≤ 2.05 and \
     all other calls ≤ 5 per pod (calls rarer than 1 per 100 pods not counted)";

fn syscall_rows(rows: &mut Vec<Row>) {
    const PODS: u32 = 1000;
    let empty = tempfile::tempdir().expect("a temp dir");
    let full = tempfile::tempdir().expect("a temp dir");
    populate_pods_dir(full.path(), PODS).expect("populate");
    let figure = format!("syscalls per pod during recovery (`podns list`, {PODS} pods, strace -c)");
    let (Some(base), Some(loaded)) = (strace_counts(empty.path()), strace_counts(full.path()))
    else {
        rows.push(Row::checked(
            figure,
            "strace or target/release/podns not available",
            SYSCALL_TARGET,
            None,
        ));
        return;
    };
    let base_of = |name: &str| {
        base.iter()
            .find(|(call, _)| call == name)
            .map_or(0, |(_, calls)| *calls)
    };
    // Calls beyond the empty directory's, kept when they recur at least once
    // per 100 pods. Counted in whole calls, so the rule is checked exactly.
    let mut extra: Vec<(String, u64)> = loaded
        .iter()
        .map(|(name, calls)| (name.clone(), calls.saturating_sub(base_of(name))))
        .filter(|(_, calls)| calls * 100 >= u64::from(PODS))
        .collect();
    extra.sort_by_key(|(_, calls)| std::cmp::Reverse(*calls));
    let per_pod = |calls: u64| calls as f64 / f64::from(PODS);
    let total: u64 = extra.iter().map(|(_, calls)| calls).sum();
    let getdents: u64 = extra
        .iter()
        .filter(|(name, _)| name == "getdents64")
        .map(|(_, calls)| calls)
        .sum();
    let others = total - getdents;
    let met = getdents * 100 <= 205 * u64::from(PODS) && others <= 5 * u64::from(PODS);
    let breakdown: Vec<String> = extra
        .iter()
        .map(|(name, calls)| format!("{name} {:.2}", per_pod(*calls)))
        .collect();
    rows.push(Row::checked(
        figure,
        format!("{:.2}: {}", per_pod(total), breakdown.join(", ")),
        SYSCALL_TARGET,
        Some(met),
    ));
}

fn memory_rows(rows: &mut Vec<Row>) {
    let engine = default_engine();
    let bytes = engine.slot_map_heap_bytes();
    rows.push(Row::checked(
        "allocator state for 65,535 slots (beyond per-pod records)",
        format!("{:.1} KiB", bytes as f64 / 1024.0),
        "≤ 64 KiB",
        Some(bytes <= 64 * 1024),
    ));
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
    rows.push(Row::checked(
        "peak RSS of `podns list` over 10,000 pods",
        peak_kib.map_or("not run".into(), |kib| format!("{:.1} MiB", kib / 1024.0)),
        "≤ 32 MiB",
        peak_kib.map(|kib| kib <= 32.0 * 1024.0),
    ));
}

fn simulation_rows(rows: &mut Vec<Row>) {
    let per_scenario = median_ns("simulation/scenario_100_ops");
    rows.push(Row::reported(
        "simulator scenarios (100 operations each) per second",
        per_scenario.map_or("not run".into(), |ns| format!("{:.0}/s", 1e9 / ns)),
    ));
}

/// Subpath mounts per second, prepare and clean together, from the median
/// of `benches/subpath.rs`.
fn subpath_rows(rows: &mut Vec<Row>) {
    let per_pair = median_ns("subpath/mount_and_clean");
    rows.push(Row::reported(
        "subpath mount + clean per second (library, tmpfs)",
        per_pair.map_or("not run (needs root)".into(), |ns| {
            format!("{:.0}/s ({} per pair)", 1e9 / ns, show_ns(Some(ns)))
        }),
    ));
}

/// Pod namespaces per second beside `ip netns add` + `ip netns delete`,
/// from the medians of `benches/namespaces.rs` (one run measures all three).
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
    rows.push(Row::noted(
        "pod namespaces create + pin + check + remove per second (library)",
        format!("{} ({})", per_second(library), ratio(library)),
        "(reported beside ip netns)",
    ));
    rows.push(Row::noted(
        "`podns ns create` + `podns ns remove` per second (two processes, like ip)",
        format!("{} ({})", per_second(cli), ratio(cli)),
        "(reported beside ip netns)",
    ));
    rows.push(Row::noted(
        "`ip netns add` + `ip netns delete` per second (same run)",
        per_second(ip),
        "(reference)",
    ));
}

/// The ticker's longest gap, from `benches/ticker_gap.rs`.
fn ticker_rows(rows: &mut Vec<Row>) {
    let path = workspace_root().join(podns_bench::ticker_gap::RESULT_FILE);
    let gaps: Option<podns_bench::ticker_gap::TickerGaps> = std::fs::read_to_string(path)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok());
    rows.push(Row::noted(
        "longest gap of a 1 ms ticker on a current-thread tokio runtime during 1,000 durable \
         allocations on disk",
        gaps.map_or("not run".into(), |gaps| {
            format!(
                "{:.2} ms through `Node` ({:.0} ms in all); {:.1} ms with the engine driven on \
                 the runtime's thread ({:.0} ms in all)",
                gaps.after_ms, gaps.after_total_ms, gaps.before_ms, gaps.before_total_ms
            )
        }),
        "(reported, after and before)",
    ));
}

/// The two pictures beside the README's table, from this run's medians.
fn draw_plots() -> Result<(), String> {
    let dir = workspace_root().join("bench/plots");
    std::fs::create_dir_all(&dir)
        .map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
    // Occupancy in nines: 0 % is 0, 90 % is 1, 99 % is 2, 99.99 % is 4.
    let nines = |basis_points: u32| -(1.0 - f64::from(basis_points) / 10_000.0).log10();
    // Each series is given an occupancy and kubelet's measured cost there.
    let occupancy_series = |name: &str, cost: &dyn Fn(u32, f64) -> Option<f64>| Series {
        name: name.into(),
        points: KUBELET_REFERENCE_NS
            .iter()
            .filter_map(|&(occupancy, kubelet)| Some((nines(occupancy), cost(occupancy, kubelet)?)))
            .collect(),
    };
    let pair = |who: &'static str| {
        move |occupancy: u32, _| median_ns(&format!("alloc_release_pair/{who}/{occupancy}"))
    };
    Chart {
        title: "alloc + release pair against occupancy of 65,535 slots",
        x_description: "slots occupied",
        y_description: "time per pair",
        x_range: (0.0, 4.2),
        x_label: |x| format!("{}%", 100.0 * (1.0 - 10f64.powf(-x))),
        series: vec![
            occupancy_series("podns slot allocator", &pair("podns")),
            occupancy_series("podns whole engine (effects planned)", &pair("engine")),
            occupancy_series("kubelet-style, rebuilt (this run)", &pair("kubelet-style")),
            occupancy_series("kubelet as measured", &|_, kubelet| Some(kubelet)),
        ],
    }
    .draw(&dir.join("alloc_release.svg"))?;
    let per_pod_series = |name: &str, group: &str| Series {
        name: name.into(),
        points: SIZES
            .iter()
            .filter_map(|&pods| {
                let ns = median_ns(&format!("{group}/{pods}"))?;
                Some((f64::from(pods).log10(), ns / f64::from(pods)))
            })
            .collect(),
    };
    Chart {
        title: "recovery cost per pod against the number of pods",
        x_description: "pods",
        y_description: "time per pod",
        x_range: (2.0, 5.0),
        x_label: |x| format!("{:.0}", 10f64.powf(x)),
        series: vec![
            per_pod_series("podns end to end, tmpfs", "recovery_linux_tmpfs"),
            per_pod_series(
                "kubelet's path rebuilt, tmpfs",
                "recovery_linux_tmpfs/kubelet-path",
            ),
            per_pod_series("podns end to end, disk", "recovery_linux_disk"),
            per_pod_series("podns core planning alone", "recovery_planning"),
        ],
    }
    .draw(&dir.join("recovery_per_pod.svg"))
}

fn main() {
    if let Err(error) = draw_plots() {
        eprintln!("podns-bench-summary: {error}");
        std::process::exit(1);
    }
    // `--plots-only` redraws the pictures from the medians of the last
    // `cargo bench`, measuring nothing.
    if std::env::args().any(|arg| arg == "--plots-only") {
        return;
    }
    let mut rows = Vec::new();
    allocator_rows(&mut rows);
    recovery_rows(&mut rows);
    durable_rows(&mut rows);
    syscall_rows(&mut rows);
    memory_rows(&mut rows);
    simulation_rows(&mut rows);
    namespace_rows(&mut rows);
    subpath_rows(&mut rows);
    ticker_rows(&mut rows);
    println!("| figure | measured | target | verdict |");
    println!("|---|---|---|---|");
    for row in rows {
        println!(
            "| {} | {} | {} | {} |",
            row.figure, row.measured, row.target, row.verdict
        );
    }
}
