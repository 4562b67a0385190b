//! Harnesses shared by integration tests (each test file that needs them says `mod common;`)
//! and by the cargo-fuzz targets in `fuzz/`, which include this module by path.

#[cfg(feature = "kafka-wire")]
pub mod frames;
pub mod fuzz;
pub mod replay;
pub mod targets;
#[cfg(feature = "kafka-wire")]
pub mod wire;
