// The test code workflow (world `workflow`), shared by `flow` and
// `flow-diverged` (which sets DIVERGE: it asks for a UUID before each
// sleep, so a replay of a journal written by `flow` diverges).
//
// The input is {"steps": [STEP, ...]}; the output lists what each step
// gave. Steps:
//   {"op": "now"} {"op": "uuid"} {"op": "random"}
//   {"op": "uuids", "n": N}: N UUIDs; gives the last (benchmarks)
//   {"op": "sleep", "ms": N}
//   {"op": "log", "message": "..."}
//   {"op": "job", "cluster": {"name", "endpoint", "ca"}, "namespace": NS,
//    "job": JOB}: creates the Job, then reads it with a backoff of durable
//    sleeps (1 s, doubling, at most 8 s) until it completes or fails
//   {"op": "child", "stateMachine": SM, "input": JSON}: starts an
//    execution and waits for it
//   {"op": "children", "stateMachine": SM, "inputs": [JSON, ...]}: starts
//    them all, then waits for each with wait_any
//   {"op": "callback"}: creates a callback (the test reads its token from
//    the history) and waits for its answer; gives the answer, or the
//    error as {"error", "cause"}
//   {"op": "create-callback"} then, later, {"op": "await-callback"}: the
//    same in two steps (what runs between them runs before the wait)
//   {"op": "fail", "error": E, "cause": C}

use aslan_guest::workflow::{self, Workflow};
use aslan_guest::{json, kubernetes, log, Cluster, TaskError, Value};

struct Flow;

fn cluster(v: &Value) -> Cluster {
    Cluster {
        name: v["name"].as_str().unwrap_or_default().to_string(),
        endpoint: v["endpoint"].as_str().unwrap_or_default().to_string(),
        certificate_authority: v["ca"].as_str().unwrap_or_default().to_string(),
    }
}

fn job(step: &Value) -> Result<Value, TaskError> {
    let c = cluster(&step["cluster"]);
    let ns = step["namespace"].as_str().unwrap_or("default");
    let created = kubernetes::create_job(&c, ns, &step["job"])?;
    let name = created.name().unwrap_or_default().to_string();
    let mut wait = 1_000;
    let mut reads = 0;
    loop {
        let j = kubernetes::read_job(&c, ns, &name)?;
        reads += 1;
        if j.is_complete() {
            return Ok(json!({ "job": name, "status": "Complete", "reads": reads }));
        }
        if let Some(reason) = j.failed_reason() {
            return Err(TaskError::new("Job.Failed", format!("{name}: {reason}")));
        }
        workflow::sleep_ms(wait);
        wait = (wait * 2).min(8_000);
    }
}

impl Workflow for Flow {
    fn run(input: Value) -> Result<Value, TaskError> {
        let mut out = Vec::new();
        let mut pending: Option<workflow::Callback> = None;
        let steps = input["steps"].as_array().cloned().unwrap_or_default();
        for step in &steps {
            let v = match step["op"].as_str().unwrap_or_default() {
                "now" => json!(workflow::now_ms()),
                "uuid" => json!(workflow::uuid()),
                "random" => json!(workflow::random_u64()),
                "uuids" => {
                    let mut last = String::new();
                    for _ in 0..step["n"].as_u64().unwrap_or(0) {
                        last = workflow::uuid();
                    }
                    json!(last)
                }
                "sleep" => {
                    if DIVERGE {
                        workflow::uuid();
                    }
                    workflow::sleep_ms(step["ms"].as_u64().unwrap_or(0));
                    json!("slept")
                }
                "log" => {
                    log::info(step["message"].as_str().unwrap_or_default());
                    json!("logged")
                }
                "job" => job(step)?,
                "child" => workflow::call(step["stateMachine"].as_str().unwrap_or_default(), &step["input"])?,
                "children" => {
                    let sm = step["stateMachine"].as_str().unwrap_or_default();
                    let mut runs = Vec::new();
                    for i in step["inputs"].as_array().cloned().unwrap_or_default() {
                        runs.push(workflow::start_execution(sm, &i)?);
                    }
                    let mut outputs = vec![Value::Null; runs.len()];
                    let mut left: Vec<usize> = (0..runs.len()).collect();
                    while !left.is_empty() {
                        let pending: Vec<_> = left.iter().map(|&i| runs[i].clone()).collect();
                        let (k, r) = workflow::wait_any(&pending);
                        outputs[left[k]] = r?;
                        left.remove(k);
                    }
                    json!(outputs)
                }
                "callback" => match workflow::create_callback().wait() {
                    Ok(v) => v,
                    Err(e) => json!({ "error": e.error, "cause": e.cause }),
                },
                "create-callback" => {
                    let cb = workflow::create_callback();
                    pending = Some(cb);
                    json!("created")
                }
                "await-callback" => match pending.take().map(|cb| cb.wait()) {
                    Some(Ok(v)) => v,
                    Some(Err(e)) => json!({ "error": e.error, "cause": e.cause }),
                    None => return Err(TaskError::runtime("no callback was created")),
                },
                "fail" => {
                    return Err(TaskError::new(
                        step["error"].as_str().unwrap_or("Flow.Failed"),
                        step["cause"].as_str().unwrap_or_default(),
                    ))
                }
                other => return Err(TaskError::runtime(format!("unknown step {other:?}"))),
            };
            out.push(v);
        }
        Ok(json!({ "results": out }))
    }
}

aslan_guest::export_workflow!(Flow);
