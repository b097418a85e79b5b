"""An Activity worker and a callback approver for `aslan serve`, with plain boto3.

    aslan serve --data /tmp/aslan-worker &
    python examples/activity-worker/worker.py http://127.0.0.1:8083

It creates the Activity and the state machine, starts an execution over three
images, then works like any Step Functions worker: GetActivityTask (a long
poll), a heartbeat, SendTaskSuccess. The Approve state parks on a task token
(`.waitForTaskToken`, no SQS here): the script reads the token from the
TaskScheduled event, as an SQS consumer would read it from the message, and
approves with SendTaskSuccess.
"""
import json
import sys
import time
from pathlib import Path

import boto3
from botocore.config import Config

endpoint = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8083"
# GetActivityTask holds the connection up to 60 s: read timeouts above that.
sfn = boto3.client("stepfunctions", endpoint_url=endpoint, region_name="us-east-1",
                   aws_access_key_id="local", aws_secret_access_key="local",
                   config=Config(inject_host_prefix=False, read_timeout=70))

activity = sfn.create_activity(name="resize-image")["activityArn"]
definition = (Path(__file__).with_name("resize.asl.json")).read_text()
sm = sfn.create_state_machine(name="resize", definition=definition,
                              roleArn="arn:aws:iam::123456789012:role/StepFunctionsRole")["stateMachineArn"]
images = ["cat.png", "dog.png", "owl.png"]
ex = sfn.start_execution(stateMachineArn=sm, input=json.dumps({"images": images}))["executionArn"]

done = 0
while done < len(images):
    task = sfn.get_activity_task(activityArn=activity, workerName="worker-1")
    if "taskToken" not in task:
        continue  # the long poll ended empty: ask again
    job = json.loads(task["input"])
    sfn.send_task_heartbeat(taskToken=task["taskToken"])
    thumb = f"thumb-{job['width']}-{job['image']}"
    sfn.send_task_success(taskToken=task["taskToken"], output=json.dumps({"thumbnail": thumb}))
    print("resized", job["image"], "->", thumb)
    done += 1

token = None
while token is None:
    for e in sfn.get_execution_history(executionArn=ex)["events"]:
        if e["type"] == "TaskScheduled":
            token = json.loads(e["taskScheduledEventDetails"]["parameters"])["MessageBody"]["token"]
    time.sleep(0.05)
sfn.send_task_success(taskToken=token, output=json.dumps({"approvedBy": "worker.py"}))

while (d := sfn.describe_execution(executionArn=ex))["status"] == "RUNNING":
    time.sleep(0.05)
out = json.loads(d["output"])
print(d["status"], json.dumps(out))
assert d["status"] == "SUCCEEDED"
assert [t["thumbnail"] for t in out["thumbnails"]] == [f"thumb-320-{i}" for i in images]
assert out["approval"] == {"approvedBy": "worker.py"}
