//! The offsets-log record codec: every key and value decoder on the same bytes, with the
//! round-trip checks of `tests/common/targets.rs`.
#![no_main]

#[allow(dead_code)]
#[path = "../../tests/common/mod.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    common::targets::log_codec(data);
});
