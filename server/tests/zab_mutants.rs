//! The simulator must catch each deliberate ZAB bug (the `mutants` feature):
//!
//!     cargo test -p rookery-server --features mutants --test zab_mutants

mod sim;

use rookery_server::zab::mutants::{self, Mutant};

/// Seeds tried per mutant before giving up on catching it.
const SEEDS: u64 = 3000;
const STEPS: usize = 3000;

#[test]
fn the_simulator_catches_every_mutant() {
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut report = Vec::new();
    for mutant in [
        Mutant::AckBeforeFsync,
        Mutant::SkipTrunc,
        Mutant::NewLeaderAckBeforeLog,
    ] {
        mutants::set(Some(mutant));
        let caught =
            (0..SEEDS).find_map(|seed| sim::run_seed(seed, STEPS).err().map(|e| (seed, e)));
        mutants::set(None);
        report.push((mutant, caught));
    }
    std::panic::set_hook(quiet);
    for (mutant, caught) in &report {
        match caught {
            Some((seed, why)) => eprintln!(
                "{mutant:?}: caught at seed {seed}: {}",
                why.lines().next().unwrap_or("")
            ),
            None => eprintln!("{mutant:?}: NOT caught in {SEEDS} seeds"),
        }
    }
    assert!(
        report.iter().all(|(_, caught)| caught.is_some()),
        "a mutant survived the simulator"
    );
}
