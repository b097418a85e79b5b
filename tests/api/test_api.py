"""Every operation of `aslan serve`, driven by boto3, the aws CLI and the
`aslan executions` client: success shapes, AWS error shapes, pagination."""
import base64
import json
import subprocess
import urllib.request
import urllib.error

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from conftest import BIN, ROLE, Server, client, machine, wait_done

PASS = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"got.$": "$", "name.$": "$$.Execution.Name"}, "End": True}}}
WAIT = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": True}}}


def error_code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def test_state_machine_lifecycle(sfn):
    arn = machine(sfn, "lifecycle", PASS)
    assert arn == "arn:aws:states:us-east-1:123456789012:stateMachine:lifecycle"
    # Creating the same machine again is idempotent; a different one conflicts.
    assert machine(sfn, "lifecycle", PASS) == arn
    with pytest.raises(ClientError) as e:
        machine(sfn, "lifecycle", WAIT)
    assert error_code(e) == "StateMachineAlreadyExists"

    d = sfn.describe_state_machine(stateMachineArn=arn)
    assert d["name"] == "lifecycle" and d["status"] == "ACTIVE" and d["type"] == "STANDARD"
    assert json.loads(d["definition"]) == PASS and d["roleArn"] == ROLE

    r = sfn.update_state_machine(stateMachineArn=arn, definition=json.dumps(WAIT))
    assert "updateDate" in r
    assert json.loads(sfn.describe_state_machine(stateMachineArn=arn)["definition"]) == WAIT
    with pytest.raises(ClientError) as e:
        sfn.update_state_machine(stateMachineArn=arn)
    assert error_code(e) == "MissingRequiredParameter"

    sfn.delete_state_machine(stateMachineArn=arn)
    with pytest.raises(ClientError) as e:
        sfn.describe_state_machine(stateMachineArn=arn)
    assert error_code(e) == "StateMachineDoesNotExist"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_recreated_machine_keeps_old_executions_on_their_definition(sfn):
    arn = machine(sfn, "phoenix", WAIT)
    old = sfn.start_execution(stateMachineArn=arn, name="old")["executionArn"]
    sfn.delete_state_machine(stateMachineArn=arn)
    assert machine(sfn, "phoenix", PASS) == arn
    new = sfn.start_execution(stateMachineArn=arn, name="new")["executionArn"]
    assert wait_done(sfn, new)["status"] == "SUCCEEDED"
    assert json.loads(sfn.describe_state_machine_for_execution(executionArn=old)["definition"]) == WAIT
    assert sfn.describe_execution(executionArn=old)["status"] == "RUNNING"


def test_create_errors(sfn):
    cases = [
        (dict(name="bad name", definition=json.dumps(PASS), roleArn=ROLE), "InvalidName"),
        (dict(name="x", definition=json.dumps(PASS), roleArn="not-an-arn"), "InvalidArn"),
        (dict(name="x", definition="{not json", roleArn=ROLE), "InvalidDefinition"),
        (dict(name="x", definition=json.dumps({"StartAt": "Nope", "States": {"A": {"Type": "Pass", "End": True}}}), roleArn=ROLE), "InvalidDefinition"),
    ]
    for kwargs, code in cases:
        with pytest.raises(ClientError) as e:
            sfn.create_state_machine(**kwargs)
        assert error_code(e) == code, kwargs
    # The message carries the validator's diagnostics with their locations.
    with pytest.raises(ClientError) as e:
        sfn.create_state_machine(name="x", definition=json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}}}), roleArn=ROLE)
    assert "/States/A/Next" in e.value.response["Error"]["Message"]
    for bad in ["arn:aws:states:us-east-1:123456789012:execution:x:y", "garbage"]:
        with pytest.raises(ClientError) as e:
            sfn.describe_state_machine(stateMachineArn=bad)
        assert error_code(e) == "InvalidArn"


def test_list_state_machines_paginates(sfn):
    names = [f"m{i}" for i in range(5)]
    for n in names:
        machine(sfn, n, PASS)
    first = sfn.list_state_machines(maxResults=2)
    assert [m["name"] for m in first["stateMachines"]] == ["m0", "m1"] and "nextToken" in first
    pages = list(sfn.get_paginator("list_state_machines").paginate(PaginationConfig={"PageSize": 2}))
    assert len(pages) == 3
    assert [m["name"] for p in pages for m in p["stateMachines"]] == names
    with pytest.raises(ClientError) as e:
        sfn.list_state_machines(nextToken="!!!")
    assert error_code(e) == "InvalidToken"


def test_start_and_describe_execution(sfn):
    arn = machine(sfn, "runner", PASS)
    r = sfn.start_execution(stateMachineArn=arn, name="first", input='{"a": 1}')
    assert r["executionArn"] == "arn:aws:states:us-east-1:123456789012:execution:runner:first"
    d = wait_done(sfn, r["executionArn"])
    assert d["status"] == "SUCCEEDED"
    assert json.loads(d["output"]) == {"got": {"a": 1}, "name": "first"}
    assert d["stopDate"] >= d["startDate"] and d["input"] == '{"a": 1}'
    # A generated name is a UUID.
    r2 = sfn.start_execution(stateMachineArn=arn)
    assert len(r2["executionArn"].rsplit(":", 1)[1]) == 36
    # DescribeStateMachineForExecution returns the definition the execution ran, even after an update.
    sfn.update_state_machine(stateMachineArn=arn, definition=json.dumps(WAIT))
    sm = sfn.describe_state_machine_for_execution(executionArn=r["executionArn"])
    assert json.loads(sm["definition"]) == PASS and sm["name"] == "runner"


def test_start_execution_names_and_errors(sfn):
    arn = machine(sfn, "waiter", WAIT)
    a = sfn.start_execution(stateMachineArn=arn, name="once", input='{"x": 1}')
    # Same name and input while running: the same execution.
    b = sfn.start_execution(stateMachineArn=arn, name="once", input='{"x": 1}')
    assert a["executionArn"] == b["executionArn"] and a["startDate"] == b["startDate"]
    with pytest.raises(ClientError) as e:
        sfn.start_execution(stateMachineArn=arn, name="once", input='{"x": 2}')
    assert error_code(e) == "ExecutionAlreadyExists"
    for kwargs, code in [
        (dict(name="bad/name"), "InvalidName"),
        (dict(input="{nope"), "InvalidExecutionInput"),
        (dict(input=json.dumps({"big": "x" * (256 * 1024)})), "ValidationException"),
    ]:
        with pytest.raises(ClientError) as e:
            sfn.start_execution(stateMachineArn=arn, **kwargs)
        assert error_code(e) == code
    with pytest.raises(ClientError) as e:
        sfn.start_execution(stateMachineArn=arn.replace("waiter", "missing"))
    assert error_code(e) == "StateMachineDoesNotExist"
    with pytest.raises(ClientError) as e:
        sfn.describe_execution(executionArn=a["executionArn"].replace("once", "never"))
    assert error_code(e) == "ExecutionDoesNotExist"
    with pytest.raises(ClientError) as e:
        sfn.describe_execution(executionArn="arn:aws:states:us-east-1:123456789012:stateMachine:waiter")
    assert error_code(e) == "InvalidArn"


def test_stop_execution(sfn):
    arn = machine(sfn, "stoppable", WAIT)
    ex = sfn.start_execution(stateMachineArn=arn, name="s1")["executionArn"]
    r = sfn.stop_execution(executionArn=ex, error="Manual", cause="stopped by test")
    assert "stopDate" in r
    d = sfn.describe_execution(executionArn=ex)
    assert (d["status"], d["error"], d["cause"]) == ("ABORTED", "Manual", "stopped by test")
    events = sfn.get_execution_history(executionArn=ex)["events"]
    assert events[-1]["type"] == "ExecutionAborted"
    assert events[-1]["executionAbortedEventDetails"] == {"error": "Manual", "cause": "stopped by test"}
    with pytest.raises(ClientError) as e:
        sfn.stop_execution(executionArn=ex.replace("s1", "s2"))
    assert error_code(e) == "ExecutionDoesNotExist"


def test_list_executions_filters_and_paginates(sfn):
    arn = machine(sfn, "many", {"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [{"Variable": "$.wait", "BooleanEquals": True, "Next": "W"}], "Default": "P"},
        "W": {"Type": "Wait", "Seconds": 3600, "End": True},
        "P": {"Type": "Pass", "End": True}}})
    for i in range(7):
        sfn.start_execution(stateMachineArn=arn, name=f"e{i}", input=json.dumps({"wait": i % 2 == 0}))
    for i in range(1, 7, 2):
        wait_done(sfn, f"arn:aws:states:us-east-1:123456789012:execution:many:e{i}")
    running = sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]
    assert sorted(e["name"] for e in running) == ["e0", "e2", "e4", "e6"]
    assert all(e["status"] == "RUNNING" for e in running)
    succeeded = sfn.list_executions(stateMachineArn=arn, statusFilter="SUCCEEDED")["executions"]
    assert sorted(e["name"] for e in succeeded) == ["e1", "e3", "e5"]
    pages = list(sfn.get_paginator("list_executions").paginate(stateMachineArn=arn, PaginationConfig={"PageSize": 3}))
    names = [e["name"] for p in pages for e in p["executions"]]
    assert len(pages) == 3 and sorted(names) == [f"e{i}" for i in range(7)] and len(set(names)) == 7
    # Newest first.
    starts = [e["startDate"] for p in pages for e in p["executions"]]
    assert starts == sorted(starts, reverse=True)
    with pytest.raises(ClientError) as e:
        sfn.list_executions(stateMachineArn=arn, statusFilter="BOGUS")
    assert error_code(e) == "ValidationException"


def test_execution_history_pages_and_options(sfn):
    arn = machine(sfn, "hist", {"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Result": {"secret": 1}, "Next": "B"},
        "B": {"Type": "Pass", "Next": "C"}, "C": {"Type": "Pass", "End": True}}})
    ex = sfn.start_execution(stateMachineArn=arn, input='{"in": true}')["executionArn"]
    wait_done(sfn, ex)
    full = sfn.get_execution_history(executionArn=ex)["events"]
    types = [e["type"] for e in full]
    assert types == ["ExecutionStarted"] + ["PassStateEntered", "PassStateExited"] * 3 + ["ExecutionSucceeded"]
    assert [e["id"] for e in full] == list(range(1, 9))
    assert all(e["previousEventId"] == e["id"] - 1 for e in full)
    assert json.loads(full[0]["executionStartedEventDetails"]["input"]) == {"in": True}
    pages = list(sfn.get_paginator("get_execution_history").paginate(executionArn=ex, PaginationConfig={"PageSize": 3}))
    assert [len(p["events"]) for p in pages] == [3, 3, 2]
    assert [e["id"] for p in pages for e in p["events"]] == list(range(1, 9))
    rev = sfn.get_execution_history(executionArn=ex, reverseOrder=True)["events"]
    assert [e["id"] for e in rev] == list(range(8, 0, -1))
    bare = sfn.get_execution_history(executionArn=ex, includeExecutionData=False)["events"]
    assert "input" not in bare[0]["executionStartedEventDetails"]
    assert "output" not in bare[2]["stateExitedEventDetails"] and bare[2]["stateExitedEventDetails"]["name"] == "A"


def token_of(text):
    """A nextToken in this server's encoding (unpadded URL-safe base64) of `text`."""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def test_bad_next_tokens_are_invalid_token(sfn):
    arn = machine(sfn, "tokens", PASS)
    ex = sfn.start_execution(stateMachineArn=arn, name="t")["executionArn"]
    wait_done(sfn, ex)
    # Non-ASCII, odd-length and non-hex positions; tokens that are not base64.
    for token in [token_of("a\u00e9b"), token_of("\u00e9\u00e9"), token_of("abc"), token_of("zz"), "\u00e9", "!!!"]:
        with pytest.raises(ClientError) as e:
            sfn.list_executions(stateMachineArn=arn, nextToken=token)
        assert error_code(e) == "InvalidToken", token
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    for token in [token_of("18446744073709551615"), token_of("99"), token_of("-1"), token_of("\u00e9")]:
        with pytest.raises(ClientError) as e:
            sfn.get_execution_history(executionArn=ex, nextToken=token)
        assert error_code(e) == "InvalidToken", token
    # The server still answers.
    assert [x["name"] for x in sfn.list_executions(stateMachineArn=arn)["executions"]] == ["t"]


def test_redrive_restarts_the_failed_state(sfn):
    arn = machine(sfn, "redrive", {"StartAt": "Prep", "States": {
        "Prep": {"Type": "Pass", "Result": {"step": 1}, "Next": "Work"},
        "Work": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True}}})
    ex = sfn.start_execution(stateMachineArn=arn + "#FailOnce", name="r1")["executionArn"]
    d = wait_done(sfn, ex)
    assert (d["status"], d["error"], d["redriveStatus"]) == ("FAILED", "Work.Failed", "REDRIVABLE")
    r = sfn.redrive_execution(executionArn=ex)
    assert "redriveDate" in r
    d = wait_done(sfn, ex)
    assert d["status"] == "SUCCEEDED" and json.loads(d["output"]) == {"worked": True} and d["redriveCount"] == 1
    types = [e["type"] for e in sfn.get_execution_history(executionArn=ex)["events"]]
    assert types.count("ExecutionRedriven") == 1 and types.count("PassStateEntered") == 1 and types.count("TaskStateEntered") == 2
    with pytest.raises(ClientError) as e:
        sfn.redrive_execution(executionArn=ex)
    assert error_code(e) == "ExecutionNotRedrivable"


def test_retry_with_mocked_task(sfn):
    arn = machine(sfn, "flaky", {"StartAt": "Charge", "States": {"Charge": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True,
        "Retry": [{"ErrorEquals": ["Payments.Unavailable"], "IntervalSeconds": 1, "BackoffRate": 1.0, "MaxAttempts": 3}]}}})
    ex = sfn.start_execution(stateMachineArn=arn + "#Flaky")["executionArn"]
    d = wait_done(sfn, ex)
    assert d["status"] == "SUCCEEDED" and json.loads(d["output"]) == {"chargeId": "ch_1"}
    types = [e["type"] for e in sfn.get_execution_history(executionArn=ex)["events"]]
    assert types.count("TaskFailed") == 2 and types.count("TaskSucceeded") == 1


def test_validate_state_machine_definition(sfn):
    ok = sfn.validate_state_machine_definition(definition=json.dumps(PASS))
    assert ok["result"] == "OK" and ok["diagnostics"] == []
    bad = sfn.validate_state_machine_definition(definition=json.dumps({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "Z"}, "B": {"Type": "Wait", "End": True}}}))
    assert bad["result"] == "FAIL"
    found = {(d["code"], d["location"]) for d in bad["diagnostics"]}
    assert ("MISSING_TRANSITION_TARGET", "/States/A/Next") in found
    assert ("UNREACHABLE_STATE", "/States/B") in found
    assert all(d["severity"] == "ERROR" for d in bad["diagnostics"])


def test_test_state(sfn):
    r = sfn.test_state(definition=json.dumps({"Type": "Pass", "Parameters": {"v.$": "States.MathAdd($.n, 1)"}, "Next": "After"}), roleArn=ROLE, input='{"n": 41}')
    assert r["status"] == "SUCCEEDED" and json.loads(r["output"]) == {"v": 42} and r["nextState"] == "After"
    r = sfn.test_state(definition=json.dumps({"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericGreaterThan": 10, "Next": "Big"}], "Default": "Small"}), roleArn=ROLE, input='{"n": 41}')
    assert r["status"] == "SUCCEEDED" and r["nextState"] == "Big"
    r = sfn.test_state(definition=json.dumps({"Type": "Fail", "Error": "Nope", "Cause": "because"}), roleArn=ROLE)
    assert (r["status"], r["error"], r["cause"]) == ("FAILED", "Nope", "because")
    r = sfn.test_state(definition=json.dumps({"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "End": True}), roleArn=ROLE)
    assert r["status"] == "FAILED" and r["error"] == "States.Runtime" and "sqs:sendMessage" in r["cause"]
    with pytest.raises(ClientError) as e:
        sfn.test_state(definition="[]", roleArn=ROLE)
    assert error_code(e) == "InvalidDefinition"


def test_start_sync_execution(sfn):
    express = machine(sfn, "quick", PASS, sm_type="EXPRESS")
    r = sfn.start_sync_execution(stateMachineArn=express, name="s", input='{"k": "v"}')
    assert r["status"] == "SUCCEEDED" and json.loads(r["output"]) == {"got": {"k": "v"}, "name": "s"}
    assert ":express:quick:s:" in r["executionArn"]
    fails = machine(sfn, "quickfail", {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "E", "Cause": "c"}}}, sm_type="EXPRESS")
    r = sfn.start_sync_execution(stateMachineArn=fails)
    assert (r["status"], r["error"], r["cause"]) == ("FAILED", "E", "c")
    standard = machine(sfn, "slow", PASS)
    with pytest.raises(ClientError) as e:
        sfn.start_sync_execution(stateMachineArn=standard)
    assert error_code(e) == "StateMachineTypeNotSupported"


def raw(endpoint, target, body, content_type="application/x-amz-json-1.0"):
    req = urllib.request.Request(endpoint + "/", data=body, method="POST", headers={"Content-Type": content_type, "X-Amz-Target": target})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_malformed_requests(server):
    status, body = raw(server.endpoint, "AWSStepFunctions.ListStateMachines", b"{broken")
    assert status == 400 and body["__type"] == "SerializationException"
    status, body = raw(server.endpoint, "AWSStepFunctions.FlyToTheMoon", b"{}")
    assert status == 400 and body["__type"] == "UnknownOperationException"
    status, body = raw(server.endpoint, "AWSStepFunctions.DescribeExecution", b"{}")
    assert status == 400 and body["__type"] == "ValidationException"
    status, body = raw(server.endpoint, "AWSStepFunctions.ListStateMachines", b"")
    assert status == 200 and body == {"stateMachines": []}


def test_sigv4_is_enforced_when_credentials_are_configured(tmp_path):
    s = Server(tmp_path / "signed", env={"ASLAN_ACCESS_KEY_ID": "AKIDTEST", "ASLAN_SECRET_ACCESS_KEY": "s3cret"}).start()
    try:
        good = client(s.endpoint, "AKIDTEST", "s3cret")
        machine(good, "signed", PASS)
        assert [m["name"] for m in good.list_state_machines()["stateMachines"]] == ["signed"]
        with pytest.raises(ClientError) as e:
            client(s.endpoint, "AKIDTEST", "wrong").list_state_machines()
        assert error_code(e) == "InvalidSignatureException"
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        with pytest.raises(ClientError) as e:
            client(s.endpoint, "SOMEONE", "s3cret").list_state_machines()
        assert error_code(e) == "UnrecognizedClientException"
        status, body = raw(s.endpoint, "AWSStepFunctions.ListStateMachines", b"{}")
        assert status == 403 and body["__type"] == "MissingAuthenticationToken"
    finally:
        assert s.stop() == 0


def test_sigv4_refuses_stale_dates_and_foreign_scopes(tmp_path):
    s = Server(tmp_path / "scoped", env={"ASLAN_ACCESS_KEY_ID": "AKIDTEST", "ASLAN_SECRET_ACCESS_KEY": "s3cret"}).start()
    try:
        elsewhere = boto3.client("stepfunctions", endpoint_url=s.endpoint, region_name="eu-west-1",
                                 aws_access_key_id="AKIDTEST", aws_secret_access_key="s3cret")
        with pytest.raises(ClientError) as e:
            elsewhere.list_state_machines()
        assert error_code(e) == "InvalidSignatureException"
        assert e.value.response["Error"]["Message"] == "Credential should be scoped to a valid region, not 'eu-west-1'."
        # A request signed now, replayed with a 2015 X-Amz-Date.
        req = AWSRequest(method="POST", url=s.endpoint + "/", data=b"{}", headers={
            "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AWSStepFunctions.ListStateMachines"})
        SigV4Auth(Credentials("AKIDTEST", "s3cret"), "states", "us-east-1").add_auth(req)
        headers = dict(req.headers.items())
        headers["X-Amz-Date"] = "20150830T123600Z"
        http = urllib.request.Request(s.endpoint + "/", data=b"{}", method="POST", headers=headers)
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(http)
        body = json.loads(e.value.read())
        assert body["__type"] == "InvalidSignatureException"
        assert body["message"].startswith("Signature expired: 20150830T123600Z is now earlier than ")
        assert "s3cret" not in json.dumps(body) and "s3cret" not in s.log.read_text()
    finally:
        assert s.stop() == 0


def test_refuses_non_loopback_without_credentials(tmp_path):
    r = subprocess.run([BIN, "serve", "--data", str(tmp_path / "d"), "--listen", "0.0.0.0:0"], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "loopback" in r.stderr


def test_sigterm_stops_gracefully_and_reports_recovery(tmp_path):
    s = Server(tmp_path / "graceful").start()
    sfn = client(s.endpoint)
    arn = machine(sfn, "longwait", WAIT)
    ex = sfn.start_execution(stateMachineArn=arn, name="w")["executionArn"]
    assert s.stop() == 0
    log = s.log.read_text()
    assert "stopped" in log and "recovered 0 running execution(s)" in log
    s.start()
    try:
        assert "recovered 1 running execution(s), 1 timer(s)" in s.log.read_text()
        assert client(s.endpoint).describe_execution(executionArn=ex)["status"] == "RUNNING"
    finally:
        assert s.stop() == 0


def aws(server, *args):
    env = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1", "PATH": __import__("os").environ["PATH"]}
    return subprocess.run(["aws", "--endpoint-url", server.endpoint, "--output", "json", "stepfunctions", *args], capture_output=True, text=True, env=env, timeout=60)


def test_aws_cli(server, sfn):
    arn = machine(sfn, "cli", PASS)
    r = aws(server, "start-execution", "--state-machine-arn", arn, "--name", "viacli", "--input", '{"from": "cli"}')
    assert r.returncode == 0, r.stderr
    ex = json.loads(r.stdout)["executionArn"]
    wait_done(sfn, ex)
    r = aws(server, "describe-execution", "--execution-arn", ex)
    assert r.returncode == 0 and json.loads(json.loads(r.stdout)["output"]) == {"got": {"from": "cli"}, "name": "viacli"}
    r = aws(server, "list-state-machines")
    assert [m["name"] for m in json.loads(r.stdout)["stateMachines"]] == ["cli"]
    r = aws(server, "describe-execution", "--execution-arn", ex + "x")
    assert r.returncode != 0 and "ExecutionDoesNotExist" in r.stderr


def aslan(server, *args):
    return subprocess.run([BIN, "executions", "--endpoint", server.endpoint, *args], capture_output=True, text=True, timeout=60)


def test_aslan_executions_client(server, sfn):
    arn = machine(sfn, "viaaslan", WAIT)
    ex = sfn.start_execution(stateMachineArn=arn, name="w1", input='{"q": 1}')["executionArn"]
    r = aslan(server, "list", "viaaslan")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:3] == ["NAME", "STATUS", "STARTED"] and lines[1].split()[:2] == ["w1", "RUNNING"]
    r = aslan(server, "describe", ex, "--json")
    assert json.loads(r.stdout)["status"] == "RUNNING"
    r = aslan(server, "stop", ex, "--error", "Bye", "--cause", "cli")
    assert r.returncode == 0 and r.stdout.startswith("stopped at")
    r = aslan(server, "history", ex)
    assert "ExecutionAborted" in r.stdout and "WaitStateEntered" in r.stdout
    r = aslan(server, "history", ex, "--json")
    assert [e["id"] for e in json.loads(r.stdout)["events"]] == [1, 2, 3]
    r = aslan(server, "list", arn, "--status", "ABORTED", "--json")
    assert [e["name"] for e in json.loads(r.stdout)["executions"]] == ["w1"]
    r = aslan(server, "describe", ex + "nope")
    assert r.returncode == 1 and "ExecutionDoesNotExist" in r.stderr
