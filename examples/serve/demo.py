"""Drives a running `aslan serve` with boto3, exactly as one would drive AWS.

    aslan serve --data /tmp/aslan-demo --mock-config examples/order-pipeline/mock-config.json &
    python examples/serve/demo.py http://127.0.0.1:8083
"""
import json
import sys
import time
from pathlib import Path

import boto3
from botocore.config import Config

endpoint = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8083"
sfn = boto3.client("stepfunctions", endpoint_url=endpoint, region_name="us-east-1",
                   aws_access_key_id="local", aws_secret_access_key="local",
                   config=Config(inject_host_prefix=False))
root = Path(__file__).resolve().parents[1]
definition = (root / "order-pipeline" / "order-pipeline.asl.json").read_text()
arn = sfn.create_state_machine(name="order-pipeline", definition=definition,
                               roleArn="arn:aws:iam::123456789012:role/StepFunctionsRole")["stateMachineArn"]
# "#HappyPath" picks the mock config's test case, as Step Functions Local does.
ex = sfn.start_execution(stateMachineArn=arn + "#HappyPath", input=json.dumps({"orderId": "A-1", "amount": 9.5}))["executionArn"]
while (d := sfn.describe_execution(executionArn=ex))["status"] == "RUNNING":
    time.sleep(0.2)
print(d["status"], d.get("output"))
for e in sfn.get_execution_history(executionArn=ex)["events"]:
    print(e["id"], e["type"])
assert d["status"] == "SUCCEEDED" and json.loads(d["output"])["fulfilment"]["tracking"] == "TRK-7"
