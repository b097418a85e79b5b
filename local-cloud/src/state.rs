//! What every part of the emulator shares.

use crate::eks_token::AwsKeys;
use crate::logstore::LogStore;
use crate::store::Store;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// When a Job got its final condition (emulator-only, for benchmarks).
#[derive(Debug, Clone)]
pub struct Finished {
    pub condition: &'static str,
    pub at: jiff::Timestamp,
}

/// Shared state.
pub struct State {
    pub store: Store,
    pub logs: LogStore,
    pub token: String,
    pub ca_pem: String,
    pub aws_keys: Option<AwsKeys>,
    pub eks_clusters: Mutex<Vec<String>>,
    pub run_processes: bool,
    /// Answer watch requests with 403, as a cluster whose RBAC grants get
    /// and list but not watch does.
    pub refuse_watch: bool,
    pub pod_backoff: Duration,
    pub max_body: usize,
    pub finished: Mutex<HashMap<(String, String), Finished>>,
    /// Attempt number of each pod a Job created (pod uid → attempt, from 0).
    pub attempts: Mutex<HashMap<String, u32>>,
    /// EKS identities seen (cluster name, access key id), first use logged.
    pub eks_identities: Mutex<Vec<crate::eks_token::Identity>>,
}

impl State {
    pub fn record_eks_identity(&self, id: crate::eks_token::Identity) {
        let mut g = self.eks_identities.lock().unwrap_or_else(|e| e.into_inner());
        if !g.contains(&id) {
            tracing::info!(cluster = %id.cluster, access_key_id = %id.access_key_id, region = %id.region, "first request with an EKS token for this cluster");
            if g.len() < 1000 {
                g.push(id);
            }
        }
    }

    /// Accepts EKS tokens for `cluster`; false if it was already accepted.
    pub fn register_eks_cluster(&self, cluster: &str) -> bool {
        let mut g = self.eks_clusters.lock().unwrap_or_else(|e| e.into_inner());
        if g.iter().any(|c| c == cluster) {
            return false;
        }
        g.push(cluster.to_string());
        true
    }

    /// No longer accepts EKS tokens for `cluster`.
    pub fn unregister_eks_cluster(&self, cluster: &str) {
        self.eks_clusters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|c| c != cluster);
    }

    pub fn eks_clusters(&self) -> Vec<String> {
        self.eks_clusters.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn attempt_of(&self, pod_uid: &str) -> u32 {
        self.attempts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(pod_uid)
            .copied()
            .unwrap_or(0)
    }

    pub fn set_finished(&self, ns: &str, name: &str, f: Finished) {
        self.finished
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((ns.to_string(), name.to_string()), f);
    }

    pub fn finished_at(&self, ns: &str, name: &str) -> Option<Finished> {
        self.finished
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(ns.to_string(), name.to_string()))
            .cloned()
    }
}

/// Shared state handle.
pub type Shared = Arc<State>;
