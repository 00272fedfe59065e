#!/usr/bin/python3
"""The Python + OpenCV pipeline kvs-bench is compared with (issue 12's goal:
kvs-infer's every-frame throughput at least 4x this).

It does the core of the same work on the same clip and model, every frame:
decode (cv2.VideoCapture, FFmpeg underneath), YOLOX letterbox (BGR 0-255,
top-left, pad 114), inference (cv2.dnn on the ONNX model, CPU, all cores),
grid decoding, score threshold and NMS. It does less than kvs-infer: no
tracking, no ROI, no events, snapshots or spool, so the ratio flatters it.

Usage: baseline_opencv.py MODEL.onnx CLIP [--seconds S]
Prints: "baseline-opencv frames=N wall=S F frames/s".
"""
import argparse
import os
import sys
import time

import numpy as np

try:
    import cv2
except ImportError:
    sys.exit("baseline-opencv: python3-opencv is not installed (apt-get install python3-opencv)")

SIZE = 416
STRIDES = (8, 16, 32)


def grids():
    g, s = [], []
    for stride in STRIDES:
        n = SIZE // stride
        ys, xs = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        g.append(np.stack((xs, ys), -1).reshape(-1, 2))
        s.append(np.full((n * n, 1), stride))
    return np.concatenate(g).astype(np.float32), np.concatenate(s).astype(np.float32)


def letterbox(frame):
    h, w = frame.shape[:2]
    r = min(SIZE / h, SIZE / w)
    out = np.full((SIZE, SIZE, 3), 114, np.uint8)
    out[: int(h * r), : int(w * r)] = cv2.resize(frame, (int(w * r), int(h * r)),
                                                 interpolation=cv2.INTER_LINEAR)
    return out, r


def detect(net, frame, grid, stride, threshold=0.5):
    img, r = letterbox(frame)
    net.setInput(cv2.dnn.blobFromImage(img, 1.0, (SIZE, SIZE), swapRB=False, crop=False))
    out = net.forward()[0]
    xy = (out[:, :2] + grid) * stride
    wh = np.exp(out[:, 2:4]) * stride
    scores = out[:, 4:5] * out[:, 5:]
    cls = scores.argmax(1)
    conf = scores[np.arange(len(cls)), cls]
    keep = conf >= threshold
    boxes = np.concatenate((xy - wh / 2, wh), 1)[keep] / r
    idx = cv2.dnn.NMSBoxes(boxes.tolist(), conf[keep].tolist(), threshold, 0.45)
    return len(idx)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("clip")
    ap.add_argument("--seconds", type=float, default=10)
    args = ap.parse_args()
    cv2.setNumThreads(os.cpu_count())
    net = cv2.dnn.readNetFromONNX(args.model)
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    grid, stride = grids()
    cap = cv2.VideoCapture(args.clip)
    ok, frame = cap.read()
    if not ok:
        sys.exit(f"baseline-opencv: cannot read {args.clip}")
    detect(net, frame, grid, stride)  # warm-up
    frames, found, t0 = 0, 0, time.monotonic()
    while time.monotonic() - t0 < args.seconds:
        ok, frame = cap.read()
        if not ok:
            cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            continue
        found += detect(net, frame, grid, stride)
        frames += 1
    wall = time.monotonic() - t0
    print(f"baseline-opencv frames={frames} wall={wall:.2f}s {frames / wall:.1f} frames/s "
          f"({found} detections, OpenCV {cv2.__version__})")


if __name__ == "__main__":
    main()
