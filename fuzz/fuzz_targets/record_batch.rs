//! Record batches in a Produce to a `KafkaServer` on 127.0.0.1, started once per process. The
//! input is a flags byte (bit 0: fix the batches' lengths and CRCs; bits 1-4: the Produce
//! version) and the batches; see `Wire::record_batch` in `tests/common/wire.rs`.
#![no_main]

use std::sync::OnceLock;

#[allow(dead_code)]
#[path = "../../tests/common/mod.rs"]
mod common;

use common::wire::Wire;

static WIRE: OnceLock<Wire> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    WIRE.get_or_init(Wire::start).record_batch(data);
});
