#![no_main]
//! See `rookery_fuzz::quorum` for what this target feeds and checks.

libfuzzer_sys::fuzz_target!(|data: &[u8]| rookery_fuzz::quorum::run(data));
