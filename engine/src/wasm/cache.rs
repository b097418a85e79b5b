//! Compiled components on disk, keyed by content hash.
//!
//! A component is compiled once (`Engine::precompile_component`) and the
//! artifact written to `DIR/<sha256 of the .wasm>-<wasmtime compatibility
//! hash>.cwasm` through a temporary file, `fsync` and `rename`; later loads
//! (another run, a restarted server) deserialize it in milliseconds
//! instead of compiling again (seconds for a Python or JavaScript guest).
//! Only files this module wrote are deserialized: deserializing is
//! `unsafe` in wasmtime because an artifact is trusted machine code, so
//! the directory must be private to Aslan (it is created `0700`).

use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use wasmtime::component::Component;
use wasmtime::Engine;

/// The hex SHA-256 of a module.
pub fn digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The default cache directory: `$ASLAN_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/aslan/wasm`, else `~/.cache/aslan/wasm`.
pub fn default_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("ASLAN_CACHE_DIR") {
        return Some(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return Some(PathBuf::from(d).join("aslan").join("wasm"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("aslan").join("wasm"))
}

fn artifact(engine: &Engine, dir: &Path, sha: &str) -> PathBuf {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    dir.join(format!("{sha}-{:016x}.cwasm", h.finish()))
}

/// Where a component came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Compiled now (and written to the cache when there is one).
    Compiled,
    /// Deserialized from the cache.
    Cache,
}

/// Loads `bytes` (whose digest is `sha`) as a component, from `dir` when it
/// holds the artifact, else compiling it and writing the artifact there.
/// A cache that cannot be written only costs the next load a compile.
pub fn load(engine: &Engine, bytes: &[u8], sha: &str, dir: Option<&Path>) -> wasmtime::Result<(Component, Source)> {
    let Some(dir) = dir else {
        return Ok((Component::new(engine, bytes)?, Source::Compiled));
    };
    let path = artifact(engine, dir, sha);
    if path.is_file() {
        // SAFETY: the file is one this function wrote (the directory is
        // private to Aslan), for this engine's compatibility hash;
        // wasmtime also checks the artifact's header and version.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(c) => return Ok((c, Source::Cache)),
            Err(e) => tracing::warn!(path = %path.display(), "recompiling a cached component that does not load: {e}"),
        }
    }
    let compiled = engine.precompile_component(bytes)?;
    if let Err(e) = write(dir, &path, &compiled) {
        tracing::warn!(path = %path.display(), "cannot write the component cache: {e}");
    }
    // SAFETY: the bytes were produced just now by this engine.
    let c = unsafe { Component::deserialize(engine, &compiled)? };
    Ok((c, Source::Compiled))
}

fn write(dir: &Path, path: &Path, data: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    let tmp = dir.join(format!(".{}.{}.tmp", std::process::id(), uuid::Uuid::new_v4().simple()));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}
