//! What a module may touch: the per-module allowlist.
//!
//! A module may reach only the clusters, namespaces and HTTP methods (verbs)
//! and the EKS operations its configuration lists; by default nothing. A
//! call outside the list is refused with [`Denied`], which traps the guest:
//! the Task fails with `Wasm.Denied`, whatever the guest would do next.

use serde::Deserialize;

/// The allowlist of one module (`[modules.NAME]` in the configuration file).
/// The default allows nothing but the `GET` method, so it reaches nothing.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    /// `ClusterName`s the module may call; `"*"` for any.
    #[serde(default)]
    pub clusters: Vec<String>,
    /// API server endpoints (`https://host[:port]`) the module may send
    /// requests to; `"*"` for any. The guest names the endpoint, and the
    /// host sends the cluster's credentials (an EKS token, a configured
    /// token) there, so list the real endpoints: `"*"` lets a guest send
    /// them anywhere.
    #[serde(default)]
    pub endpoints: Vec<String>,
    /// Namespaces it may touch; `"*"` for any.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// HTTP methods it may use (`GET`, `POST`, `PUT`, `PATCH`, `DELETE`,
    /// `HEAD`); `"*"` for any. Default: `GET` only. `create-job` is a `POST`.
    #[serde(default = "get_only")]
    pub methods: Vec<String>,
    /// Whether it may call paths outside a namespace (`/api/v1/nodes`,
    /// `/version`).
    #[serde(default)]
    pub cluster_scoped: bool,
    /// EKS operations it may call, as the WIT names them
    /// (`describe-cluster`); `"*"` for any.
    #[serde(default)]
    pub eks: Vec<String>,
    /// State machines (names) a code workflow may start and await
    /// executions of; `"*"` for any.
    #[serde(default)]
    pub state_machines: Vec<String>,
}

fn get_only() -> Vec<String> {
    vec!["GET".into()]
}

impl Default for Capabilities {
    // As the configuration file's defaults: GET is the one method, and no
    // cluster, endpoint, namespace or EKS operation is listed.
    fn default() -> Self {
        Capabilities {
            clusters: Vec::new(),
            endpoints: Vec::new(),
            namespaces: Vec::new(),
            methods: get_only(),
            cluster_scoped: false,
            eks: Vec::new(),
            state_machines: Vec::new(),
        }
    }
}

/// A call the allowlist refuses.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct Denied(pub String);

fn allows(list: &[String], item: &str) -> bool {
    list.iter().any(|x| x == "*" || x == item)
}

/// The namespace a Kubernetes API path is in, `None` for a cluster-scoped
/// path; an error for a path that is not plainly an API path (dot
/// segments, percent escapes).
pub fn namespace_of(path: &str) -> Result<Option<&str>, String> {
    if !path.starts_with('/') || path.contains('%') || path.contains("//") {
        return Err(format!("the path {path:?} is not a plain API path"));
    }
    let segs: Vec<&str> = path[1..].split('/').collect();
    if segs.iter().any(|s| *s == "." || *s == "..") {
        return Err(format!("the path {path:?} has dot segments"));
    }
    let rest = match segs.first() {
        Some(&"api") => segs.get(2..),
        Some(&"apis") => segs.get(3..),
        _ => None,
    };
    match rest {
        Some([ns_kw, ns, ..]) if *ns_kw == "namespaces" && !ns.is_empty() => Ok(Some(ns)),
        _ => Ok(None),
    }
}

impl Capabilities {
    /// Everything allowed (tests and trusted modules).
    pub fn all() -> Capabilities {
        let any = || vec!["*".to_string()];
        Capabilities {
            clusters: any(),
            endpoints: any(),
            namespaces: any(),
            methods: any(),
            cluster_scoped: true,
            eks: any(),
            state_machines: any(),
        }
    }

    /// Checks one Kubernetes call of `module`.
    pub fn check_kubernetes(
        &self,
        module: &str,
        cluster: &str,
        endpoint: &str,
        method: &str,
        path: &str,
    ) -> Result<(), Denied> {
        let deny = |why: String| {
            Err(Denied(format!(
                "module {module} may not {method} {path} on cluster {cluster}: {why}"
            )))
        };
        if !allows(&self.clusters, cluster) {
            return deny("the cluster is not in its allowlist".into());
        }
        if !allows(&self.endpoints, endpoint.trim_end_matches('/')) {
            return deny(format!("the endpoint {endpoint} is not in its allowlist"));
        }
        if !allows(&self.methods, &method.to_ascii_uppercase()) {
            return deny(format!("{method} is not in its allowed methods"));
        }
        match namespace_of(path) {
            Err(e) => deny(e),
            Ok(None) if !self.cluster_scoped => deny("cluster-scoped paths are not allowed".into()),
            Ok(Some(ns)) if !allows(&self.namespaces, ns) => deny(format!("namespace {ns} is not in its allowlist")),
            Ok(_) => Ok(()),
        }
    }

    /// Checks one EKS operation of `module`.
    pub fn check_eks(&self, module: &str, operation: &str) -> Result<(), Denied> {
        if allows(&self.eks, operation) {
            Ok(())
        } else {
            Err(Denied(format!(
                "module {module} may not call the EKS operation {operation}: it is not in its allowlist"
            )))
        }
    }

    /// Whether a code workflow may start or await executions of the state
    /// machine `name`.
    pub fn check_state_machine(&self, module: &str, name: &str) -> Result<(), Denied> {
        if allows(&self.state_machines, name) {
            Ok(())
        } else {
            Err(Denied(format!(
                "module {module} may not start or await executions of the state machine {name}: it is not in its allowlist"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_come_from_the_path() {
        assert_eq!(namespace_of("/api/v1/namespaces/a/pods"), Ok(Some("a")));
        assert_eq!(namespace_of("/apis/batch/v1/namespaces/b/jobs/x"), Ok(Some("b")));
        assert_eq!(namespace_of("/api/v1/namespaces/c"), Ok(Some("c")));
        assert_eq!(namespace_of("/api/v1/nodes"), Ok(None));
        assert_eq!(namespace_of("/version"), Ok(None));
        assert!(namespace_of("/api/v1/namespaces/a/../../nodes").is_err());
        assert!(namespace_of("/api/v1/namespaces/a%2F..").is_err());
    }

    #[test]
    fn the_allowlist_refuses_what_it_does_not_list() {
        let c = Capabilities {
            clusters: vec!["prod".into()],
            endpoints: vec!["https://prod.example".into()],
            namespaces: vec!["jobs".into()],
            ..Capabilities::default()
        };
        let ok = "https://prod.example/";
        let check = |cluster: &str, endpoint: &str, method: &str, path: &str| {
            c.check_kubernetes("m", cluster, endpoint, method, path)
        };
        assert!(check("prod", ok, "GET", "/api/v1/namespaces/jobs/pods").is_ok());
        let e = check("prod", ok, "DELETE", "/api/v1/namespaces/jobs/pods/p").unwrap_err();
        assert!(e.0.contains("DELETE is not in its allowed methods"), "{e}");
        assert!(check("dev", ok, "GET", "/api/v1/namespaces/jobs/pods").is_err());
        // The cluster's credentials never go to an endpoint the list does not name.
        let e = check("prod", "https://evil.example", "GET", "/api/v1/namespaces/jobs/pods").unwrap_err();
        assert!(
            e.0.contains("the endpoint https://evil.example is not in its allowlist"),
            "{e}"
        );
        assert!(check("prod", ok, "GET", "/api/v1/namespaces/kube-system/secrets").is_err());
        assert!(check("prod", ok, "GET", "/api/v1/nodes").is_err());
        assert!(c.check_eks("m", "describe-cluster").is_err());
        assert!(Capabilities::all().check_eks("m", "delete-cluster").is_ok());
        // The default is the configuration file's default.
        assert_eq!(Capabilities::default(), toml::from_str::<Capabilities>("").unwrap());
        assert!(Capabilities::default()
            .check_kubernetes("m", "prod", ok, "GET", "/api/v1/namespaces/jobs/pods")
            .is_err());
    }
}
