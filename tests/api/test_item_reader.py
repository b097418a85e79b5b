"""Distributed Map ItemReader against moto's S3: listObjectsV2 (past one
page), getObject as CSV, JSON Lines and JSON, MaxItems, batching over read
items, the ItemReaderFailed error, and `aslan serve` reading for a stored
execution. AWS_ENDPOINT_URL_S3 points the SDK at moto, as for any client."""
import json
import os
import subprocess

import boto3
import pytest

from conftest import BIN, Server, client, machine, wait_done

BUCKET = "items"


def env_for(endpoint):
    return dict(os.environ, AWS_ENDPOINT_URL_S3=endpoint, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
                AWS_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")


@pytest.fixture(scope="module")
def s3(moto):
    s3 = boto3.client("s3", endpoint_url=moto, region_name="us-east-1",
                      aws_access_key_id="test", aws_secret_access_key="test")
    s3.create_bucket(Bucket=BUCKET)
    rows = ["id,name,note"] + [f'{i},item{i},"a, ""quoted"" note\nover two lines"' for i in range(2000)]
    s3.put_object(Bucket=BUCKET, Key="data/rows.csv", Body="\r\n".join(rows).encode())
    s3.put_object(Bucket=BUCKET, Key="data/rows.psv", Body="\n".join(f"{i}|x{i}" for i in range(50)).encode())
    s3.put_object(Bucket=BUCKET, Key="data/lines.jsonl",
                  Body="\n".join(json.dumps({"n": i}) for i in range(3000)).encode() + b"\n\n")
    s3.put_object(Bucket=BUCKET, Key="data/array.json", Body=json.dumps([{"n": i} for i in range(1000)]).encode())
    for i in range(1105):
        s3.put_object(Bucket=BUCKET, Key=f"objects/{i:05d}.txt", Body=b"x" * (i % 7))
    return s3


def dmap(reader, child_params, **fields):
    m = {
        "Type": "Map",
        "ItemReader": reader,
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
            "StartAt": "P",
            "States": {"P": {"Type": "Pass", "Parameters": child_params, "End": True}},
        },
        "MaxConcurrency": 200,
        "End": True,
    }
    m.update(fields)
    return {"StartAt": "M", "States": {"M": m}}


def get_object(key, **config):
    return {"Resource": "arn:aws:states:::s3:getObject", "ReaderConfig": config,
            "Parameters": {"Bucket": BUCKET, "Key.$": "$.key"}}


def run(moto, definition, tmp_path, input=None):
    d = tmp_path / "sm.asl.json"
    d.write_text(json.dumps(definition))
    r = subprocess.run([BIN, "run", str(d), "--input", json.dumps(input or {})], capture_output=True, text=True,
                       env=env_for(moto), timeout=300)
    return r.returncode, json.loads(r.stdout) if r.stdout.strip() else None, r.stderr


def test_csv_with_a_header_row_and_quoted_fields(moto, s3, tmp_path):
    rc, out, err = run(moto, dmap(get_object("data/rows.csv", InputType="CSV", CSVHeaderLocation="FIRST_ROW"),
                                  {"id.$": "$.id", "len.$": "States.ArrayLength(States.StringSplit($.note, ','))"}),
                       tmp_path, {"key": "data/rows.csv"})
    assert rc == 0, err
    assert len(out) == 2000
    assert out[0] == {"id": "0", "len": 2} and out[1999]["id"] == "1999"


def test_csv_with_given_headers_a_pipe_and_max_items(moto, s3, tmp_path):
    reader = get_object("", InputType="CSV", CSVHeaderLocation="GIVEN", CSVHeaders=["n", "x"], CSVDelimiter="PIPE",
                        MaxItems=20)
    rc, out, err = run(moto, dmap(reader, {"x.$": "$.x"}), tmp_path, {"key": "data/rows.psv"})
    assert rc == 0, err
    assert out == [{"x": f"x{i}"} for i in range(20)]


def test_json_lines_and_a_json_array_batched(moto, s3, tmp_path):
    rc, out, err = run(moto, dmap(get_object("", InputType="JSONL"), {"n.$": "$.n"}), tmp_path, {"key": "data/lines.jsonl"})
    assert rc == 0, err
    assert out == [{"n": i} for i in range(3000)]
    batched = dmap(get_object("", InputType="JSON"), {"count.$": "States.ArrayLength($.Items)", "first.$": "$.Items[0].n",
                                                     "tag.$": "$.BatchInput.tag"},
                   ItemBatcher={"MaxItemsPerBatch": 300, "BatchInput": {"tag.$": "$.tag"}})
    rc, out, err = run(moto, batched, tmp_path, {"key": "data/array.json", "tag": "t"})
    assert rc == 0, err
    assert [b["count"] for b in out] == [300, 300, 300, 100]
    assert [b["first"] for b in out] == [0, 300, 600, 900] and out[0]["tag"] == "t"


def test_list_objects_past_one_page_with_item_selector(moto, s3, tmp_path):
    reader = {"Resource": "arn:aws:states:::s3:listObjectsV2", "Parameters": {"Bucket": BUCKET, "Prefix.$": "$.prefix"}}
    definition = dmap(reader, {"key.$": "$.Key", "size.$": "$.Size", "bucket.$": "$.bucket"},
                      ItemSelector={"Key.$": "$$.Map.Item.Value.Key", "Size.$": "$$.Map.Item.Value.Size",
                                    "bucket.$": "$.bucket"})
    rc, out, err = run(moto, definition, tmp_path, {"prefix": "objects/", "bucket": BUCKET})
    assert rc == 0, err
    assert len(out) == 1105
    assert out[3] == {"key": "objects/00003.txt", "size": 3, "bucket": BUCKET}
    assert out[-1]["key"] == "objects/01104.txt"


def test_a_missing_object_fails_with_item_reader_failed(moto, s3, tmp_path):
    definition = dmap(get_object("", InputType="JSON"), {"n.$": "$.n"},
                      Catch=[{"ErrorEquals": ["States.ItemReaderFailed"], "Next": "Caught"}])
    definition["States"]["M"].pop("End")
    definition["States"]["M"]["Next"] = "Done"
    definition["States"]["Caught"] = {"Type": "Pass", "End": True}
    definition["States"]["Done"] = {"Type": "Succeed"}
    rc, out, err = run(moto, definition, tmp_path, {"key": "data/none.json"})
    assert rc == 0, err
    assert out["Error"] == "States.ItemReaderFailed"
    assert "NoSuchKey" in out["Cause"], out


def test_a_stored_execution_reads_its_items(moto, s3, tmp_path):
    server = Server(tmp_path / "data", env=env_for(moto)).start()
    sfn = client(server.endpoint)
    arn = machine(sfn, "reader", dmap(get_object("", InputType="JSONL"), {"n.$": "$.n"}, Label="Lines",
                                      ToleratedFailurePercentage=0))
    ex = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"key": "data/lines.jsonl"}))["executionArn"]
    d = wait_done(sfn, ex, timeout=120)
    assert d["status"] == "SUCCEEDED", d
    assert len(json.loads(d["output"])) == 3000
    run_arn = sfn.list_map_runs(executionArn=ex)["mapRuns"][0]["mapRunArn"]
    assert sfn.describe_map_run(mapRunArn=run_arn)["itemCounts"]["succeeded"] == 3000
    assert server.stop() == 0


def test_result_writer_writes_a_manifest_and_result_files(moto, s3, tmp_path):
    children = {"F": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericLessThan": 3, "Next": "Bad"}], "Default": "P"},
                "Bad": {"Type": "Fail", "Error": "Item.Bad", "Cause": "small"},
                "P": {"Type": "Pass", "Parameters": {"n.$": "$.n"}, "End": True}}
    definition = dmap(get_object("", InputType="JSON"), {}, ToleratedFailureCount=3, Label="W",
                      ResultWriter={"Resource": "arn:aws:states:::s3:putObject",
                                    "Parameters": {"Bucket": BUCKET, "Prefix.$": "$.out"}})
    definition["States"]["M"]["ItemProcessor"]["StartAt"] = "F"
    definition["States"]["M"]["ItemProcessor"]["States"] = children
    definition["States"]["M"]["ItemReader"]["ReaderConfig"]["MaxItems"] = 1000
    for how in ("run", "serve"):
        prefix = f"results-{how}/"
        if how == "run":
            rc, out, err = run(moto, definition, tmp_path, {"key": "data/array.json", "out": prefix})
            assert rc == 0, err
        else:
            server = Server(tmp_path / "data", env=env_for(moto)).start()
            sfn = client(server.endpoint)
            arn = machine(sfn, "writer", definition)
            ex = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"key": "data/array.json", "out": prefix}))
            d = wait_done(sfn, ex["executionArn"], timeout=120)
            assert d["status"] == "SUCCEEDED", d
            out = json.loads(d["output"])
            assert server.stop() == 0
        run_id = out["MapRunArn"].rsplit(":", 1)[1]
        assert ":mapRun:sm/W:" in out["MapRunArn"] or ":mapRun:writer/W:" in out["MapRunArn"]
        assert out["ResultWriterDetails"] == {"Bucket": BUCKET, "Key": f"{prefix}{run_id}/manifest.json"}
        manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=out["ResultWriterDetails"]["Key"])["Body"].read())
        assert manifest["MapRunArn"] == out["MapRunArn"] and manifest["DestinationBucket"] == BUCKET
        assert manifest["ResultFiles"]["PENDING"] == []
        [ok] = manifest["ResultFiles"]["SUCCEEDED"]
        [bad] = manifest["ResultFiles"]["FAILED"]
        succeeded = json.loads(s3.get_object(Bucket=BUCKET, Key=ok["Key"])["Body"].read())
        failed = json.loads(s3.get_object(Bucket=BUCKET, Key=bad["Key"])["Body"].read())
        assert ok["Size"] == len(json.dumps(succeeded, separators=(",", ":")).encode())
        assert len(succeeded) == 997 and len(failed) == 3
        assert sorted(json.loads(e["Output"])["n"] for e in succeeded) == list(range(3, 1000))
        e = failed[0]
        assert (e["Status"], e["Error"], e["Cause"]) == ("FAILED", "Item.Bad", "small")
        assert json.loads(e["Input"])["n"] < 3 and ":execution:" in e["ExecutionArn"]
        assert e["StartDate"].endswith("Z") and e["StopDate"].endswith("Z")


def test_an_s3_inventory_manifest_lists_its_objects(moto, s3, tmp_path):
    import gzip
    files = []
    for f in range(2):
        rows = "\n".join(f'"{BUCKET}","inv/obj-{f}-{i}.txt","{i}","2024-01-0{f + 1}T00:00:00.000Z"' for i in range(600))
        key = f"inventory/data/part-{f}.csv.gz"
        s3.put_object(Bucket=BUCKET, Key=key, Body=gzip.compress(rows.encode()))
        files.append({"key": key, "size": 1, "MD5checksum": "x"})
    manifest = {"sourceBucket": BUCKET, "destinationBucket": f"arn:aws:s3:::{BUCKET}", "version": "2016-11-30",
                "fileFormat": "CSV", "fileSchema": "Bucket, Key, Size, LastModifiedDate", "files": files}
    s3.put_object(Bucket=BUCKET, Key="inventory/manifest.json", Body=json.dumps(manifest).encode())
    rc, out, err = run(moto, dmap(get_object("", InputType="MANIFEST"), {"key.$": "$.Key", "size.$": "$.Size"}),
                       tmp_path, {"key": "inventory/manifest.json"})
    assert rc == 0, err
    assert len(out) == 1200
    assert out[0] == {"key": "inv/obj-0-0.txt", "size": "0"} and out[-1] == {"key": "inv/obj-1-599.txt", "size": "599"}


def test_redrive_after_a_failure_reruns_only_what_did_not_succeed(moto, s3, tmp_path):
    """Items from S3, children that are Activity tasks: a worker fails item 3
    once. The Map Run fails (nothing tolerated); RedriveExecution goes on
    with the same Map Run: items 0 to 2 are not run again, nothing is read
    again, and the output is whole."""
    import threading
    import time as _time
    server = Server(tmp_path / "data", env=env_for(moto), extra=["--activity-wait-seconds", "1"]).start()
    sfn = client(server.endpoint)
    s3.put_object(Bucket=BUCKET, Key="data/ten.jsonl", Body="\n".join(json.dumps({"n": i}) for i in range(10)).encode())
    act = sfn.create_activity(name="item-worker")["activityArn"]
    definition = dmap(get_object("", InputType="JSONL"), {}, MaxConcurrency=1, Label="Acts")
    definition["States"]["M"]["ItemProcessor"]["States"] = {"P": {"Type": "Task", "Resource": act, "End": True}}
    arn = machine(sfn, "acts", definition)
    seen, stop = [], threading.Event()

    def worker():
        w = client(server.endpoint)
        while not stop.is_set():
            t = w.get_activity_task(activityArn=act, workerName="w")
            if "taskToken" not in t:
                continue
            n = json.loads(t["input"])["n"]
            seen.append(n)
            if n == 3 and seen.count(3) == 1:
                w.send_task_failure(taskToken=t["taskToken"], error="Flaky", cause="first try")
            else:
                w.send_task_success(taskToken=t["taskToken"], output=json.dumps({"done": n}))

    th = threading.Thread(target=worker, daemon=True)
    th.start()
    try:
        ex = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"key": "data/ten.jsonl"}))["executionArn"]
        d = wait_done(sfn, ex, timeout=60)
        assert d["status"] == "FAILED" and d["error"] == "States.ExceedToleratedFailureThreshold", d
        assert sorted(seen) == [0, 1, 2, 3]
        # The object changes; a redrive does not read it again.
        s3.put_object(Bucket=BUCKET, Key="data/ten.jsonl", Body=b'{"n": 99}\n')
        sfn.redrive_execution(executionArn=ex)
        d = wait_done(sfn, ex, timeout=60)
        assert d["status"] == "SUCCEEDED", d
        assert json.loads(d["output"]) == [{"done": i} for i in range(10)]
        assert sorted(seen) == [0, 1, 2, 3, 3, 4, 5, 6, 7, 8, 9]
        run_arn = sfn.list_map_runs(executionArn=ex)["mapRuns"][0]["mapRunArn"]
        r = sfn.describe_map_run(mapRunArn=run_arn)
        assert r["redriveCount"] == 1 and r["status"] == "SUCCEEDED"
        assert r["executionCounts"]["succeeded"] == 10
        events = [e["type"] for e in sfn.get_execution_history(executionArn=ex)["events"]]
        assert "MapRunRedriven" in events
    finally:
        stop.set()
        th.join(timeout=5)
        _time.sleep(0.1)
        assert server.stop() == 0
