//! Every metric Rookery keeps, defined in one place (`registry.rs`), in two layers
//! (DESIGN §6): ZooKeeper's own names for existing dashboards and collectors, and
//! `rookery_*` families in Prometheus's conventions. Also the HTTP endpoint that
//! serves them, `mntr`'s rendering and the `srvr`-style request figures.

pub mod family;
pub mod http;
pub mod mntr;
pub mod registry;
mod stats;
pub mod summary;

pub use family::{FamilyDef, Kind, Layer, Shown};
pub use registry::{Metrics, Role};
pub use stats::RequestStats;
pub use summary::{Detail, Summary, SummarySet};

#[cfg(test)]
mod readme {
    use super::*;

    /// metrics/README.md is rendered from the definitions; regenerate it with
    /// `ROOKERY_BLESS=1 cargo test -p rookery-metrics readme`.
    #[test]
    fn readme_matches_the_definitions() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
        let want = family::render_readme(Metrics::new().definitions());
        if std::env::var_os("ROOKERY_BLESS").is_some() {
            std::fs::write(path, &want).unwrap();
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            have == want,
            "metrics/README.md is out of date: run ROOKERY_BLESS=1 cargo test -p rookery-metrics readme"
        );
    }

    #[test]
    fn every_rookery_family_is_prefixed_and_every_zookeeper_family_is_not() {
        for d in Metrics::new().definitions() {
            assert_eq!(
                d.name.starts_with("rookery_"),
                d.layer == Layer::Rookery,
                "{}",
                d.name
            );
            if d.layer == Layer::Rookery && d.kind == Kind::Counter {
                assert!(d.name.ends_with("_total"), "{}", d.name);
            }
        }
    }
}
