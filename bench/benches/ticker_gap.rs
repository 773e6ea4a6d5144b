//! The longest gap of a 1 ms ticker on a current-thread runtime during
//! 1,000 durable allocations on the disk, before (the engine driven on the
//! runtime's thread) and after (`Node`); written for the summary.

use podns_bench::ticker_gap::{RESULT_FILE, measure};

fn main() {
    // `cargo bench` passes `--bench`; a filter that names another bench
    // leaves this one out, as criterion's benches do.
    let filter = std::env::args().skip(1).find(|arg| !arg.starts_with("--"));
    if filter.is_some_and(|filter| !"ticker_gap".contains(&filter)) {
        return;
    }
    let gaps = measure(&std::env::temp_dir(), 1000);
    println!(
        "ticker_gap: longest gap {:.1} ms driving the engine on the runtime's thread ({:.0} ms \
         for {} allocations), {:.2} ms through Node ({:.0} ms)",
        gaps.before_ms, gaps.before_total_ms, gaps.allocations, gaps.after_ms, gaps.after_total_ms
    );
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .join(RESULT_FILE);
    std::fs::create_dir_all(path.parent().expect("a directory")).expect("the result directory");
    std::fs::write(&path, serde_json::to_string(&gaps).expect("JSON")).expect("the result file");
}
