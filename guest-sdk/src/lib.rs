//! `aslan-guest`: helpers for writing Aslan WebAssembly guests in Rust.
//!
//! Not yet implemented: the host/guest contract is being drafted in `wit/`
//! (see `wit/README.md`). This crate will carry the `wit-bindgen` bindings
//! for that contract and helpers for `.sync` pollers and task guests, built
//! for `wasm32` targets. It exists now so that the workspace layout is
//! stable for the engine's users.
#![no_std]
