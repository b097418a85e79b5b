"""Crash test: `kill -9` the server at random moments, many times, while
executions with Waits, Retries and Maps run and new ones are being started.
Every execution must end with the output of an uncrashed run, with a
gapless history of the same events, and no execution whose start was
acknowledged may be lost.

ASLAN_CRASH_KILLS sets the number of kills (default 20; more for a longer run).
"""
import json
import os
import random
import subprocess
import threading
import time

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError, ConnectionClosedError, ReadTimeoutError

import boto3
from conftest import BIN, MOCKS, ROLE, Server

KILLS = int(os.environ.get("ASLAN_CRASH_KILLS", "20"))

MACHINES = {
    "crash-waits": {"StartAt": "W1", "States": {
        "W1": {"Type": "Wait", "Seconds": 1, "Next": "Tag"},
        "Tag": {"Type": "Pass", "Parameters": {"n.$": "$.n", "who.$": "$$.Execution.Name"}, "Next": "W2"},
        "W2": {"Type": "Wait", "Seconds": 1, "Next": "Done"},
        "Done": {"Type": "Pass", "Result": "done", "ResultPath": "$.status", "End": True}}},
    "crash-retry": {"StartAt": "Charge", "States": {
        "Charge": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "ResultPath": "$.charge", "Next": "After",
                   "Retry": [{"ErrorEquals": ["Payments.Unavailable"], "IntervalSeconds": 1, "BackoffRate": 1.0, "MaxAttempts": 5}]},
        "After": {"Type": "Pass", "Parameters": {"n.$": "$.n", "charge.$": "$.charge.chargeId"}, "End": True}}},
    "crash-map": {"StartAt": "Each", "States": {
        "Each": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 2, "ResultPath": "$.out", "End": True,
                 "ItemProcessor": {"StartAt": "Nap", "States": {
                     "Nap": {"Type": "Wait", "Seconds": 1, "Next": "Inc"},
                     "Inc": {"Type": "Pass", "Parameters": {"v.$": "States.MathAdd($, 1)"}, "End": True}}}}}},
}
CASES = {"crash-retry": "Flaky"}


def quiet_client(endpoint):
    return boto3.client("stepfunctions", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t",
                        config=Config(retries={"total_max_attempts": 1}, connect_timeout=1, read_timeout=5))


def expected(sm, name, inp, tmp_path):
    """The uncrashed run: `aslan run` with a simulated clock."""
    d = tmp_path / f"{sm}.asl.json"
    d.write_text(json.dumps(MACHINES[sm]))
    args = [BIN, "run", str(d), "--input", json.dumps(inp), "--execution-name", name, "--clock", "simulated", "--history"]
    if sm in CASES:
        args += ["--mock-config", str(MOCKS), "--test-case", CASES[sm]]
    r = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    types = [json.loads(line)["type"] for line in r.stderr.splitlines()]
    return json.loads(r.stdout), types


def test_kill_9_at_random_moments(tmp_path):
    rng = random.Random(int(os.environ.get("ASLAN_CRASH_SEED", "7")))
    server = Server(tmp_path / "crash", extra=os.environ.get("ASLAN_CRASH_EXTRA", "").split()).start()
    setup = quiet_client(server.endpoint)
    arns = {}
    for sm, d in MACHINES.items():
        arns[sm] = setup.create_state_machine(name=sm, definition=json.dumps(d), roleArn=ROLE)["stateMachineArn"]

    plan = []
    for i in range(45):
        sm = list(MACHINES)[i % 3]
        plan.append((sm, f"x{i}", {"n": i, "items": [i, i + 1, i + 2]}))
    acknowledged = {}  # execution ARN -> (sm, name, input)
    lock = threading.Lock()
    done_starting = threading.Event()

    def starter():
        for sm, name, inp in plan:
            target = arns[sm] + ("#" + CASES[sm] if sm in CASES else "")
            while True:
                try:
                    r = quiet_client(server.endpoint).start_execution(stateMachineArn=target, name=name, input=json.dumps(inp))
                    with lock:
                        acknowledged[r["executionArn"]] = (sm, name, inp)
                    break
                except ClientError as e:
                    if e.response["Error"]["Code"] == "ExecutionAlreadyExists":
                        # An earlier attempt committed before the crash hid its answer.
                        arn = arns[sm].replace(":stateMachine:", ":execution:") + ":" + name
                        with lock:
                            acknowledged[arn] = (sm, name, inp)
                        break
                    raise
                except (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError, ConnectionError):
                    time.sleep(0.05)
            time.sleep(rng.uniform(0.0, 0.25))
        done_starting.set()

    t = threading.Thread(target=starter, daemon=True)
    t.start()
    kills = 0
    while kills < KILLS or not done_starting.is_set():
        time.sleep(rng.uniform(0.05, 0.6))
        server.kill()
        kills += 1
        # Sometimes stay down a moment, so timers come due while nobody runs them.
        if rng.random() < 0.3:
            time.sleep(rng.uniform(0.2, 1.5))
        server.start()
        if kills > KILLS * 5:
            break
    t.join(timeout=120)
    assert done_starting.is_set(), "the starter thread did not finish"

    sfn = quiet_client(server.endpoint)
    deadline = time.time() + 120
    results = {}
    while time.time() < deadline and len(results) < len(acknowledged):
        for arn in acknowledged:
            if arn in results:
                continue
            d = sfn.describe_execution(executionArn=arn)
            if d["status"] != "RUNNING":
                results[arn] = d
        time.sleep(0.1)
    assert len(acknowledged) == len(plan), "every planned execution was acknowledged"
    assert len(results) == len(acknowledged), f"{len(acknowledged) - len(results)} execution(s) never finished"

    problems = []
    for arn, (sm, name, inp) in acknowledged.items():
        want_out, want_types = expected(sm, name, inp, tmp_path)
        d = results[arn]
        if d["status"] != "SUCCEEDED" or json.loads(d["output"]) != want_out:
            problems.append(f"{name}: {d['status']} {d.get('output') or d.get('error')} != {want_out}")
        events = []
        token = None
        while True:
            kw = {"executionArn": arn, "maxResults": 1000}
            if token:
                kw["nextToken"] = token
            page = sfn.get_execution_history(**kw)
            events += page["events"]
            token = page.get("nextToken")
            if not token:
                break
        ids = [e["id"] for e in events]
        if ids != list(range(1, len(ids) + 1)):
            problems.append(f"{name}: history ids are not gapless: {ids}")
        types = [e["type"] for e in events]
        if types != want_types:
            problems.append(f"{name}: history differs from the uncrashed run:\n  got  {types}\n  want {want_types}")
    assert server.stop() == 0
    print(f"crash test: {kills} kill -9, {len(acknowledged)} executions, {len(problems)} problem(s)")
    assert not problems, "\n".join(problems)
