//! A batch of seeds runs without a violation, and a seed replays identically.

#[test]
fn two_hundred_seeds_hold_every_invariant() {
    let mut crashes = 0;
    for seed in 0..200 {
        match podns_sim::run_seed(seed, 60) {
            Ok(report) => crashes += report.crashes,
            Err((violation, _)) => panic!("seed {seed}: {violation:?}"),
        }
    }
    assert!(
        crashes > 100,
        "the workload must actually crash ({crashes})"
    );
}

#[test]
fn a_seed_replays_identically() {
    assert_eq!(
        podns_sim::run_seed(42, 80).ok(),
        podns_sim::run_seed(42, 80).ok()
    );
}
