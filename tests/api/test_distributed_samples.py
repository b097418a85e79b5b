"""Two real Distributed Map definitions from aws-samples'
step-functions-workflows-collection (tests/corpus/distributed), end to end
on `aslan serve`: their S3 inputs in moto's S3, their Task states answered
by the MockConfigFile (tests/api/mock-config.json, test case `Happy`, which
the child executions use too)."""
import json
import os
from pathlib import Path

import boto3
import pytest

from conftest import Server, client, machine, wait_done

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "distributed"


def env_for(endpoint):
    return dict(os.environ, AWS_ENDPOINT_URL_S3=endpoint, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
                AWS_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")


@pytest.fixture
def setup(moto, tmp_path):
    s3 = boto3.client("s3", endpoint_url=moto, region_name="us-east-1",
                      aws_access_key_id="test", aws_secret_access_key="test")
    server = Server(tmp_path / "data", env=env_for(moto)).start()
    yield s3, client(server.endpoint)
    assert server.stop() == 0


def definition(name):
    return json.loads((CORPUS / name).read_text())


def test_csv_iterator_puts_every_row(setup):
    s3, sfn = setup
    s3.create_bucket(Bucket="videos")
    rows = ["Content,VideoPublishTime,VideoTitle,Views"] + [f"c{i},2023-01-{1 + i % 28:02d},\"Title, {i}\",{i * 10}" for i in range(500)]
    s3.put_object(Bucket="videos", Key="metrics.csv", Body="\n".join(rows).encode())
    arn = machine(sfn, "csv-iterator", definition("distributed-map-csv-iterator-tf__statemachine.asl.json"))
    ex = sfn.start_execution(stateMachineArn=arn + "#Happy", input=json.dumps({"BucketName": "videos", "FileKey": "metrics.csv"}))
    d = wait_done(sfn, ex["executionArn"], timeout=120)
    assert d["status"] == "SUCCEEDED", d
    out = json.loads(d["output"])
    assert len(out) == 500
    assert out[7] == {"Content": "c7", "VideoPublishTime": "2023-01-08", "VideoTitle": "Title, 7", "Views": "70",
                      "result": {"SdkHttpMetadata": {"HttpStatusCode": 200}}}
    run = sfn.list_map_runs(executionArn=ex["executionArn"])["mapRuns"][0]
    r = sfn.describe_map_run(mapRunArn=run["mapRunArn"])
    assert r["maxConcurrency"] == 100 and r["executionCounts"]["succeeded"] == 500


def test_describe_assets_batches_listed_objects(setup):
    s3, sfn = setup
    s3.create_bucket(Bucket="assets")
    for i in range(25):
        s3.put_object(Bucket="assets", Key=f"img/{i:02d}.png", Body=b"png")
    arn = machine(sfn, "describe-assets", definition("sfn-bedrock-describe-assets__statemachine.asl.json"))
    ex = sfn.start_execution(stateMachineArn=arn + "#Happy", input=json.dumps({"Bucket": "assets"}))
    d = wait_done(sfn, ex["executionArn"], timeout=120)
    assert d["status"] == "SUCCEEDED", d
    assert json.loads(d["output"]) == [{"ETag": "\"0123\""}] * 3
    run_arn = sfn.list_map_runs(executionArn=ex["executionArn"])["mapRuns"][0]["mapRunArn"]
    assert ":mapRun:describe-assets/S3objectkeys:" in run_arn
    r = sfn.describe_map_run(mapRunArn=run_arn)
    assert (r["itemCounts"]["total"], r["executionCounts"]["total"]) == (25, 3)
    children = sfn.list_executions(mapRunArn=run_arn)["executions"]
    inputs = sorted((json.loads(sfn.describe_execution(executionArn=c["executionArn"])["input"]) for c in children),
                    key=lambda i: i["Items"][0]["Data"]["Key"])
    assert [len(i["Items"]) for i in inputs] == [10, 10, 5]
    first = inputs[0]["Items"][0]
    assert first["Bucket"] == "assets" and first["Data"]["Key"] == "img/00.png" and first["Data"]["Size"] == 3
