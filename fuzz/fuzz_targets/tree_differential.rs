#![no_main]
//! See `rookery_fuzz::tree_diff` for what this target feeds and checks.

libfuzzer_sys::fuzz_target!(|data: &[u8]| rookery_fuzz::tree_diff::run(data));
