//! A whole request frame (the bytes after its size) to a `KafkaServer` on 127.0.0.1, started
//! once per process: any answer must be a response to the request that decodes, and a fresh
//! connection must still be answered afterwards (`tests/common/wire.rs`).
#![no_main]

use std::sync::OnceLock;

#[allow(dead_code)]
#[path = "../../tests/common/mod.rs"]
mod common;

use common::wire::Wire;

static WIRE: OnceLock<Wire> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    WIRE.get_or_init(Wire::start).request(data);
});
