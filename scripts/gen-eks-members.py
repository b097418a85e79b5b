#!/usr/bin/env python3
"""Generates engine/src/tasks/eks/members.json: the request members of the
six EKS operations Step Functions integrates (CreateCluster, DeleteCluster,
CreateNodegroup, DeleteNodegroup, CreateFargateProfile,
DeleteFargateProfile), read from the request serializers that aws-sdk-eks
generates from the EKS API model, so that every member the API accepts is
accepted and nothing else.

    scripts/gen-eks-members.py ~/.cargo/registry/src/*/aws-sdk-eks-<version>

Each shape is {"member": kind}; a kind is "scalar", {"object": SHAPE},
{"list": KIND} or {"map": KIND} (free-form keys, such as tags and labels).
"""
import json
import re
import sys
from pathlib import Path

src = Path(sys.argv[1]) / "src" / "protocol_serde"
OPS = {
    "CreateCluster": ("create_cluster_input", []),
    "CreateNodegroup": ("create_nodegroup_input", ["clusterName"]),
    "CreateFargateProfile": ("create_fargate_profile_input", ["clusterName"]),
    "DeleteCluster": (None, ["name"]),
    "DeleteNodegroup": (None, ["clusterName", "nodegroupName"]),
    "DeleteFargateProfile": (None, ["clusterName", "fargateProfileName"]),
}

shapes = {}


def parse_value(lines, i):
    """The kind of the value written from lines[i] on."""
    line = lines[i]
    if ".start_object()" in line:
        # A nested shape, or a map (a for loop over key/value pairs).
        for j in range(i + 1, min(i + 12, len(lines))):
            m = re.search(r"protocol_serde::shape_(\w+)::ser_\w+\(", lines[j])
            if m:
                load(m.group(1))
                return {"object": m.group(1)}
            if re.search(r"for \(key_\d+, value_\d+\) in", lines[j]):
                for k in range(j + 1, min(j + 10, len(lines))):
                    if ".key(key_" in lines[k]:
                        return {"map": parse_value(lines, k)}
        raise SystemExit(f"cannot read object at: {line}")
    if ".start_array()" in line:
        for j in range(i + 1, min(i + 12, len(lines))):
            if ".value()" in lines[j]:
                return {"list": parse_value(lines, j)}
        raise SystemExit(f"cannot read array at: {line}")
    return "scalar"


def load(name):
    if name in shapes:
        return
    shapes[name] = {}
    lines = (src / f"shape_{name}.rs").read_text().splitlines()
    members = {}
    for i, line in enumerate(lines):
        m = re.search(r'\bobject\.key\("([A-Za-z0-9]+)"\)', line)
        if m:
            members[m.group(1)] = parse_value(lines, i)
    shapes[name] = members


ops = {}
for op, (shape, path_members) in OPS.items():
    members = {}
    if shape:
        load(shape)
        members.update(shapes[shape])
    for p in path_members:
        members[p] = "scalar"
    ops[op] = dict(sorted(members.items()))

out = {"operations": ops, "shapes": {k: dict(sorted(v.items())) for k, v in sorted(shapes.items()) if k not in {s for s, _ in OPS.values() if s}}}
target = Path(__file__).resolve().parents[1] / "engine" / "src" / "tasks" / "eks" / "members.json"
target.parent.mkdir(parents=True, exist_ok=True)
target.write_text(json.dumps(out, indent=1) + "\n")
print(f"wrote {target}: {len(ops)} operations, {len(out['shapes'])} shapes")
