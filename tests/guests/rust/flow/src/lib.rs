//! The test code workflow; see body.rs.
const DIVERGE: bool = false;
include!("body.rs");
