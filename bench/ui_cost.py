#!/usr/bin/python3
"""What the operator page costs (issue 14): kvs-infer's CPU with 16 cameras
(bench-density's 1080p25 clip, fps_limit 0.5), first with nobody watching,
then with the camera wall open in headless chromium (bench/ui_open.js), in
one run. The browser's own CPU is not counted: it runs on the viewer's
machine in real life.

Usage: ui_cost.py KVS_INFER [--cameras 16] [--seconds 30]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_kvs import MEDIA_MIRROR, MODELS_MIRROR, ROOT, find, free_port, metrics, wait  # noqa: E402
from density import make_clip, proc, total  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--cameras", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=30)
    args = ap.parse_args()
    model = find([os.path.join(ROOT, "models/coco/yolox_nano.onnx"),
                  os.path.join(MODELS_MIRROR, "coco/yolox_nano.onnx")], "yolox_nano.onnx")
    media = find([os.path.join(ROOT, "media/vtest.avi"), os.path.join(MEDIA_MIRROR, "opencv/vtest.avi"),
                  "/usr/share/doc/opencv-doc/examples/data/vtest.avi"], "vtest.avi")
    clip = os.path.join(os.path.dirname(os.path.abspath(args.binary)), "bench-media", "density-1080p25-gop2s.mp4")
    make_clip(clip, media)
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="kvs-ui-cost-") as work:
        cfg = os.path.join(work, "c.yaml")
        with open(cfg, "w") as f:
            f.write(f'metrics: {{listen: "127.0.0.1:{port}"}}\nspool: {{dir: "{work}/spool"}}\n'
                    f'defaults:\n  fps_limit: 0.5\n  source: {{mode: url, url: "{clip}", loop: true}}\n'
                    f'  publishers: {{local_dir: "{work}/out"}}\n'
                    f'  detectors: [{{type: yolo, confidence_threshold: 0.5, params: {{model: "{model}", '
                    f"classes: [person]}}}}]\ncameras:\n")
            for i in range(args.cameras):
                f.write(f"  - name: cam{i:02d}\n")
        log = open(os.path.join(work, "log"), "w")
        p = subprocess.Popen([args.binary, "--config", cfg], stdout=log, stderr=subprocess.STDOUT)
        try:
            wait(lambda: metrics(port), 30)
            time.sleep(15)

            def window():
                m0, (c0, _, _), t0 = metrics(port), proc(p.pid), time.time()
                time.sleep(args.seconds)
                m1, (c1, rss, _), t1 = metrics(port), proc(p.pid), time.time()
                analysed = (total(m1, "kvs_infer_frames_processed_total") -
                            total(m0, "kvs_infer_frames_processed_total")) / (t1 - t0)
                return 100 * (c1 - c0) / (t1 - t0), analysed, rss

            closed = window()
            browser = subprocess.Popen(["node", os.path.join(ROOT, "bench", "ui_open.js"),
                                        f"http://127.0.0.1:{port}/", str(args.seconds + 15)])
            time.sleep(10)
            opened = window()
            browser.wait(timeout=60)
        finally:
            p.terminate()
            p.wait(timeout=30)
    print(f"ui-cost: {args.cameras} cameras of 1080p at fps_limit 0.5, {os.cpu_count()} CPU(s), "
          f"{args.seconds:.0f} s windows (kvs-infer's CPU, % of one core)")
    for name, (cpu, analysed, rss) in (("page closed", closed), ("wall open", opened)):
        print(f"  {name:12s} CPU {cpu:6.1f} %  analysed {analysed:5.2f}/s  RSS {rss:.0f} MB")
    print(f"  the open page adds {opened[0] - closed[0]:.1f} % of a core")


if __name__ == "__main__":
    main()
