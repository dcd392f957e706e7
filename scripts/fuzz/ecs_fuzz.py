#!/usr/bin/env python3
"""Fuzzes Berth's ECS API: `berth control-plane` (signed) and `berth agent` (on the real dockerd).

Requests come from the ECS model (codegen/ecs-model.json): most are realistic requests of the operations
Berth serves, with one field mutated (a number out of range, a string that is not a number, a wrong
type, a value far too long, a deep or huge structure), so that they get past validation and reach
behaviour; the rest are valid-shaped requests of any operation of the model, and raw garbage (bad
JSON, huge and deeply nested bodies, bad targets, methods and paths, bad signatures). Several clients
send at once.

It passes when no answer is a 5xx, every 4xx is `{"__type","message"}`, no answer takes over 10 s, the
process is alive and answers afterwards, and its resident memory settles. The seed is printed; the same
seed sends the same requests (those that name tasks name the ones the run created, which can differ).

  scripts/fuzz/ecs_fuzz.py --mode both --requests 10000            what `make fuzz` runs
  scripts/fuzz/ecs_fuzz.py --mode control-plane --seed 1234        replay one run
"""
import argparse
import copy
import http.client
import json
import os
import pathlib
import random
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODEL = ROOT / "codegen" / "ecs-model.json"
TARGET_PREFIX = "AmazonEC2ContainerServiceV20141113"
IMAGE = os.environ.get("BERTH_TEST_IMAGE", "berth-test/busybox:latest")
KEY_ID, SECRET = "AKIDBERTHFUZZ", "berth-fuzz-secret"
SLOW_SECONDS = 10.0
MIB = 1024 * 1024

# ---------------------------------------------------------------------------------------------------------
# Values

HOSTILE_INTEGERS = [-1, 0, 1, 7, 2**31 - 1, 2**31, -2**31 - 1, 2**53 + 1, 2**63 - 1, 2**63, -2**63, 10**30]
HOSTILE_NUMBERS = [1e300, -1e300, 0.5, -0.0, 1e-300, 3.0e38]
HOSTILE_STRINGS = [
    "", " ", "0", "-1", "1e300", "1E300", "nan", "NaN", "inf", "-inf", "Infinity", "99999999999999999999",
    "0x10", "1 vCPU", "0.0000001 vcpu", "1e3 GB", "-512 MiB", "9223372036854775808", "1.5", " 256 ",
    "\u0000", "\ud800", "\u202e\u0301", "é" * 300, "x" * 256, "y" * 1025, "z" * 70000, "../../etc/passwd",
    "arn:aws:ecs:us-east-1:123456789012:task/fuzz/../../x", "arn:aws:ecs:::", "arn:", "(a+)+$",
    "attribute:x =~ '(a|a)*b'", "attribute:a == b " + "and attribute:a == b " * 150,
    "not(" * 100 + "agentConnected == true" + ")" * 100, "'", '"', "{", "\\", "%s%n%x", "${jndi:x}",
    "\U0001F600" * 10, "task/" * 50, "family:99999999999", "fz-web:0", "fz-web:-1", "fz-web:1e9",
    "default", "FUZZ", "a:b:c", "\n\r\t",
]


def deep_list(depth):
    value = []
    for _ in range(depth):
        value = [value]
    return value


HOSTILE_STRUCTURES = [
    lambda: None, lambda: True, lambda: {}, lambda: [], lambda: [None], lambda: {"": None},
    lambda: deep_list(50), lambda: deep_list(400), lambda: {f"k{i}": i for i in range(2000)},
    lambda: list(range(5000)), lambda: ["x"] * 1000, lambda: [{"name": "x" * 10}] * 200,
]


def hostile_value(rng, like=None):
    """A value meant to break something; most often of the same kind as `like`, the value it replaces."""
    if like is not None and rng.random() < 0.75:
        if isinstance(like, bool):
            return rng.choice([None, 0, 1, "true"])
        if isinstance(like, int):
            return rng.choice(HOSTILE_INTEGERS + HOSTILE_NUMBERS)
        if isinstance(like, float):
            return rng.choice(HOSTILE_NUMBERS + HOSTILE_INTEGERS)
        if isinstance(like, str):
            return rng.choice(HOSTILE_STRINGS)
    pick = rng.random()
    if pick < 0.3:
        return rng.choice(HOSTILE_INTEGERS)
    if pick < 0.4:
        return rng.choice(HOSTILE_NUMBERS)
    if pick < 0.8:
        return rng.choice(HOSTILE_STRINGS)
    return rng.choice(HOSTILE_STRUCTURES)()


# ---------------------------------------------------------------------------------------------------------
# The model

class Model:
    def __init__(self, path):
        model = json.loads(path.read_text())
        self.shapes = model["shapes"]
        self.operations = {name: op.get("input") for name, op in model["operations"].items()}

    def generate(self, rng, shape_name, depth=0):
        """A random value of the shape that respects its type, enums, lengths and ranges."""
        shape = self.shapes[shape_name]
        kind = shape["type"]
        if kind == "structure":
            members = shape.get("members", {})
            required = set(shape.get("required", []))
            result = {}
            for name, member in members.items():
                if name in required or (depth < 3 and rng.random() < 0.25):
                    result[name] = self.generate(rng, member["shape"], depth + 1)
            return result
        if kind == "list":
            low = int(shape.get("min", 0))
            high = min(int(shape.get("max", low + 2)), low + 2)
            if depth >= 4:
                high = low
            return [self.generate(rng, shape["member"]["shape"], depth + 1) for _ in range(rng.randint(low, high))]
        if kind == "map":
            count = rng.randint(0, 0 if depth >= 4 else 2)
            return {self.generate(rng, shape["key"]["shape"], depth + 1) or "k":
                    self.generate(rng, shape["value"]["shape"], depth + 1) for _ in range(count)}
        if kind == "string":
            if "enum" in shape:
                return rng.choice(shape["enum"])
            low = int(shape.get("min", 0))
            high = min(int(shape.get("max", 24)), max(low, 24))
            return "".join(rng.choice(string.ascii_letters + string.digits + "-_") for _ in range(rng.randint(low, high)))
        if kind in ("integer", "long"):
            low = int(shape.get("min", -5))
            high = int(shape.get("max", 100))
            return rng.randint(low, max(low, min(high, low + 200)))
        if kind == "double":
            return rng.uniform(-10, 10)
        if kind == "boolean":
            return rng.random() < 0.5
        if kind == "timestamp":
            return rng.randint(1_500_000_000, 1_900_000_000)
        raise ValueError(f"shape {shape_name}: {kind}")

    def member_shape(self, shape_name, path):
        """The shape at `path` (keys and indices) below `shape_name`, or None once off the model."""
        for step in path:
            shape = self.shapes.get(shape_name)
            if shape is None:
                return None
            if shape["type"] == "structure":
                member = shape.get("members", {}).get(step)
                if member is None:
                    return None
                shape_name = member["shape"]
            elif shape["type"] == "list":
                shape_name = shape["member"]["shape"]
            elif shape["type"] == "map":
                shape_name = shape["value"]["shape"]
            else:
                return None
        return shape_name


# ---------------------------------------------------------------------------------------------------------
# What the run has created, for requests that refer to it

class State:
    def __init__(self, cluster):
        self.lock = threading.Lock()
        self.cluster = cluster
        self.clusters = [cluster, "fuzz-b", "fuzz-c"]
        self.families = ["fz-web", "fz-job", "fz-big"]
        self.services = ["fz-svc-a", "fz-svc-b", "fz-svc-c"]
        self.tasks = []
        self.instances = []

    def note(self, operation, answer):
        with self.lock:
            for task in answer.get("tasks", []) if isinstance(answer.get("tasks"), list) else []:
                arn = task.get("taskArn") if isinstance(task, dict) else None
                if arn and arn not in self.tasks:
                    self.tasks.append(arn)
            self.tasks = self.tasks[-300:]
            instance = answer.get("containerInstance")
            if isinstance(instance, dict) and instance.get("containerInstanceArn"):
                self.instances.append(instance["containerInstanceArn"])
            arns = answer.get("containerInstanceArns")
            if isinstance(arns, list):
                self.instances.extend(a for a in arns if isinstance(a, str))
            self.instances = list(dict.fromkeys(self.instances))[-50:]

    def task(self, rng):
        with self.lock:
            return rng.choice(self.tasks) if self.tasks else "0123456789abcdef0123456789abcdef"

    def instance(self, rng):
        with self.lock:
            return rng.choice(self.instances) if self.instances else "0123456789abcdef0123456789abcdef"


def container(rng, name, image=IMAGE):
    definition = {
        "name": name, "image": image, "memory": rng.choice([16, 32, 64]), "cpu": rng.choice([0, 16, 128]),
        "essential": True, "command": ["sleep", str(rng.choice([1, 3, 8]))],
    }
    if rng.random() < 0.3:
        definition["portMappings"] = [{"containerPort": 80, "hostPort": 0, "protocol": "tcp"}]
    if rng.random() < 0.3:
        definition["environment"] = [{"name": "FUZZ", "value": "1"}]
    if rng.random() < 0.2:
        definition["healthCheck"] = {"command": ["CMD-SHELL", "true"], "interval": 5, "timeout": 2, "retries": 1}
    if rng.random() < 0.2:
        definition["memoryReservation"] = 8
    if rng.random() < 0.1:
        definition["dockerLabels"] = {"fuzz": "yes"}
    return definition


def query(rng):
    return rng.choice([
        "attribute:ecs.os-type == linux", "agentConnected == true", "runningTasksCount < 5",
        "attribute:stage in [prod, dev]", "attribute:ecs.instance-type =~ t2.*", "task:group exists",
        "not(attribute:stage == qa) and registeredAt > 2020-01-01",
    ])


def seeds(rng, state):
    """One realistic request of a served operation: (operation, body)."""
    cluster = rng.choice(state.clusters) if rng.random() < 0.2 else state.cluster
    family = rng.choice(state.families)
    service = rng.choice(state.services)
    task = state.task(rng)
    instance = state.instance(rng)
    choices = [
        ("CreateCluster", lambda: {"clusterName": rng.choice(state.clusters),
                                   "tags": [{"key": "team", "value": "fuzz"}],
                                   "settings": [{"name": "containerInsights", "value": "disabled"}]}),
        ("DescribeClusters", lambda: {"clusters": [cluster, "missing"], "include": ["TAGS", "SETTINGS"]}),
        ("ListClusters", lambda: {"maxResults": rng.randint(1, 100)}),
        ("UpdateClusterSettings", lambda: {"cluster": cluster,
                                           "settings": [{"name": "containerInsights", "value": "enabled"}]}),
        ("RegisterContainerInstance", lambda: {
            "cluster": rng.choice(state.clusters[1:]),
            "totalResources": [
                {"name": "CPU", "type": "INTEGER", "integerValue": 2048},
                {"name": "MEMORY", "type": "INTEGER", "integerValue": 4096},
                {"name": "PORTS", "type": "STRINGSET", "stringSetValue": ["22"]},
                {"name": "PORTS_UDP", "type": "STRINGSET", "stringSetValue": []}],
            "attributes": [{"name": "stage", "value": "prod"}],
            "versionInfo": {"agentVersion": "1.0", "dockerVersion": "20.10"},
            "instanceIdentityDocument": json.dumps({"instanceId": "i-fuzz", "availabilityZone": "us-east-1a"})}),
        ("DescribeContainerInstances", lambda: {"cluster": cluster, "containerInstances": [instance]}),
        ("ListContainerInstances", lambda: {"cluster": cluster, "filter": query(rng),
                                            "status": rng.choice(["ACTIVE", "DRAINING"])}),
        ("UpdateContainerInstancesState", lambda: {"cluster": rng.choice(state.clusters[1:]),
                                                   "containerInstances": [instance],
                                                   "status": rng.choice(["ACTIVE", "DRAINING"])}),
        ("DeregisterContainerInstance", lambda: {"cluster": rng.choice(state.clusters[1:]),
                                                 "containerInstance": instance, "force": True}),
        ("RegisterTaskDefinition", lambda: {
            "family": family, "networkMode": rng.choice(["bridge", "bridge", "host"]),
            "containerDefinitions": [container(rng, "app")] + ([container(rng, "side")] if rng.random() < 0.3 else []),
            **({"cpu": rng.choice(["256", "0.5 vCPU"]), "memory": rng.choice(["128", "0.125 GB"])}
               if rng.random() < 0.6 else {}),
            **({"volumes": [{"name": "scratch"}]} if rng.random() < 0.2 else {}),
            **({"placementConstraints": [{"type": "memberOf", "expression": query(rng)}]}
               if rng.random() < 0.1 else {})}),
        ("DescribeTaskDefinition", lambda: {"taskDefinition": rng.choice([family, family + ":1"]),
                                            "include": ["TAGS"]}),
        ("ListTaskDefinitions", lambda: {"familyPrefix": "fz", "status": "ACTIVE", "sort": "DESC",
                                         "maxResults": rng.randint(1, 100)}),
        ("ListTaskDefinitionFamilies", lambda: {"familyPrefix": "fz"}),
        ("DeregisterTaskDefinition", lambda: {"taskDefinition": f"{family}:{rng.randint(1, 20)}"}),
        ("DeleteTaskDefinitions", lambda: {"taskDefinitions": [f"{family}:{rng.randint(1, 20)}"]}),
        ("RunTask", lambda: {
            "cluster": cluster, "taskDefinition": family, "count": rng.randint(1, 3),
            "startedBy": "fuzz", "group": rng.choice(["fuzz", "family:" + family]),
            "overrides": {"containerOverrides": [{"name": "app", "command": ["sleep", "1"],
                                                  "environment": [{"name": "A", "value": "b"}],
                                                  **({"cpu": 64, "memory": 48} if rng.random() < 0.5 else {})}],
                          **({"cpu": "256", "memory": "512"} if rng.random() < 0.5 else {})},
            **({"placementConstraints": [{"type": rng.choice(["distinctInstance", "memberOf"]),
                                          "expression": query(rng)}]} if rng.random() < 0.3 else {}),
            "placementStrategy": [{"type": "spread", "field": "instanceId"}, {"type": "binpack", "field": "memory"}],
            **({"clientToken": f"fuzz-{rng.randint(0, 50)}"} if rng.random() < 0.3 else {}),
            "tags": [{"key": "fuzz", "value": "1"}]}),
        ("StartTask", lambda: {"cluster": cluster, "taskDefinition": family, "containerInstances": [instance]}),
        ("DescribeTasks", lambda: {"cluster": state.cluster, "tasks": [task], "include": ["TAGS"]}),
        ("ListTasks", lambda: {"cluster": state.cluster, "family": family,
                               "desiredStatus": rng.choice(["RUNNING", "STOPPED"]),
                               "maxResults": rng.randint(1, 100)}),
        ("StopTask", lambda: {"cluster": state.cluster, "task": task, "reason": "fuzz"}),
        ("CreateService", lambda: {
            "cluster": cluster, "serviceName": service, "taskDefinition": family, "desiredCount": rng.randint(0, 2),
            "deploymentConfiguration": {"maximumPercent": 200, "minimumHealthyPercent": 50,
                                        "deploymentCircuitBreaker": {"enable": True, "rollback": True}},
            "placementStrategy": [{"type": "spread", "field": "attribute:ecs.availability-zone"}],
            "clientToken": f"svc-{rng.randint(0, 1000)}"}),
        ("UpdateService", lambda: {"cluster": cluster, "service": service, "desiredCount": rng.randint(0, 2),
                                   "forceNewDeployment": rng.random() < 0.3}),
        ("DeleteService", lambda: {"cluster": cluster, "service": service, "force": True}),
        ("DescribeServices", lambda: {"cluster": cluster, "services": [service], "include": ["TAGS"]}),
        ("ListServices", lambda: {"cluster": cluster, "schedulingStrategy": "REPLICA"}),
        ("SubmitTaskStateChange", lambda: {"cluster": state.cluster, "task": task, "status": "RUNNING",
                                           "containers": [{"containerName": "app", "status": "RUNNING"}],
                                           "pullStartedAt": time.time() - 5}),
        ("SubmitContainerStateChange", lambda: {"cluster": state.cluster, "task": task, "containerName": "app",
                                                "status": "RUNNING", "exitCode": 0}),
        ("PutAttributes", lambda: {"cluster": cluster, "attributes": [{"name": "stage", "value": "qa",
                                                                      "targetType": "container-instance",
                                                                      "targetId": instance}]}),
        ("DeleteAttributes", lambda: {"cluster": cluster, "attributes": [{"name": "stage", "targetId": instance}]}),
        ("ListAttributes", lambda: {"cluster": cluster, "targetType": "container-instance",
                                    "attributeName": "stage"}),
        ("TagResource", lambda: {"resourceArn": f"arn:aws:ecs:us-east-1:123456789012:cluster/{cluster}",
                                 "tags": [{"key": "k", "value": "v"}]}),
        ("UntagResource", lambda: {"resourceArn": f"arn:aws:ecs:us-east-1:123456789012:cluster/{cluster}",
                                   "tagKeys": ["k"]}),
        ("ListTagsForResource", lambda: {"resourceArn": task if task.startswith("arn:") else
                                         f"arn:aws:ecs:us-east-1:123456789012:cluster/{cluster}"}),
        ("DiscoverPollEndpoint", lambda: {"cluster": cluster, "containerInstance": instance}),
    ]
    # What reaches the most behaviour comes up more often.
    weights = {"RunTask": 6, "RegisterTaskDefinition": 3, "CreateService": 2, "UpdateService": 2, "StopTask": 2}
    operation, make = rng.choices(choices, weights=[weights.get(name, 1) for name, _ in choices])[0]
    return operation, make()


def paths(value, prefix=()):
    """Every (path, value) inside a request, the request itself first."""
    yield prefix, value
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from paths(inner, prefix + (key,))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from paths(inner, prefix + (index,))


def mutate(rng, model, operation, body):
    """`body` with one field changed: a value (most often a number or a string) replaced by a hostile one,
    a member removed, or a member the model knows (or one it does not) added with a hostile value."""
    body = copy.deepcopy(body)
    candidates = list(paths(body))
    leaves = [(path, value) for path, value in candidates if path and not isinstance(value, (dict, list))]
    if leaves and rng.random() < 0.75:
        path, current = rng.choice(leaves)
    else:
        path, current = rng.choice(candidates)
    if not path or (isinstance(current, dict) and rng.random() < 0.5):
        shape = model.member_shape(model.operations.get(operation) or "", path)
        members = list(model.shapes.get(shape, {}).get("members", {})) if shape else []
        target = current if isinstance(current, dict) else body
        name = rng.choice(members) if members and rng.random() < 0.85 else rng.choice(["unknownMember", "__type", ""])
        target[name] = hostile_value(rng)
        return body
    parent = body
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if rng.random() < 0.08 and isinstance(parent, dict):
        del parent[last]
    else:
        parent[last] = hostile_value(rng, like=current)
    return body


# ---------------------------------------------------------------------------------------------------------
# Requests

class Request:
    def __init__(self, operation, body, method="POST", path="/", target=None, headers=None, raw=None,
                 signature=None, ascii=True):
        self.operation = operation
        self.body = body
        self.method = method
        self.path = path
        self.target = target if target is not None else (f"{TARGET_PREFIX}.{operation}" if operation else None)
        self.headers = headers or {}
        self.raw = raw
        self.signature = signature  # a bad-signature variant, for signed targets
        # Non-ASCII text escaped (\u00e9) or sent as UTF-8; a lone surrogate then makes invalid UTF-8.
        self.ascii = ascii

    def payload(self):
        if self.raw is not None:
            return self.raw
        return json.dumps(self.body, ensure_ascii=self.ascii).encode("utf-8", "surrogatepass")

    def label(self):
        return self.operation or f"{self.method} {self.path[:40]}"


def garbage(rng, state):
    kind = rng.randrange(16)
    cluster_body = {"cluster": state.cluster}
    if kind == 0:
        return Request("ListClusters", None, raw=bytes(rng.randrange(256) for _ in range(rng.randint(1, 300))))
    if kind == 1:
        return Request("RunTask", None, raw=rng.choice([b"{", b"[]", b"null", b"1", b'"x"', b"{}}", b'{"a":}',
                                                        b'{"taskDefinition":"fz-web"', b"\xff\xfe{}", b"{\x00}"]))
    if kind == 2:
        depth = rng.choice([1000, 100_000])
        return Request("DescribeClusters", None, raw=b'{"clusters":' + b"[" * depth + b"]" * depth + b"}")
    if kind == 3:
        depth = rng.choice([1000, 50_000])
        return Request("CreateCluster", None, raw=b'{"a":' * depth + b"1" + b"}" * depth)
    if kind == 4:
        size = rng.choice([4 * MIB + 10, 6 * MIB])
        return Request("RegisterTaskDefinition", None, raw=b'{"family":"' + b"a" * size + b'"}')
    if kind == 5:
        return Request("ListClusters", {}, target=rng.choice(["", "Foo.Bar", f"{TARGET_PREFIX}.", "x" * 10_000,
                                                             f"{TARGET_PREFIX}.ListClusters.Extra",
                                                             f"{TARGET_PREFIX}.listclusters", "\u00e9"]))
    if kind == 6:
        return Request(None, {}, method=rng.choice(["GET", "PUT", "DELETE", "PATCH", "OPTIONS"]),
                       path=rng.choice(["/", "/x", "/v1/../../etc", "/?a=b", "/" + "x" * 5000, "//", "/metrics"]))
    if kind == 7:
        return Request("ListClusters", {}, headers={"Content-Type": rng.choice(["text/plain", "", "application/xml"])})
    if kind == 8:
        # A huge but valid-looking list and map, within the body limit.
        return Request("DescribeTasks", {"cluster": state.cluster, "tasks": ["t" * 100] * 20_000})
    if kind == 9:
        return Request("PutAttributes", {"attributes": [{"name": "a" * 129, "targetId": "x"}] * 5000})
    if kind == 10:
        return Request("ListContainerInstances", {**cluster_body, "filter": rng.choice(HOSTILE_STRINGS[30:40])})
    if kind == 11:
        return Request("RunTask", {**cluster_body, "taskDefinition": "fz-web",
                                   "placementConstraints": [{"type": "memberOf",
                                                             "expression": rng.choice([
                                                                 "attribute:a =~ '(a|a)*b'",
                                                                 "attribute:a =~ '" + "(" * 40 + "a" + ")" * 40 + "'",
                                                                 "attribute:a =~ 'a{1000}{1000}'",
                                                                 "(" * 3000 + "a == b" + ")" * 3000])}]})
    if kind == 12:
        return Request("ListClusters", {}, signature=rng.choice(["unknown-key", "wrong-secret", "garbled",
                                                                 "no-date", "old-date", "unsigned"]))
    if kind == 13:
        return Request("ListClusters", None, raw="{\"maxResults\": 5}".encode() + b" " * rng.randint(0, 3000))
    if kind == 14:
        return Request("CreateCluster", {"clusterName": "fuzz-" + "\ud800" + "x"})
    return Request("ListTasks", {**cluster_body, "nextToken": rng.choice(["", "x", "YmVydGg6LTE=", "YmVydGg6OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5",
                                                                          "=" * 100, "berth:5"])})


def make_request(rng, model, state):
    """55% mutated realistic requests, 17% unmutated ones (they build the state the others refer to), 13%
    valid-shaped requests of any operation of the model, 15% garbage."""
    pick = rng.random()
    if pick < 0.55:
        operation, body = seeds(rng, state)
        return Request(operation, mutate(rng, model, operation, body), ascii=rng.random() < 0.5)
    if pick < 0.72:
        operation, body = seeds(rng, state)
        return Request(operation, body)
    if pick < 0.85:
        operation = rng.choice(sorted(o for o, i in model.operations.items() if i))
        return Request(operation, model.generate(rng, model.operations[operation]))
    return garbage(rng, state)


# ---------------------------------------------------------------------------------------------------------
# The client

class Client:
    def __init__(self, port, signed):
        self.port = port
        self.signed = signed
        self.connection = None

    def send(self, request):
        body = request.payload()
        headers = {"Content-Type": "application/x-amz-json-1.1", **request.headers}
        if request.target is not None:
            headers["X-Amz-Target"] = request.target
        if self.signed and request.signature != "unsigned":
            headers = self.sign(request, body, headers)
        if headers.get("Content-Type") == "":
            del headers["Content-Type"]
        for attempt in range(2):
            try:
                if self.connection is None:
                    self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                started = time.monotonic()
                self.connection.request(request.method, request.path, body=body, headers=headers)
                response = self.connection.getresponse()
                data = response.read()
                elapsed = time.monotonic() - started
                if response.getheader("Connection", "").lower() == "close":
                    self.close()
                return response.status, data, elapsed
            except (ConnectionError, http.client.HTTPException, socket.timeout, OSError) as error:
                self.close()
                if attempt == 1:
                    return None, repr(error).encode(), 0.0
        return None, b"", 0.0

    def sign(self, request, body, headers):
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        key, secret = KEY_ID, SECRET
        if request.signature == "unknown-key":
            key = "AKIDUNKNOWN"
        if request.signature == "wrong-secret":
            secret = "not-the-secret"
        aws = AWSRequest(method=request.method, url=f"http://127.0.0.1:{self.port}{request.path}", data=body,
                         headers=headers)
        try:
            SigV4Auth(Credentials(key, secret), "ecs", "us-east-1").add_auth(aws)
        except Exception:
            return headers
        signed = dict(aws.headers.items())
        if request.signature == "garbled":
            signed["Authorization"] = signed.get("Authorization", "")[:-10] + "Signature=zz"
        if request.signature == "no-date":
            signed.pop("X-Amz-Date", None)
        if request.signature == "old-date":
            signed["X-Amz-Date"] = "20200101T000000Z"
        return signed

    def close(self):
        if self.connection is not None:
            try:
                self.connection.close()
            except Exception:
                pass
        self.connection = None


# ---------------------------------------------------------------------------------------------------------
# The daemon under test

HANDED_OUT = set()


def free_port():
    """A port below the kernel's ephemeral range, from which the agent hands out dynamic host ports."""
    try:
        low = int(pathlib.Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    candidates = [port for port in range(20000, min(30000, low)) if port not in HANDED_OUT]
    random.SystemRandom().shuffle(candidates)
    for port in candidates:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        HANDED_OUT.add(port)
        return port
    raise SystemExit("no free port below the ephemeral range")


def rss_bytes(pid):
    try:
        for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def host_memory_mib():
    for line in pathlib.Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    return 0


class Daemon:
    def __init__(self, berth, mode, cluster, directory):
        self.mode = mode
        self.cluster = cluster
        self.directory = pathlib.Path(directory)
        self.port = free_port()
        self.log = self.directory / "berth.log"
        lines = [
            "AWS_DEFAULT_REGION=us-east-1", f"ECS_CLUSTER={cluster}", f"ECS_DATADIR={self.directory}/data",
            f"BERTH_API_LISTEN=127.0.0.1:{self.port}", "ECS_LOGLEVEL=info",
        ]
        if mode == "control-plane":
            credentials = self.directory / "credentials"
            credentials.write_text(f"[fuzz]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n")
            lines.append(f"BERTH_API_CREDENTIALS_FILE={credentials}")
        else:
            # Room for about 30 small tasks at once, so that dockerd's load stays bounded.
            reserved = max(0, host_memory_mib() - 2048)
            lines += [
                f"BERTH_INTROSPECTION_LISTEN=127.0.0.1:{free_port()}", f"BERTH_TASK_METADATA_PORT={free_port()}",
                f"ECS_RESERVED_MEMORY={reserved}", "ECS_IMAGE_PULL_BEHAVIOR=prefer-cached",
                "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION=10s", "ECS_CONTAINER_STOP_TIMEOUT=2s",
            ]
        config = self.directory / "ecs.config"
        config.write_text("\n".join(lines) + "\n")
        command = "control-plane" if mode == "control-plane" else "agent"
        self.process = subprocess.Popen([berth, command, "--config", str(config)], stdout=self.log.open("ab"),
                                        stderr=subprocess.STDOUT, env={"PATH": "/usr/bin:/bin"})

    def wait_ready(self, client, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"berth {self.mode} exited {self.process.returncode}:\n{self.tail()}")
            if self.mode == "control-plane":
                status, _, _ = client.send(Request("ListClusters", {}))
                if status == 200:
                    return
            else:
                status, data, _ = client.send(Request("ListContainerInstances", {"cluster": self.cluster}))
                if status == 200 and json.loads(data).get("containerInstanceArns"):
                    return
            time.sleep(0.2)
        raise SystemExit(f"berth {self.mode} was not ready within {timeout} s:\n{self.tail()}")

    def tail(self, size=4000):
        try:
            return self.log.read_text(errors="replace")[-size:]
        except OSError:
            return ""

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def remove_containers(cluster):
    """Removes the run's containers; returns a problem when dockerd cannot (a container wedged in it)."""
    if shutil.which("docker") is None:
        return None
    try:
        listed = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=com.amazonaws.ecs.cluster={cluster}"],
                                capture_output=True, text=True, timeout=60)
        ids = listed.stdout.split()
        if ids:
            subprocess.run(["docker", "rm", "-f", "-v", *ids], capture_output=True, timeout=120)
    except subprocess.TimeoutExpired as error:
        return f"dockerd did not answer `{' '.join(error.cmd[:3])}` within {error.timeout} s: a container is wedged"
    return None


# ---------------------------------------------------------------------------------------------------------
# A run

class Findings:
    def __init__(self):
        self.lock = threading.Lock()
        self.statuses = {}
        self.by_operation = {}
        self.problems = []
        self.slowest = (0.0, "")

    def record(self, request, status, data, elapsed, index):
        label = request.label()
        with self.lock:
            self.statuses[status] = self.statuses.get(status, 0) + 1
            key = (label, status)
            self.by_operation[key] = self.by_operation.get(key, 0) + 1
            if elapsed > self.slowest[0]:
                self.slowest = (elapsed, f"#{index} {label}")
            problem = None
            if status is None:
                problem = f"no answer: {data[:200]!r}"
            elif status >= 500:
                problem = f"{status}: {data[:300]!r}"
            elif status >= 400:
                try:
                    answer = json.loads(data)
                    if not (isinstance(answer, dict) and isinstance(answer.get("__type"), str)
                            and isinstance(answer.get("message"), str)):
                        problem = f"{status} without __type and message: {data[:300]!r}"
                except ValueError:
                    problem = f"{status} that is not JSON: {data[:300]!r}"
            if elapsed > SLOW_SECONDS:
                problem = f"answered after {elapsed:.1f} s"
            if problem and len(self.problems) < 50:
                self.problems.append(f"request #{index} {label}: {problem}")
            return problem


def settle_tasks(client, state, cluster, timeout=180):
    """Waits until every task the run placed on the agent has left PENDING (run, or stopped with a reason);
    says how they ended."""
    deadline = time.monotonic() + timeout
    while True:
        with state.lock:
            arns = [arn for arn in state.tasks if f":task/{cluster}/" in arn]
        statuses = {}
        stuck = []
        for start in range(0, len(arns), 100):
            status, data, _ = client.send(Request("DescribeTasks", {"cluster": cluster, "tasks": arns[start:start + 100]}))
            if status != 200:
                continue
            for task in json.loads(data).get("tasks", []):
                statuses[task.get("lastStatus")] = statuses.get(task.get("lastStatus"), 0) + 1
                if task.get("lastStatus") == "PENDING":
                    stuck.append(task)
        pending = statuses.get("PENDING", 0)
        if pending == 0 or time.monotonic() > deadline:
            summary = ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items(), key=str))
            return f"tasks placed on the agent (last 300 known): {summary or 'none'}" + (
                f"; {pending} still PENDING after {timeout} s: {json.dumps(stuck[:2])[:3000]}" if pending else "")
        time.sleep(1)


def run(mode, berth, requests, clients, seed, model, keep=False):
    cluster = f"fuzz-{mode.split('-')[0]}-{os.getpid()}"
    directory = tempfile.mkdtemp(prefix=f"berth-fuzz-{mode}-")
    daemon = Daemon(berth, mode, cluster, directory)
    signed = mode == "control-plane"
    findings = Findings()
    state = State(cluster)
    started = time.monotonic()
    rss_samples = []
    ok = False
    try:
        daemon.wait_ready(Client(daemon.port, signed))
        if mode == "control-plane":
            Client(daemon.port, signed).send(Request("CreateCluster", {"clusterName": cluster}))
        for name in state.clusters:
            Client(daemon.port, signed).send(Request("CreateCluster", {"clusterName": name}))
        status, data, _ = Client(daemon.port, signed).send(Request("ListContainerInstances", {"cluster": cluster}))
        if status == 200:
            state.note("ListContainerInstances", json.loads(data))
        rss_samples.append((0, rss_bytes(daemon.process.pid)))
        counter = iter(range(requests))
        counter_lock = threading.Lock()
        sample_every = max(1, requests // 20)

        def worker():
            client = Client(daemon.port, signed)
            while True:
                with counter_lock:
                    index = next(counter, None)
                if index is None or daemon.process.poll() is not None:
                    break
                rng = random.Random(seed * 1_000_003 + index)
                request = make_request(rng, model, state)
                status, data, elapsed = client.send(request)
                findings.record(request, status, data, elapsed, index)
                if status == 200:
                    try:
                        state.note(request.operation, json.loads(data))
                    except ValueError:
                        pass
                if index % sample_every == 0:
                    rss_samples.append((index, rss_bytes(daemon.process.pid)))
            client.close()

        threads = [threading.Thread(target=worker) for _ in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        duration = time.monotonic() - started
        rss_samples.sort()
        rss_samples.append((requests, rss_bytes(daemon.process.pid)))

        tasks_note = settle_tasks(Client(daemon.port, signed), state, cluster) if mode == "agent" else None
        if tasks_note and "still PENDING" in tasks_note:
            findings.problems.append(tasks_note)
        alive = daemon.process.poll() is None
        status, data, elapsed = Client(daemon.port, signed).send(Request("ListClusters", {}))
        answers = status == 200 and elapsed < SLOW_SECONDS
        # Settles: what the second half of the run added is small next to the process's size, and no
        # more than the first half added after warm-up (growth that keeps pace with requests is a leak).
        values = [rss for _, rss in rss_samples if rss]
        settled, rss_note = True, "no samples"
        if len(values) >= 4:
            first, quarter, half, last = values[0], values[len(values) // 4], values[len(values) // 2], values[-1]
            growth_second_half = last - half
            growth_first_half = half - quarter
            settled = growth_second_half <= max(growth_first_half, 0) + 16 * MIB or growth_second_half <= 0.1 * half
            rss_note = (f"RSS {first / MIB:.0f} MiB at start, {quarter / MIB:.0f} after a quarter, "
                        f"{half / MIB:.0f} at half, {last / MIB:.0f} at the end")
        ok = alive and answers and settled and not findings.problems
        print(f"\n== {mode}: {requests} requests from {clients} clients in {duration:.1f} s, seed {seed}")
        print("   statuses: " + ", ".join(f"{k}: {v}" for k, v in sorted(findings.statuses.items(), key=str)))
        print(f"   slowest answer: {findings.slowest[0] * 1000:.0f} ms ({findings.slowest[1]})")
        print(f"   {rss_note}; settled: {settled}")
        print(f"   process alive: {alive}; answers afterwards: {answers}")
        if tasks_note:
            print(f"   {tasks_note}")
        for problem in findings.problems:
            print(f"   PROBLEM {problem}")
        if not ok:
            print(f"   log tail:\n{daemon.tail()}")
    finally:
        daemon.stop()
        if mode == "agent":
            problem = remove_containers(cluster)
            if problem:
                print(f"   PROBLEM {problem}")
                ok = False
        if keep:
            print(f"   kept {directory}")
        else:
            shutil.rmtree(directory, ignore_errors=True)
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=["control-plane", "agent", "both"], default="both")
    parser.add_argument("--requests", type=int, default=10_000, help="requests per mode")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--berth", default=str(ROOT / ".build" / "debug" / "berth"))
    parser.add_argument("--keep", action="store_true", help="keep each run's directory (configuration, data, log)")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 2**31)
    print(f"ecs_fuzz: seed {seed} (replay with --seed {seed})", flush=True)
    model = Model(MODEL)
    modes = ["control-plane", "agent"] if args.mode == "both" else [args.mode]
    results = [run(mode, args.berth, args.requests, args.clients, seed, model, args.keep) for mode in modes]
    if not all(results):
        print(f"ecs_fuzz: FAILED (seed {seed})")
        return 1
    print(f"ecs_fuzz: clean (seed {seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
