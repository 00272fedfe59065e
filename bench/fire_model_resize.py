#!/usr/bin/env python3
"""Re-size an Ultralytics YOLOv8/YOLO11 detection export to another square input.

The convolutions do not care about the input size, but the traced export
bakes its input size (640 here) into a few constants: the anchor points and strides of
the head (8400 of them at 640), the head's DFL reshape, and the attention
block's reshapes (C2PSA: a 20x20 grid at 640). This rewrites exactly those
(anchors recomputed as the exporter does: cell centres at 0.5 offsets for
strides 8, 16 and 32), the input and output shapes and the `imgsz` metadata,
and fails when it does not find them all (another architecture). The
weights are untouched, so the model is the same at a smaller scale: a
416 input costs about 0.42 of the 640 one. Needs python3-onnx.

  usage: bench/fire_model_resize.py IN.onnx OUT.onnx SIZE
"""
import sys

import numpy as np
import onnx
from onnx import numpy_helper

STRIDES = (8, 16, 32)


def anchors(size):
    """(anchor points [1,2,N], strides [1,N]) of the head at a square input."""
    pts, strides = [], []
    for s in STRIDES:
        n = size // s
        sy, sx = np.meshgrid(np.arange(n) + 0.5, np.arange(n) + 0.5, indexing="ij")
        pts.append(np.stack((sx, sy), -1).reshape(-1, 2))
        strides.append(np.full(n * n, s))
    return (np.concatenate(pts).T.astype(np.float32)[None],
            np.concatenate(strides).astype(np.float32)[None])


def constants(graph):
    """Every initializer and Constant node's tensor, to be rewritten in place."""
    for t in graph.initializer:
        yield t
    for node in graph.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    yield a.t


def new_shape(v, old, new):
    """A Reshape shape of the head or the attention block at the new size, else None."""
    n_old, n_new = old[0].shape[2], new[0].shape[2]
    g_old, g_new = old[2], new[2]
    if v.dtype != np.int64 or v.ndim != 1 or v.size not in (3, 4):
        return None
    w = v.copy()
    if v[-1] == n_old:                      # DFL: [1,4,16,N], [1,4,N]
        w[-1] = n_new
    elif v.size == 4 and v[3] == g_old * g_old:   # attention: [1,heads,dims,H*W]
        w[3] = g_new * g_new
    elif v.size == 4 and v[2] == g_old and v[3] == g_old:  # attention: [1,C,H,W]
        w[2] = w[3] = g_new
    else:
        return None
    return w


def resize(model, size):
    """Rewrite model (an onnx ModelProto) for a size x size input; the list of what changed."""
    if size % 32 or size <= 0:
        raise ValueError("the size must be a positive multiple of 32")
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    if len(dims) != 4 or dims[2] != dims[3] or dims[2] % 32:
        raise ValueError(f"input {dims} is not a fixed square image")
    old_size = dims[2]
    old = anchors(old_size) + (old_size // 32,)
    new = anchors(size) + (size // 32,)
    done = []
    for t in constants(model.graph):
        v = numpy_helper.to_array(t)
        if v.shape == old[0].shape and np.array_equal(v, old[0]):
            w, what = new[0], "anchors"
        elif v.shape == old[1].shape and np.array_equal(v, old[1]):
            w, what = new[1], "strides"
        else:
            w, what = new_shape(v, old, new), f"shape {v.tolist()}"
        if w is not None:
            t.CopyFrom(numpy_helper.from_array(w.astype(v.dtype), t.name))
            done.append(what)
    if "anchors" not in done or "strides" not in done or not any("shape" in d for d in done):
        raise ValueError(f"not a YOLOv8/YOLO11 export at {old_size} (found only: {done})")
    n_old, n_new = old[0].shape[2], new[0].shape[2]
    for vi in list(model.graph.input) + list(model.graph.output):
        for d in vi.type.tensor_type.shape.dim:
            if d.dim_value in (old_size, n_old):
                d.dim_value = size if d.dim_value == old_size else n_new
    del model.graph.value_info[:]  # inferred shapes of the old size
    for p in model.metadata_props:
        if p.key == "imgsz":
            p.value = f"[{size}, {size}]"
    return done


def main():
    if len(sys.argv) != 4:
        raise SystemExit(__doc__.strip().splitlines()[-1])
    m = onnx.load(sys.argv[1])
    try:
        done = resize(m, int(sys.argv[3]))
    except ValueError as e:
        raise SystemExit(f"fire_model_resize: {sys.argv[1]}: {e}")
    onnx.save(m, sys.argv[2])
    print(f"fire_model_resize: {sys.argv[2]}: {len(done)} constants rewritten", file=sys.stderr)


if __name__ == "__main__":
    main()
