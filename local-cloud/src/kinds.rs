//! The resource kinds the emulator serves and their discovery facts.

/// A resource kind served by the emulator.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// `v1` Namespace (cluster-scoped).
    Namespace,
    /// `v1` ConfigMap.
    ConfigMap,
    /// `v1` Pod.
    Pod,
    /// `batch/v1` Job.
    Job,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Namespace, Kind::ConfigMap, Kind::Pod, Kind::Job];

    pub fn plural(self) -> &'static str {
        match self {
            Kind::Namespace => "namespaces",
            Kind::ConfigMap => "configmaps",
            Kind::Pod => "pods",
            Kind::Job => "jobs",
        }
    }

    pub fn singular(self) -> &'static str {
        match self {
            Kind::Namespace => "namespace",
            Kind::ConfigMap => "configmap",
            Kind::Pod => "pod",
            Kind::Job => "job",
        }
    }

    pub fn kind(self) -> &'static str {
        match self {
            Kind::Namespace => "Namespace",
            Kind::ConfigMap => "ConfigMap",
            Kind::Pod => "Pod",
            Kind::Job => "Job",
        }
    }

    pub fn group(self) -> &'static str {
        match self {
            Kind::Job => "batch",
            _ => "",
        }
    }

    pub fn api_version(self) -> &'static str {
        match self {
            Kind::Job => "batch/v1",
            _ => "v1",
        }
    }

    pub fn namespaced(self) -> bool {
        !matches!(self, Kind::Namespace)
    }

    pub fn short_names(self) -> &'static [&'static str] {
        match self {
            Kind::Namespace => &["ns"],
            Kind::ConfigMap => &["cm"],
            Kind::Pod => &["po"],
            Kind::Job => &[],
        }
    }

    pub fn categories(self) -> &'static [&'static str] {
        match self {
            Kind::Pod | Kind::Job => &["all"],
            _ => &[],
        }
    }

    /// `jobs.batch`, `configmaps`: how error messages name the resource.
    pub fn qualified_resource(self) -> String {
        if self.group().is_empty() {
            self.plural().to_string()
        } else {
            format!("{}.{}", self.plural(), self.group())
        }
    }

    /// `Job.batch`, `ConfigMap`: how Invalid messages name the kind.
    pub fn qualified_kind(self) -> String {
        if self.group().is_empty() {
            self.kind().to_string()
        } else {
            format!("{}.{}", self.kind(), self.group())
        }
    }

    pub fn verbs(self) -> &'static [&'static str] {
        match self {
            Kind::Namespace => &["create", "delete", "get", "list", "patch", "update", "watch"],
            _ => &["create", "delete", "get", "list", "patch", "update", "watch"],
        }
    }

    /// The kind served at `group`/`plural`, if any.
    pub fn from_plural(group: &str, plural: &str) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| k.group() == group && k.plural() == plural)
    }

    /// Kinds in one group version, in discovery order.
    pub fn in_group(group: &str) -> impl Iterator<Item = Kind> + '_ {
        Kind::ALL.into_iter().filter(move |k| k.group() == group)
    }
}
