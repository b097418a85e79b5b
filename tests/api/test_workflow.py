"""Code workflows (world `workflow`) through `aslan serve` and boto3: the
test guest `flow` (tests/guests/rust/flow) sleeps, runs a Kubernetes Job in
aslan-local-cloud with its own backoff poller, and starts ASL executions,
while the server is killed with SIGKILL at random moments. The workflow
ends with the output an undisturbed run gives, and each effect (the Job,
each child execution) happened once."""
import json
import random
import time
import urllib.request

from conftest import ROLE, Server, client, machine, wait_done
from test_kubernetes import Cloud
from test_wasm import ENV, guest

import pytest


@pytest.fixture
def cloud():
    c = Cloud()
    yield c
    c.stop()


def flow_definition(module):
    return {"StartAt": "Workflow", "States": {"Workflow": {
        "Type": "Task", "Resource": f"arn:aslan:states:::workflow:{module}", "End": True}}}


def raw_history(server, arn):
    """GetExecutionHistory as JSON: boto3 drops the details of event types
    it does not know (HostCallRecorded)."""
    events, token = [], None
    while True:
        body = {"executionArn": arn, "maxResults": 1000}
        if token:
            body["nextToken"] = token
        req = urllib.request.Request(server.endpoint + "/", data=json.dumps(body).encode(), headers={
            "X-Amz-Target": "AWSStepFunctions.GetExecutionHistory",
            "Content-Type": "application/x-amz-json-1.0"})
        with urllib.request.urlopen(req, timeout=10) as r:
            page = json.loads(r.read())
        events += page["events"]
        token = page.get("nextToken")
        if not token:
            return events


def config(tmp_path, cloud):
    cfg = tmp_path / "aslan.toml"
    cfg.write_text(f"""
[clusters.Dev]
token = "{cloud.token}"
[modules.flow]
path = "{guest('flow')}"
[modules.flow.allow]
clusters = ["Dev"]
endpoints = ["{cloud.endpoint}"]
namespaces = ["default"]
methods = ["GET", "POST"]
state_machines = ["Slow"]
""")
    return cfg


def steps(cloud):
    cluster = {"name": "Dev", "endpoint": cloud.endpoint, "ca": cloud.ca}
    job = {"metadata": {"name": "wf-kill"}, "spec": {"backoffLimit": 0, "template": {
        "metadata": {"annotations": {"aslan.io/duration-ms": "2500"}},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]}}}}
    return {"steps": [
        {"op": "now"},
        {"op": "uuid"},
        {"op": "sleep", "ms": 700},
        {"op": "job", "cluster": cluster, "namespace": "default", "job": job},
        {"op": "children", "stateMachine": "Slow", "inputs": [{"n": 1}, {"n": 2}, {"n": 3}]},
        {"op": "sleep", "ms": 500},
        {"op": "child", "stateMachine": "Slow", "input": {"n": 4}},
    ]}


def test_a_code_workflow_survives_kill_9_at_random_moments_with_each_effect_once(tmp_path, cloud):
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    server = Server(tmp_path / "data", env=ENV, extra=["--config", str(config(tmp_path, cloud))]).start()
    sfn = client(server.endpoint)
    arn = machine(sfn, "Flow", flow_definition("flow"))
    # Each child waits 1 s (a Wait state) so that kills land while it runs.
    machine(sfn, "Slow", {"StartAt": "W", "States": {
        "W": {"Type": "Wait", "Seconds": 1, "Next": "D"},
        "D": {"Type": "Pass", "Parameters": {"doubled.$": "States.MathAdd($.n, $.n)"}, "End": True}}})
    ex = sfn.start_execution(stateMachineArn=arn, input=json.dumps(steps(cloud)))["executionArn"]
    kills = 0
    deadline = time.time() + 90
    while sfn.describe_execution(executionArn=ex)["status"] == "RUNNING":
        assert time.time() < deadline, f"still running after {kills} kills (seed {seed})"
        time.sleep(rng.uniform(0.05, 0.9))
        if kills < 8:
            server.kill()
            kills += 1
            server.start()
            sfn = client(server.endpoint)
    d = wait_done(sfn, ex, timeout=60)
    assert d["status"] == "SUCCEEDED", (seed, d)
    out = json.loads(d["output"])["results"]
    assert out[3]["job"] == "wf-kill" and out[3]["status"] == "Complete", (seed, out)
    assert out[4] == [{"doubled": 2}, {"doubled": 4}, {"doubled": 6}], (seed, out)
    assert out[6] == {"doubled": 8}, (seed, out)
    # The values the workflow saw are the journaled ones, whatever the replays.
    events = raw_history(server, ex)
    recorded = [e["hostCallRecordedEventDetails"] for e in events if e["type"] == "HostCallRecorded"]
    by_call = {}
    for r in recorded:
        by_call.setdefault(r["call"], []).append(r)
    assert json.loads(by_call["durable.now-ms"][0]["result"]) == out[0], seed
    assert json.loads(by_call["durable.uuid"][0]["result"]) == out[1], seed
    assert [r["sequence"] for r in recorded] == list(range(len(recorded))), seed
    # Each effect once: one Job, four child executions.
    assert len(by_call["kubernetes.create-job"]) == 1, seed
    assert len(by_call["durable.start-execution"]) == 4, seed
    status, body = cloud.get("/apis/batch/v1/namespaces/default/jobs")
    assert [j["metadata"]["name"] for j in body["items"]] == ["wf-kill"], seed
    slow = sfn.list_executions(stateMachineArn=arn.replace(":Flow", ":Slow"))["executions"]
    assert len(slow) == 4 and all(e["status"] == "SUCCEEDED" for e in slow), (seed, slow)
    # boto3 reads the same history (the details of HostCallRecorded aside).
    types = [e["type"] for e in sfn.get_execution_history(executionArn=ex, maxResults=1000)["events"]]
    assert types[0] == "ExecutionStarted" and types[-1] == "ExecutionSucceeded" and "HostCallRecorded" in types
    print(f"seed {seed}: {kills} kills, {len(recorded)} journaled calls")
    assert server.stop() == 0


def test_stop_and_timeout_end_a_sleeping_workflow(tmp_path, cloud):
    server = Server(tmp_path / "data", env=ENV, extra=["--config", str(config(tmp_path, cloud))]).start()
    sfn = client(server.endpoint)
    arn = machine(sfn, "Flow", flow_definition("flow"))
    ex = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"steps": [{"op": "sleep", "ms": 3_600_000}]}))["executionArn"]
    deadline = time.time() + 10
    while not any(e["type"] == "HostCallRecorded" for e in raw_history(server, ex)):
        assert time.time() < deadline
        time.sleep(0.05)
    sfn.stop_execution(executionArn=ex, error="Operator", cause="enough")
    d = wait_done(sfn, ex)
    assert (d["status"], d["error"], d["cause"]) == ("ABORTED", "Operator", "enough"), d
    # The machine's TimeoutSeconds bounds the workflow.
    timed = sfn.create_state_machine(name="FlowTimed", roleArn=ROLE, definition=json.dumps(
        dict(flow_definition("flow"), TimeoutSeconds=1)))["stateMachineArn"]
    ex = sfn.start_execution(stateMachineArn=timed, input=json.dumps({"steps": [{"op": "sleep", "ms": 3_600_000}]}))["executionArn"]
    d = wait_done(sfn, ex, timeout=20)
    assert (d["status"], d["error"]) == ("TIMED_OUT", "States.Timeout"), d
    # A module that is not registered is refused with the reason.
    bad = machine(sfn, "NotFlow", flow_definition("nope"))
    d = wait_done(sfn, sfn.start_execution(stateMachineArn=bad)["executionArn"])
    assert (d["status"], d["error"]) == ("FAILED", "Wasm.ModuleNotFound"), d
    assert server.stop() == 0
