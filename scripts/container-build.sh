#!/usr/bin/env bash
# The container's build stage (Dockerfile): the project's own set-up (build
# tools only) and build, then everything the runtime stage copies into /out:
# the binary, ONNX Runtime's libraries, the plugin header and the list of
# Debian packages the binary needs at run time.
set -euo pipefail
cd "$(dirname "$0")/.."
KVS_SETUP=build scripts/setup.sh
cmake -S . -B /tmp/build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build /tmp/build -j"$(nproc)" --target kvs-infer
mkdir -p /out/app /out/onnxruntime /out/include
strip /tmp/build/kvs-infer
cp /tmp/build/kvs-infer /out/app/
cp -a /usr/local/onnxruntime/lib /out/onnxruntime/
cp -a include/kvs_infer /out/include/
scripts/runtime-packages.sh /tmp/build/kvs-infer >/out/runtime-packages
echo "container-build: $(wc -l </out/runtime-packages) run-time packages" >&2
