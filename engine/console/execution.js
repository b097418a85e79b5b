// One execution: its header and actions, the machine's graph coloured by
// what happened to each state, the selected state's details, and, while it
// runs, a poll of the history's tail once a second.
import { call, history, eventsAfter } from "./api.js";
import { h, replace, when, duration, badge, code, pretty } from "./dom.js";
import { Model, STATUSES } from "./history.js";
import { layout, draw, paint } from "./graph.js";
import { startDialog } from "./start.js";

const POLL_MS = 1000;
/** Events listed for a selected state: its most recent ones. */
const EVENTS_SHOWN = 100;
const REDRIVABLE = new Set(["FAILED", "TIMED_OUT", "ABORTED"]);

function field(label, value, attrs = {}) {
  if (value === undefined || value === null || value === "") return null;
  return h("div", { class: "field", ...attrs }, h("h4", {}, label), typeof value === "string" ? code(value) : value);
}

/** Renders the execution view for `arn` into `app` and keeps it live. */
export async function execution(app, arn) {
  const [desc, machine, events] = await Promise.all([
    call("DescribeExecution", { executionArn: arn }),
    call("DescribeStateMachineForExecution", { executionArn: arn }),
    history(arn),
  ]);
  performance.mark("aslan:fetched");
  const view = new View(app, arn, desc, machine);
  view.model.add(events);
  performance.mark("aslan:modelled");
  view.render();
  performance.mark("aslan:rendered");
  document.body.dataset.ready = "true";
  document.body.dataset.loadMs = String(Math.round(performance.now()));
  view.live();
}

class View {
  constructor(app, arn, desc, machine) {
    this.app = app;
    this.arn = arn;
    this.desc = desc;
    this.machine = machine;
    this.model = new Model();
    this.selected = null;
    this.timer = null;
    const def = JSON.parse(machine.definition);
    this.svg = draw(layout(def.States || {}, def.StartAt));
    this.svg.addEventListener("click", (ev) => {
      const g = ev.target.closest("g.state");
      if (g) this.select(g.dataset.state);
    });
    this.svg.addEventListener("keydown", (ev) => {
      const g = ev.target.closest("g.state");
      if (g && (ev.key === "Enter" || ev.key === " ")) { ev.preventDefault(); this.select(g.dataset.state); }
    });
    this.head = h("div", { class: "exec-head" });
    this.failure = h("div", { id: "execution-error", class: "failure", role: "alert", hidden: true });
    this.details = h("section", { id: "state-details", class: "panel" });
    this.io = h("section", { id: "execution-io", class: "panel" });
  }

  render() {
    const legend = h("ul", { class: "legend" }, STATUSES.map((st) => h("li", { class: `status-${st}` }, h("span", { class: "swatch" }), st.replace("-", " "))));
    replace(this.app,
      this.head, this.failure,
      h("div", { class: "exec-body" },
        h("div", { class: "graph-pane" }, legend, h("div", { class: "graph-scroll" }, this.svg)),
        h("aside", { class: "side" }, this.details, this.io)));
    this.update();
    const failing = [...this.model.states.values()].reverse().find((r) => this.model.status(r.name) === "failed");
    this.select(this.selected ?? failing?.name ?? null);
  }

  /** Redraws what depends on the description and the events. */
  update() {
    const d = this.desc;
    const stop = h("button", { id: "stop", class: "danger", onclick: () => this.stop() }, "Stop execution");
    const redrive = h("button", { id: "redrive", onclick: () => this.redrive() }, "Redrive");
    const again = h("button", { id: "new-execution", onclick: () => startDialog(d.stateMachineArn, d.input ?? "{}") }, "New execution");
    const smName = d.stateMachineArn.split(":").pop();
    replace(this.head,
      h("div", { class: "title" },
        h("h1", { id: "execution-name" }, d.name),
        h("span", { id: "execution-status", dataset: { status: d.status } }, badge(d.status))),
      h("div", { class: "meta muted" },
        "State machine ", h("a", { href: `/?machine=${encodeURIComponent(d.stateMachineArn)}`, id: "machine-link" }, smName),
        ` · started ${when(d.startDate)}`,
        d.stopDate ? ` · ended ${when(d.stopDate)}` : "",
        ` · ${duration(d.startDate, d.stopDate)}`,
        ` · ${this.model.count} events`,
        d.redriveCount ? ` · redriven ${d.redriveCount}×` : ""),
      h("div", { class: "actions" },
        d.status === "RUNNING" ? stop : null,
        REDRIVABLE.has(d.status) ? redrive : null,
        again));
    const failed = d.status !== "RUNNING" && d.status !== "SUCCEEDED" && (d.error !== undefined || d.cause !== undefined);
    this.failure.hidden = !failed;
    if (failed) {
      replace(this.failure,
        h("strong", {}, `Execution ${d.status.toLowerCase().replace("_", " ")}`),
        h("div", {}, "Error: ", h("code", { class: "error-name" }, d.error ?? "")),
        h("div", {}, "Cause: ", h("span", { class: "cause" }, d.cause ?? "")));
    }
    replace(this.io,
      h("h3", {}, "Execution input and output"),
      field("Input", d.input),
      field("Output", d.output));
    paint(this.svg, (name) => this.model.status(name));
    if (this.selected) this.renderDetails();
  }

  select(name) {
    this.selected = name;
    for (const g of this.svg.querySelectorAll("g.state.selected")) g.classList.remove("selected");
    if (name) {
      const g = this.svg.querySelector(`g.state[data-state="${CSS.escape(name)}"]`);
      if (g) g.classList.add("selected");
    }
    this.renderDetails();
  }

  renderDetails() {
    const name = this.selected;
    if (!name) {
      replace(this.details, h("p", { class: "muted" }, "Select a state in the graph to see its input, output and events."));
      return;
    }
    const r = this.model.states.get(name);
    const status = this.model.status(name);
    const parts = [
      h("h3", {}, name, " ", badge(status)),
      h("p", { class: "muted counts" },
        `entered ${r?.entered ?? 0}×`, r?.retries ? ` · retried ${r.retries}×` : "", r?.caught ? ` · caught ${r.caught}×` : ""),
    ];
    if (r) {
      parts.push(
        field(status === "failed" ? "Error" : "Last error (retried or caught)", r.error !== undefined ? h("div", {}, h("code", { class: "error-name" }, r.error), r.cause ? h("p", { class: "cause" }, r.cause) : null) : undefined),
        field("Input", r.input),
        field("Output", r.output),
        field("Resource", r.resource ? h("code", {}, r.resource) : undefined),
        field("Parameters", r.parameters),
        field("Result", r.result),
        field("Map Run", r.mapRunArn ? h("code", {}, r.mapRunArn) : undefined),
        this.iterations(name),
        this.events(r));
    }
    replace(this.details, ...parts);
  }

  iterations(name) {
    const its = this.model.iterations.get(name);
    if (!its) return null;
    const counts = {};
    const cells = [];
    for (let i = 0; i < its.length; i++) {
      const st = its[i] ?? "not-run";
      counts[st] = (counts[st] || 0) + 1;
      cells.push(h("span", { class: `iteration status-${st}`, title: `#${i}: ${st}`, dataset: { index: i, status: st } }));
    }
    const summary = Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(" · ");
    return h("div", { class: "field iterations", id: "map-iterations" },
      h("h4", {}, `Map iterations (${its.length})`), h("p", { class: "muted" }, summary), h("div", { class: "iteration-grid" }, cells));
  }

  events(r) {
    const shown = r.events.slice(-EVENTS_SHOWN);
    const rows = shown.map((e) => {
      const d = Object.entries(e).find(([k]) => k.endsWith("EventDetails"));
      return h("tr", {}, h("td", {}, e.id), h("td", {}, e.type), h("td", {}, when(e.timestamp)),
        h("td", {}, d ? h("details", {}, h("summary", {}, "details"), h("pre", { class: "json" }, pretty(JSON.stringify(d[1])))) : ""));
    });
    return h("div", { class: "field" },
      h("h4", {}, r.events.length > shown.length ? `Events (last ${shown.length} of ${r.events.length})` : `Events (${r.events.length})`),
      h("table", { class: "events" }, h("thead", {}, h("tr", {}, h("th", {}, "#"), h("th", {}, "Type"), h("th", {}, "Time"), h("th", {}, ""))), h("tbody", {}, rows)));
  }

  /** Polls while the execution runs: new events from the history's tail. */
  live() {
    clearTimeout(this.timer);
    if (this.desc.status !== "RUNNING") return;
    this.timer = setTimeout(async () => {
      try {
        // The description first: events read after it include every
        // event up to the status it shows.
        const desc = await call("DescribeExecution", { executionArn: this.arn });
        const fresh = await eventsAfter(this.arn, this.model.lastId);
        const changed = fresh.length > 0 || desc.status !== this.desc.status;
        this.desc = desc;
        this.model.add(fresh);
        // Nothing new: leave the page alone (open details stay open).
        if (changed) this.update();
      } catch (e) {
        console.warn("poll failed", e);
      }
      this.live();
    }, POLL_MS);
  }

  async act(op) {
    try {
      await call(op, { executionArn: this.arn });
      this.desc = await call("DescribeExecution", { executionArn: this.arn });
      this.model.add(await eventsAfter(this.arn, this.model.lastId));
      this.update();
      this.live();
    } catch (e) {
      alert(e.message);
    }
  }

  stop() {
    if (confirm(`Stop ${this.desc.name}?`)) this.act("StopExecution");
  }

  redrive() {
    this.act("RedriveExecution");
  }
}
