#![no_main]
//! See `rookery_fuzz::election` for what this target feeds and checks.

libfuzzer_sys::fuzz_target!(|data: &[u8]| rookery_fuzz::election::run(data));
