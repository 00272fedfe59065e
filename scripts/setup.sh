#!/usr/bin/env bash
# Installs everything kvs-infer needs to build, test and run on Debian 12 (or newer), as root.
# Idempotent: a second run only checks and returns in a second or two.
#   ORT_ROOT=/path/to/onnxruntime  use an existing ONNX Runtime release folder (include/ + lib/)
#   KVS_MODELS_MIRROR=/dir          copy models from this folder instead of downloading them
#   KVS_ORT=gpu                     ONNX Runtime's GPU build (CUDA 13 + cuDNN 9 needed at run time;
#                                   scripts/install-onnxruntime.sh says what and from where)
#   KVS_SETUP=build                 only what building needs (the container's build stage): no test
#                                   tools, AWS stand-ins, models or footage
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
log() { printf 'setup: %s\n' "$*" >&2; }

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

BUILD_PKGS=(build-essential pkg-config cmake libavformat-dev libavcodec-dev libavutil-dev
  libswscale-dev libcurl4-openssl-dev libssl-dev libjansson-dev libyaml-dev libmicrohttpd-dev libsqlite3-dev
  libturbojpeg0-dev zlib1g-dev libcmocka-dev libmosquitto-dev nodejs npm curl ca-certificates openssl xz-utils)
APT_PKGS=(openssl build-essential pkg-config cmake libavformat-dev libavcodec-dev libavutil-dev
  libswscale-dev libcurl4-openssl-dev libssl-dev libjansson-dev libyaml-dev libmicrohttpd-dev libsqlite3-dev
  libturbojpeg0-dev zlib1g-dev libcmocka-dev libmosquitto-dev mosquitto mosquitto-clients ffmpeg fonts-dejavu-core python3-onnx python3-numpy
  nodejs npm valgrind clang libclang-rt-dev clang-format curl ca-certificates binutils xz-utils
  python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad prometheus python3-yaml python3-botocore kubernetes-client
  podman runc debootstrap slirp4netns uidmap chromium faketime)

[ "${KVS_SETUP:-}" = build ] && APT_PKGS=("${BUILD_PKGS[@]}")
missing=()
for p in "${APT_PKGS[@]}"; do
  # NodeSource's nodejs bundles npm and conflicts with Debian's npm: any working npm will do.
  case "$p" in nodejs|npm) command -v npm >/dev/null 2>&1 && continue ;; esac
  # Any kubectl with kustomize will do (the deployment tests render with it).
  case "$p" in kubernetes-client) command -v kubectl >/dev/null 2>&1 && continue ;; esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# Debian 13 and recent Ubuntu package ONNX Runtime: prefer theirs.
if [ -z "${ORT_ROOT:-}" ] && ! pkg-config --exists libonnxruntime 2>/dev/null; then
  if apt-cache show libonnxruntime-dev >/dev/null 2>&1 &&
     apt-get install -s -y libonnxruntime-dev >/dev/null 2>&1; then
    missing+=(libonnxruntime-dev)
  fi
fi
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

"$here/scripts/install-onnxruntime.sh"
[ "${KVS_SETUP:-}" = build ] && { log "done (build only)"; exit 0; }
# AWS stand-ins and AWS's JavaScript signer for the tests (versions pinned in the lock file).
if [ ! -d "$here/tests/standins/node_modules/kinesalite" ] ||
   [ ! -d "$here/tests/standins/node_modules/playwright-core" ] ||
   [ ! -d "$here/tests/standins/node_modules/@aws-cdk/aws-service-spec" ]; then
  log "installing the AWS stand-ins, the browser driver and the CloudFormation specification (npm: kinesalite, dynalite, s3rver, @smithy/signature-v4, playwright-core, @aws-cdk/aws-service-spec)"
  (cd "$here/tests/standins" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >/dev/null)
fi
"$here/scripts/fetch-media.sh"
"$here/scripts/fetch-models.sh" || log "models: see the message above; the pipeline still runs without them"
log "done"
