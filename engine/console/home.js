// The home view: state machines (pages of ListStateMachines), each with
// its recent executions (ListExecutions, filtered by status, one page at a
// time with "More").
import { call } from "./api.js";
import { h, replace, when, duration, badge } from "./dom.js";
import { startDialog } from "./start.js";

const STATUSES = ["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE"];
const MACHINES_PER_PAGE = 20;
const EXECUTIONS_PER_PAGE = 10;

function executionRow(x) {
  return h("tr", { class: "execution", dataset: { arn: x.executionArn, status: x.status } },
    h("td", {}, h("a", { href: `/executions/${x.executionArn}` }, x.name)),
    h("td", {}, badge(x.status)),
    h("td", {}, when(x.startDate)),
    h("td", {}, duration(x.startDate, x.stopDate)));
}

async function machineSection(sm, status) {
  const body = h("tbody");
  const more = h("button", { class: "more", hidden: true }, "More executions");
  const table = h("table", { class: "executions" },
    h("thead", {}, h("tr", {}, h("th", {}, "Execution"), h("th", {}, "Status"), h("th", {}, "Started"), h("th", {}, "Duration"))),
    body);
  const empty = h("p", { class: "muted empty", hidden: true }, status ? `No ${status} executions.` : "No executions yet.");
  let nextToken;
  const load = async () => {
    const req = { stateMachineArn: sm.stateMachineArn, maxResults: EXECUTIONS_PER_PAGE, nextToken };
    if (status) req.statusFilter = status;
    const r = await call("ListExecutions", req);
    for (const x of r.executions) body.append(executionRow(x));
    nextToken = r.nextToken;
    more.hidden = !nextToken;
    empty.hidden = body.children.length > 0;
    table.hidden = body.children.length === 0;
  };
  more.addEventListener("click", () => load());
  await load();
  return h("section", { class: "machine", dataset: { name: sm.name, arn: sm.stateMachineArn } },
    h("div", { class: "machine-head" },
      h("h2", {}, sm.name),
      h("span", { class: "muted" }, `${sm.type} · created ${when(sm.creationDate)}`),
      h("button", { class: "start-execution", onclick: () => startDialog(sm.stateMachineArn) }, "Start execution")),
    table, empty, more);
}

/** Renders the home view into `app`; `params` holds ?status= and ?page=. */
export async function home(app, params) {
  const status = STATUSES.includes(params.get("status")) ? params.get("status") : "";
  const filter = h("select", { id: "status-filter", "aria-label": "Filter executions by status" },
    h("option", { value: "" }, "All statuses"),
    STATUSES.map((s) => h("option", { value: s, selected: s === status }, s)));
  filter.addEventListener("change", () => {
    const q = new URLSearchParams(location.search);
    if (filter.value) q.set("status", filter.value); else q.delete("status");
    q.delete("page");
    location.search = q.toString();
  });
  // Machine pages: the API's nextTokens, kept in the URL so Back works.
  const page = params.get("page") || undefined;
  const only = params.get("machine");
  // ?machine=<stateMachineArn> shows that machine alone.
  const r = only
    ? { stateMachines: [await call("DescribeStateMachine", { stateMachineArn: only })] }
    : await call("ListStateMachines", { maxResults: MACHINES_PER_PAGE, nextToken: page });
  const list = h("div", { class: "machines" });
  const next = r.nextToken
    ? h("a", { class: "button next-page", href: `/?${new URLSearchParams({ ...(status && { status }), page: r.nextToken })}` }, "Next state machines")
    : null;
  replace(app,
    h("div", { class: "toolbar" }, h("h1", {}, "State machines"), filter),
    r.stateMachines.length ? list : h("p", { class: "muted" }, "No state machines yet: create one with the aws CLI or boto3."),
    next);
  // Sections load side by side; the page is ready when all have.
  const sections = await Promise.all(r.stateMachines.map((sm) => machineSection(sm, status)));
  list.append(...sections);
  document.body.dataset.ready = "true";
}
