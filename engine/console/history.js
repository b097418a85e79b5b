// What happened to each state, read from an execution's history events.
// Pure: no DOM, no network.
//
// Each event belongs to the state whose StateEntered/StateExited it is, or
// to the state of the event it follows (previousEventId): task, retry and
// Map events chain back to their state's StateEntered, branch by branch.

/** Events that fail an attempt of the state they belong to. */
const FAILURES = new Set([
  "TaskFailed", "TaskTimedOut", "TaskSubmitFailed", "TaskStartFailed",
  "ActivityFailed", "ActivityTimedOut", "ActivityScheduleFailed",
  "LambdaFunctionFailed", "LambdaFunctionTimedOut", "LambdaFunctionScheduleFailed", "LambdaFunctionStartFailed",
  "ParallelStateFailed", "MapStateFailed", "MapRunFailed", "EvaluationFailed",
]);
/** Events that start an attempt: after a failure, they mean a retry. */
const ATTEMPTS = new Set(["TaskScheduled", "ActivityScheduled", "LambdaFunctionScheduled", "ParallelStateStarted", "MapStateStarted"]);
const ABORTS = new Set(["TaskStateAborted", "ParallelStateAborted", "MapStateAborted", "WaitStateAborted"]);
const ITERATIONS = {
  MapIterationStarted: ["mapIterationStartedEventDetails", "running"],
  MapIterationSucceeded: ["mapIterationSucceededEventDetails", "succeeded"],
  MapIterationFailed: ["mapIterationFailedEventDetails", "failed"],
  MapIterationAborted: ["mapIterationAbortedEventDetails", "cancelled"],
};

/** The statuses a state can show, in the legend's order. */
export const STATUSES = ["not-run", "running", "succeeded", "failed", "caught", "retried", "cancelled"];

function details(e) {
  for (const k of Object.keys(e)) if (k.endsWith("EventDetails")) return e[k];
  return {};
}

function newRun(name) {
  return {
    name, entered: 0, exited: 0, active: 0, retries: 0, caught: 0,
    pending: 0, // attempts failed and not yet retried, caught or ended
    failed: 0, cancelled: 0,
    input: undefined, output: undefined, parameters: undefined, resource: undefined, result: undefined,
    error: undefined, cause: undefined, mapRunArn: undefined,
    events: [],
    live: [], // open instances, oldest first
  };
}

/**
 * Builds the model: `states` (name → run, summed over every time the state
 * was entered: loops, branches, Map iterations), `iterations` (Map state
 * name → iteration statuses by index) and the execution's own fields.
 * `add` folds in more events (a live execution's new ones).
 */
export class Model {
  constructor() {
    this.states = new Map();
    this.iterations = new Map();
    this.owner = new Map(); // event id → the state instance it belongs to
    this.open = new Set(); // instances entered and not exited
    this.execution = { status: "RUNNING", input: undefined, output: undefined, error: undefined, cause: undefined };
    this.lastId = 0;
    this.count = 0;
  }

  run(name) {
    let r = this.states.get(name);
    if (!r) { r = newRun(name); this.states.set(name, r); }
    return r;
  }

  add(events) {
    for (const e of events) {
      if (e.id <= this.lastId) continue;
      this.lastId = e.id;
      this.count++;
      this.one(e);
    }
    return this;
  }

  /** An attempt of the instance failed (its error is kept on the run). */
  fail(inst) {
    if (!inst.failed) inst.r.pending++;
    inst.failed = true;
  }

  /** Whether an attempt failed, itself or in a branch; ends its branches. */
  failedAttempt(inst) {
    const branchFailed = this.abandon(inst);
    return this.resolve(inst) || (inst.kind === "ParallelStateEntered" && branchFailed);
  }

  /**
   * Ends an open instance that will not exit (its execution, branch or
   * attempt ended): a failed one counts as failed, any other as
   * cancelled. Returns whether it failed.
   */
  finish(inst) {
    const failed = this.failedAttempt(inst);
    this.close(inst);
    if (failed) inst.r.failed++;
    else inst.r.cancelled++;
    return failed;
  }

  /**
   * Finishes the states still open inside a Parallel or Map instance whose
   * attempt ended. Returns whether one of them failed: a failed branch
   * fails its Parallel state, whose history may go on to its Retry or
   * Catch without an event of its own.
   */
  abandon(inst) {
    let failed = false;
    for (const k of inst.kids) if (this.open.has(k)) failed = this.finish(k) || failed;
    inst.kids = [];
    return failed;
  }

  resolve(inst) {
    if (inst.failed) { inst.r.pending--; inst.failed = false; return true; }
    return false;
  }

  close(inst) {
    if (this.open.delete(inst)) inst.r.active--;
  }

  /** The state's most recently entered instance still open. */
  latest(name) {
    const live = this.states.get(name)?.live;
    if (!live) return undefined;
    // Closed instances leave the stack lazily: each is popped once.
    while (live.length && !this.open.has(live[live.length - 1])) live.pop();
    return live[live.length - 1];
  }

  one(e) {
    const t = e.type;
    const d = details(e);
    let inst;
    if (t.endsWith("StateEntered") && e.stateEnteredEventDetails) {
      // Entered right after an event of a state still open: nested in it
      // (a branch or an iteration); otherwise a sibling of that state.
      const before = this.owner.get(e.previousEventId);
      const parent = before && this.open.has(before) ? before : before?.parent;
      inst = { r: this.run(d.name), failed: false, parent, kind: t, kids: [] };
      if (parent) parent.kids.push(inst);
      this.open.add(inst);
      inst.r.live.push(inst);
      inst.r.entered++; inst.r.active++; inst.r.input = d.input;
      if (t === "FailStateEntered") this.fail(inst);
    } else {
      inst = this.owner.get(e.previousEventId);
      // A Map's exit and iteration events may follow the last event of a
      // nested state: they belong to the Map state they name.
      const named = t.endsWith("StateExited") ? d.name : ITERATIONS[t] ? (e[ITERATIONS[t][0]] || {}).name : undefined;
      if (named !== undefined && (!inst || inst.r.name !== named)) {
        // The enclosing instance of that name (a Map in a concurrent Map
        // has many open at once), else its latest.
        let up = inst;
        while (up && up.r.name !== named) up = up.parent;
        inst = up ?? this.latest(named) ?? inst;
      }
      // A Parallel's or Map's own events (Started, Failed, ...) may follow
      // an event of a state inside it: they belong to the enclosing one.
      const own = t.startsWith("ParallelState") ? "ParallelStateEntered" : t.startsWith("MapState") ? "MapStateEntered" : null;
      if (own && !t.endsWith("Exited")) {
        let up = inst;
        while (up && up.kind !== own) up = up.parent;
        inst = up ?? inst;
      }
    }
    this.owner.set(e.id, inst);
    if (t.startsWith("Execution")) return this.executionEvent(t, d, inst);
    if (!inst) return;
    const r = inst.r;
    r.events.push(e);
    if (t.endsWith("StateEntered")) return;
    if (t.endsWith("StateExited")) {
      this.close(inst); r.exited++; r.output = d.output;
      if (this.failedAttempt(inst)) r.caught++;
    } else if (FAILURES.has(t)) {
      this.fail(inst);
      if (d.error !== undefined) r.error = d.error;
      if (d.cause !== undefined) r.cause = d.cause;
    } else if (ABORTS.has(t)) {
      this.close(inst); this.resolve(inst); r.cancelled++;
    } else if (ITERATIONS[t]) {
      const [key, status] = ITERATIONS[t];
      const it = e[key] || {};
      const map = it.name ?? r.name;
      if (!this.iterations.has(map)) this.iterations.set(map, []);
      this.iterations.get(map)[it.index ?? 0] = status;
    } else {
      if (ATTEMPTS.has(t) && this.failedAttempt(inst)) r.retries++;
      if (d.parameters !== undefined) r.parameters = d.parameters;
      if (d.resource !== undefined) r.resource = `${d.resourceType ? d.resourceType + ":" : ""}${d.resource}`;
      if (t.endsWith("Succeeded") && d.output !== undefined) r.result = d.output;
      if (d.mapRunArn !== undefined) r.mapRunArn = d.mapRunArn;
    }
  }

  executionEvent(t, d, inst) {
    const x = this.execution;
    if (t === "ExecutionStarted") { x.input = d.input; x.status = "RUNNING"; }
    else if (t === "ExecutionSucceeded") { x.output = d.output; this.end("SUCCEEDED"); }
    else if (t === "ExecutionFailed") {
      x.error = d.error; x.cause = d.cause;
      // The failure that ended the execution belongs to the state it
      // follows, when that state was still running.
      if (inst && this.open.has(inst)) {
        this.fail(inst);
        if (inst.r.error === undefined) { inst.r.error = d.error; inst.r.cause = d.cause; }
      }
      this.end("FAILED");
    } else if (t === "ExecutionAborted") { x.error = d.error; x.cause = d.cause; this.end("ABORTED"); }
    else if (t === "ExecutionTimedOut") { x.error = d.error; x.cause = d.cause; this.end("TIMED_OUT"); }
    else if (t === "ExecutionRedriven") {
      x.status = "RUNNING"; x.error = undefined; x.cause = undefined;
      // A redrive runs the failed and stopped states again.
      for (const r of this.states.values()) { r.failed = 0; r.cancelled = 0; }
    }
  }

  /** The execution ended: open failures fail their states, the rest stop. */
  end(status) {
    this.execution.status = status;
    // Innermost first, so a failed branch fails its Parallel state.
    for (const inst of [...this.open].reverse()) if (this.open.has(inst)) this.finish(inst);
  }

  /** One state's status (one of STATUSES). */
  status(name) {
    const r = this.states.get(name);
    if (!r) return "not-run";
    if (r.failed > 0) return "failed";
    // A failed attempt of a running execution may still be retried or
    // caught: it shows as running until that is decided.
    if (r.pending > 0) return this.execution.status === "RUNNING" ? "running" : "failed";
    if (r.active > 0) return "running";
    if (r.cancelled > 0 && r.exited === 0) return "cancelled";
    if (r.caught > 0) return "caught";
    if (r.retries > 0) return "retried";
    if (r.exited > 0) return "succeeded";
    return "not-run";
  }
}
