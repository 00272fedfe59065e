#!/usr/bin/env bash
# Kubernetes that starts: the base and the GPU overlay rendered by kustomize
# (no deprecation warnings), then check_k8s.py: every object a pod refers to
# (ConfigMap, Secret, PersistentVolumeClaim, ServiceAccount, keys) is among
# the rendered ones, the models volume is filled by the init container, a
# PodDisruptionBudget covers the replicas, every container is hardened as
# the ECS task is; its self-test breaks the manifests in each of those ways.
# The init container's image is the Dockerfile's models target, copied from
# where that target puts the models. (Ports, probes and the config against
# the real binary: it_deploy.sh.)
. "$(dirname "$0")/lib.sh"
SRC="$KVS_SOURCE_DIR"
command -v kubectl >/dev/null || need "kubectl is missing: run scripts/setup.sh"
$PY -c 'import yaml' 2>/dev/null || need "python3-yaml is missing"
for k in base:task-fargate-cpu overlays/gpu:task-ec2-gpu; do
  dir=${k%%:*}; name=$(basename "$dir")
  kubectl kustomize "$SRC/deploy/kubernetes/$dir" >"$WORK/$name.yaml" 2>"$WORK/$name.err" || fail "kustomize $dir: $(cat "$WORK/$name.err")"
  [ ! -s "$WORK/$name.err" ] || fail "kustomize $dir warns: $(cat "$WORK/$name.err")"
  selftest=; [ "$name" = base ] && selftest=--self-test
  $PY "$SRC/tests/integration/check_k8s.py" "$WORK/$name.yaml" --ecs "$SRC/deploy/ecs/${k##*:}.json" $selftest ||
    fail "$dir: the rendered objects"
done
$PY - "$WORK/base.yaml" "$SRC/Dockerfile" <<'PYEOF' || fail "the models init container"
import re, sys, yaml
dep = next(o for o in yaml.safe_load_all(open(sys.argv[1])) if o["kind"] == "Deployment")
init = dep["spec"]["template"]["spec"]["initContainers"][0]
df = open(sys.argv[2]).read()
stage = re.search(r"^FROM \S+ AS models\n(.*?)(?=^FROM )", df, re.S | re.M)
assert stage, "the Dockerfile has no models target"
dest = re.search(r"^COPY --from=\S+ \S+ (\S+)$", stage.group(1), re.M).group(1).rstrip("/")
assert init["image"].split(":")[0].endswith("kvs-infer-models"), init["image"]
assert init["command"][:2] == ["cp", "-R"] and init["command"][2].rstrip("/.") == dest, (init["command"], dest)
mount = next(m["mountPath"] for m in init["volumeMounts"])
assert init["command"][3].rstrip("/") == mount, "the init container copies elsewhere than its mount"
print(f"-- models: {init['image']} copies {dest} into {mount}", file=sys.stderr)
PYEOF
echo PASS
