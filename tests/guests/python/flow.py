"""The test code workflow of tests/guests/rust/flow (body.rs), in Python
with guest-sdk/python/aslan_workflow.py: the same steps, the same output."""

import aslan_workflow as wf


def job(step):
    c = wf.Cluster(**step["cluster"])
    ns = step.get("namespace", "default")
    name = wf.create_job(c, ns, step["job"])["metadata"]["name"]
    wait, reads = 1000, 0
    while True:
        j = wf.read_job(c, ns, name)
        reads += 1
        if wf.job_complete(j):
            return {"job": name, "status": "Complete", "reads": reads}
        reason = wf.job_failed_reason(j)
        if reason is not None:
            raise wf.WorkflowError("Job.Failed", f"{name}: {reason}")
        wf.sleep_ms(wait)
        wait = min(wait * 2, 8000)


def children(step):
    runs = [wf.start_execution(step["stateMachine"], i) for i in step["inputs"]]
    outputs = [None] * len(runs)
    left = list(range(len(runs)))
    while left:
        k, out = wf.wait_any([runs[i] for i in left])
        outputs[left[k]] = out
        left.pop(k)
    return outputs


def callback():
    try:
        return wf.create_callback().wait()
    except wf.WorkflowError as e:
        return {"error": e.error, "cause": e.cause}


def run(input):
    out = []
    for step in input.get("steps", []):
        op = step.get("op")
        if op == "now":
            out.append(wf.now_ms())
        elif op == "uuid":
            out.append(wf.uuid())
        elif op == "random":
            out.append(wf.random_u64())
        elif op == "sleep":
            wf.sleep_ms(step.get("ms", 0))
            out.append("slept")
        elif op == "log":
            wf.info(step.get("message", ""))
            out.append("logged")
        elif op == "job":
            out.append(job(step))
        elif op == "child":
            out.append(wf.call(step["stateMachine"], step.get("input")))
        elif op == "children":
            out.append(children(step))
        elif op == "callback":
            out.append(callback())
        elif op == "fail":
            raise wf.WorkflowError(step.get("error", "Flow.Failed"), step.get("cause", ""))
        else:
            raise wf.WorkflowError("States.Runtime", f"unknown step {op!r}")
    return {"results": out}


Entry = wf.entry(run)
