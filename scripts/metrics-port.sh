#!/usr/bin/env bash
# Prints the port the demo's /metrics listener should use:
#   KVS_METRICS_PORT when set (used as given: kvs-infer says so if it is taken),
#   else PREFERRED (default 9090) when it can be bound on 127.0.0.1,
#   else a free port the kernel picks, with a note on stderr saying why.
# 9090 is Prometheus's own port on many machines: taking it must not stop the demo.
# Usage: scripts/metrics-port.sh [PREFERRED]
set -euo pipefail
if [ -n "${KVS_METRICS_PORT:-}" ]; then
  case $KVS_METRICS_PORT in
    *[!0-9]* | '') echo "KVS_METRICS_PORT=$KVS_METRICS_PORT is not a port number" >&2; exit 2 ;;
  esac
  echo "$KVS_METRICS_PORT"
  exit 0
fi
want=${1:-9090}
python3 - "$want" <<'PY'
import socket, sys

want = int(sys.argv[1])


def bind(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return s.getsockname()[1]
    except OSError:
        return None
    finally:
        s.close()


got = bind(want)
if got is None:
    got = bind(0)
    print(f"metrics: port {want} is taken (Prometheus itself uses 9090 on many machines): "
          f"using {got}; set KVS_METRICS_PORT=N to choose", file=sys.stderr)
print(got)
PY
