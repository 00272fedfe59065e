#!/usr/bin/env bash
# The deployment files, checked against the binary itself: the alert rules
# (promtool check + unit tests), the dashboard's and the rules' metric and
# label names against a real run's /metrics, the Kubernetes base and GPU
# overlay as rendered by kustomize (port, probe paths served by the real
# binary, config path, mounts, environment, user), the ECS task definitions
# against the ECS API model (botocore) and the image, the example configs
# through --validate, and the IAM policy of docs/deployment.md against the APIs the code calls.
. "$(dirname "$0")/lib.sh"
MODEL=$(find_model)
MEDIA=$(find_media)
SRC="$KVS_SOURCE_DIR"
for tool in promtool kubectl; do command -v $tool >/dev/null || fail "$tool is missing: run scripts/setup.sh"; done
$PY -c 'import yaml, botocore' 2>/dev/null || fail "python3-yaml / python3-botocore missing: run scripts/setup.sh"
MODELS=$(dirname "$(dirname "$MODEL")")

# ---- alert rules
promtool check rules "$SRC/deploy/prometheus/alerts.yml" >"$WORK/promtool" 2>&1 || fail "rules: $(cat "$WORK/promtool")"
(cd "$SRC/deploy/prometheus" && promtool test rules alerts_test.yml) >"$WORK/promtool" 2>&1 || fail "rule tests: $(cat "$WORK/promtool")"

# ---- a real scrape, with events and deliveries
METRICS_PORT=$(free_port)
cat >"$WORK/run.yaml" <<YAML
metrics: {listen: "127.0.0.1:$METRICS_PORT"}
spool: {dir: "$WORK/spool"}
cameras:
  - name: cam
    source: {mode: url, url: "$MEDIA", realtime: false}
    fps_limit: 1
    publishers: {local_dir: "$WORK/out"}
    detectors: [{type: yolo, params: {model: "$MODEL", classes: [person]}}]
  - name: gone                   # a missing file: a counted stream error
    source: {mode: url, url: "$WORK/no-such-file.mp4"}
    detectors: [{type: yolo, params: {model: "$MODEL", classes: [person]}}]
YAML
run_bg "$WORK/run.yaml" "$WORK/run.log"
wait_for 60 bash -c "[ -s '$WORK/out/events.jsonl' ]" || fail "no events in the scrape run"
http_get "http://127.0.0.1:$METRICS_PORT/metrics" >"$WORK/metrics.txt" || fail "no /metrics"
kill -TERM "$KVS_PID"; wait "$KVS_PID" || fail "scrape run exit $?"
# the standard process families and the build, linted by Prometheus's own tool
promtool check metrics <"$WORK/metrics.txt" >"$WORK/promtool" 2>&1 || fail "promtool check metrics: $(cat "$WORK/promtool")"
for f in process_cpu_seconds_total process_resident_memory_bytes process_virtual_memory_bytes \
         process_start_time_seconds process_open_fds process_max_fds; do
  grep -Eq "^$f [0-9.]+$" "$WORK/metrics.txt" || fail "$f missing from the scrape"
done
grep -Eq '^kvs_infer_build_info\{version="[^"]+",revision="[^"]+",onnxruntime="[0-9.]+",ffmpeg="[^"]+"\} 1$' \
  "$WORK/metrics.txt" || fail "kvs_infer_build_info: $(grep build_info "$WORK/metrics.txt")"
$PY - "$WORK/metrics.txt" "$SRC/deploy/prometheus/alerts.yml" "$SRC/deploy/grafana/kvs-infer.json" <<'PYEOF' || fail "metric names"
import json, re, sys, yaml
types, labels = {}, {}
for line in open(sys.argv[1]):
    if line.startswith("# TYPE "):
        _, _, name, kind = line.split()
        types[name] = kind
    elif line.startswith(("kvs_infer_", "process_")):
        m = re.match(r"((?:kvs_infer|process)_\w+?)(_bucket|_sum|_count)?(\{[^}]*\})? ", line)
        fam = m.group(1) if m.group(1) in types else m.group(1) + (m.group(2) or "")
        labels.setdefault(fam, set()).update(re.findall(r'(\w+)="', m.group(3) or ""))
exprs = [r["expr"] for g in yaml.safe_load(open(sys.argv[2]))["groups"] for r in g["rules"]]
dash = json.load(open(sys.argv[3]))
panel_exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
exprs += panel_exprs + [v["query"] for v in dash["templating"]["list"] if v["type"] == "query"]
assert exprs, "no expressions"
all_labels = set().union(*labels.values()) | {"instance", "job", "le"}
used = set()
for e in exprs:
    for name, sel in re.findall(r"((?:kvs_infer|process)_\w+)(\{[^}]*\})?", e):
        fam = name
        for suf in ("_bucket", "_sum", "_count"):
            if name.endswith(suf) and types.get(name[: -len(suf)]) == "histogram":
                fam = name[: -len(suf)]
        assert fam in types, f"{name} is not exported by kvs-infer: {e}"
        used.add(fam)
        for lab in re.findall(r"(\w+)\s*=~?", sel or ""):
            if lab in ("instance", "job"): continue
            assert fam not in labels or lab in labels[fam], f"{name} has no label {lab} (has {labels.get(fam)}): {e}"
    for grp in re.findall(r"by \(([^)]*)\)", e):
        for lab in (x.strip() for x in grp.split(",")):
            assert lab in all_labels, f"by ({lab}): no exported series has that label: {e}"
# every panel of a camera metric follows the camera variable
for e in panel_exprs:
    for name, sel in re.findall(r"(kvs_infer_\w+)(\{[^}]*\})?", e):
        base = re.sub(r"_bucket$", "", name)
        if "camera" in labels.get(base, set()):
            assert 'camera=~"$camera"' in (sel or ""), f"{name} ignores the camera variable: {e}"
missing = set(types) - used
print(f"{len(exprs)} expressions, {len(used)} of {len(types)} families used; not shown: {sorted(missing)}")
PYEOF

# ---- example configs validate
# (as the image runs it: KVS_MODELS_DIR names the models; it_example_config checks a checkout)
KVS_MODELS_DIR="$MODELS" "$KVS_BIN" --config "$SRC/config/cameras.example.yaml" --validate >"$WORK/v" 2>&1 || fail "cameras.example.yaml: $(cat "$WORK/v")"

# ---- Kubernetes
kubectl kustomize "$SRC/deploy/kubernetes/base" >"$WORK/base.yaml" 2>"$WORK/kz.err" || fail "kustomize base: $(cat "$WORK/kz.err")"
kubectl kustomize "$SRC/deploy/kubernetes/overlays/gpu" >"$WORK/gpu.yaml" 2>"$WORK/kz.err" || fail "kustomize gpu: $(cat "$WORK/kz.err")"
K8S_PORT=$(free_port)
$PY - "$WORK/base.yaml" "$WORK/gpu.yaml" "$SRC/Dockerfile" "$WORK" "$MODELS" "$K8S_PORT" <<'PYEOF' || fail "kubernetes objects"
import re, sys, yaml
base = {d["kind"]: d for d in yaml.safe_load_all(open(sys.argv[1]))}
gpu = {d["kind"]: d for d in yaml.safe_load_all(open(sys.argv[2]))}
dockerfile, work, models, port = open(sys.argv[3]).read(), sys.argv[4], sys.argv[5], sys.argv[6]
cmd = re.findall(r'^CMD \[(.*)\]', dockerfile, re.M)[-1]
config_path = re.search(r'"--config", "([^"]+)"', cmd).group(1)
uid = int(re.findall(r'^USER (\d+)', dockerfile, re.M)[-1])
expose = int(re.findall(r'^EXPOSE (\d+)', dockerfile, re.M)[-1])
dep = base["Deployment"]; pod = dep["spec"]["template"]["spec"]; c = pod["containers"][0]
cm = base["ConfigMap"]
mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
vols = {v["name"]: v for v in pod["volumes"]}
cdir, cfile = config_path.rsplit("/", 1)
assert cdir in mounts and vols[mounts[cdir]["name"]]["configMap"]["name"] == cm["metadata"]["name"], "config mount"
assert cfile in cm["data"], f"the ConfigMap has no {cfile}"
cfg = yaml.safe_load(cm["data"][cfile])
listen_port = int(cfg["metrics"]["listen"].rsplit(":", 1)[1])
ports = {p["name"]: p["containerPort"] for p in c["ports"]}
assert ports["metrics"] == listen_port == expose, (ports, listen_port, expose)
svc = base["Service"]["spec"]["ports"][0]
assert svc["targetPort"] in ("metrics", listen_port) and base["Service"]["metadata"]["annotations"]["prometheus.io/port"] == str(listen_port)
assert c["livenessProbe"]["httpGet"]["port"] in ("metrics", listen_port)
sc, psc = c["securityContext"], pod["securityContext"]
assert psc["runAsNonRoot"] and psc["runAsUser"] == uid and sc["readOnlyRootFilesystem"], "non-root, read-only root"
spool = cfg["spool"]["dir"]
writable = [p for p, m in mounts.items() if not m.get("readOnly") and "emptyDir" in vols[m["name"]] or "persistentVolumeClaim" in vols[m["name"]] and not m.get("readOnly")]
assert any(spool == p or spool.startswith(p + "/") for p in writable), f"spool {spool} is not on a writable volume {writable}"
assert cfg["models_dir"] in mounts, "models_dir is not mounted"
assert pod["terminationGracePeriodSeconds"] >= 10
assert base["ServiceAccount"]["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")
assert pod["serviceAccountName"] == base["ServiceAccount"]["metadata"]["name"]
# Downward API values get what Kubernetes would give them.
downward = {"metadata.name": "kvs-infer-7d9f-abcde"}
env = {e["name"]: e["value"] if "value" in e else downward[e["valueFrom"]["fieldRef"]["fieldPath"]] for e in c["env"]}
cl = yaml.safe_load(cm["data"][cfile]).get("cluster") or {}
assert "${POD_NAME" in str(cl.get("worker_id")) and env.get("POD_NAME") == downward["metadata.name"], "worker_id is not the pod name"
assert dep["spec"]["replicas"] > 1 and "${LEASE_TABLE" in str(cl.get("lease_table")) and env.get("LEASE_TABLE"), "replicas without a lease table"
for var, default in re.findall(r"\$\{(\w+)(:-[^}]*)?\}", cm["data"][cfile]):
    assert default or var in env, f"${{{var}}} in {cfile} is not set by the Deployment"
# The rendered config as the binary will read it, with this machine's folders.
text = cm["data"][cfile].replace(cfg["models_dir"], models).replace(spool, work + "/k8s-spool")
text = text.replace(cfg["metrics"]["listen"], f"127.0.0.1:{port}")
open(work + "/k8s.yaml", "w").write(text)
open(work + "/k8s.env", "w").write("".join(f"export {k}={v}\n" for k, v in env.items()))
open(work + "/k8s.probes", "w").write(f'{c["livenessProbe"]["httpGet"]["path"]} {c["readinessProbe"]["httpGet"]["path"]}\n')
g = gpu["Deployment"]["spec"]["template"]["spec"]["containers"][0]
genv = {e["name"]: e.get("value") for e in g["env"]}
assert g["resources"]["limits"]["nvidia.com/gpu"] == 1 and g["image"].endswith(":cuda")
assert genv.get("KVS_DEVICE") == "cuda:0" and "${KVS_DEVICE" in cm["data"][cfile], "the GPU overlay does not select cuda:0"
assert genv.keys() >= env.keys(), "the overlay lost environment variables"
print("kubernetes: port", listen_port, "config", config_path, "uid", uid, "spool", spool)
PYEOF
# The binary reads the ConfigMap's file with the Deployment's environment and
# serves the probes' paths on that port.
( . "$WORK/k8s.env"; "$KVS_BIN" --config "$WORK/k8s.yaml" --validate ) >"$WORK/v" 2>&1 || fail "the ConfigMap's cameras.yaml: $(cat "$WORK/v")"
( . "$WORK/k8s.env"; export AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=y; exec "$KVS_BIN" --config "$WORK/k8s.yaml" ) >"$WORK/k8s.log" 2>&1 &
K8S_PID=$!; PIDS+=("$K8S_PID")
read -r live ready <"$WORK/k8s.probes"
wait_for 20 http_get "http://127.0.0.1:$K8S_PORT$live" >/dev/null || fail "liveness path $live not served"
code=$($PY -c 'import sys, urllib.request, urllib.error
try: print(urllib.request.urlopen(sys.argv[1], timeout=5).status)
except urllib.error.HTTPError as e: print(e.code)' "http://127.0.0.1:$K8S_PORT$ready")
[ "$code" = 200 ] || [ "$code" = 503 ] || fail "readiness path $ready answered $code"
kill -TERM "$K8S_PID"; wait "$K8S_PID" || fail "exit $? after SIGTERM"

# ---- ECS
$PY - "$SRC/deploy/ecs" "$SRC/Dockerfile" <<'PYEOF' || fail "ECS task definitions"
import glob, json, re, sys
import botocore.session
from botocore.validate import ParamValidator
shape = botocore.session.get_session().get_service_model("ecs").operation_model("RegisterTaskDefinition").input_shape
dockerfile = open(sys.argv[2]).read()
uid = re.findall(r'^USER (\d+)', dockerfile, re.M)[-1]
expose = int(re.findall(r'^EXPOSE (\d+)', dockerfile, re.M)[-1])
health = re.findall(r'^  CMD (.*)$', dockerfile, re.M)[-1]
files = sorted(glob.glob(sys.argv[1] + "/*.json"))
assert len(files) >= 2
for f in files:
    td = json.load(open(f))
    report = ParamValidator().validate(td, shape)
    assert not report.has_errors(), f + ": " + report.generate_report()
    c = td["containerDefinitions"][0]
    assert c["portMappings"][0]["containerPort"] == expose, f
    assert c["user"].split(":")[0] == uid, f
    hc = " ".join(c["healthCheck"]["command"])
    assert "/healthz" in hc and str(expose) in hc and "/healthz" in health, f
    assert c["logConfiguration"]["logDriver"] == "awslogs", f
    mounts = {m["containerPath"] for m in c["mountPoints"]}
    assert {"/app/config", "/app/models", "/app/spool"} <= mounts, f
    assert c.get("stopTimeout", 30) >= 10, f
    if "gpu" in f:
        assert {"type": "GPU", "value": "1"} in c["resourceRequirements"] and "EC2" in td["requiresCompatibilities"], f
        assert {"name": "KVS_DEVICE", "value": "cuda:0"} in c["environment"] and c["image"].endswith(":cuda"), f
print("ecs:", ", ".join(f.rsplit("/", 1)[1] for f in files), "valid")
PYEOF

# ---- IAM policy ("AWS permissions" of docs/deployment.md)
# against the APIs the code calls
for doc in "$SRC/docs/deployment.md"; do
$PY - "$doc" "$SRC/src" <<'PYEOF' || fail "IAM policy of $doc"
import json, os, re, sys
readme = open(sys.argv[1]).read()
block = re.search(r"## AWS permissions.*?```json\n(.*?)```", readme, re.S).group(1)
policy = json.loads(block)
actions = {a for s in policy["Statement"] for a in s["Action"]}
code = ""
for root, _, files in os.walk(sys.argv[2]):
    for f in files:
        if f.endswith(".c"): code += open(os.path.join(root, f)).read()
need = {"kinesisvideo:" + p[1].upper() + p[2:] for p in re.findall(r'"(?:%s)?(/(?:describeStream|getDataEndpoint|getHLSStreamingSessionURL|getMedia|getClip))"', code)}
need |= {"kinesis:" + a for a in re.findall(r'"(PutRecords?)"', code)}
need |= {"dynamodb:" + a for a in re.findall(r'"(PutItem|GetItem|UpdateItem|DeleteItem|Scan|CreateTable|DescribeTable)"', code)}
if '"PUT"' in open(os.path.join(sys.argv[2], "publish/s3.c")).read(): need.add("s3:PutObject")
need |= {"sns:" + a for a in re.findall(r'"Action", "(Publish)"', code)}
need |= {"events:" + a for a in re.findall(r'"(PutEvents)"', code)}
if "sigv4_presign(" in open(os.path.join(sys.argv[2], "publish/sns.c")).read(): need.add("s3:GetObject")
assert len(need) >= 10, need
assert need <= actions, f"the policy lacks {sorted(need - actions)}"
print(sys.argv[1].rsplit("/", 1)[-1] + ": IAM policy covers", ", ".join(sorted(need)))
PYEOF
done
echo PASS
