//! Parallel and inline Map states: they start child frames and wait for
//! them (see `frames.rs` for how children end).

use super::data::Extra;
use super::{Children, Execution, Flow, Frame, FrameId, Parent, Phase};
use crate::asl::error::StateError;
use crate::asl::history::Details;
use crate::asl::model::{ListId, MapSpec, PathSpec, Seconds, State};
use crate::asl::template::Template;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::VecDeque;

impl Execution {
    pub(super) fn run_parallel(
        &mut self,
        fid: FrameId,
        f: &mut Frame,
        st: &State,
        branches: &[ListId],
    ) -> Result<Flow, StateError> {
        let branch_input = if let Some(j) = &st.jsonata {
            self.arguments_jsonata(f, j, Extra::default())?
        } else {
            let eff = self.effective_input(st, f)?;
            match &st.parameters {
                Some(p) => p.eval(&self.scope(f, &eff, Extra::default()))?,
                None => eff.into_owned(),
            }
        };
        f.last_event = self.record("ParallelStateStarted", f.last_event, None);
        let machine = self.machine.clone();
        for (i, list) in branches.iter().enumerate() {
            let start = machine.lists[*list as usize].start;
            let parent = Parent::Child {
                frame: fid,
                slot: i as u32,
            };
            let child = self.new_frame(start, branch_input.clone(), parent, f.last_event);
            self.ready.push_back(child);
        }
        f.phase = Phase::Children(Box::new(Children::branches(branches.len())));
        Ok(Flow::Blocked)
    }

    pub(super) fn run_map(
        &mut self,
        fid: FrameId,
        f: &mut Frame,
        st: &State,
        spec: &MapSpec,
    ) -> Result<Flow, StateError> {
        if let Some(d) = &spec.distributed {
            return self.run_distributed(fid, f, st, spec, d);
        }
        let resume = self.resume_map.take().filter(|m| m.state == f.state);
        if matches!(f.parent, Parent::Top) {
            self.redrive_map = None;
        }
        let (mut pending_items, max_concurrency) = self.map_inputs(f, st, spec)?;
        let n = pending_items.len();
        let d = self
            .opts
            .history
            .then(|| ("mapStateStartedEventDetails", Details::map_state_started(n)));
        f.last_event = self.record("MapStateStarted", f.last_event, d);
        let mut results = vec![Value::Null; n];
        let mut done = vec![false; n];
        // A redriven Map keeps the results of the iterations that succeeded.
        if let Some(r) = resume.filter(|r| r.results.len() == n) {
            for (i, v) in r.results.into_iter().enumerate() {
                if let Some(v) = v {
                    results[i] = v;
                    done[i] = true;
                }
            }
            pending_items.retain(|(i, _)| !done[*i as usize]);
        }
        let mut ch = Children {
            is_map: true,
            results,
            remaining: pending_items.len(),
            pending_items,
            running: 0,
            max_concurrency,
            done,
        };
        if ch.remaining == 0 {
            return self.children_done(f, ch.results);
        }
        self.spawn_items(fid, f, &mut ch);
        f.phase = Phase::Children(Box::new(ch));
        Ok(Flow::Blocked)
    }

    /// A Map's iteration inputs (after `ItemsPath`/`Items` and
    /// `ItemSelector`) and its `MaxConcurrency`.
    pub(super) fn map_inputs(
        &mut self,
        f: &mut Frame,
        st: &State,
        spec: &MapSpec,
    ) -> Result<(VecDeque<(u32, Value)>, usize), StateError> {
        Ok(if st.jsonata.is_some() {
            let max_concurrency = self.jnumber(f, &spec.max_concurrency, "MaxConcurrency", false)? as usize;
            let items = self.map_items_jsonata(f, spec.items.as_ref(), spec.jsonata_selector.as_ref())?;
            (items, max_concurrency)
        } else {
            let eff = self.effective_input(st, f)?;
            let items = match &spec.items_path {
                PathSpec::Root => eff.clone(),
                PathSpec::Null => Cow::Owned(Value::Object(Map::new())),
                PathSpec::Path(p) => self.select(f, p, &eff, "ItemsPath")?,
            };
            let Some(len) = items.as_array().map(Vec::len) else {
                return Err(StateError::runtime(format!(
                    "Map state '{}': ItemsPath must reference a JSON array",
                    st.name
                )));
            };
            let max_concurrency = self.path_concurrency(f, spec, &eff)?;
            let pending_items = match &spec.item_selector {
                // The selector reads each item in place: no copy of the array.
                Some(sel) => {
                    let list = items.as_array().map(Vec::as_slice).unwrap_or_default();
                    self.select_path(f, &eff, sel, list)?
                }
                None => {
                    let mut pending_items = VecDeque::with_capacity(len);
                    if let Value::Array(items) = items.into_owned() {
                        pending_items.extend(items.into_iter().enumerate().map(|(i, v)| (i as u32, v)));
                    }
                    pending_items
                }
            };
            (pending_items, max_concurrency)
        })
    }

    /// Each item through a JSONPath `ItemSelector` (with `$$.Map.Item`),
    /// against the effective input `eff`.
    pub(super) fn select_path(
        &self,
        f: &Frame,
        eff: &Value,
        sel: &Template,
        list: &[Value],
    ) -> Result<VecDeque<(u32, Value)>, StateError> {
        let mut out = VecDeque::with_capacity(list.len());
        for (i, item) in list.iter().enumerate() {
            let extra = Extra {
                task_token: None,
                map_item: Some((i as u32, item)),
            };
            out.push_back((i as u32, sel.eval(&self.scope(f, eff, extra))?));
        }
        Ok(out)
    }

    /// `MaxConcurrency(Path)` of a JSONPath Map, read from the effective
    /// input `eff`.
    pub(super) fn path_concurrency(&self, f: &Frame, spec: &MapSpec, eff: &Value) -> Result<usize, StateError> {
        Ok(match &spec.max_concurrency {
            Seconds::Literal(n) => *n as usize,
            Seconds::Expr(_) => return Err(StateError::runtime("a JSONata MaxConcurrency in a JSONPath state")),
            Seconds::Path(p) => {
                let v = self.select(f, p, eff, "MaxConcurrencyPath")?;
                v.as_u64().ok_or_else(|| {
                    StateError::runtime(format!(
                        "MaxConcurrencyPath must reference a non-negative integer, got {v}"
                    ))
                })? as usize
            }
        })
    }

    /// Starts Map iterations up to `MaxConcurrency`.
    pub(super) fn spawn_items(&mut self, fid: FrameId, f: &mut Frame, ch: &mut Children) {
        let machine = self.machine.clone();
        let st = machine.state(f.state);
        let crate::asl::model::Kind::Map(spec) = &st.kind else {
            return;
        };
        let start = machine.lists[spec.processor as usize].start;
        // Room for the frames about to start, in one allocation each.
        let room = if ch.max_concurrency == 0 {
            ch.pending_items.len()
        } else {
            ch.pending_items
                .len()
                .min(ch.max_concurrency.saturating_sub(ch.running))
        };
        self.frames.reserve(room.saturating_sub(self.free.len()));
        self.ready.reserve(room);
        while ch.max_concurrency == 0 || ch.running < ch.max_concurrency {
            let Some((i, input)) = ch.pending_items.pop_front() else {
                break;
            };
            let d = self.opts.history.then(|| {
                (
                    "mapIterationStartedEventDetails",
                    Details::map_iteration(st.name.clone(), i),
                )
            });
            let ev = self.record("MapIterationStarted", f.last_event, d);
            let child = self.new_frame(start, input, Parent::Child { frame: fid, slot: i }, ev);
            ch.running += 1;
            self.ready.push_back(child);
        }
    }
}
