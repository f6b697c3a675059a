#!/usr/bin/env python3
"""Checks a file written by `opzosim export` with h5py alone, against the run log's
checkpoint read with sqlite3: NIR's layout (string datasets `version` and `type`, edges
(E, 2), one group per node), node types, weights (out, in) equal to the checkpoint's W
(n_pre, n_post) transposed, the LIF mapping tau = dt/(1 - lambda), r = 1/(1 - lambda),
Delay nodes, the normalisation folded into the first layer and the exact weights in its
metadata.  Usage: nir-check.py FILE.nir RUNLOG RUN EPOCH DT; prints "ok" or fails.
"""
import sqlite3
import struct
import sys

import h5py

path, db_path, run, epoch, dt = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
db = sqlite3.connect(db_path)


def tensor(name):
    row = db.execute(
        "select data, shape from checkpoints where run_id = ? and epoch = ? and name = ?",
        (run, epoch, name),
    ).fetchone()
    assert row, "no tensor " + name
    data, shape = row
    vals = struct.unpack("<%df" % (len(data) // 4), data)
    return vals, [int(s) for s in shape.split(",")] if shape else []


def param(owner, key, default):
    row = db.execute(
        "select value from parameters where run_id = ? and owner = ? and key = ?",
        (run, owner, key),
    ).fetchone()
    return row[0] if row else default


def text(ds):
    v = ds[()]
    return v.decode() if isinstance(v, bytes) else str(v)


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


f = h5py.File(path, "r")
assert isinstance(f["version"], h5py.Dataset) and text(f["version"]), "version is a dataset"
assert text(f["node/type"]) == "NIRGraph"
edges = {tuple(e.decode() if isinstance(e, bytes) else e for e in row) for row in f["node/edges"][()]}
assert f["node/edges"].shape[1] == 2
nodes = f["node/nodes"]
for name in nodes:
    assert isinstance(nodes[name]["type"], h5py.Dataset), name + ": type is a dataset"

pops = {r[0]: r for r in db.execute(
    "select name, model, size, shape from populations where run_id = ?", (run,))}
inp = [p for p in pops.values() if p[1] == "input"][0][0]
out = [p for p in pops.values() if p[1] == "readout"][0][0]
std = float(f["node/metadata/opzosim_std"][()])


def node_of(pop):
    return "input" if pop == inp else "output" if pop == out else pop


for name, model, size, shape in pops.values():
    if model in ("input", "readout"):
        continue
    n = nodes[name]
    lam = float(param("population " + name, "lambda", "0.5"))
    assert text(n["type"]) == "LIF", name
    dims = tuple(int(s) for s in shape.split(","))
    for field in ("tau", "r", "v_leak", "v_threshold", "v_reset"):
        assert n[field].shape == dims, (name, field, n[field].shape, dims)
    assert abs(n["tau"][()].flat[0] - dt / (1 - lam)) <= 1e-15, name
    assert abs(n["r"][()].flat[0] - 1 / (1 - lam)) <= 1e-12, name
    assert n["v_threshold"][()].flat[0] == float(param("population " + name, "v_th", "1"))
    assert float(n["metadata/opzosim_lambda"][()]) == lam

checked = 0
for name, pre, post, n_pre, n_post, delay in db.execute(
        "select name, pre, post, n_pre, n_post, delay_ticks from projections where run_id = ?",
        (run,)):
    n = nodes[name]
    w, wshape = tensor("w:" + name)
    if text(n["type"]) == "Affine":
        assert n["weight"].shape == (n_post, n_pre), (name, n["weight"].shape)
        W = n["weight"][()]
        for i in range(n_pre):
            for o in range(n_post):
                if pre == inp:
                    assert abs(W[o, i] - f32(w[i * n_post + o] / std)) <= 1e-6 * abs(W[o, i]) + 1e-12
                else:
                    assert float(W[o, i]) == w[i * n_post + o], (name, o, i)
        if pre == inp:
            M = n["metadata/opzosim_weight"][()]
            assert M.shape == (n_pre, n_post)
            assert all(float(M.flat[k]) == w[k] for k in range(len(w)))
        elif post != out:
            b, _ = tensor("b:" + post)
            assert all(float(n["bias"][o]) == b[o] for o in range(n_post)), name
        checked += 1
    else:
        assert text(n["type"]) == "Conv2d"
        assert list(n["weight"].shape)[0] * list(n["weight"].shape)[1] * n["weight"].shape[2] * n["weight"].shape[3] == len(w)
    src = node_of(pre)
    if delay:
        d = nodes[name + "_delay"]
        assert text(d["type"]) == "Delay"
        assert abs(d["delay"][()].flat[0] - delay * dt) <= 1e-15
        assert (src, name + "_delay") in edges
    elif pre != inp or pops[pre][3].count(",") == 0:
        assert (src, name) in edges, (src, name, edges)
    assert (name, node_of(post)) in edges
assert checked >= 1
print("ok")
