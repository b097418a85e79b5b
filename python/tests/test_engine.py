"""The Python package: `import aslan`, Python functions as task handlers,
durable executions across a restart, history and the event stream."""

import json
import subprocess
import sys
import threading
import time

import aslan
import pytest


def task(resource, **extra):
    return {"Type": "Task", "Resource": resource, **extra}


def test_a_handler_that_raises_is_retried_and_caught_by_the_exception_name():
    calls = []

    def flaky(params):
        calls.append(params)
        if len(calls) < 3:
            raise ConnectionError(f"attempt {len(calls)}")
        return {"got": params["x"], "attempts": len(calls)}

    def broken(params):
        raise KeyError("no such order")

    definition = {
        "StartAt": "Flaky",
        "States": {
            "Flaky": task(
                "arn:aslan:states:::task:flaky",
                Parameters={"x.$": "$.x"},
                ResultPath="$.flaky",
                Retry=[{"ErrorEquals": ["ConnectionError"], "IntervalSeconds": 30, "MaxAttempts": 3}],
                Next="Broken",
            ),
            "Broken": task(
                "arn:aslan:states:::task:broken",
                Catch=[{"ErrorEquals": ["KeyError"], "ResultPath": "$.caught", "Next": "Done"}],
                End=True,
            ),
            "Done": {"Type": "Succeed"},
        },
    }
    # The retries wait 30 s and 60 s of simulated time.
    with aslan.Engine(
        tasks={"arn:aslan:states:::task:flaky": flaky, "arn:aslan:states:::task:broken": broken},
        simulated_clock=True,
    ) as engine:
        engine.create_state_machine("retry-catch", definition)
        arn = engine.start_execution("retry-catch", {"x": 7}, name="one")
        assert arn.endswith(":execution:retry-catch:one")
        done = engine.wait(arn, timeout=30)
        assert done["status"] == "SUCCEEDED", done
        assert done["output"]["flaky"] == {"got": 7, "attempts": 3}
        assert done["output"]["caught"] == {"Error": "KeyError", "Cause": "'no such order'"}
        assert calls == [{"x": 7}] * 3
        types = [e["type"] for e in engine.history(arn)]
        assert types.count("TaskFailed") == 3
        assert types[-1] == "ExecutionSucceeded"


def test_an_uncaught_exception_fails_the_execution_with_its_name():
    def bad(params):
        return {"not json": {1, 2}}  # a set: json.dumps raises TypeError

    with aslan.Engine(tasks={"arn:aslan:states:::task:bad": bad}) as engine:
        engine.create_state_machine(
            "bad", json.dumps({"StartAt": "T", "States": {"T": task("arn:aslan:states:::task:bad", End=True)}})
        )
        done = engine.wait(engine.start_execution("bad"), timeout=30)
        assert done["status"] == "FAILED"
        assert done["error"] == "TypeError"
        assert "not JSON serializable" in done["cause"]


def test_invalid_definitions_and_unknown_names_raise_aslan_error():
    with aslan.Engine() as engine:
        with pytest.raises(aslan.AslanError) as e:
            engine.create_state_machine(
                "broken", {"StartAt": "Nope", "States": {"A": {"Type": "Pass", "Next": "Missing"}}}
            )
        assert "Nope" in str(e.value) and "Missing" in str(e.value)
        with pytest.raises(aslan.AslanError, match="Does Not Exist"):
            engine.start_execution("absent")
        with pytest.raises(TypeError):
            aslan.Engine(tasks={"arn:aslan:states:::task:x": 42})


def test_an_execution_outlives_its_engine(tmp_path):
    tokens = []

    def ask(params):
        tokens.append(params["token"])
        return {}

    definition = {
        "StartAt": "Ask",
        "States": {
            "Ask": task(
                "arn:aslan:states:::task:approve.waitForTaskToken",
                Parameters={"token.$": "$$.Task.Token"},
                Next="After",
            ),
            "After": {"Type": "Pass", "Parameters": {"approved.$": "$.ok"}, "End": True},
        },
    }
    handlers = {"arn:aslan:states:::task:approve": ask}
    engine = aslan.Engine(path=str(tmp_path), tasks=handlers)
    engine.create_state_machine("approval", definition)
    events = engine.events()
    arn = engine.start_execution("approval", {}, name="e1")
    # The task parks once its token is handed out.
    while not tokens:
        assert events.next(timeout=10) is not None
    engine.close()
    with pytest.raises(aslan.AslanError, match="closed"):
        engine.describe_execution(arn)

    with aslan.Engine(path=str(tmp_path), tasks=handlers) as engine:
        assert engine.describe_execution(arn)["status"] == "RUNNING"
        engine.send_task_success(tokens[0], {"ok": True})
        done = engine.wait(arn, timeout=30)
        assert done["output"] == {"approved": True}
        assert len(tokens) == 1, "a parked task is not dispatched again"


def test_the_event_stream_carries_each_committed_event_once_in_order():
    definition = {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemProcessor": {
                    "StartAt": "Double",
                    "States": {"Double": task("arn:aslan:states:::task:double", End=True)},
                },
                "End": True,
            }
        },
    }
    with aslan.Engine(tasks={"arn:aslan:states:::task:double": lambda n: n * 2}) as engine:
        engine.create_state_machine("doubler", definition)
        events = engine.events()
        arns = [engine.start_execution("doubler", {"items": list(range(5))}) for _ in range(5)]
        streamed = {a: [] for a in arns}
        ended = 0
        while ended < len(arns):
            e = events.next(timeout=30)
            assert e is not None, "an execution did not end"
            streamed[e["executionArn"]].append(e["event"])
            ended += e["event"]["type"] == "ExecutionSucceeded"
        for a in arns:
            assert streamed[a] == engine.history(a)
            assert [e["id"] for e in streamed[a]] == list(range(1, len(streamed[a]) + 1))
            assert engine.describe_execution(a)["output"] == [0, 2, 4, 6, 8]
            # Timeouts no duration holds wait without one (no panic).
            assert engine.wait(a, timeout=float("inf"))["status"] == "SUCCEEDED"
            assert engine.wait(a, timeout=1e300)["status"] == "SUCCEEDED"


def test_two_threads_can_wait_on_one_event_stream():
    """A thread waiting for the stream holds no lock the GIL needs: a second
    reader waits without blocking the first."""
    with aslan.Engine() as engine:
        engine.create_state_machine("p", {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
        events = engine.events()
        got = []
        readers = [threading.Thread(target=lambda: got.append(events.next(timeout=20))) for _ in range(2)]
        for r in readers:
            r.start()
        engine.start_execution("p", {})
        for r in readers:
            r.join(timeout=30)
        assert not any(r.is_alive() for r in readers), "a reader is stuck"
        assert [e["event"]["id"] for e in sorted(got, key=lambda e: e["event"]["id"])] == [1, 2]


def test_an_engine_dropped_without_close_does_not_hang_the_interpreter(tmp_path):
    """Garbage-collected while a handler runs (and wants the GIL), at exit."""
    script = tmp_path / "drop.py"
    script.write_text(
        "import aslan, time\n"
        "def slow(p):\n"
        "    time.sleep(0.2)\n"
        "    return p\n"
        "e = aslan.Engine(tasks={'arn:aslan:states:::task:slow': slow})\n"
        "e.create_state_machine('s', {'StartAt': 'T', 'States': {'T': {'Type': 'Task', "
        "'Resource': 'arn:aslan:states:::task:slow', 'End': True}}})\n"
        "for _ in range(4):\n"
        "    e.start_execution('s', {})\n"
        "del e\n"
        "print('dropped')\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "dropped"


def test_close_on_one_thread_ends_a_wait_on_another(tmp_path):
    """close() while another thread waits inside the engine: the wait ends
    with AslanError, close() returns, and the execution stays in the folder."""
    definition = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": True}}}
    engine = aslan.Engine(path=str(tmp_path / "data"))
    engine.create_state_machine("w", definition)
    arn = engine.start_execution("w", {}, name="long")
    outcome = []

    def waiter():
        try:
            outcome.append(engine.wait(arn, timeout=60))
        except aslan.AslanError as e:
            outcome.append(e)

    t = threading.Thread(target=waiter)
    t.start()
    time.sleep(0.3)  # likely inside the engine by now; either order must pass
    engine.close()
    t.join(timeout=30)
    assert not t.is_alive(), "the wait did not end when the engine closed"
    assert len(outcome) == 1 and isinstance(outcome[0], aslan.AslanError), outcome
    with pytest.raises(aslan.AslanError, match="closed"):
        engine.describe_execution(arn)
    with aslan.Engine(path=str(tmp_path / "data")) as again:
        assert again.describe_execution(arn)["status"] == "RUNNING"
