"""Hostile or huge requests get a clear answer and the server stays up."""
import json

from botocore.exceptions import ClientError
import pytest


def test_deeply_nested_paths_are_reported_not_a_crash(sfn):
    deep = "$.a[?(" + "(" * 5000 + "@.x > 1" + ")" * 5000 + ")]"
    intrinsic = "States.Format(" * 5000 + "'x'" + ")" * 5000
    definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"a.$": deep, "b.$": intrinsic}, "End": True}}}
    r = sfn.validate_state_machine_definition(definition=json.dumps(definition))
    assert r["result"] == "FAIL"
    locations = {d["location"] for d in r["diagnostics"]}
    assert "/States/P/Parameters/a.$" in locations and "/States/P/Parameters/b.$" in locations, r
    # Still serving.
    assert "stateMachines" in sfn.list_state_machines()


def test_deeply_nested_json_is_a_serialization_error(sfn):
    body = "[" * 100000 + "]" * 100000
    with pytest.raises(ClientError) as e:
        sfn.start_execution(stateMachineArn="arn:aws:states:us-east-1:123456789012:stateMachine:x", input=body)
    assert e.value.response["Error"]["Code"] in ("InvalidExecutionInput", "StateMachineDoesNotExist", "ValidationException")
    assert "stateMachines" in sfn.list_state_machines()
