//! The test code workflow, changed: see ../../flow/src/body.rs.
const DIVERGE: bool = true;
include!("../../flow/src/body.rs");
