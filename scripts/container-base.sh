#!/usr/bin/env bash
# Makes the container base image when no registry can be reached (this
# project's test machines): a minimal Debian 12 root from the Debian mirror
# this machine's apt uses, imported into podman as localhost/debian:bookworm-min.
# The root is cached as a tarball in KVS_CONTAINER_CACHE (default
# /var/tmp/kvs-infer-containers), so it is made once per machine.
#   scripts/container-base.sh            prints the image name (makes it if needed)
#   scripts/container-base.sh --cuda     localhost/kvs-cuda-base:13: that base plus this
#                                        machine's CUDA 13 runtime and cuDNN 9 libraries
# Elsewhere `docker build .` takes debian:bookworm-slim from Docker Hub instead.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cache=${KVS_CONTAINER_CACHE:-/var/tmp/kvs-infer-containers}
image=localhost/debian:bookworm-min
log() { printf 'container-base: %s\n' "$*" >&2; }
pm() { podman --runtime runc --cgroup-manager=cgroupfs "$@"; }

make_base() {
  pm image exists "$image" && return 0
  mkdir -p "$cache"
  if [ ! -s "$cache/bookworm-min.tar" ]; then
    local mirror root
    mirror=$("$here/scripts/install-onnxruntime.sh" --print-mirror) ||
      { log "no Debian mirror in the apt sources: set KVS_DEBIAN_MIRROR"; exit 1; }
    root=$(mktemp -d "$cache/root.XXXXXX")
    log "debootstrap bookworm from $mirror (about 80 s)"
    debootstrap --variant=minbase bookworm "$root" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
      { log "debootstrap failed: $(tail -3 "$cache/debootstrap.log")"; rm -rf "$root"; exit 1; }
    echo "deb $mirror bookworm main" >"$root/etc/apt/sources.list"
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar -C "$root" -cf "$cache/bookworm-min.tar.part" . && mv "$cache/bookworm-min.tar.part" "$cache/bookworm-min.tar"
    rm -rf "$root"
  fi
  pm import "$cache/bookworm-min.tar" "$image" >/dev/null
}

# The CUDA base for machines without a registry: NVIDIA's image carries the
# CUDA runtime and cuDNN; here they come from this machine's installation.
make_cuda_base() {
  local cuda_image=localhost/kvs-cuda-base:13 cuda=${CUDA_HOME:-/usr/local/cuda} ctx lib
  pm image exists "$cuda_image" && { echo "$cuda_image"; return 0; }
  ctx=$(mktemp -d); trap 'rm -rf "$ctx"' RETURN
  mkdir -p "$ctx/lib"
  for lib in libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcurand.so.10 libcufft.so.12; do
    f=$(find -L "$cuda/lib64" "$cuda"/targets/*/lib -maxdepth 1 -name "$lib*" 2>/dev/null | head -n1)
    [ -n "$f" ] || { [ "$lib" = libcufft.so.12 ] && continue; log "no $lib under $cuda"; exit 1; }
    cp -L "$f" "$ctx/lib/$lib"
  done
  for f in $(ldconfig -p | awk '$1 ~ /^libcudnn[a-z_]*\.so\.9$/ { print $NF }' | sort -u); do
    cp -L "$f" "$ctx/lib/"
  done
  ls "$ctx"/lib/libcudnn.so.9* >/dev/null 2>&1 || { log "no cuDNN 9 on this machine"; exit 1; }
  cat >"$ctx/Containerfile" <<CF
FROM $image
COPY lib/ /usr/local/cuda/lib64/
RUN echo /usr/local/cuda/lib64 >/etc/ld.so.conf.d/cuda.conf && ldconfig
ENV NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility
CF
  pm build --ulimit nofile=20000:20000 --ulimit nproc=1000:1000 -t "$cuda_image" "$ctx" >&2
  echo "$cuda_image"
}

make_base
if [ "${1:-}" = "--cuda" ]; then make_cuda_base; else echo "$image"; fi
