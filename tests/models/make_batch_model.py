#!/usr/bin/python3
"""Makes a copy of a YOLO ONNX export whose batch dimension is dynamic, for
the batching tests and kvs-bench-infer (python3-onnx; weights untouched).

Exports fix the batch at 1 in three places: the input and output shapes, and
the Reshape nodes of the head ([1, 85, -1] and the like). The shapes become
"batch", and each Reshape fed (directly or not) by the image takes its first
dimension from its input instead (0 in ONNX Reshape). Reshapes of weights
are left alone. A Reshape on the image path that is not batch-first, or
whose shape is computed, is refused: the copy would be wrong.

Usage: make_batch_model.py SRC.onnx DST.onnx
"""
import sys

import onnx
from onnx import numpy_helper


def batch_dynamic(src, dst):
    m = onnx.load(src)
    g = m.graph
    for t in list(g.input) + list(g.output):
        d = t.type.tensor_type.shape.dim[0]
        d.ClearField("dim_value")
        d.dim_param = "batch"
    del g.value_info[:]  # inferred shapes with batch 1 would contradict
    inits = {i.name: i for i in g.initializer}
    consts = {n.output[0]: n for n in g.node if n.op_type == "Constant"}
    image = {g.input[0].name}
    for n in g.node:  # topological order
        if any(x in image for x in n.input):
            image.update(n.output)
    changed = 0
    for n in g.node:
        if n.op_type != "Reshape" or n.input[0] not in image:
            continue
        s = n.input[1]
        t = inits[s] if s in inits else consts[s].attribute[0].t if s in consts else None
        if t is None:
            raise ValueError(f"{src}: Reshape {n.name} has a computed shape; cannot make it batch-dynamic")
        a = numpy_helper.to_array(t).copy()
        if a[0] not in (0, 1):
            raise ValueError(f"{src}: Reshape {n.name} to {a.tolist()} is not batch-first")
        if a[0] == 1:
            a[0] = 0
            t.CopyFrom(numpy_helper.from_array(a, t.name))
            changed += 1
    onnx.save(m, dst)
    return changed


def main():
    src, dst = sys.argv[1], sys.argv[2]
    try:
        changed = batch_dynamic(src, dst)
    except ValueError as e:
        sys.exit(str(e))
    print(f"{dst}: batch-dynamic copy of {src} ({changed} Reshape shapes changed)")


if __name__ == "__main__":
    main()
