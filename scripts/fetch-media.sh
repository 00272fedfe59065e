#!/usr/bin/env bash
# Puts the demo and test footage in media/: vtest.avi (OpenCV's pedestrian street scene).
# From KVS_MEDIA_MIRROR (default: shared/media in the folder above the checkout) when present, else from
# Debian's opencv-doc package (fetched with apt-get download, only the one file unpacked).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dest="$here/media"
mkdir -p "$dest"
[ -s "$dest/vtest.avi" ] && exit 0
mirror=${KVS_MEDIA_MIRROR:-$here/../shared/media}
if [ -s "$mirror/opencv/vtest.avi" ]; then
  cp "$mirror/opencv/vtest.avi" "$dest/vtest.avi"; exit 0
fi
if [ -s /usr/share/doc/opencv-doc/examples/data/vtest.avi ]; then
  cp /usr/share/doc/opencv-doc/examples/data/vtest.avi "$dest/"; exit 0
fi
echo "setup: media: fetching vtest.avi from Debian's opencv-doc package" >&2
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download opencv-doc >/dev/null)
dpkg-deb --fsys-tarfile "$work"/opencv-doc_*.deb |
  tar -x -C "$work" ./usr/share/doc/opencv-doc/examples/data/vtest.avi
cp "$work/usr/share/doc/opencv-doc/examples/data/vtest.avi" "$dest/"
