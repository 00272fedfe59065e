#!/usr/bin/env bash
# The README's Docker lines, podman form, for real: the image is built from
# the Dockerfile on a Debian base made with debootstrap (scripts/
# container-base.sh, cached), is under 450 MB, runs as uid 10001, and the
# seed's run line (config and models mounted, AWS settings and credentials in
# -e, metrics published on a host port) finds people on mounted footage,
# publishes from inside the container to kinesalite and s3rver on the host
# (read back: every event in the stream, its images in S3), serves /metrics and
# its health check, and stops within 10 s with exit 0, printing no secret.
# Bad input gets the message that names the fix (exit 2 for config errors):
# no config mounted, a config error, a model missing from /app/models, an
# unwritable spool, cuda:0 in the CPU image.
. "$(dirname "$0")/lib.sh"
MODEL=$(find_model)
MEDIA=$(find_media)
need_standins
SRC="$KVS_SOURCE_DIR"
command -v podman >/dev/null || fail "podman is missing: run scripts/setup.sh"
pm() { podman --runtime runc --cgroup-manager=cgroupfs "$@"; }
LIMITS=(--ulimit nofile=20000:20000 --ulimit nproc=1000:1000)
IMAGE=localhost/kvs-infer:latest
NAME=kvs-infer-it-$$
trap 'pm rm -f "$NAME" >/dev/null 2>&1; cleanup' EXIT

BASE=$("$SRC/scripts/container-base.sh" 2>"$WORK/base.log") || fail "base image: $(tail -3 "$WORK/base.log")"
# A proxy's CA, where npm reaches its registry through one (this machine's bundle).
CA=()
[ -f /etc/ssl/certs/ca-certificates.crt ] &&
  CA=(-v /etc/ssl/certs/ca-certificates.crt:/run/host-ca.crt:ro --build-arg NODE_EXTRA_CA_CERTS=/run/host-ca.crt)
t0=$(date +%s)
pm build --format docker --network host "${LIMITS[@]}" "${CA[@]}" --build-arg BASE_IMAGE="$BASE" \
  -t "$IMAGE" "$SRC" >"$WORK/build.log" 2>&1 || fail "image build: $(tail -5 "$WORK/build.log")"
note "image built in $(( $(date +%s) - t0 )) s"
size=$(pm image inspect "$IMAGE" --format '{{.Size}}')
note "image size $((size / 1000000)) MB"
[ "$size" -lt 450000000 ] || fail "the image is $((size / 1000000)) MB, over 450 MB"
[ "$(pm run --rm "${LIMITS[@]}" --entrypoint id "$IMAGE" -u)" = 10001 ] || fail "not uid 10001"
[ "$(pm image inspect "$IMAGE" --format '{{.Config.User}}')" = 10001:10001 ] || fail "USER"

# ---- bad input: exit 2, and a message naming the fix
expect_exit() { # NAME CODE PATTERN podman-run-args...
  local what=$1 code=$2 pattern=$3; shift 3
  set +e; pm run --rm "${LIMITS[@]}" "$@" >"$WORK/$what.out" 2>&1; local rc=$?; set -e
  [ "$rc" = "$code" ] || fail "$what: exit $rc, not $code: $(tail -3 "$WORK/$what.out")"
  grep -q -- "$pattern" "$WORK/$what.out" || fail "$what: no \"$pattern\" in: $(tail -3 "$WORK/$what.out")"
}
expect_exit no-config 2 'cameras.yaml:1:1: cannot read the config: .*mount the folder holding it' "$IMAGE"
mkdir -p "$WORK/bad" "$WORK/nomodel" "$WORK/cuda" "$WORK/ro" "$WORK/models/coco" "$WORK/config"
cp "$MODEL" "$WORK/models/coco/"
printf 'cameras:\n  - name: a\n    fps_limt: 2\n' >"$WORK/bad/cameras.yaml"
expect_exit config-error 2 '/app/config/cameras.yaml:3:5: cameras\[0\].fps_limt: unknown key' \
  -v "$WORK/bad:/app/config" "$IMAGE"
printf 'cameras:\n  - name: a\n    source: {url: x.mp4}\n    detectors: [{type: yolo, params: {model: coco/missing.onnx}}]\n' \
  >"$WORK/nomodel/cameras.yaml"
# A run refuses a detector whose model is missing, as --validate does (issue
# 26.16: it ran on without it), saying which file and where to mount it.
expect_exit missing-model 2 'cameras.yaml:4:.*model file "coco/missing.onnx" not found (relative paths are tried in /app/models (models_dir or KVS_MODELS_DIR: mount the models there)' \
  -v "$WORK/nomodel:/app/config" -v "$WORK/models:/app/models" "$IMAGE"
expect_exit missing-model-validate 2 'cameras.yaml:4:.*model file "coco/missing.onnx" not found' \
  -v "$WORK/nomodel:/app/config" -v "$WORK/models:/app/models" "$IMAGE" --config /app/config/cameras.yaml --validate
printf 'device: cuda:0\ncameras:\n  - name: a\n    source: {url: x.mp4}\n    detectors: [{type: yolo, params: {model: coco/yolox_nano.onnx}}]\n' \
  >"$WORK/cuda/cameras.yaml"
expect_exit cuda-in-cpu-image 1 'device cuda:0: this ONNX Runtime has no CUDA provider library: use the CUDA image' \
  -v "$WORK/cuda:/app/config" -v "$WORK/models:/app/models" "$IMAGE"
chmod 755 "$WORK/ro" # root's, not writable by uid 10001
sed 's/device: cuda:0/device: cpu/' "$WORK/cuda/cameras.yaml" >"$WORK/ro-config.yaml"
mkdir -p "$WORK/roc" && cp "$WORK/ro-config.yaml" "$WORK/roc/cameras.yaml"
expect_exit unwritable-spool 1 'spool.dir must be writable by this process, uid 10001' \
  -v "$WORK/roc:/app/config" -v "$WORK/models:/app/models" -v "$WORK/ro:/app/spool" "$IMAGE"

# ---- the seed's run line, publishing to the stand-ins on the host
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
unset AWS_SESSION_TOKEN AWS_PROFILE
KPORT=$(free_port); SPORT=$(free_port); METRICS_PORT=$(free_port)
mkdir -p "$WORK/s3data"
standin kinesalite kinesis "$KPORT"
standin s3rver s3 "$SPORT" "$WORK/s3data" snapshots
wait_ready kinesalite s3rver
aws_call call "http://127.0.0.1:$KPORT" kinesis Kinesis_20131202.CreateStream '{"StreamName":"detections","ShardCount":1}' >/dev/null
# The container reaches the host's loopback as 10.0.2.2 (slirp4netns).
cat >"$WORK/config/cameras.yaml" <<YAML
aws:
  endpoints: {kinesis: "http://10.0.2.2:$KPORT", s3: "http://10.0.2.2:$SPORT"}
  s3_force_path_style: true
cameras:
  - name: lobby
    source: {mode: url, url: /app/footage/$(basename "$MEDIA"), loop: true}
    fps_limit: 2
    detectors:
      - {type: yolo, confidence_threshold: 0.5, params: {model: coco/yolox_nano.onnx, classes: [person]}}
    publishers: {kinesis_stream_name: detections, s3_bucket: snapshots, s3_prefix: kvs-infer/}
YAML
t0=$(date +%s%N)
pm run -d --name "$NAME" "${LIMITS[@]}" --network slirp4netns:allow_host_loopback=true \
  -v "$WORK/config:/app/config" -v "$WORK/models:/app/models" -v "$(dirname "$MEDIA"):/app/footage:ro" \
  -e AWS_REGION=us-east-1 -e AWS_ACCESS_KEY_ID=S3RVER -e AWS_SECRET_ACCESS_KEY=S3RVER \
  -p "127.0.0.1:$METRICS_PORT:9090" "$IMAGE" >/dev/null || fail "podman run failed"
wait_for 60 http_get "http://127.0.0.1:$METRICS_PORT/healthz" >/dev/null || fail "no /healthz on the published port: $(pm logs "$NAME" 2>&1 | tail -3)"
pm healthcheck run "$NAME" || fail "the image's health check failed"
wait_for 120 bash -c "node '$NODE_DIR/aws_call.js' kinesis-dump 'http://127.0.0.1:$KPORT' detections | grep -q event_id" ||
  fail "no event reached Kinesis: $(pm logs "$NAME" 2>&1 | grep -v '"msg":"event' | tail -3)"
note "container start to first event in Kinesis: $(( ($(date +%s%N) - t0) / 1000000 )) ms"
metric 'kvs_infer_frames_processed_total{camera="lobby"' >/dev/null || fail "no metrics on the published port"
sleep 3
t0=$(date +%s%N)
pm stop -t 10 "$NAME" >/dev/null
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
code=$(pm inspect "$NAME" --format '{{.State.ExitCode}}')
note "podman stop: exit $code after $ms ms"
[ "$code" = 0 ] || fail "exit code $code after SIGTERM"
[ "$ms" -lt 10000 ] || fail "stop took $ms ms"
pm logs "$NAME" >"$WORK/log" 2>"$WORK/log.err"
grep -q '"msg":"kvs-infer starting' "$WORK/log" || fail "no start line in the container's log"
! grep -rq "$AWS_SECRET_ACCESS_KEY" "$WORK/log" "$WORK/log.err" || fail "the secret appeared in the output"
aws_call kinesis-dump "http://127.0.0.1:$KPORT" detections >"$WORK/stream.jsonl"
$CHECK delivered "$WORK/log" "$WORK/stream.jsonl" >"$WORK/delivered" || fail "$(cat "$WORK/delivered")"
note "$(cat "$WORK/delivered")"
$PY - "$WORK/stream.jsonl" "$SPORT" <<'PYEOF' || fail "S3 images"
import json, sys, urllib.request
port = sys.argv[2]
n = 0
for line in open(sys.argv[1]):
    e = json.loads(json.loads(line)["data"])
    for ref in [e["snapshot"]] + e["crops"]:
        assert ref.startswith("s3://snapshots/kvs-infer/lobby/"), ref
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/{ref[5:]}", timeout=10).read()
        assert body[:2] == b"\xff\xd8", f"{ref} is not a JPEG"
        n += 1
print(f"{n} images in S3")
PYEOF
echo PASS
