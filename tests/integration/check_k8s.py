#!/usr/bin/env python3
"""Rendered Kubernetes manifests (kubectl kustomize output): would the pods
start? Every object a pod template refers to must be among the rendered
objects, and nothing may wait on what no one creates.

  check_k8s.py RENDERED.yaml [--ecs TASK.json] [--self-test]

Checked for each workload (Deployment, StatefulSet, DaemonSet, Job):
  - serviceAccountName, imagePullSecrets, volumes (configMap, secret,
    persistentVolumeClaim, projected sources) and every container's envFrom
    and env valueFrom (with the key) name rendered objects;
  - every volumeMount names a volume, every volume is mounted, an emptyDir
    that a container reads only is written by an init container first;
  - every image is set (kustomize images) and requests fit the limits;
  - Services and PodDisruptionBudgets select the pods; a budget lets at
    least one pod go and keeps one when there is more than one replica;
  - every container, init containers too: non-root, read-only root
    filesystem, no privilege escalation, ALL capabilities dropped; with
    --ecs, the same user and read-only root as the ECS task definition.
--self-test breaks the first workload in each of those ways and expects
each to be caught."""
import argparse
import copy
import json
import sys

import yaml

WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job")


def cpu(v):
    v = str(v)
    return float(v[:-1]) / 1000 if v.endswith("m") else float(v)


def mem(v):
    v = str(v)
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "K": 1e3, "M": 1e6, "G": 1e9}
    for u, f in units.items():
        if v.endswith(u):
            return float(v[: -len(u)]) * f
    return float(v)


def check(objs, ecs=None):
    errors = []
    have = {(o["kind"], o["metadata"]["name"]): o for o in objs}

    def need(kind, name, why):
        if (kind, name) not in have:
            errors.append(f"{why}: {kind} {name} is not created by these manifests")
            return None
        return have[(kind, name)]

    def need_key(kind, name, key, why):
        o = need(kind, name, why)
        if o is not None and key not in {**o.get("data", {}), **o.get("binaryData", {}), **o.get("stringData", {})}:
            errors.append(f"{why}: {kind} {name} has no key {key}")

    workloads = [o for o in objs if o["kind"] in WORKLOADS]
    if not workloads:
        errors.append("no workload rendered")
    for w in workloads:
        wn = f"{w['kind']} {w['metadata']['name']}"
        tpl = w["spec"]["template"]
        pod, labels = tpl["spec"], tpl["metadata"].get("labels", {})
        sel = w["spec"].get("selector", {}).get("matchLabels", {})
        if any(labels.get(k) != v for k, v in sel.items()):
            errors.append(f"{wn}: its selector {sel} does not match its pods {labels}")
        sa = pod.get("serviceAccountName")
        if sa and sa != "default":
            need("ServiceAccount", sa, f"{wn} serviceAccountName")
        for s in pod.get("imagePullSecrets", []):
            need("Secret", s["name"], f"{wn} imagePullSecrets")
        vols = {v["name"]: v for v in pod.get("volumes", [])}
        for v in vols.values():
            why = f"{wn} volume {v['name']}"
            if "configMap" in v:
                if not v["configMap"].get("optional"):
                    need("ConfigMap", v["configMap"]["name"], why)
            if "secret" in v and not v["secret"].get("optional"):
                need("Secret", v["secret"]["secretName"], why)
            if "persistentVolumeClaim" in v:
                need("PersistentVolumeClaim", v["persistentVolumeClaim"]["claimName"], why)
            for src in v.get("projected", {}).get("sources", []):
                if "configMap" in src:
                    need("ConfigMap", src["configMap"]["name"], why)
                if "secret" in src:
                    need("Secret", src["secret"]["name"], why)
        inits, mains = pod.get("initContainers", []), pod["containers"]
        mounted, written_by_init = set(), set()
        for c in inits + mains:
            cn = f"{wn} container {c['name']}"
            if not c.get("image") or ":" not in c["image"].rsplit("/", 1)[-1] and "@" not in c["image"]:
                errors.append(f"{cn}: image {c.get('image')!r} has no tag (kustomize images:)")
            for e in c.get("envFrom", []):
                if "configMapRef" in e and not e["configMapRef"].get("optional"):
                    need("ConfigMap", e["configMapRef"]["name"], f"{cn} envFrom")
                if "secretRef" in e and not e["secretRef"].get("optional"):
                    need("Secret", e["secretRef"]["name"], f"{cn} envFrom")
            for e in c.get("env", []):
                vf = e.get("valueFrom", {})
                for kind, ref in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
                    if ref in vf and not vf[ref].get("optional"):
                        need_key(kind, vf[ref]["name"], vf[ref]["key"], f"{cn} env {e['name']}")
            for m in c.get("volumeMounts", []):
                if m["name"] not in vols:
                    errors.append(f"{cn}: mounts volume {m['name']}, which the pod does not have")
                mounted.add(m["name"])
                if c in inits and not m.get("readOnly"):
                    written_by_init.add(m["name"])
            res = c.get("resources", {})
            for k, conv in (("cpu", cpu), ("memory", mem)):
                r, lim = res.get("requests", {}).get(k), res.get("limits", {}).get(k)
                if r is not None and lim is not None and conv(r) > conv(lim):
                    errors.append(f"{cn}: {k} request {r} above its limit {lim}")
            sc, psc = c.get("securityContext", {}), pod.get("securityContext", {})
            if not (sc.get("runAsNonRoot", psc.get("runAsNonRoot")) and sc.get("readOnlyRootFilesystem")
                    and sc.get("allowPrivilegeEscalation") is False and "ALL" in sc.get("capabilities", {}).get("drop", [])):
                errors.append(f"{cn}: not non-root with a read-only root, no privilege escalation and ALL dropped")
            if ecs is not None:
                user = str(sc.get("runAsUser", psc.get("runAsUser")))
                group = str(sc.get("runAsGroup", psc.get("runAsGroup")))
                if f"{user}:{group}" != ecs["user"] or not ecs.get("readonlyRootFilesystem"):
                    errors.append(f"{cn}: runs as {user}:{group}, the ECS task as {ecs['user']} "
                                  f"(read-only root there: {ecs.get('readonlyRootFilesystem')})")
        for name, v in vols.items():
            if name not in mounted:
                errors.append(f"{wn}: volume {name} is mounted by no container")
        for c in mains:  # an emptyDir read (only) by kvs-infer is empty unless an init container fills it
            for m in c.get("volumeMounts", []):
                v = vols.get(m["name"], {})
                if "emptyDir" in v and m.get("readOnly") and m["name"] not in written_by_init:
                    errors.append(f"{wn}: {c['name']} reads the emptyDir {m['name']}, which nothing fills")
        replicas = w["spec"].get("replicas", 1)
        for o in objs:
            osel = (o.get("spec") or {}).get("selector")
            if o["kind"] == "Service" and osel:
                if all(labels.get(k) == v for k, v in osel.items()):
                    ports = {p.get("name") for c in mains for p in c.get("ports", [])} | \
                            {p["containerPort"] for c in mains for p in c.get("ports", [])}
                    for p in o["spec"]["ports"]:
                        if p.get("targetPort", p["port"]) not in ports:
                            errors.append(f"Service {o['metadata']['name']}: targetPort {p.get('targetPort')} is no port of {wn}")
            if o["kind"] == "PodDisruptionBudget":
                ml = osel.get("matchLabels", {})
                if all(labels.get(k) == v for k, v in ml.items()):
                    spec = o["spec"]
                    allowed = spec["maxUnavailable"] if "maxUnavailable" in spec else replicas - spec["minAvailable"]
                    if not (1 <= allowed < replicas or replicas == 1 and allowed == 1):
                        errors.append(f"PodDisruptionBudget {o['metadata']['name']}: {allowed} of {replicas} pods may go")
        if replicas > 1 and not any(o["kind"] == "PodDisruptionBudget" and
                                    all(labels.get(k) == v for k, v in o["spec"]["selector"].get("matchLabels", {}).items())
                                    for o in objs):
            errors.append(f"{wn}: {replicas} replicas and no PodDisruptionBudget")
    for o in objs:
        if o["kind"] == "PersistentVolumeClaim" and not o["spec"].get("storageClassName") and not o["spec"].get("volumeName"):
            errors.append(f"PersistentVolumeClaim {o['metadata']['name']}: no storage class or volume: may stay Pending")
    return errors


def self_test(objs, ecs):
    def broken(f):
        x = copy.deepcopy(objs)
        w = next(o for o in x if o["kind"] in WORKLOADS)
        f(w["spec"]["template"]["spec"], w, x)
        return x
    cases = {
        "claim": lambda p, w, x: p["volumes"].append({"name": "m2", "persistentVolumeClaim": {"claimName": "kvs-infer-models"}})
        or p["containers"][0]["volumeMounts"].append({"name": "m2", "mountPath": "/m2", "readOnly": True}),
        "configmap": lambda p, w, x: [v["configMap"].update(name="renamed") for v in p["volumes"] if "configMap" in v],
        "serviceaccount": lambda p, w, x: p.update(serviceAccountName="nobody"),
        "secret env": lambda p, w, x: p["containers"][0]["env"].append(
            {"name": "T", "valueFrom": {"secretKeyRef": {"name": "missing", "key": "t"}}}),
        "unfilled emptyDir": lambda p, w, x: p.pop("initContainers"),
        "pdb": lambda p, w, x: x.remove(next(o for o in x if o["kind"] == "PodDisruptionBudget")),
        "writable root": lambda p, w, x: p["containers"][0]["securityContext"].update(readOnlyRootFilesystem=False),
        "unmounted volume": lambda p, w, x: p["volumes"].append({"name": "stray", "emptyDir": {}}),
    }
    missed = [name for name, f in cases.items() if not check(broken(f), ecs)]
    if missed:
        sys.exit(f"self-test: not caught: {missed}")
    print(f"-- self-test: {len(cases)} broken variants caught", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("rendered")
    ap.add_argument("--ecs")
    ap.add_argument("--self-test", action="store_true")
    a = ap.parse_args()
    objs = [o for o in yaml.safe_load_all(open(a.rendered)) if o]
    ecs = json.load(open(a.ecs))["containerDefinitions"][0] if a.ecs else None
    if a.self_test:
        self_test(objs, ecs)
    errors = check(objs, ecs)
    if errors:
        sys.exit("\n".join(errors))
    kinds = sorted({o["kind"] for o in objs})
    print(f"-- {a.rendered.rsplit('/', 1)[-1]}: {len(objs)} objects ({', '.join(kinds)}): every reference resolves", file=sys.stderr)


main()
