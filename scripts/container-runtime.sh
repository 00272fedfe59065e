#!/bin/sh
# The container's runtime stage (Dockerfile): only the run-time libraries the
# build stage listed, CA certificates (TLS to AWS) and curl (the health
# check); a non-root user; the folders the README's docker run lines mount.
set -eu
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  $(cat /tmp/runtime-packages) ca-certificates curl >/dev/null
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log /tmp/runtime-packages
groupadd --gid 10001 kvs
useradd --uid 10001 --gid 10001 --home-dir /app --no-create-home --shell /usr/sbin/nologin kvs
mkdir -p /app/config /app/models /app/spool
chown 10001:10001 /app/spool
