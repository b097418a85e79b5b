"""Task tokens and Activities through boto3: CreateActivity, DescribeActivity,
ListActivities, DeleteActivity, GetActivityTask, SendTaskSuccess,
SendTaskFailure, SendTaskHeartbeat, `.waitForTaskToken`, and a worker
holding a token across `kill -9`."""
import json
import threading
import time

import pytest
from botocore.exceptions import ClientError

from conftest import Server, client, machine, wait_done

WAIT = ["--activity-wait-seconds", "2"]


@pytest.fixture
def fast(tmp_path):
    """A server whose GetActivityTask gives up after 2 s (AWS: 60 s)."""
    s = Server(tmp_path / "data", extra=WAIT).start()
    yield s
    assert s.stop() == 0, s.log.read_text()


def error_code(e):
    return e.value.response["Error"]["Code"]


def activity_machine(sfn, name, activity_arn, extra=None):
    state = {"Type": "Task", "Resource": activity_arn, "End": True}
    state.update(extra or {})
    return machine(sfn, name, {"StartAt": "Work", "States": {"Work": state}})


def test_activity_lifecycle(fast):
    sfn = client(fast.endpoint)
    arn = sfn.create_activity(name="resize")["activityArn"]
    assert arn == "arn:aws:states:us-east-1:123456789012:activity:resize"
    assert sfn.create_activity(name="resize")["activityArn"] == arn, "idempotent"
    d = sfn.describe_activity(activityArn=arn)
    assert (d["name"], d["activityArn"]) == ("resize", arn)
    for n in ["a1", "a2", "a3"]:
        sfn.create_activity(name=n)
    page = sfn.list_activities(maxResults=2)
    names = [a["name"] for a in page["activities"]]
    rest = sfn.list_activities(maxResults=2, nextToken=page["nextToken"])
    names += [a["name"] for a in rest["activities"]]
    assert names == ["a1", "a2", "a3", "resize"]
    sfn.delete_activity(activityArn=arn)
    with pytest.raises(ClientError) as e:
        sfn.describe_activity(activityArn=arn)
    assert error_code(e) == "ActivityDoesNotExist"
    with pytest.raises(ClientError) as e:
        sfn.get_activity_task(activityArn=arn)
    assert error_code(e) == "ActivityDoesNotExist"
    with pytest.raises(ClientError) as e:
        sfn.describe_activity(activityArn="arn:aws:states:us-east-1:123456789012:stateMachine:x")
    assert error_code(e) == "InvalidArn"


def test_worker_completes_an_activity_and_history_names_it(fast):
    sfn = client(fast.endpoint)
    act = sfn.create_activity(name="work")["activityArn"]
    sm = activity_machine(sfn, "act", act, {"Parameters": {"n.$": "$.n"}, "ResultPath": "$.r"})
    # Nothing queued: the long poll ends empty after the configured wait.
    t0 = time.time()
    assert "taskToken" not in sfn.get_activity_task(activityArn=act, workerName="w0")
    assert time.time() - t0 >= 1.5
    ex = sfn.start_execution(stateMachineArn=sm, input=json.dumps({"n": 7}))["executionArn"]
    task = sfn.get_activity_task(activityArn=act, workerName="worker-1")
    assert json.loads(task["input"]) == {"n": 7}
    assert len(task["taskToken"]) == 64
    sfn.send_task_heartbeat(taskToken=task["taskToken"])
    sfn.send_task_success(taskToken=task["taskToken"], output=json.dumps({"doubled": 14}))
    d = wait_done(sfn, ex)
    assert d["status"] == "SUCCEEDED"
    assert json.loads(d["output"]) == {"n": 7, "r": {"doubled": 14}}
    events = sfn.get_execution_history(executionArn=ex)["events"]
    types = [e["type"] for e in events]
    assert types[2:5] == ["ActivityScheduled", "ActivityStarted", "ActivitySucceeded"], types
    assert events[3]["activityStartedEventDetails"]["workerName"] == "worker-1"
    assert events[2]["activityScheduledEventDetails"]["resource"] == act
    # The token is spent.
    with pytest.raises(ClientError) as e:
        sfn.send_task_success(taskToken=task["taskToken"], output="{}")
    assert error_code(e) == "TaskDoesNotExist"


def test_get_activity_task_answers_as_soon_as_a_task_is_queued(tmp_path):
    s = Server(tmp_path / "data").start()  # the default 60 s long poll
    try:
        sfn = client(s.endpoint)
        act = sfn.create_activity(name="soon")["activityArn"]
        sm = activity_machine(sfn, "soon", act)
        got = {}

        def worker():
            t0 = time.time()
            got["task"] = sfn.get_activity_task(activityArn=act)
            got["secs"] = time.time() - t0

        th = threading.Thread(target=worker)
        th.start()
        time.sleep(0.5)
        sfn.start_execution(stateMachineArn=sm, input="{}")
        th.join(timeout=30)
        assert "taskToken" in got["task"] and got["secs"] < 10, got
    finally:
        assert s.stop() == 0


def test_send_task_failure_is_caught_and_bad_calls_are_named(fast):
    sfn = client(fast.endpoint)
    act = sfn.create_activity(name="flaky")["activityArn"]
    sm = machine(
        sfn,
        "flaky",
        {
            "StartAt": "Work",
            "States": {
                "Work": {
                    "Type": "Task",
                    "Resource": act,
                    "Catch": [{"ErrorEquals": ["Worker.Broke"], "ResultPath": "$.err", "Next": "Done"}],
                    "End": True,
                },
                "Done": {"Type": "Pass", "End": True},
            },
        },
    )
    ex = sfn.start_execution(stateMachineArn=sm, input="{}")["executionArn"]
    task = sfn.get_activity_task(activityArn=act)
    with pytest.raises(ClientError) as e:
        sfn.send_task_success(taskToken=task["taskToken"], output="not json")
    assert error_code(e) == "InvalidOutput"
    with pytest.raises(ClientError) as e:
        sfn.send_task_success(taskToken="x" * 64, output="{}")
    assert error_code(e) == "InvalidToken"
    with pytest.raises(ClientError) as e:
        sfn.send_task_success(taskToken="0" * 64, output="{}")
    assert error_code(e) == "TaskDoesNotExist"
    sfn.send_task_failure(taskToken=task["taskToken"], error="Worker.Broke", cause="disk full")
    d = wait_done(sfn, ex)
    assert d["status"] == "SUCCEEDED"
    assert json.loads(d["output"])["err"] == {"Error": "Worker.Broke", "Cause": "disk full"}


def test_heartbeat_and_timeout_are_enforced(fast):
    sfn = client(fast.endpoint)
    act = sfn.create_activity(name="slow")["activityArn"]
    sm = activity_machine(sfn, "slow", act, {"HeartbeatSeconds": 1, "TimeoutSeconds": 30})
    ex = sfn.start_execution(stateMachineArn=sm, input="{}")["executionArn"]
    task = sfn.get_activity_task(activityArn=act)
    for _ in range(3):  # heartbeats keep it alive past HeartbeatSeconds
        time.sleep(0.5)
        sfn.send_task_heartbeat(taskToken=task["taskToken"])
    assert sfn.describe_execution(executionArn=ex)["status"] == "RUNNING"
    d = wait_done(sfn, ex)
    assert (d["status"], d["error"]) == ("FAILED", "States.HeartbeatTimeout")
    types = [e["type"] for e in sfn.get_execution_history(executionArn=ex)["events"]]
    assert "ActivityTimedOut" in types
    with pytest.raises(ClientError) as e:
        sfn.send_task_success(taskToken=task["taskToken"], output="{}")
    assert error_code(e) in ("TaskTimedOut", "TaskDoesNotExist")


def test_wait_for_task_token_parks_until_send_task_success(fast):
    sfn = client(fast.endpoint)
    sm = machine(
        sfn,
        "callback",
        {
            "StartAt": "Ask",
            "States": {
                "Ask": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                    "Parameters": {"QueueUrl": "q", "MessageBody": {"token.$": "$$.Task.Token"}},
                    "TimeoutSeconds": 60,
                    "End": True,
                }
            },
        },
    )
    ex = sfn.start_execution(stateMachineArn=sm, input="{}")["executionArn"]
    deadline = time.time() + 10
    token = None
    while token is None and time.time() < deadline:
        for e in sfn.get_execution_history(executionArn=ex)["events"]:
            if e["type"] == "TaskScheduled":
                token = json.loads(e["taskScheduledEventDetails"]["parameters"])["MessageBody"]["token"]
        time.sleep(0.05)
    assert token and len(token) == 64
    types = [e["type"] for e in sfn.get_execution_history(executionArn=ex)["events"]]
    assert types[-2:] == ["TaskScheduled", "TaskStarted"], types
    sfn.send_task_success(taskToken=token, output=json.dumps({"approved": True}))
    d = wait_done(sfn, ex)
    assert json.loads(d["output"]) == {"approved": True}


def test_wait_for_task_token_pattern_is_checked_at_validation(fast):
    sfn = client(fast.endpoint)
    bad = {"StartAt": "C", "States": {"C": {"Type": "Task", "Resource": "arn:aws:states:::eks:call.waitForTaskToken", "End": True}}}
    r = sfn.validate_state_machine_definition(definition=json.dumps(bad))
    assert r["result"] == "FAIL"
    assert r["diagnostics"][0]["location"] == "/States/C/Resource"
    with pytest.raises(ClientError) as e:
        machine(sfn, "bad", bad)
    assert error_code(e) == "InvalidDefinition"


def test_a_token_handed_out_before_kill_9_completes_after_restart(tmp_path):
    s = Server(tmp_path / "data", extra=WAIT).start()
    sfn = client(s.endpoint)
    act = sfn.create_activity(name="durable")["activityArn"]
    sm = machine(
        sfn,
        "durable",
        {
            "StartAt": "Work",
            "States": {
                "Work": {"Type": "Task", "Resource": act, "Next": "After"},
                "After": {"Type": "Pass", "Parameters": {"got.$": "$"}, "End": True},
            },
        },
    )
    held = sfn.start_execution(stateMachineArn=sm, name="held", input=json.dumps({"i": 1}))["executionArn"]
    queued = sfn.start_execution(stateMachineArn=sm, name="queued", input=json.dumps({"i": 2}))["executionArn"]
    task = sfn.get_activity_task(activityArn=act, workerName="before-crash")
    assert json.loads(task["input"]) == {"i": 1}
    s.kill()
    s.start()
    sfn = client(s.endpoint)
    # The handed-out token still completes its execution ...
    sfn.send_task_success(taskToken=task["taskToken"], output=json.dumps({"w": 1}))
    assert json.loads(wait_done(sfn, held)["output"]) == {"got": {"w": 1}}
    # ... and the task still queued is handed out after the restart, once.
    task2 = sfn.get_activity_task(activityArn=act, workerName="after-crash")
    assert json.loads(task2["input"]) == {"i": 2}
    assert "taskToken" not in sfn.get_activity_task(activityArn=act)
    sfn.send_task_success(taskToken=task2["taskToken"], output=json.dumps({"w": 2}))
    assert json.loads(wait_done(sfn, queued)["output"]) == {"got": {"w": 2}}
    assert s.stop() == 0, s.log.read_text()


def test_concurrent_state_machine_updates_are_serialized_and_durable(tmp_path):
    s = Server(tmp_path / "data").start()
    sfn = client(s.endpoint)
    sm = machine(sfn, "upd", {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    results = []

    def update(i):
        c = client(s.endpoint)
        d = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": i, "End": True}}}
        results.append(int(c.update_state_machine(stateMachineArn=sm, definition=json.dumps(d))["revisionId"]))

    threads = [threading.Thread(target=update, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Every update got its own revision: none was lost.
    assert sorted(results) == list(range(2, 22))
    final = sfn.describe_state_machine(stateMachineArn=sm)
    s.kill()
    s.start()
    sfn = client(s.endpoint)
    assert sfn.describe_state_machine(stateMachineArn=sm)["definition"] == final["definition"]
    assert sfn.describe_state_machine(stateMachineArn=sm)["revisionId"] == "21"
    assert s.stop() == 0


def test_a_missing_activity_fails_to_schedule(fast):
    sfn = client(fast.endpoint)
    act = sfn.create_activity(name="gone")["activityArn"]
    sm = activity_machine(sfn, "gone", act)
    sfn.delete_activity(activityArn=act)
    ex = sfn.start_execution(stateMachineArn=sm, input="{}")["executionArn"]
    d = wait_done(sfn, ex)
    assert (d["status"], d["error"]) == ("FAILED", "States.TaskFailed")
    events = sfn.get_execution_history(executionArn=ex)["events"]
    types = [e["type"] for e in events]
    assert types[2:4] == ["ActivityScheduled", "ActivityScheduleFailed"], types
    assert "does not exist" in events[3]["activityScheduleFailedEventDetails"]["cause"]


def test_sigterm_ends_waiting_long_polls_at_once(tmp_path):
    s = Server(tmp_path / "data").start()  # the default 60 s long poll
    sfn = client(s.endpoint)
    act = sfn.create_activity(name="idle")["activityArn"]
    got = {}

    def worker():
        got["task"] = sfn.get_activity_task(activityArn=act)

    th = threading.Thread(target=worker)
    th.start()
    time.sleep(0.5)
    t0 = time.time()
    assert s.stop() == 0
    th.join(timeout=30)
    assert time.time() - t0 < 10, "shutdown waited for the long poll"
    assert "taskToken" not in got.get("task", {})
