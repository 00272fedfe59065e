# kvs-infer container images (docs/deployment.md).
#   CPU:  docker build -t kvs-infer:latest .
#   CUDA: docker build --target cuda -t kvs-infer:cuda .
#   arm64 (Graviton): docker buildx build --platform linux/arm64 -t kvs-infer:arm64 .
# Bases through BASE_IMAGE and CUDA_BASE_IMAGE (scripts/container-base.sh makes
# both where no registry can be reached). Both stages of each image run the
# project's own scripts: set-up and build, then only the run-time libraries.
ARG BASE_IMAGE=debian:bookworm-slim
ARG CUDA_BASE_IMAGE=nvidia/cuda:13.0.0-cudnn-runtime-ubuntu24.04

# ---- ONNX Runtime's C headers, from Debian 13's package through the Debian
# base's own apt sources (the CUDA base is Ubuntu, whose sources have none).
FROM ${BASE_IMAGE} AS ort-headers
COPY scripts/install-onnxruntime.sh /tmp/install-onnxruntime.sh
RUN /tmp/install-onnxruntime.sh --headers-only /out/ort-include

# ---- CUDA: ONNX Runtime's GPU build; built on the CUDA base itself, so the
# binary and the run-time libraries come from one distribution.
FROM ${CUDA_BASE_IMAGE} AS cuda-build
ARG TARGETARCH
# A proxy's CA for npm, where the build reaches the registry through one.
ARG NODE_EXTRA_CA_CERTS
WORKDIR /src
COPY --from=ort-headers /out/ort-include/ /opt/ort-include/
COPY scripts/ scripts/
RUN KVS_ORT_HEADERS=/opt/ort-include KVS_SETUP=build KVS_ORT=gpu scripts/setup.sh
COPY . .
RUN KVS_ORT=gpu scripts/container-build.sh

FROM ${CUDA_BASE_IMAGE} AS cuda
COPY --from=cuda-build /out/runtime-packages /tmp/runtime-packages
COPY scripts/container-runtime.sh /tmp/container-runtime.sh
RUN /tmp/container-runtime.sh && rm /tmp/container-runtime.sh
COPY --from=cuda-build /out/onnxruntime/ /usr/local/onnxruntime/
COPY --from=cuda-build /out/include/ /usr/local/include/
COPY --from=cuda-build /out/app/ /app/
WORKDIR /app
ENV KVS_MODELS_DIR=/app/models
VOLUME ["/app/spool"]
USER 10001:10001
EXPOSE 9090
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
  CMD curl -fsS -o /dev/null http://127.0.0.1:9090/healthz || exit 1
ENTRYPOINT ["/app/kvs-infer"]
CMD ["--config", "/app/config/cameras.yaml"]

# ---- The models as an image of their own, for Kubernetes' init container
# (deploy/kubernetes/base copies /models into the pod):
#   docker build --target models -t kvs-infer-models:latest .
# scripts/fetch-models.sh fetches them at build time (KVS_MODELS_MIRROR is not
# in the build context: the official release URL).
FROM ${BASE_IMAGE} AS models-fetch
ARG NODE_EXTRA_CA_CERTS
RUN apt-get update && apt-get install -y --no-install-recommends curl ca-certificates \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY scripts/fetch-models.sh scripts/
RUN KVS_MODELS_MIRROR=/nonexistent scripts/fetch-models.sh && cp -RL models /models

FROM ${BASE_IMAGE} AS models
COPY --from=models-fetch /models/ /models/
USER 10001:10001
CMD ["cp", "-R", "/models/.", "/app/models/"]

# ---- CPU (the default target: the last stage)
FROM ${BASE_IMAGE} AS build
ARG NODE_EXTRA_CA_CERTS
# linux/amd64 or linux/arm64 (docker buildx --platform): ONNX Runtime's library for it
ARG TARGETARCH
WORKDIR /src
COPY scripts/ scripts/
RUN KVS_SETUP=build scripts/setup.sh
COPY . .
RUN scripts/container-build.sh

FROM ${BASE_IMAGE} AS cpu
COPY --from=build /out/runtime-packages /tmp/runtime-packages
COPY scripts/container-runtime.sh /tmp/container-runtime.sh
RUN /tmp/container-runtime.sh && rm /tmp/container-runtime.sh
COPY --from=build /out/onnxruntime/ /usr/local/onnxruntime/
COPY --from=build /out/include/ /usr/local/include/
COPY --from=build /out/app/ /app/
WORKDIR /app
ENV KVS_MODELS_DIR=/app/models
VOLUME ["/app/spool"]
USER 10001:10001
EXPOSE 9090
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
  CMD curl -fsS -o /dev/null http://127.0.0.1:9090/healthz || exit 1
ENTRYPOINT ["/app/kvs-infer"]
CMD ["--config", "/app/config/cameras.yaml"]
