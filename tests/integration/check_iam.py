#!/usr/bin/env python3
"""The IAM permissions the project documents and ships, against the actions
kvs-infer was seen to need.

  check_iam.py RECORD SRC [--policy FILE]...

RECORD: the JSON lines tests/standins/actions_record.js wrote while the real
binary ran against the stand-ins (one line per correctly signed request:
the action it needs). SRC: the source tree. Checked:
  - the policy block of docs/deployment.md ("## AWS permissions") and
    deploy/iam/kvs-infer-policy.json (the same document) grant exactly the
    recorded actions plus the KMS actions below: nothing missing, nothing extra;
  - every Resource of a statement is an ARN of its actions' service;
  - every "service:Action" written anywhere in README.md, docs/ and deploy/
    is one of those (no stale action named in prose, templates or manifests);
  - the CloudFormation template's task role (deploy/cloudformation/), when
    present, grants exactly the same set.
--policy FILE / --template FILE check that policy or template instead of
the shipped ones (how the test shows that a removed or added action is caught).

KMS: a customer managed key on a resource makes AWS check the caller's KMS
permission on each call that reads or writes it. The stand-ins see SSE-KMS
on S3 (recorded as such); for streams and topics the key is a property of the
resource, not of the request, so these calls add the KMS action AWS documents
for them (Kinesis and KVS server-side encryption, SNS encrypted topics)."""
import argparse
import glob
import json
import os
import re
import sys

KMS_IF_ENCRYPTED = {
    "kinesis:PutRecords": {"kms:GenerateDataKey"},
    "kinesisvideo:GetMedia": {"kms:Decrypt"},
    "kinesisvideo:GetHLSStreamingSessionURL": {"kms:Decrypt"},
    "sns:Publish": {"kms:GenerateDataKey", "kms:Decrypt"},
}
SERVICES = ("kinesisvideo", "kinesis", "s3", "dynamodb", "sns", "events", "kms", "sts", "sqs", "logs",
            "cloudwatch", "ecr", "iam", "ec2", "secretsmanager", "ssm", "lambda", "firehose")
ACTION_RE = re.compile(r"\b(" + "|".join(SERVICES) + r"):([A-Z][A-Za-z0-9]+)\b")


def derived(record):
    seen = {}
    for line in open(record):
        r = json.loads(line)
        seen.setdefault(r["action"], set()).add(r.get("resource", ""))
    if not seen:
        sys.exit(f"{record}: no actions recorded")
    bad = [a for a in seen if "?" in a]
    if bad:
        sys.exit(f"requests the recorder could not name: {bad}")
    need = set(seen)
    for a in list(need):
        need |= KMS_IF_ENCRYPTED.get(a, set())
    return need, seen


def statements_of(policy):
    st = policy["Statement"]
    return st if isinstance(st, list) else [st]


def listify(v):
    return v if isinstance(v, list) else [v]


def check_policy(name, policy, need):
    got, errors = set(), []
    for s in statements_of(policy):
        if s.get("Effect") != "Allow":
            continue
        acts = set(listify(s["Action"]))
        got |= acts
        services = {a.split(":")[0] for a in acts}
        for res in listify(s["Resource"]):
            svc = res.split(":")[2] if res.startswith("arn:") else None
            if len(services) != 1 or svc not in services:
                errors.append(f"{name}: statement {s.get('Sid')} mixes {sorted(acts)} with resource {res}")
    if any("*" in a for a in got):
        errors.append(f"{name}: wildcard actions {sorted(a for a in got if '*' in a)}")
    if need - got:
        errors.append(f"{name}: missing {sorted(need - got)}")
    if got - need:
        errors.append(f"{name}: grants actions kvs-infer never needed: {sorted(got - need)}")
    return errors


def doc_policy(path):
    text = open(path).read()
    m = re.search(r"## AWS permissions.*?```json\n(.*?)```", text, re.S)
    if not m:
        sys.exit(f"{path}: no ```json block under ## AWS permissions")
    return json.loads(m.group(1))


def cfn_actions(template):
    """Every action in the IAM policies attached to the template's task role
    (both branches of each Fn::If: a condition may enable a statement)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import cfn_yaml

    doc = cfn_yaml.load(template)
    res = doc["Resources"]
    roles = {td["Properties"]["TaskRoleArn"]["Fn::GetAtt"][0] for td in res.values()
             if td["Type"] == "AWS::ECS::TaskDefinition"}
    if len(roles) != 1:
        sys.exit(f"{template}: expected one task role (TaskRoleArn: !GetAtt ROLE.Arn), found {roles}")
    role = roles.pop()
    acts = set()

    def walk(node):
        if isinstance(node, dict):
            if "Action" in node and ("Effect" in node):
                if node.get("Resource") == "*":
                    sys.exit(f"{template}: statement {node.get('Sid')} of {role} on Resource *")
                for a in listify(node["Action"]):
                    acts.add(a)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    props = res[role]["Properties"]
    if props.get("ManagedPolicyArns"):
        sys.exit(f"{template}: {role} has managed policies (their actions cannot be checked)")
    walk(props.get("Policies", []))
    for r in res.values():  # policies attached to the role from outside
        if r["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy") and {"Ref": role} in r["Properties"].get("Roles", []):
            walk(r["Properties"]["PolicyDocument"])
    return acts


def check_template(t, need, src):
    got, name = cfn_actions(t), os.path.relpath(t, src)
    errors = []
    if need - got:
        errors.append(f"{name}: the task role lacks {sorted(need - got)}")
    if got - need:
        errors.append(f"{name}: the task role grants {sorted(got - need)}, never needed")
    return errors


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("record")
    ap.add_argument("src")
    ap.add_argument("--policy", action="append")
    ap.add_argument("--template", action="append")
    a = ap.parse_args()
    need, seen = derived(a.record)
    errors = []
    if a.policy or a.template:
        for p in a.policy or []:
            errors += check_policy(p, json.load(open(p)), need)
        for t in a.template or []:
            errors += check_template(t, need, a.src)
    else:
        doc = doc_policy(os.path.join(a.src, "docs/deployment.md"))
        errors += check_policy("docs/deployment.md", doc, need)
        shipped = os.path.join(a.src, "deploy/iam/kvs-infer-policy.json")
        if json.load(open(shipped)) != doc:
            errors.append("deploy/iam/kvs-infer-policy.json differs from the policy in docs/deployment.md")
        files = [os.path.join(a.src, "README.md")] + glob.glob(os.path.join(a.src, "docs/*.md"))
        files += [f for f in glob.glob(os.path.join(a.src, "deploy/**/*"), recursive=True) if os.path.isfile(f)]
        for f in files:
            for svc, act in set(ACTION_RE.findall(open(f, errors="replace").read())):
                if f"{svc}:{act}" not in need and svc != "sts":
                    errors.append(f"{os.path.relpath(f, a.src)} names {svc}:{act}, which kvs-infer never needs")
        templates = glob.glob(os.path.join(a.src, "deploy/cloudformation/*.yaml"))
        if not templates:
            errors.append("no CloudFormation template in deploy/cloudformation/")
        for t in templates:
            errors += check_template(t, need, a.src)
    if errors:
        sys.exit("\n".join(errors))
    print("-- derived from signed requests: " + ", ".join(
        f"{k} ({len(v)} resource{'s' if len(v) != 1 else ''})" for k, v in sorted(seen.items())), file=sys.stderr)
    print("-- the policies grant exactly: " + ", ".join(sorted(need)), file=sys.stderr)


main()
