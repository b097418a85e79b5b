//! Starting `aslan-local-cloud` as its contract says: `--listen
//! 127.0.0.1:0`, then one JSON line on stdout. Shared by the Kubernetes
//! tests and benchmark.
#![allow(dead_code)]

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

/// A running emulator, killed on drop.
pub struct Cloud {
    /// The process.
    pub child: Child,
    /// `https://127.0.0.1:N`.
    pub endpoint: String,
    /// Base64 of the CA's PEM, as `CertificateAuthority` wants it.
    pub ca: String,
    /// The bearer token.
    pub token: String,
    /// The EKS API's endpoint, `http://127.0.0.1:M`.
    pub eks: String,
}

impl Drop for Cloud {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The emulator binary, next to `aslan` in the same target folder.
/// `cargo test --workspace --all-targets` builds it; `cargo build
/// --workspace --bins` (with `--release` for benchmarks) does too. Cargo
/// holds its build lock while tests run, so a test cannot build it itself.
pub fn cloud_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let bin = PathBuf::from(env!("CARGO_BIN_EXE_aslan")).with_file_name("aslan-local-cloud");
        assert!(
            bin.exists(),
            "{} is missing: build it with `cargo build --workspace --bins` (add --release for benchmarks)",
            bin.display()
        );
        bin
    })
    .clone()
}

pub fn cloud_with(args: &[&str], env: &[(&str, &str)]) -> Cloud {
    let mut cmd = Command::new(cloud_bin());
    cmd.args(["--listen", "127.0.0.1:0"]).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("aslan-local-cloud starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("the ready line");
    let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("ready line {line:?}: {e}"));
    let k = &v["kubernetes"];
    Cloud {
        child,
        endpoint: k["endpoint"].as_str().unwrap().into(),
        ca: k["certificateAuthority"].as_str().unwrap().into(),
        token: k["token"].as_str().unwrap().into(),
        eks: v["eks"]["endpoint"].as_str().unwrap_or_default().into(),
    }
}
