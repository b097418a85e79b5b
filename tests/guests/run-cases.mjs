// Runs the built guest components against tests/guests/cases.json and a
// scripted host, under Node with `jco transpile` (no wasmtime needed):
//
//   node tests/guests/run-cases.mjs [--all]    (after scripts/guests/*.sh)
//
// Every poller found in ${GUESTS_OUT:-target/guests} (rust-, python-, js-,
// c-poller.wasm; the export `decide`) must make each case's host calls and
// decision exactly; the noop poller (noop-poller.wasm) must hand its state
// back; every host check (hostcheck-LANG.wasm) must give the expected output.
// A guest that is not built is skipped, or fails with `--all`. jco comes
// from examples/wasm/js-poller/node_modules (scripts/guests/js.sh installs it).
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { isDeepStrictEqual } from "node:util";
import { host } from "./fakehost.mjs";

// componentize-py's libraries use extended constant expressions, which Node
// before 22 only compiles behind a flag: run again with it.
const FLAG = "--experimental-wasm-extended-const";
if (Number(process.versions.node.split(".")[0]) < 22 && !process.execArgv.includes(FLAG)) {
  const { spawnSync } = await import("node:child_process");
  const r = spawnSync(process.execPath, [FLAG, ...process.execArgv, ...process.argv.slice(1)], { stdio: "inherit" });
  process.exit(r.status ?? 1);
}

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../..");
const guests = resolve(root, process.env.GUESTS_OUT || "target/guests");
const jsDir = join(root, "examples/wasm/js-poller");
const jco = join(jsDir, "node_modules/.bin/jco");
// Inside node_modules, so that the transpiled code finds
// @bytecodealliance/preview2-shim for guests that import WASI.
const work = join(jsDir, "node_modules/.aslan-cases");

const LANGS = ["rust", "python", "js", "c"];
const cases = JSON.parse(readFileSync(join(here, "cases.json"), "utf8"));
let passed = 0;
let failed = 0;

// `--all`: a guest that was not built fails (scripts/guests.sh builds all).
const requireAll = process.argv.slice(2).includes("--all");
function notBuilt(file) {
  if (requireAll) check(`${file}: built`, false, `  ${join(guests, file)} does not exist`);
  else console.log(`skip ${file} (not built)`);
}

async function load(file) {
  const name = file.replace(/\.wasm$/, "");
  const out = join(work, name);
  rmSync(out, { recursive: true, force: true });
  execFileSync(
    jco,
    ["transpile", join(guests, file), "-o", out, "--name", "guest", "--no-typescript", "-q",
      "--map", `aslan:host/*=${join(here, "fakehost.mjs")}#*`],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  return import(pathToFileURL(join(out, "guest.js")).href);
}

function check(label, ok, detail) {
  if (ok) {
    passed++;
  } else {
    failed++;
    console.log(`FAIL ${label}\n${detail}`);
  }
}

const camel = (o) =>
  Object.fromEntries(Object.entries(o).map(([k, v]) => [k.replace(/-([a-z])/g, (_, c) => c.toUpperCase()), v]));

function decisionOf(d) {
  switch (d.tag) {
    case "done": return { done: d.val };
    case "failed": return { failed: { error: d.val.error, cause: d.val.cause } };
    case "again": return { again: { "after-ms": d.val.afterMs, state: d.val.state } };
    default: return { unknown: d };
  }
}

async function runPoller(lang) {
  const file = `${lang}-poller.wasm`;
  if (!existsSync(join(guests, file))) return notBuilt(file);
  const guest = await load(file);
  const ctx = camel(cases.context);
  for (const c of cases.cases) {
    const request = c.request || cases.request;
    const p = request.Parameters || {};
    const cluster = { name: p.ClusterName, endpoint: p.Endpoint, certificateAuthority: p.CertificateAuthority };
    host.script = c.host;
    host.calls = [];
    host.clusters = [];
    let got;
    try {
      got = decisionOf(guest.decide(ctx, JSON.stringify(request), c.state ?? undefined));
    } catch (e) {
      got = { trapped: String(e) };
    }
    const label = `${file} ${c.name}`;
    check(`${label}: decision`, isDeepStrictEqual(got, c.decision),
      `  want ${JSON.stringify(c.decision)}\n  got  ${JSON.stringify(got)}`);
    check(`${label}: host calls`, isDeepStrictEqual(host.calls, c.calls),
      `  want ${JSON.stringify(c.calls)}\n  got  ${JSON.stringify(host.calls)}`);
    check(`${label}: cluster`, host.clusters.every((x) => isDeepStrictEqual(x, cluster)),
      `  want ${JSON.stringify(cluster)}\n  got  ${JSON.stringify(host.clusters)}`);
  }
}

// The host check against a host where everything works (EKS included), and
// one where describe-cluster fails.
const hostcheckInput = {
  Cluster: { Name: "demo", Endpoint: "https://demo.eks.example.test", CertificateAuthority: "LS0t" },
  Namespace: "batch",
  JobName: "hostcheck-1",
  EksCluster: "demo",
};
function hostcheckScript(eksAnswer) {
  return {
    call: { ok: (req) => ({ statusCode: req.path === "/api/v1/namespaces/batch" ? 200 : 404, statusText: "OK", headers: [], body: "{}" }) },
    "create-job": { ok: (ns, job) => JSON.stringify({ kind: "Job", ...JSON.parse(job) }) },
    "read-job": { ok: JSON.stringify({ kind: "Job", metadata: { name: "hostcheck-1" } }) },
    "list-pods": { ok: JSON.stringify({ kind: "PodList", items: [] }) },
    "read-pod-log": { err: { error: "EKS.404", cause: "pods \"no-such-pod\" not found" } },
    eks: eksAnswer,
  };
}
const expectedCalls = (eksRequest) => [
  ["log", "info", "hostcheck: start"],
  ["state.set", "hostcheck", '{"n":1}'],
  ["state.get", "hostcheck"],
  ["state.remove", "hostcheck"],
  ["state.get", "hostcheck"],
  ["call", { method: "GET", path: "/api/v1/namespaces/batch", query: [], body: undefined }],
  ["create-job", "batch",
    '{"metadata":{"name":"hostcheck-1"},"spec":{"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"main","image":"busybox"}]}}}}'],
  ["read-job", "batch", "hostcheck-1"],
  ["list-pods", "batch", "batch.kubernetes.io/job-name=hostcheck-1"],
  ["read-pod-log", "batch", "no-such-pod", null, 10],
  ["eks", "describe-cluster", eksRequest],
];

async function runHostcheck(lang) {
  const file = `hostcheck-${lang}.wasm`;
  if (!existsSync(join(guests, file))) return notBuilt(file);
  const guest = await load(file);
  const runs = [
    ["eks ok", { ok: JSON.stringify({ Cluster: { Name: "demo", Status: "ACTIVE" } }) }, "ACTIVE"],
    ["eks err", { err: { error: "EKS.ResourceNotFoundException", cause: "No cluster found for name: demo." } },
      "EKS.ResourceNotFoundException"],
  ];
  for (const [what, eksAnswer, eksOut] of runs) {
    host.script = hostcheckScript(eksAnswer);
    host.calls = [];
    host.clusters = [];
    host.state = new Map();
    let out;
    try {
      out = JSON.parse(guest.run(JSON.stringify(hostcheckInput)));
    } catch (e) {
      out = { threw: String(e), payload: e.payload };
    }
    const want = {
      stateGet: { n: 1 }, stateRemoved: true, callStatus: 200, createdJob: "hostcheck-1",
      readJobKind: "Job", listPodsKind: "PodList", podLogError: "EKS.404", eks: eksOut,
    };
    check(`${file} ${what}: output`, isDeepStrictEqual(out, want),
      `  want ${JSON.stringify(want)}\n  got  ${JSON.stringify(out)}`);
    // The EKS request may be any JSON text of {"Name":"demo"}.
    const calls = host.calls.map((c) => (c[0] === "eks" ? [c[0], c[1], JSON.parse(c[2])] : c));
    const wantCalls = expectedCalls({ Name: "demo" });
    check(`${file} ${what}: host calls`, isDeepStrictEqual(calls, wantCalls),
      `  want ${JSON.stringify(wantCalls)}\n  got  ${JSON.stringify(calls)}`);
  }
  // A step that fails: HostCheck.Failed naming it.
  host.script = { ...hostcheckScript({ ok: "{}" }), "read-job": { err: { error: "EKS.403", cause: "forbidden" } } };
  host.calls = [];
  host.state = new Map();
  let err;
  try {
    guest.run(JSON.stringify(hostcheckInput));
  } catch (e) {
    err = e.payload;
  }
  check(`${file} failing step: error`,
    err && err.error === "HostCheck.Failed" && err.cause.startsWith("readJobKind"),
    `  want HostCheck.Failed, cause starting readJobKind\n  got  ${JSON.stringify(err)}`);
}

// The benchmarks' noop poller (tests/guests/rust/noop-poller): `again`
// after 1000 ms with the state unchanged, `{"attempt":0}` for none, and no
// host call.
async function runNoopPoller() {
  const file = "noop-poller.wasm";
  if (!existsSync(join(guests, file))) return notBuilt(file);
  const guest = await load(file);
  const ctx = camel(cases.context);
  const request = JSON.stringify(cases.request);
  for (const [state, want] of [[undefined, '{"attempt":0}'], ['{ "attempt": 7, "x": [1] }', '{ "attempt": 7, "x": [1] }']]) {
    host.script = {};
    host.calls = [];
    let got;
    try {
      got = decisionOf(guest.decide(ctx, request, state));
    } catch (e) {
      got = { trapped: String(e) };
    }
    const decision = { again: { "after-ms": 1000, state: want } };
    check(`${file} state ${state ?? "none"}: decision`, isDeepStrictEqual(got, decision) && host.calls.length === 0,
      `  want ${JSON.stringify(decision)}, no host calls\n  got  ${JSON.stringify(got)}, calls ${JSON.stringify(host.calls)}`);
  }
}

for (const lang of LANGS) await runPoller(lang);
await runNoopPoller();
for (const lang of LANGS) await runHostcheck(lang);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
