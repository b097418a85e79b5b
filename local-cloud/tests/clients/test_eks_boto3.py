"""aslan-local-cloud's EKS REST API seen by a real client: boto3 (its restJson1 serializer and
error parser, signing with SigV4). Run by ../check_clients.sh, which sets ASLAN_LOCAL_CLOUD_BIN.
"""

import base64
import json
import os
import subprocess
import time

import boto3
import pytest
from botocore.exceptions import ClientError

BIN = os.environ.get("ASLAN_LOCAL_CLOUD_BIN", "")
ROLE = "arn:aws:iam::123456789012:role/eks-cluster"
NODE_ROLE = "arn:aws:iam::123456789012:role/eks-node"


@pytest.fixture
def emulator(tmp_path):
    """The binary with the emulator's AWS credentials = the client's, so signatures are checked."""
    assert BIN, "ASLAN_LOCAL_CLOUD_BIN is not set (run check_clients.sh)"
    env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
    proc = subprocess.Popen(
        [BIN, "--listen", "127.0.0.1:0", "--eks-create-ms", "1000", "--eks-delete-ms", "200", "--eks-max-clusters", "3"],
        stdout=subprocess.PIPE,
        stderr=open(tmp_path / "emulator.log", "w"),
        text=True,
        env=env,
    )
    ready = json.loads(proc.stdout.readline())
    yield ready
    proc.terminate()
    proc.wait(timeout=10)


def eks_client(ready, secret="test"):
    return boto3.client(
        "eks",
        endpoint_url=ready["eks"]["endpoint"],
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key=secret,
    )


def wait(fn, want, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = fn()
        if got == want:
            return
        time.sleep(0.02)
    raise AssertionError(f"never reached {want}, last {got}")


def error_of(excinfo):
    e = excinfo.value.response
    return e["Error"]["Code"], e["Error"]["Message"], e["ResponseMetadata"]["HTTPStatusCode"]


def test_cluster_node_group_fargate_profile_lifecycle(emulator):
    eks = eks_client(emulator)
    c = eks.create_cluster(
        name="demo",
        roleArn=ROLE,
        resourcesVpcConfig={"subnetIds": ["subnet-1", "subnet-2"], "endpointPrivateAccess": True},
        logging={"clusterLogging": [{"types": ["api", "audit"], "enabled": True}]},
        tags={"team": "x"},
        accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"},
    )["cluster"]
    assert c["name"] == "demo" and c["status"] == "CREATING"
    assert c["arn"] == "arn:aws:eks:us-east-1:123456789012:cluster/demo"
    assert c["createdAt"].year >= 2024  # botocore parsed the epoch seconds
    assert c["resourcesVpcConfig"]["vpcId"].startswith("vpc-")
    assert c["resourcesVpcConfig"]["endpointPrivateAccess"] is True
    assert c["logging"]["clusterLogging"][0]["types"] == ["api", "audit"]
    assert c["accessConfig"]["authenticationMode"] == "API_AND_CONFIG_MAP"
    assert c["tags"] == {"team": "x"}
    assert c["health"] == {"issues": []}

    # boto3's own waiter, driven by DescribeCluster.
    eks.get_waiter("cluster_active").wait(name="demo", WaiterConfig={"Delay": 1, "MaxAttempts": 20})
    c = eks.describe_cluster(name="demo")["cluster"]
    assert c["status"] == "ACTIVE"
    assert c["endpoint"] == emulator["kubernetes"]["endpoint"]
    assert c["certificateAuthority"]["data"] == emulator["kubernetes"]["certificateAuthority"]
    assert base64.b64decode(c["certificateAuthority"]["data"]).startswith(b"-----BEGIN CERTIFICATE-----")
    assert eks.list_clusters()["clusters"] == ["demo"]

    ng = eks.create_nodegroup(
        clusterName="demo",
        nodegroupName="ng",
        nodeRole=NODE_ROLE,
        subnets=["subnet-1"],
        scalingConfig={"minSize": 1, "maxSize": 2, "desiredSize": 1},
        labels={"role": "worker"},
    )["nodegroup"]
    assert ng["status"] == "CREATING" and ng["clusterName"] == "demo"
    assert ng["scalingConfig"] == {"minSize": 1, "maxSize": 2, "desiredSize": 1}
    assert ng["nodegroupArn"].startswith("arn:aws:eks:us-east-1:123456789012:nodegroup/demo/ng/")
    eks.get_waiter("nodegroup_active").wait(clusterName="demo", nodegroupName="ng", WaiterConfig={"Delay": 1, "MaxAttempts": 20})
    assert eks.list_nodegroups(clusterName="demo")["nodegroups"] == ["ng"]
    assert eks.describe_nodegroup(clusterName="demo", nodegroupName="ng")["nodegroup"]["labels"] == {"role": "worker"}

    fp = eks.create_fargate_profile(
        clusterName="demo",
        fargateProfileName="fp",
        podExecutionRoleArn=ROLE,
        selectors=[{"namespace": "default", "labels": {"app": "pi"}}],
    )["fargateProfile"]
    assert fp["status"] == "CREATING" and fp["selectors"] == [{"namespace": "default", "labels": {"app": "pi"}}]
    eks.get_waiter("fargate_profile_active").wait(clusterName="demo", fargateProfileName="fp", WaiterConfig={"Delay": 1, "MaxAttempts": 20})
    assert eks.list_fargate_profiles(clusterName="demo")["fargateProfileNames"] == ["fp"]

    with pytest.raises(eks.exceptions.ResourceInUseException) as e:
        eks.delete_cluster(name="demo")
    assert error_of(e) == ("ResourceInUseException", "Cluster has nodegroups attached", 409)

    assert eks.delete_nodegroup(clusterName="demo", nodegroupName="ng")["nodegroup"]["status"] == "DELETING"
    eks.get_waiter("nodegroup_deleted").wait(clusterName="demo", nodegroupName="ng", WaiterConfig={"Delay": 1, "MaxAttempts": 20})
    assert eks.delete_fargate_profile(clusterName="demo", fargateProfileName="fp")["fargateProfile"]["status"] == "DELETING"
    eks.get_waiter("fargate_profile_deleted").wait(clusterName="demo", fargateProfileName="fp", WaiterConfig={"Delay": 1, "MaxAttempts": 20})
    assert eks.delete_cluster(name="demo")["cluster"]["status"] == "DELETING"
    eks.get_waiter("cluster_deleted").wait(name="demo", WaiterConfig={"Delay": 1, "MaxAttempts": 20})
    assert eks.list_clusters()["clusters"] == []


def test_boto3_raises_the_modeled_exceptions(emulator):
    eks = eks_client(emulator)
    with pytest.raises(eks.exceptions.ResourceNotFoundException) as e:
        eks.describe_cluster(name="nope")
    assert error_of(e) == ("ResourceNotFoundException", "No cluster found for name: nope.", 404)
    assert e.value.response["clusterName"] == "nope"

    with pytest.raises(eks.exceptions.InvalidParameterException) as e:
        eks.create_cluster(name="x", roleArn="not-a-role", resourcesVpcConfig={})
    assert error_of(e) == ("InvalidParameterException", "Invalid Role Arn: 'not-a-role'", 400)

    eks.create_cluster(name="dup", roleArn=ROLE, resourcesVpcConfig={"subnetIds": ["subnet-1"]})
    with pytest.raises(eks.exceptions.ResourceInUseException) as e:
        eks.create_cluster(name="dup", roleArn=ROLE, resourcesVpcConfig={"subnetIds": ["subnet-1"]})
    assert error_of(e) == ("ResourceInUseException", "Cluster already exists with name: dup", 409)

    # The same clientRequestToken with the same request returns the cluster (a retry).
    a = eks.create_cluster(name="idem", roleArn=ROLE, resourcesVpcConfig={}, clientRequestToken="tok")["cluster"]
    b = eks.create_cluster(name="idem", roleArn=ROLE, resourcesVpcConfig={}, clientRequestToken="tok")["cluster"]
    assert a["arn"] == b["arn"] and a["createdAt"] == b["createdAt"]

    with pytest.raises(eks.exceptions.InvalidRequestException) as e:
        eks.create_nodegroup(clusterName="idem", nodegroupName="ng", nodeRole=NODE_ROLE, subnets=["s"])
    assert error_of(e) == ("InvalidRequestException", "Cluster 'idem' is not in ACTIVE status", 400)

    eks.create_cluster(name="third", roleArn=ROLE, resourcesVpcConfig={})
    with pytest.raises(eks.exceptions.ResourceLimitExceededException) as e:
        eks.create_cluster(name="fourth", roleArn=ROLE, resourcesVpcConfig={})
    assert error_of(e) == ("ResourceLimitExceededException", "Cluster limit exceeded for account.", 400)

    with pytest.raises(eks.exceptions.ResourceNotFoundException) as e:
        eks.describe_nodegroup(clusterName="dup", nodegroupName="nope")
    assert error_of(e) == ("ResourceNotFoundException", "No node group found for name: nope.", 404)

    with pytest.raises(ClientError) as e:
        eks_client(emulator, secret="wrong").list_clusters()
    assert error_of(e)[0] == "InvalidSignatureException" and error_of(e)[2] == 403


def test_the_failure_tag(emulator):
    eks = eks_client(emulator)
    eks.create_cluster(name="doomed", roleArn=ROLE, resourcesVpcConfig={}, tags={"aslan.io/fail": "true"})
    wait(lambda: eks.describe_cluster(name="doomed")["cluster"]["status"], "FAILED")
    issues = eks.describe_cluster(name="doomed")["cluster"]["health"]["issues"]
    assert issues[0]["code"] == "InternalFailure" and issues[0]["resourceIds"]
