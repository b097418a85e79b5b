"""The EKS resources (eks:createCluster ... eks:deleteFargateProfile, and
.sync) through `aslan run`, against moto's EKS server: a third party's
implementation of the EKS API, exact on shapes and error codes (it makes
every resource ACTIVE at once; aslan-local-cloud covers CREATING and
DELETING). The endpoint comes from AWS_ENDPOINT_URL_EKS, as the SDKs read it.
"""
import json
import os
import subprocess
import time
from pathlib import Path

import boto3
import pytest

from conftest import BIN, free_port

ROLE = "arn:aws:iam::123456789012:role/MyEKSClusterRole"
NODE_ROLE = "arn:aws:iam::123456789012:role/MyNodeInstanceRole"
POD_ROLE = "arn:aws:iam::123456789012:role/MyFargatePodExecutionRole"
SUBNETS = ["subnet-053e7c47012341234", "subnet-027cfea4b12341234"]


def env_for(endpoint):
    return dict(os.environ, AWS_ENDPOINT_URL_EKS=endpoint, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
                AWS_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")


def run(endpoint, definition, tmp_path, name="sm", execution=None):
    d = tmp_path / f"{name}.asl.json"
    d.write_text(json.dumps(definition))
    args = [BIN, "run", str(d), "--history"]
    if execution:
        args += ["--execution-name", execution]
    r = subprocess.run(args, capture_output=True, text=True, env=env_for(endpoint), timeout=120)
    out = json.loads(r.stdout) if r.stdout.strip() else None
    return r.returncode, out, r.stderr


def task(resource, params, **extra):
    state = {"Type": "Task", "Resource": f"arn:aws:states:::eks:{resource}", "Parameters": params, "End": True}
    state.update(extra)
    return {"StartAt": "T", "States": {"T": state}}


def eks(endpoint):
    return boto3.client("eks", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")


def cluster_params(name):
    return {"Name": name, "ResourcesVpcConfig": {"SubnetIds": SUBNETS}, "RoleArn": ROLE, "Tags": {"team-name": "aslan"}}


def test_create_cluster_returns_the_eks_answer_in_pascal_case(moto, tmp_path):
    rc, out, err = run(moto, task("createCluster", cluster_params("rr-cluster")), tmp_path)
    assert rc == 0, err
    c = out["Cluster"]
    assert c["Name"] == "rr-cluster"
    assert c["Arn"].endswith(":cluster/rr-cluster")
    assert c["RoleArn"] == ROLE
    assert c["ResourcesVpcConfig"]["SubnetIds"] == SUBNETS
    assert c["Tags"] == {"team-name": "aslan"}  # map keys are kept as they are
    assert "Status" in c and "CertificateAuthority" in c
    # It is really there.
    assert eks(moto).describe_cluster(name="rr-cluster")["cluster"]["name"] == "rr-cluster"


def test_the_whole_life_of_a_cluster_with_sync(moto, tmp_path):
    rc, out, err = run(moto, task("createCluster.sync", cluster_params("life")), tmp_path)
    assert rc == 0, err
    assert out["Cluster"]["Status"] == "ACTIVE"
    events = [json.loads(line)["type"] for line in err.splitlines() if line.startswith("{")]
    assert events.index("TaskStarted") < events.index("TaskSucceeded")

    rc, out, err = run(moto, task("createNodegroup.sync", {"ClusterName": "life", "NodegroupName": "ng", "NodeRole": NODE_ROLE,
                                                          "Subnets": SUBNETS, "ScalingConfig": {"MinSize": 1, "MaxSize": 3, "DesiredSize": 2},
                                                          "Labels": {"role": "worker"}}), tmp_path)
    assert rc == 0, err
    ng = out["Nodegroup"]
    assert ng["Status"] == "ACTIVE" and ng["NodegroupName"] == "ng"
    assert ng["ScalingConfig"]["DesiredSize"] == 2
    assert ng["Labels"] == {"role": "worker"}

    rc, out, err = run(moto, task("createFargateProfile.sync", {"ClusterName": "life", "FargateProfileName": "fp",
                                                               "PodExecutionRoleArn": POD_ROLE, "Subnets": SUBNETS,
                                                               "Selectors": [{"Namespace": "my-namespace", "Labels": {"my-label": "my-value"}}]}), tmp_path)
    assert rc == 0, err
    fp = out["FargateProfile"]
    assert fp["Status"] == "ACTIVE"
    assert fp["Selectors"] == [{"Namespace": "my-namespace", "Labels": {"my-label": "my-value"}}]

    # A cluster with node groups cannot be deleted: EKS.ResourceInUseException with EKS's message.
    rc, out, err = run(moto, task("deleteCluster", {"Name": "life"}), tmp_path)
    assert rc == 1, err
    assert out["Error"] == "EKS.ResourceInUseException"
    assert "nodegroup" in out["Cause"].lower()

    for resource, params in [("deleteFargateProfile.sync", {"ClusterName": "life", "FargateProfileName": "fp"}),
                             ("deleteNodegroup.sync", {"ClusterName": "life", "NodegroupName": "ng"}),
                             ("deleteCluster.sync", {"Name": "life"})]:
        rc, out, err = run(moto, task(resource, params), tmp_path)
        assert rc == 0, (resource, err)
    client = eks(moto)
    assert "life" not in client.list_clusters()["clusters"]


def test_eks_errors_are_named_as_step_functions_names_them(moto, tmp_path):
    rc, out, err = run(moto, task("deleteCluster", {"Name": "never-made"}), tmp_path)
    assert rc == 1
    assert out["Error"] == "EKS.ResourceNotFoundException"
    assert "never-made" in out["Cause"]
    assert run(moto, task("createCluster", cluster_params("twice")), tmp_path)[0] == 0
    rc, out, err = run(moto, task("createCluster", cluster_params("twice")), tmp_path)
    assert rc == 1 and out["Error"] == "EKS.ResourceInUseException", out
    bad = cluster_params("bad-role")
    bad["RoleArn"] = "not-an-arn"
    rc, out, err = run(moto, task("createCluster", bad), tmp_path)
    assert rc == 1 and out["Error"] == "EKS.InvalidParameterException", out
    # Catch matches the name.
    definition = task("deleteNodegroup", {"ClusterName": "nope", "NodegroupName": "nope"},
                      Catch=[{"ErrorEquals": ["EKS.ResourceNotFoundException"], "Next": "Gone"}])
    definition["States"]["T"].pop("End")
    definition["States"]["T"]["Next"] = "Done"
    definition["States"]["Gone"] = {"Type": "Pass", "Result": "caught", "End": True}
    definition["States"]["Done"] = {"Type": "Pass", "End": True}
    rc, out, err = run(moto, definition, tmp_path)
    assert rc == 0 and out == "caught", err


def test_unknown_members_fail_validation_with_their_location(tmp_path):
    d = tmp_path / "bad.asl.json"
    params = cluster_params("x")
    params["ResourcesVpcConfig"]["SubnetId"] = "subnet-1"
    d.write_text(json.dumps(task("createCluster.sync", params)))
    r = subprocess.run([BIN, "validate", str(d)], capture_output=True, text=True)
    assert r.returncode == 2
    assert "/States/T/Parameters" in r.stderr and "ResourcesVpcConfig.SubnetId" in r.stderr, r.stderr


class EksCloud:
    """aslan-local-cloud with its EKS API (CREATING and DELETING take `ms`)."""

    def __init__(self, ms, *extra):
        cloud_bin = str(Path(BIN).with_name("aslan-local-cloud"))
        self.env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDASLANSERVE", AWS_SECRET_ACCESS_KEY="serve/secret",
                        AWS_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")
        self.proc = subprocess.Popen([cloud_bin, "--listen", "127.0.0.1:0", "--eks-create-ms", str(ms), "--eks-delete-ms", str(ms), *extra],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=self.env)
        self.endpoint = json.loads(self.proc.stdout.readline())["eks"]["endpoint"]
        self.env["AWS_ENDPOINT_URL_EKS"] = self.endpoint

    def client(self):
        return boto3.client("eks", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"])

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def test_the_eks_sample_survives_kill_9_while_the_cluster_is_creating(tmp_path):
    """AWS's "Manage an Amazon EKS cluster" sample (examples/eks-cluster)
    through `aslan serve`, killed with SIGKILL while its cluster is CREATING:
    after the restart the wait resumes, the pi Job runs on the cluster, and
    everything is deleted again; one cluster was ever created."""
    from conftest import Server, client as sfn_client, machine, wait_done
    cloud = EksCloud(2500, "--run-processes")
    try:
        server = Server(tmp_path / "data", env=cloud.env).start()
        sfn = sfn_client(server.endpoint)
        sample = json.loads((Path(__file__).resolve().parents[2] / "examples" / "eks-cluster" / "manage-eks-cluster.asl.json").read_text())
        arn = machine(sfn, "eks-sample", sample)
        ex = sfn.start_execution(stateMachineArn=arn)["executionArn"]
        deadline = time.time() + 30
        while "TaskStarted" not in [e["type"] for e in sfn.get_execution_history(executionArn=ex)["events"]]:
            assert time.time() < deadline
            time.sleep(0.02)
        assert cloud.client().describe_cluster(name="ExampleCluster")["cluster"]["status"] == "CREATING"
        server.kill()
        server.start()
        sfn = sfn_client(server.endpoint)
        d = wait_done(sfn, ex, timeout=120)
        assert d["status"] == "SUCCEEDED", d
        assert json.loads(d["output"]) == "pi as expected"
        assert cloud.client().list_clusters()["clusters"] == []
        created = [e for e in sfn.get_execution_history(executionArn=ex, maxResults=1000)["events"]
                   if e["type"] == "TaskSucceeded" and e["taskSucceededEventDetails"]["resource"] == "createCluster.sync"]
        assert len(created) == 1
        server.stop()
    finally:
        cloud.stop()


def test_cleanup_after_stop_execution_leaves_nothing_behind(tmp_path):
    from conftest import Server, client as sfn_client, machine, wait_done
    cloud = EksCloud(300)
    try:
        server = Server(tmp_path / "data", env=cloud.env).start()
        sfn = sfn_client(server.endpoint)
        definition = {"StartAt": "C", "States": {
            "C": {"Type": "Task", "Resource": "arn:aws:states:::eks:createCluster.sync", "Parameters": cluster_params("leaky"),
                  "ResultPath": None, "Next": "N"},
            "N": {"Type": "Task", "Resource": "arn:aws:states:::eks:createNodegroup.sync", "ResultPath": None, "Next": "Wait",
                  "Parameters": {"ClusterName": "leaky", "NodegroupName": "ng", "NodeRole": NODE_ROLE, "Subnets": SUBNETS}},
            "Wait": {"Type": "Wait", "Seconds": 3600, "End": True}}}
        arn = machine(sfn, "eks-leak", definition)
        ex = sfn.start_execution(stateMachineArn=arn)["executionArn"]
        deadline = time.time() + 60
        while "WaitStateEntered" not in [e["type"] for e in sfn.get_execution_history(executionArn=ex, maxResults=1000)["events"]]:
            assert time.time() < deadline
            time.sleep(0.05)
        sfn.stop_execution(executionArn=ex)
        assert wait_done(sfn, ex)["status"] == "ABORTED"
        eks_client = cloud.client()
        assert eks_client.list_nodegroups(clusterName="leaky")["nodegroups"] == ["ng"]
        r = subprocess.run([BIN, "executions", "--endpoint", server.endpoint, "--json", "cleanup", ex, "--wait-seconds", "60"],
                           capture_output=True, text=True, env=cloud.env, timeout=120)
        assert r.returncode == 0, r.stderr
        removed = json.loads(r.stdout)["removed"]
        assert [x["result"] for x in removed] == ["deleted", "deleted"], removed
        assert removed[0]["resource"] == {"kind": "Nodegroup", "cluster": "leaky", "name": "ng"}
        assert removed[1]["resource"] == {"kind": "Cluster", "name": "leaky"}
        deadline = time.time() + 30
        while eks_client.list_clusters()["clusters"]:
            assert time.time() < deadline, eks_client.list_clusters()
            time.sleep(0.1)
        server.stop()
    finally:
        cloud.stop()


def test_cleanup_on_stop_deletes_what_the_stopped_execution_created(tmp_path):
    from conftest import Server, client as sfn_client, machine, wait_done
    cloud = EksCloud(300)
    try:
        server = Server(tmp_path / "data", env=cloud.env, extra=["--cleanup-on-stop"]).start()
        sfn = sfn_client(server.endpoint)
        definition = {"StartAt": "C", "States": {
            "C": {"Type": "Task", "Resource": "arn:aws:states:::eks:createCluster.sync", "Parameters": cluster_params("auto"),
                  "ResultPath": None, "Next": "F"},
            "F": {"Type": "Task", "Resource": "arn:aws:states:::eks:createFargateProfile", "ResultPath": None, "Next": "Wait",
                  "Parameters": {"ClusterName": "auto", "FargateProfileName": "fp", "PodExecutionRoleArn": POD_ROLE,
                                 "Selectors": [{"Namespace": "default"}]}},
            "Wait": {"Type": "Wait", "Seconds": 3600, "End": True}}}
        arn = machine(sfn, "eks-auto", definition)
        ex = sfn.start_execution(stateMachineArn=arn)["executionArn"]
        deadline = time.time() + 60
        while "WaitStateEntered" not in [e["type"] for e in sfn.get_execution_history(executionArn=ex, maxResults=1000)["events"]]:
            assert time.time() < deadline
            time.sleep(0.05)
        sfn.stop_execution(executionArn=ex)
        eks_client = cloud.client()
        deadline = time.time() + 60
        while eks_client.list_clusters()["clusters"]:
            assert time.time() < deadline, eks_client.list_clusters()
            time.sleep(0.1)
        server.stop()
        assert "cleanup after StopExecution" in server.log.read_text()
    finally:
        cloud.stop()
