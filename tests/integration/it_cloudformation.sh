#!/usr/bin/env bash
# The CloudFormation stack (deploy/cloudformation/kvs-infer.yaml) against the
# current CloudFormation resource specification (npm @aws-cdk/aws-service-spec,
# the data AWS CDK generates its L1 classes from; cfn-lint's bundled spec is
# years old and rejects on-demand Kinesis streams): every type and property
# known, required ones present, shapes right, references resolvable. The
# checker is shown to catch an unknown property, a missing required one and
# an unknown type. Then the stack against the rest of the project: the
# parameters the issue asks for, ARM64 accepted, the container as the ECS task
# definition and the image have it, the events table as the DynamoDB
# publisher writes it, and the `aws cloudformation deploy` line of
# docs/deployment.md naming only parameters the template has (all the
# required ones) and the IAM capability. The task role's actions:
# it_iam_actions.sh.
. "$(dirname "$0")/lib.sh"
SRC="$KVS_SOURCE_DIR"
T="$SRC/deploy/cloudformation/kvs-infer.yaml"
[ -d "$NODE_DIR/node_modules/@aws-cdk/aws-service-spec" ] || need "npm @aws-cdk/aws-service-spec missing: run scripts/setup.sh"
$PY -c 'import yaml' 2>/dev/null || need "python3-yaml is missing"
$PY "$SRC/tests/integration/cfn_yaml.py" "$T" >"$WORK/t.json" || fail "the template is not YAML CloudFormation reads"
node "$NODE_DIR/cfn_check.js" "$WORK/t.json" >"$WORK/check" || fail "specification check: $(cat "$WORK/check")"
note "$(cat "$WORK/check")"

# The checker fails on what it must catch.
$PY - "$WORK" <<'PYEOF'
import copy, json, sys
w = sys.argv[1]
t = json.load(open(w + "/t.json"))
def bad(name, f):
    x = copy.deepcopy(t); f(x); json.dump(x, open(f"{w}/bad-{name}.json", "w"))
bad("property", lambda x: x["Resources"]["EventsTable"]["Properties"].update(TimeToLive={"AttributeName": "expires_at"}))
bad("required", lambda x: x["Resources"]["EventsTable"]["Properties"]["TimeToLiveSpecification"].pop("Enabled"))
bad("type", lambda x: x["Resources"]["Cluster"].update(Type="AWS::ECS::Clusters"))
bad("getatt", lambda x: x["Resources"]["TaskDefinition"]["Properties"].update(TaskRoleArn={"Fn::GetAtt": ["TaskRole", "RoleArn"]}))
PYEOF
for b in property required type getatt; do
  if node "$NODE_DIR/cfn_check.js" "$WORK/bad-$b.json" >"$WORK/bad-$b.out"; then fail "the checker accepted a template with a bad $b"; fi
  note "bad $b: $(head -1 "$WORK/bad-$b.out")"
done

$PY - "$WORK/t.json" "$SRC/deploy/ecs/task-fargate-cpu.json" "$SRC/Dockerfile" "$SRC/docs/deployment.md" "$SRC/src/publish/dynamodb.c" "$SRC/src/cluster/lease.c" <<'PYEOF' || fail "the stack against the project"
import json, re, shlex, sys
t = json.load(open(sys.argv[1])); ecs = json.load(open(sys.argv[2])); dockerfile = open(sys.argv[3]).read()
docs = open(sys.argv[4]).read(); ddb_c = open(sys.argv[5]).read(); lease_c = open(sys.argv[6]).read()
P, R = t["Parameters"], t["Resources"]
want = {"ImageUri", "Subnets", "SecurityGroup", "DesiredCount", "CpuArchitecture", "ConfigFileSystemId",
        "StreamName", "BucketName", "EventsTableName", "LeaseTableName", "KmsKeyArn"}
assert want <= P.keys(), f"parameters missing: {want - P.keys()}"
assert {"X86_64", "ARM64"} <= set(P["CpuArchitecture"]["AllowedValues"]), "CpuArchitecture"
for name in ("StreamName", "BucketName", "EventsTableName", "LeaseTableName"):
    assert P[name]["Default"] == "create", f"{name}: 'create' is not the default"
types = {r["Type"] for r in R.values()}
for need in ("AWS::Kinesis::Stream", "AWS::S3::Bucket", "AWS::DynamoDB::Table", "AWS::IAM::Role", "AWS::Logs::LogGroup",
             "AWS::ECS::Cluster", "AWS::ECS::Service", "AWS::ECS::TaskDefinition", "AWS::CloudWatch::Alarm"):
    assert need in types, f"no {need}"
assert R["EventStream"]["Properties"]["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
b = R["SnapshotBucket"]["Properties"]
assert all(b["PublicAccessBlockConfiguration"].values()) and len(b["PublicAccessBlockConfiguration"]) == 4, "public access"
assert b["BucketEncryption"] and b["LifecycleConfiguration"]["Rules"], "SSE, lifecycle"
# The events table keyed and indexed by the attributes the DynamoDB publisher writes.
e = R["EventsTable"]["Properties"]
assert '"expires_at"' in ddb_c and "attribute_not_exists(event_id)" in ddb_c, "dynamodb.c: the key or TTL attribute changed"
assert e["KeySchema"] == [{"AttributeName": "event_id", "KeyType": "HASH"}]
assert e["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
gsi = {(k["AttributeName"], k["KeyType"]) for g in e["GlobalSecondaryIndexes"] for k in g["KeySchema"]}
assert gsi == {("camera_name", "HASH"), ("detected_at", "RANGE")}, gsi
lk = R["LeaseTable"]["Properties"]["KeySchema"][0]["AttributeName"]
assert f'"AttributeName", "{lk}"' in lease_c, f"the lease table key {lk} is not the one lease.c creates"
# The container as deploy/ecs and the image have it, plus the read-only root.
td = R["TaskDefinition"]["Properties"]; c = td["ContainerDefinitions"][0]; ec = ecs["containerDefinitions"][0]
assert c["User"] == ec["user"] and c["User"].split(":")[0] == re.findall(r"^USER (\d+)", dockerfile, re.M)[-1]
assert c["ReadonlyRootFilesystem"] is True and ec["readonlyRootFilesystem"] is True, "read-only root (template and deploy/ecs)"
assert c["PortMappings"][0]["ContainerPort"] == ec["portMappings"][0]["containerPort"]
assert c["HealthCheck"]["Command"] == ec["healthCheck"]["command"]
assert {m["ContainerPath"] for m in c["MountPoints"]} == {m["containerPath"] for m in ec["mountPoints"]}
assert td["RuntimePlatform"]["CpuArchitecture"] == {"Ref": "CpuArchitecture"}
env = {x["Name"] for x in c["Environment"]}
assert {"KINESIS_STREAM", "S3_BUCKET", "EVENTS_TABLE", "LEASE_TABLE", "AWS_REGION"} <= env, env
# The deploy command of the docs.
m = re.search(r"```sh\n(aws cloudformation deploy .*?)```", docs, re.S)
assert m, "docs/deployment.md has no aws cloudformation deploy block"
words = shlex.split(m.group(1).replace("\\\n", " "), comments=True)
assert words[words.index("--template-file") + 1] == "deploy/cloudformation/kvs-infer.yaml"
caps = words[words.index("--capabilities") + 1:]
assert "CAPABILITY_IAM" in caps or "CAPABILITY_NAMED_IAM" in caps, "the stack makes roles: --capabilities CAPABILITY_IAM"
i = words.index("--parameter-overrides") + 1
given = {}
while i < len(words) and not words[i].startswith("--"):
    k, v = words[i].split("=", 1); given[k] = v; i += 1
assert given.keys() <= P.keys(), f"docs name unknown parameters {given.keys() - P.keys()}"
required = {k for k, p in P.items() if "Default" not in p}
assert required <= given.keys(), f"docs omit required parameters {required - given.keys()}"
for k, v in given.items():
    allowed = P[k].get("AllowedValues")
    assert not allowed or v in map(str, allowed), f"{k}={v} not allowed"
print(f"-- stack: {len(R)} resources; docs deploy line sets {', '.join(sorted(given))}", file=sys.stderr)
PYEOF
echo PASS
