#!/usr/bin/python3
"""A real RTSP server for the tests: GStreamer's gst-rtsp-server (Debian's
gir1.2-gst-rtsp-server-1.0) serving an H.264 MP4 file at rtsp://127.0.0.1:PORT/cam.
Each client session plays the file once and then ends its stream (EOS), as a
camera that stops sending would. Prints "ready" once listening; stops by itself
after --max-seconds. Usage: rtsp_server.py --port N --file clip.mp4"""
import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--file", required=True)
ap.add_argument("--max-seconds", type=int, default=600)
args = ap.parse_args()

Gst.init(None)
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(str(args.port))
factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch(
    f'( filesrc location="{args.file}" ! qtdemux ! h264parse config-interval=-1 '
    "! rtph264pay name=pay0 pt=96 )"
)
factory.set_shared(False)
server.get_mount_points().add_factory("/cam", factory)
if server.attach(None) == 0:
    sys.exit(f"cannot listen on 127.0.0.1:{args.port}")
loop = GLib.MainLoop()
GLib.timeout_add_seconds(args.max_seconds, loop.quit)
print("ready", flush=True)
loop.run()
