//! The object store: every object as JSON, one global resourceVersion counter (as etcd has), a
//! bounded event log for watches that resume from a resourceVersion, and a broadcast of changes.

use crate::kinds::Kind;
use crate::status::ApiError;
use crate::util;
use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::broadcast;

/// A watch event type.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

/// One change to one object.
#[derive(Debug)]
pub struct Event {
    pub rv: u64,
    pub kind: Kind,
    pub etype: EventType,
    pub object: Arc<Value>,
    /// The object before a modification (so selector watches can see objects enter and leave).
    pub prev: Option<Arc<Value>>,
}

type Key = (Kind, String, String);

struct Inner {
    rv: u64,
    objects: BTreeMap<Key, Arc<Value>>,
    log: VecDeque<Arc<Event>>,
    /// The resourceVersion of the newest event dropped from the log.
    compacted: u64,
}

/// Where a watch starts.
pub struct WatchStart {
    /// Events to send first (replayed or synthetic ADDED).
    pub initial: Vec<Arc<Event>>,
    /// Later events.
    pub rx: broadcast::Receiver<Arc<Event>>,
    /// The store's resourceVersion when the watch started.
    pub rv: u64,
}

/// The object store.
pub struct Store {
    inner: Mutex<Inner>,
    tx: broadcast::Sender<Arc<Event>>,
    log_capacity: usize,
    max_objects: usize,
}

impl Store {
    pub fn new(log_capacity: usize, max_objects: usize) -> Store {
        let (tx, _) = broadcast::channel(65536);
        Store {
            inner: Mutex::new(Inner {
                rv: 0,
                objects: BTreeMap::new(),
                log: VecDeque::new(),
                compacted: 0,
            }),
            tx,
            log_capacity: log_capacity.max(1),
            max_objects,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }

    pub fn get(&self, kind: Kind, ns: &str, name: &str) -> Option<Arc<Value>> {
        self.lock()
            .objects
            .get(&(kind, ns.to_string(), name.to_string()))
            .cloned()
    }

    pub fn exists(&self, kind: Kind, ns: &str, name: &str) -> bool {
        self.get(kind, ns, name).is_some()
    }

    /// Objects of a kind (in one namespace or all), sorted by namespace and name, and the store's
    /// resourceVersion.
    pub fn list(&self, kind: Kind, ns: Option<&str>) -> (Vec<Arc<Value>>, u64) {
        let g = self.lock();
        (list_locked(&g, kind, ns), g.rv)
    }

    fn record(&self, g: &mut Inner, ev: Event) {
        let ev = Arc::new(ev);
        g.log.push_back(ev.clone());
        while g.log.len() > self.log_capacity {
            if let Some(old) = g.log.pop_front() {
                g.compacted = old.rv;
            }
        }
        let _ = self.tx.send(ev);
    }

    fn stamp(rv: u64, obj: &mut Value) {
        util::meta_mut(obj).insert("resourceVersion".into(), Value::String(rv.to_string()));
    }

    /// Stores a new object (its name, uid and timestamps already set by the caller).
    pub fn create(&self, kind: Kind, mut obj: Value) -> Result<Arc<Value>, ApiError> {
        let ns = if kind.namespaced() {
            util::namespace(&obj).to_string()
        } else {
            String::new()
        };
        let name = util::name(&obj).to_string();
        let mut g = self.lock();
        let key = (kind, ns, name.clone());
        if g.objects.contains_key(&key) {
            return Err(ApiError::already_exists(kind, &name));
        }
        if g.objects.len() >= self.max_objects {
            return Err(ApiError::too_many(format!(
                "the emulator holds at most {} objects",
                self.max_objects
            )));
        }
        g.rv += 1;
        let rv = g.rv;
        Self::stamp(rv, &mut obj);
        let obj = Arc::new(obj);
        g.objects.insert(key, obj.clone());
        self.record(
            &mut g,
            Event {
                rv,
                kind,
                etype: EventType::Added,
                object: obj.clone(),
                prev: None,
            },
        );
        Ok(obj)
    }

    /// Read-modify-write of one object. `f` returns the new object, or `None` to leave it be; an
    /// unchanged object is not written (no new resourceVersion, no event), as a real server does.
    pub fn update<F>(&self, kind: Kind, ns: &str, name: &str, f: F) -> Result<Arc<Value>, ApiError>
    where
        F: FnOnce(&Value) -> Result<Option<Value>, ApiError>,
    {
        let mut g = self.lock();
        let key = (kind, ns.to_string(), name.to_string());
        let cur = g
            .objects
            .get(&key)
            .cloned()
            .ok_or_else(|| ApiError::not_found(kind, name))?;
        let Some(mut new) = f(&cur)? else { return Ok(cur) };
        // Compare without resourceVersion.
        Self::stamp(util::meta_str(&cur, "resourceVersion").parse().unwrap_or(0), &mut new);
        if new == *cur {
            return Ok(cur);
        }
        g.rv += 1;
        let rv = g.rv;
        Self::stamp(rv, &mut new);
        let new = Arc::new(new);
        g.objects.insert(key, new.clone());
        self.record(
            &mut g,
            Event {
                rv,
                kind,
                etype: EventType::Modified,
                object: new.clone(),
                prev: Some(cur),
            },
        );
        Ok(new)
    }

    /// Removes an object; the DELETED event carries a new resourceVersion.
    pub fn remove(&self, kind: Kind, ns: &str, name: &str) -> Option<Arc<Value>> {
        let mut g = self.lock();
        let cur = g.objects.remove(&(kind, ns.to_string(), name.to_string()))?;
        g.rv += 1;
        let rv = g.rv;
        let mut last = (*cur).clone();
        Self::stamp(rv, &mut last);
        let last = Arc::new(last);
        self.record(
            &mut g,
            Event {
                rv,
                kind,
                etype: EventType::Deleted,
                object: last.clone(),
                prev: Some(cur),
            },
        );
        Some(last)
    }

    /// Starts a watch. `since`: `None` for synthetic ADDED events of the current objects of `kind`,
    /// `Some(rv)` to replay the logged events after `rv`. `Err(compacted)` when `rv` is too old.
    pub fn watch(&self, kind: Kind, since: Option<u64>) -> Result<WatchStart, u64> {
        let g = self.lock();
        let rx = self.tx.subscribe();
        let initial = match since {
            None => list_locked(&g, kind, None)
                .into_iter()
                .map(|o| {
                    Arc::new(Event {
                        rv: util::meta_str(&o, "resourceVersion").parse().unwrap_or(0),
                        kind,
                        etype: EventType::Added,
                        object: o,
                        prev: None,
                    })
                })
                .collect(),
            Some(rv) => {
                if rv < g.compacted {
                    return Err(g.compacted);
                }
                g.log.iter().filter(|e| e.rv > rv && e.kind == kind).cloned().collect()
            }
        };
        Ok(WatchStart { initial, rx, rv: g.rv })
    }
}

fn list_locked(g: &Inner, kind: Kind, ns: Option<&str>) -> Vec<Arc<Value>> {
    match ns {
        Some(ns) => g
            .objects
            .range((kind, ns.to_string(), String::new())..)
            .take_while(|((k, n, _), _)| *k == kind && n == ns)
            .map(|(_, v)| v.clone())
            .collect(),
        None => g
            .objects
            .range((kind, String::new(), String::new())..)
            .take_while(|((k, _, _), _)| *k == kind)
            .map(|(_, v)| v.clone())
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cm(name: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}})
    }

    #[test]
    fn versions_grow_and_noop_updates_are_skipped() {
        let s = Store::new(10, 100);
        let a = s.create(Kind::ConfigMap, cm("a")).unwrap();
        assert_eq!(util::meta_str(&a, "resourceVersion"), "1");
        let b = s
            .update(Kind::ConfigMap, "default", "a", |cur| Ok(Some((*cur).clone())))
            .unwrap();
        assert_eq!(util::meta_str(&b, "resourceVersion"), "1");
        let c = s
            .update(Kind::ConfigMap, "default", "a", |cur| {
                let mut v = (*cur).clone();
                v["data"] = json!({"k": "v"});
                Ok(Some(v))
            })
            .unwrap();
        assert_eq!(util::meta_str(&c, "resourceVersion"), "2");
        assert!(s.create(Kind::ConfigMap, cm("a")).is_err());
        let d = s.remove(Kind::ConfigMap, "default", "a").unwrap();
        assert_eq!(util::meta_str(&d, "resourceVersion"), "3");
    }

    #[test]
    fn watch_replays_and_expires() {
        let s = Store::new(2, 100);
        for n in ["a", "b", "c", "d"] {
            s.create(Kind::ConfigMap, cm(n)).unwrap();
        }
        let w = s.watch(Kind::ConfigMap, Some(2)).unwrap();
        assert_eq!(w.initial.len(), 2);
        assert_eq!(s.watch(Kind::ConfigMap, Some(1)).err(), Some(2));
        assert_eq!(s.watch(Kind::ConfigMap, None).unwrap().initial.len(), 4);
    }
}
