"""Distributed Map through the Step Functions API: Map Runs, their child
executions, UpdateMapRun, and a kill -9 of `aslan serve` mid-run."""
import json
import time

import pytest
from botocore.exceptions import ClientError

from conftest import ROLE, Server, client, machine, wait_done


def dmap(children_states, start="P", **fields):
    m = {
        "Type": "Map",
        "ItemsPath": "$.items",
        "Label": "Part",
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": start,
            "States": children_states,
        },
        "End": True,
    }
    m.update(fields)
    return {"StartAt": "M", "States": {"M": m}}


PASS = {"P": {"Type": "Pass", "Parameters": {"double.$": "States.MathAdd($.n, $.n)"}, "End": True}}
WAIT = {"W": {"Type": "Wait", "Seconds": 1, "Next": "P"}, **PASS}


def items(n):
    return json.dumps({"items": [{"n": i} for i in range(n)]})


def all_children(sfn, map_run_arn):
    out, token = [], None
    while True:
        kw = {"mapRunArn": map_run_arn, "maxResults": 100}
        if token:
            kw["nextToken"] = token
        page = sfn.list_executions(**kw)
        out += page["executions"]
        token = page.get("nextToken")
        if not token:
            return out


def test_children_are_executions_listed_under_their_map_run(sfn):
    arn = machine(sfn, "dm", dmap(PASS, MaxConcurrency=50))
    ex = sfn.start_execution(stateMachineArn=arn, name="e1", input=items(300))["executionArn"]
    d = wait_done(sfn, ex)
    assert d["status"] == "SUCCEEDED", d
    assert json.loads(d["output"]) == [{"double": 2 * i} for i in range(300)]

    runs = sfn.list_map_runs(executionArn=ex)["mapRuns"]
    assert len(runs) == 1
    run_arn = runs[0]["mapRunArn"]
    assert run_arn.startswith("arn:aws:states:us-east-1:123456789012:mapRun:dm/Part:")
    assert runs[0]["stateMachineArn"].endswith(":stateMachine:dm/Part")
    r = sfn.describe_map_run(mapRunArn=run_arn)
    assert r["status"] == "SUCCEEDED"
    assert r["executionArn"] == ex
    assert r["maxConcurrency"] == 50
    assert r["executionCounts"]["succeeded"] == r["executionCounts"]["total"] == 300
    assert r["itemCounts"]["succeeded"] == 300
    assert "stopDate" in r

    children = all_children(sfn, run_arn)
    assert len(children) == 300
    assert len({c["executionArn"] for c in children}) == 300
    assert all(c["status"] == "SUCCEEDED" and c["mapRunArn"] == run_arn for c in children)
    child = sfn.describe_execution(executionArn=children[0]["executionArn"])
    assert child["mapRunArn"] == run_arn
    assert child["stateMachineArn"].endswith(":stateMachine:dm/Part")
    assert ":execution:dm/Part:" in child["executionArn"]
    sm = sfn.describe_state_machine_for_execution(executionArn=child["executionArn"])
    assert (sm["name"], sm["label"], sm["mapRunArn"]) == ("dm/Part", "Part", run_arn)
    assert json.loads(sm["definition"]) == {"StartAt": "P", "States": PASS}
    events = sfn.get_execution_history(executionArn=child["executionArn"])["events"]
    assert [e["type"] for e in events] == ["ExecutionStarted", "PassStateEntered", "PassStateExited", "ExecutionSucceeded"]

    # The machine's own listing has the parent only.
    listed = sfn.list_executions(stateMachineArn=arn)["executions"]
    assert [e["executionArn"] for e in listed] == [ex]
    parent = [e["type"] for e in sfn.get_execution_history(executionArn=ex)["events"]]
    assert parent == ["ExecutionStarted", "MapStateEntered", "MapStateStarted", "MapRunStarted",
                      "MapRunSucceeded", "MapStateSucceeded", "MapStateExited", "ExecutionSucceeded"]
    # A child is redriven with its parent, not alone.
    with pytest.raises(ClientError):
        sfn.redrive_execution(executionArn=children[0]["executionArn"])


def test_update_map_run_raises_concurrency_while_it_runs(sfn):
    arn = machine(sfn, "slow", dmap(WAIT, start="W", MaxConcurrency=1))
    ex = sfn.start_execution(stateMachineArn=arn, input=items(4))["executionArn"]
    deadline = time.time() + 10
    while not sfn.list_map_runs(executionArn=ex)["mapRuns"]:
        assert time.time() < deadline
        time.sleep(0.02)
    run_arn = sfn.list_map_runs(executionArn=ex)["mapRuns"][0]["mapRunArn"]
    assert sfn.describe_map_run(mapRunArn=run_arn)["executionCounts"]["running"] == 1
    sfn.update_map_run(mapRunArn=run_arn, maxConcurrency=4, toleratedFailureCount=2)
    r = sfn.describe_map_run(mapRunArn=run_arn)
    assert (r["maxConcurrency"], r["toleratedFailureCount"]) == (4, 2)
    # The three waiting children start at once: the run ends about one
    # Wait after the first, not three.
    assert r["executionCounts"]["running"] + r["executionCounts"]["succeeded"] == 4
    assert wait_done(sfn, ex)["status"] == "SUCCEEDED"
    with pytest.raises(ClientError) as e:
        sfn.update_map_run(mapRunArn=run_arn, maxConcurrency=2)
    assert e.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as e:
        sfn.describe_map_run(mapRunArn=run_arn.replace("Part:", "Part:0"))
    assert e.value.response["Error"]["Code"] == "ResourceNotFound"


def test_a_tolerated_failure_threshold_fails_the_map(sfn):
    fail = {"F": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericEquals": 3, "Next": "Bad"}], "Default": "P"},
            "Bad": {"Type": "Fail", "Error": "Item.Bad", "Cause": "three"}, **PASS}
    arn = machine(sfn, "tol", dmap(fail, start="F", ToleratedFailureCount=0))
    ex = sfn.start_execution(stateMachineArn=arn, input=items(10))["executionArn"]
    d = wait_done(sfn, ex)
    assert d["status"] == "FAILED"
    assert d["error"] == "States.ExceedToleratedFailureThreshold"
    run_arn = sfn.list_map_runs(executionArn=ex)["mapRuns"][0]["mapRunArn"]
    r = sfn.describe_map_run(mapRunArn=run_arn)
    assert r["status"] == "FAILED" and r["executionCounts"]["failed"] == 1
    failed = sfn.list_executions(mapRunArn=run_arn, statusFilter="FAILED")["executions"]
    assert len(failed) == 1
    assert sfn.describe_execution(executionArn=failed[0]["executionArn"])["error"] == "Item.Bad"

    arn = machine(sfn, "tol2", dmap(fail, start="F", ToleratedFailurePercentage=10))
    ex = sfn.start_execution(stateMachineArn=arn, input=items(10))["executionArn"]
    d = wait_done(sfn, ex)
    assert d["status"] == "SUCCEEDED", d
    assert json.loads(d["output"])[3] == {"Error": "Item.Bad", "Cause": "three"}


def test_kill_9_mid_run_loses_no_child_and_starts_none_twice(tmp_path):
    server = Server(tmp_path / "data").start()
    sfn = client(server.endpoint)
    arn = machine(sfn, "crashy", dmap(WAIT, start="W", MaxConcurrency=8))
    ex = sfn.start_execution(stateMachineArn=arn, input=items(40))["executionArn"]
    # Let a few waves start, then kill the server without warning.
    deadline = time.time() + 10
    while True:
        runs = sfn.list_map_runs(executionArn=ex)["mapRuns"]
        if runs and sfn.describe_map_run(mapRunArn=runs[0]["mapRunArn"])["executionCounts"]["succeeded"] >= 8:
            break
        assert time.time() < deadline
        time.sleep(0.05)
    server.kill()
    server.start()
    sfn = client(server.endpoint)
    d = wait_done(sfn, ex, timeout=60)
    assert d["status"] == "SUCCEEDED", d
    assert json.loads(d["output"]) == [{"double": 2 * i} for i in range(40)]
    run_arn = sfn.list_map_runs(executionArn=ex)["mapRuns"][0]["mapRunArn"]
    children = all_children(sfn, run_arn)
    assert len(children) == 40, "every item ran in exactly one child"
    assert all(c["status"] == "SUCCEEDED" for c in children)
    r = sfn.describe_map_run(mapRunArn=run_arn)
    assert r["executionCounts"]["succeeded"] == r["executionCounts"]["total"] == 40
    assert server.stop() == 0
