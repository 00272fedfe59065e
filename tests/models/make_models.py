#!/usr/bin/python3
"""Builds the small ONNX models the tests use (Debian's python3-onnx, no
runtime needed). Each model ignores its input pixels and returns a planted
output tensor, so the tests know exactly which detections must come out of
the real ONNX Runtime path for every YOLO layout.

With the project's models folder as a second argument, it also writes
batch-dynamic copies of the real YOLOX-nano and YOLOv8n there are
(make_batch_model.py), for the batching tests.

Usage: make_models.py OUTDIR [MODELS_DIR]
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from make_batch_model import batch_dynamic

SIZE = 96
GRID = sum((SIZE // s) ** 2 for s in (8, 16, 32))  # 189 cells at 96x96
NAMES = ["person", "car", "knife"]
# (cx, cy, w, h, class, score) in model-input pixels.
BOXES = [
    (48.0, 40.0, 20.0, 30.0, 0, 0.90),
    (49.0, 41.0, 20.0, 30.0, 0, 0.60),  # overlaps the first: NMS removes it
    (20.0, 70.0, 10.0, 12.0, 2, 0.80),
    (80.0, 20.0, 8.0, 8.0, 1, 0.30),    # below the usual thresholds
]


def model(out_array, name, in_shape=(1, 3, SIZE, SIZE), names=NAMES, extra=None):
    inp = helper.make_tensor_value_info("images", TensorProto.FLOAT, list(in_shape))
    out = helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(out_array.shape))
    const = numpy_helper.from_array(out_array.astype(np.float32), "planted")
    # output = planted + 0 * mean(images): the graph really reads its input.
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["m"], keepdims=0),
        helper.make_node("Constant", [], ["zero"], value=numpy_helper.from_array(np.array(0.0, np.float32))),
        helper.make_node("Mul", ["m", "zero"], ["z"]),
        helper.make_node("Add", ["planted", "z"], ["output0"]),
    ]
    graph = helper.make_graph(nodes, name, [inp], [out], initializer=[const])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    if names is not None:
        meta = m.metadata_props.add()
        meta.key = "names"
        meta.value = "{" + ", ".join(f"{i}: '{n}'" for i, n in enumerate(names)) + "}"
    for k, v in (extra or {}).items():  # the Ultralytics exporter's other keys
        p = m.metadata_props.add()
        p.key, p.value = k, v
    onnx.checker.check_model(m)
    return m


def yolov8():
    out = np.zeros((1, 4 + len(NAMES), GRID), np.float32)
    for i, (cx, cy, w, h, c, s) in enumerate(BOXES):
        col = 10 + 40 * i
        out[0, 0:4, col] = (cx, cy, w, h)
        out[0, 4 + c, col] = s
    return out


def yolov5():
    out = np.zeros((1, 3 * GRID, 5 + len(NAMES)), np.float32)
    for i, (cx, cy, w, h, c, s) in enumerate(BOXES):
        row = 7 + 100 * i
        out[0, row, 0:5] = (cx, cy, w, h, 1.0)
        out[0, row, 5 + c] = s
    return out


def end2end(classes=None, rows=300):
    """[1, rows, 6]: x1,y1,x2,y2,score,class per box, already suppressed (the
    0.6 duplicate is gone), padded with zero rows as the exporters do.
    classes: keep only the boxes of these classes."""
    out = np.zeros((1, rows, 6), np.float32)
    kept = [b for i, b in enumerate(BOXES) if i != 1 and (classes is None or b[4] in classes)]
    for i, (cx, cy, w, h, c, s) in enumerate(sorted(kept, key=lambda b: -b[5])):
        out[0, i] = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, s, c)
    return out


def yolov5_one_class():
    """A one-class YOLOv5 [1, 3*grid, 5+1]: the same width as end2end."""
    out = np.zeros((1, 3 * GRID, 6), np.float32)
    for i, (cx, cy, w, h, c, s) in enumerate(BOXES):
        if c == 0:
            out[0, 7 + 100 * i] = (cx, cy, w, h, 1.0, s)
    return out


# A model whose scores follow the picture: per box, the mean of one colour
# channel of the (normalised) input. Solid-colour frames then switch boxes on
# and off, which is what the confirmation, area, person and class rules need.
GATED_NAMES = ["person", "knife", "small_flame", "smoke"]
# (cx, cy, w, h, class, channel 0=R 1=G 2=B)
GATED = [
    (40.0, 48.0, 24.0, 60.0, 0, 0),  # a person
    (52.0, 60.0, 8.0, 8.0, 1, 1),    # a knife in the person's hand
    (85.0, 12.0, 8.0, 8.0, 1, 2),    # a knife far from anyone
    (30.0, 30.0, 40.0, 40.0, 2, 1),  # flames
    (10.0, 85.0, 2.0, 2.0, 3, 2),    # smoke, 4 px^2: below min_area
    (70.0, 70.0, 30.0, 30.0, 3, 0),  # smoke
]


def gated(batch=False):
    """batch: the first dimension is dynamic ("batch"), each image's scores
    following its own picture, so a batch that mixes up its images shows."""
    rows = 4 + len(GATED_NAMES)
    n = "batch" if batch else 1
    planted = np.zeros((1, rows, GRID), np.float32)
    sel = np.zeros((3, rows * GRID), np.float32)
    for i, (cx, cy, w, h, c, ch) in enumerate(GATED):
        col = 5 + 30 * i
        planted[0, 0:4, col] = (cx, cy, w, h)
        sel[ch, (4 + c) * GRID + col] = 1.0
    inp = helper.make_tensor_value_info("images", TensorProto.FLOAT, [n, 3, SIZE, SIZE])
    out = helper.make_tensor_value_info("output0", TensorProto.FLOAT, [n, rows, GRID])
    inits = [numpy_helper.from_array(planted, "planted"), numpy_helper.from_array(sel, "sel"),
             numpy_helper.from_array(np.array([-1 if batch else 1, rows, GRID], np.int64), "shape")]
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["means"], axes=[2, 3], keepdims=0),  # [1, 3]
        helper.make_node("MatMul", ["means", "sel"], ["flat"]),
        helper.make_node("Reshape", ["flat", "shape"], ["scores"]),
        helper.make_node("Add", ["planted", "scores"], ["output0"]),
    ]
    m = helper.make_model(helper.make_graph(nodes, "gated", [inp], [out], initializer=inits),
                          opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    meta = m.metadata_props.add()
    meta.key = "names"
    meta.value = "{" + ", ".join(f"{i}: '{n}'" for i, n in enumerate(GATED_NAMES)) + "}"
    onnx.checker.check_model(m)
    return m


def main():
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    onnx.save(model(yolov8(), "yolov8_planted"), os.path.join(outdir, "yolov8_96.onnx"))
    onnx.save(model(yolov5(), "yolov5_planted"), os.path.join(outdir, "yolov5_96.onnx"))
    # No class-name metadata: the config must name the classes.
    onnx.save(model(yolov8(), "yolov8_nonames", names=None), os.path.join(outdir, "yolov8_nonames.onnx"))
    # Wrong input: one channel instead of three.
    onnx.save(model(yolov8(), "gray", in_shape=(1, 1, SIZE, SIZE)), os.path.join(outdir, "gray_input.onnx"))
    # An output no YOLO layout explains.
    onnx.save(model(np.zeros((1, 3, 4), np.float32), "odd"), os.path.join(outdir, "odd_output.onnx"))
    onnx.save(gated(), os.path.join(outdir, "gated_96.onnx"))
    onnx.save(gated(batch=True), os.path.join(outdir, "gated_batch_96.onnx"))
    # Takes a batch but answers one image's worth: a batch cannot be split.
    onnx.save(model(yolov8(), "batch_in_only", in_shape=("batch", 3, SIZE, SIZE)),
              os.path.join(outdir, "batch_in_only.onnx"))
    # End-to-end exports, told apart from YOLOv5 by what their metadata says.
    def save(m, f):
        onnx.save(m, os.path.join(outdir, f))

    save(model(end2end(), "e2e_said", extra={"task": "detect", "end2end": "True"}), "e2e_96.onnx")
    person = ["person"]
    # YOLOv10 (Ultralytics 8.2): "task" but no "end2end" key
    save(model(end2end({0}), "v10", names=person, extra={"task": "detect"}), "v10_1class_96.onnx")
    # nms=True export arguments only
    save(model(end2end({0}), "nms_args", names=person, extra={"args": "{'batch': 1, 'nms': True}"}),
         "nms_1class_96.onnx")
    # nothing but the names: one class is ambiguous, three are not
    save(model(end2end({0}), "bare1", names=person), "e2e_1class_bare_96.onnx")
    save(model(end2end(), "bare3"), "e2e_bare_96.onnx")
    save(model(end2end(), "e2e_nonames", names=None, extra={"end2end": "True"}), "e2e_nonames_96.onnx")
    save(model(yolov5_one_class(), "v5one", names=person), "yolov5_1class_96.onnx")
    with open(os.path.join(outdir, "not_a_model.onnx"), "wb") as f:
        f.write(b"this is not protobuf\x00\x01")
    real = sys.argv[2] if len(sys.argv) > 2 else None
    for name in ("yolox_nano", "yolov8n_int8_640"):
        src = os.path.join(real, "coco", name + ".onnx") if real else ""
        if os.path.exists(src):
            batch_dynamic(src, os.path.join(outdir, name + "_batch.onnx"))


if __name__ == "__main__":
    main()
