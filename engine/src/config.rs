//! The engine configuration file (`aslan run --config FILE`,
//! `aslan serve --config FILE`), in TOML.
//!
//! ```toml
//! # Credentials for the cluster that Task states call `MyCluster`
//! # (their `ClusterName`), used instead of an EKS token.
//! [clusters.MyCluster]
//! token = "..."
//!
//! # Or a kubeconfig context: its user's credentials (token, client
//! # certificate, exec plugin) are used; the endpoint and CA still come
//! # from the Task's `Endpoint` and `CertificateAuthority`.
//! [clusters.OnPrem]
//! kubeconfig = "/home/me/.kube/config"
//! context = "on-prem-admin"
//! ```
//!
//! Clusters not listed get an EKS token made from the standard AWS
//! credential chain.
//!
//! WebAssembly modules, their allowlists, and pollers attached to `.sync`
//! states (see [`crate::wasm`]):
//!
//! ```toml
//! [modules.job-poller]
//! path = "guests/rust-poller.wasm"   # relative to this file
//! deadline_ms = 1000                  # guest time per call (default 1000)
//! memory_mib = 64                     # per linear memory (default 64)
//! [modules.job-poller.allow]          # default: nothing
//! clusters = ["MyCluster"]            # ClusterName values, or "*"
//! endpoints = ["https://ABC.gr7.us-east-1.eks.amazonaws.com"]  # where its credentials may go, or "*"
//! namespaces = ["batch"]              # or "*"
//! methods = ["GET"]                   # the default
//! cluster_scoped = false              # paths outside a namespace
//! eks = ["describe-cluster"]          # EKS operations, or "*"
//!
//! [[pollers]]
//! state_machine = "Jobs"
//! state = "Run the Job"
//! module = "job-poller"
//!
//! [wasm]
//! pooling = true                      # the pooling allocator (default)
//! cache_dir = "/var/cache/aslan"      # compiled components
//! ```

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    /// Per-cluster credentials, keyed by the Task's `ClusterName`.
    #[serde(default)]
    pub clusters: BTreeMap<String, ClusterCredentials>,
    /// WebAssembly modules, by name: their file, limits and allowlist.
    #[cfg(feature = "wasm")]
    #[serde(default)]
    pub modules: BTreeMap<String, crate::wasm::ModuleConfig>,
    /// Pollers attached to `.sync` states.
    #[cfg(feature = "wasm")]
    #[serde(default)]
    pub pollers: Vec<crate::wasm::PollerConfig>,
    /// Settings of the WebAssembly host.
    #[cfg(feature = "wasm")]
    #[serde(default)]
    pub wasm: crate::wasm::run::WasmSettings,
}

/// How to authenticate to one cluster.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ClusterCredentials {
    /// A bearer token.
    pub token: Option<String>,
    /// A kubeconfig file whose user credentials to use.
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context (default: its current context).
    pub context: Option<String>,
}

impl std::fmt::Debug for ClusterCredentials {
    // Never print the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterCredentials")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("kubeconfig", &self.kubeconfig)
            .field("context", &self.context)
            .finish()
    }
}

/// A configuration file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML is malformed or has unknown keys.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, with the line and column.
        message: String,
    },
    /// A cluster entry is incomplete or contradictory.
    #[error("{path}: [clusters.{cluster}]: {message}")]
    Cluster {
        /// The file.
        path: PathBuf,
        /// The cluster's name.
        cluster: String,
        /// What is wrong.
        message: String,
    },
}

impl EngineConfig {
    /// Reads and checks a configuration file. A relative `kubeconfig` path
    /// is taken relative to the file's folder.
    pub fn load(path: &Path) -> Result<EngineConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut cfg = Self::parse(&text).map_err(|message| ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        for (name, c) in &mut cfg.clusters {
            let bad = |message: &str| ConfigError::Cluster {
                path: path.to_path_buf(),
                cluster: name.clone(),
                message: message.to_string(),
            };
            match (&c.token, &c.kubeconfig) {
                (Some(_), Some(_)) => return Err(bad("give either `token` or `kubeconfig`, not both")),
                (None, None) => return Err(bad("give `token` or `kubeconfig`")),
                (Some(t), None) if t.trim().is_empty() => return Err(bad("`token` is empty")),
                (Some(_), None) if c.context.is_some() => return Err(bad("`context` goes with `kubeconfig`")),
                _ => {}
            }
            if let Some(k) = &mut c.kubeconfig {
                if k.is_relative() {
                    *k = base.join(&*k);
                }
            }
        }
        #[cfg(feature = "wasm")]
        for m in cfg.modules.values_mut() {
            if let Some(p) = &mut m.path {
                if p.is_relative() {
                    *p = base.join(&*p);
                }
            }
        }
        Ok(cfg)
    }

    /// Parses the TOML text (no checks beyond the shape).
    pub fn parse(text: &str) -> Result<EngineConfig, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<EngineConfig, ConfigError> {
        let dir = std::env::temp_dir().join(format!("aslan-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("aslan.toml");
        std::fs::write(&f, text).unwrap();
        let r = EngineConfig::load(&f);
        std::fs::remove_dir_all(&dir).unwrap();
        r
    }

    #[test]
    fn tokens_and_kubeconfigs_per_cluster() {
        let c = load("[clusters.A]\ntoken = \"t0k\"\n[clusters.B]\nkubeconfig = \"kc.yaml\"\ncontext = \"admin\"\n")
            .unwrap();
        assert_eq!(c.clusters["A"].token.as_deref(), Some("t0k"));
        let b = &c.clusters["B"];
        assert!(b.kubeconfig.as_ref().unwrap().is_absolute() || b.kubeconfig.as_ref().unwrap().starts_with("/"));
        assert!(b.kubeconfig.as_ref().unwrap().ends_with("kc.yaml"));
        assert_eq!(b.context.as_deref(), Some("admin"));
        // The token never shows in Debug output.
        assert!(!format!("{c:?}").contains("t0k"));
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let e = load("[clusters.A]\ntoken = \"x\"\nkubeconfig = \"k\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("[clusters.A]") && e.contains("not both"), "{e}");
        let e = load("[clusters.A]\n").unwrap_err().to_string();
        assert!(e.contains("give `token` or `kubeconfig`"), "{e}");
        let e = load("[clusters.A]\ntokn = \"x\"\n").unwrap_err().to_string();
        assert!(e.contains("tokn"), "{e}");
        let e = load("[cluster.A]\ntoken = \"x\"\n").unwrap_err().to_string();
        assert!(e.contains("cluster"), "{e}");
    }
}
