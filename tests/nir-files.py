#!/usr/bin/env python3
"""Writes the NIR files tests/test-nir.c imports, with h5py and nothing of opzosim.

snn.nir is laid out as snnTorch's exporter (nir.write) lays out a two-layer network:
Input (4) -> Affine fc1 (3, 4) -> LIF lif1 -> Affine fc2 (2, 3) -> LIF lif2 -> Output,
float32 per-neuron arrays, string datasets for `type` and `version`, edges (E, 2), no
metadata.  lif1: tau = 2e-4 s, r = 2 (lambda 0.5 and gain 1 at dt = 1e-4), v_reset = -2;
lif2: tau = 2e-4 s, r = 1 (gain dt*r/tau = 0.5), v_threshold 0.6.  The broken files are
snn.nir with one defect each.  recurrent.nir adds a recurrent Linear `rec` on lif1 (neuron 2
onto neuron 1, weight 0.5; snnTorch's RLeaky layout).  sinabs.nir is a convolutional
network as Sinabs writes one (sinabs() says what).  nested.nir is snn.nir with lif1 inside
a nested graph (NIRGraph `lif1` holding input, lif, output).  cuba.nir and
cuba-recurrent.nir are CubaLIF networks (cuba() says what); the recurrent one is the NIR
paper's example in snnTorch's RSynaptic layout, a nested graph.  events.nir is a network for
N-MNIST frames as another tool would write one (events() says what).  Usage: nir-files.py DIR

nir-files.py --strip FILE removes every metadata group from FILE: what a tool that knows
nothing of opzosim's metadata sees.
"""
import sys

import h5py
import numpy as np

F = np.float32
STR = h5py.string_dtype("utf-8")


def nodes():
    return {
        "input": {"type": "Input", "shape": np.array([4], dtype=np.int64)},
        "fc1": {
            "type": "Affine",
            "weight": np.array(
                [[0.875, 0, 0, 0], [0, 0, 0.25, 0], [0.75, 1, 0.5, 0]], dtype=F
            ),
            "bias": np.array([0, 0.25, 0], dtype=F),
        },
        "lif1": {
            "type": "LIF",
            "tau": np.full(3, 2e-4, dtype=F),
            "r": np.full(3, 2.0, dtype=F),
            "v_leak": np.zeros(3, dtype=F),
            "v_threshold": np.ones(3, dtype=F),
            "v_reset": np.full(3, -2.0, dtype=F),
        },
        "fc2": {
            "type": "Affine",
            "weight": np.array([[1, 0, 0], [0, 0, 1]], dtype=F),
            "bias": np.zeros(2, dtype=F),
        },
        "lif2": {
            "type": "LIF",
            "tau": np.full(2, 2e-4, dtype=F),
            "r": np.ones(2, dtype=F),
            "v_leak": np.zeros(2, dtype=F),
            "v_threshold": np.full(2, 0.6, dtype=F),
            "v_reset": np.zeros(2, dtype=F),
        },
        "output": {"type": "Output", "shape": np.array([2], dtype=np.int64)},
    }


EDGES = [["input", "fc1"], ["fc1", "lif1"], ["lif1", "fc2"], ["fc2", "lif2"], ["lif2", "output"]]


def write_graph(top, ns, edges):
    """A graph into group top, as nir.write lays it out; a node given as ("graph", nodes,
    edges) is a nested graph."""
    top.create_dataset("type", data="NIRGraph", dtype=STR)
    top.create_dataset("edges", data=np.array(edges, dtype=object), dtype=STR)
    grp = top.create_group("nodes")
    for name, fields in ns.items():
        g = grp.create_group(name)
        if isinstance(fields, tuple):
            write_graph(g, fields[1], fields[2])
            continue
        for k, v in fields.items():
            if isinstance(v, str):
                g.create_dataset(k, data=v, dtype=STR)
            else:
                g.create_dataset(k, data=v)


def write(path, ns, edges):
    with h5py.File(path, "w") as f:
        f.create_dataset("version", data="1.0.0", dtype=STR)
        write_graph(f.create_group("node"), ns, edges)


def cuba(d):
    """Input (4) -> Affine fc (2, 4) -> CubaLIF cuba -> a spiking Output.  cuba: tau_syn =
    tau_mem = 2e-4 s, r = 2, w_in = 4 at dt = 1e-4: alpha = lambda = 0.5 and the input gain
    (dt r / tau_mem)(dt w_in / tau_syn) = 1 * 2 = 2, v_threshold 1, v_reset 0, v_leak 0.
    fc's weights are half the currents they make (0.125 -> 0.25, 0.375 + 0.25 -> 1.25 for
    x = (1, 0, 1, 0)).  cuba-recurrent.nir wraps the CubaLIF as snnTorch's RSynaptic does: a
    NIRGraph `rsyn` holding input, lif (the CubaLIF), w_rec (a Linear (2, 2), 0.25 from
    neuron 1 onto neuron 0, times the gain 0.5) and output, edges input -> lif -> w_rec ->
    lif -> output."""
    def cubalif(n):
        # float64, as nir.write keeps numpy's default: 2e-4 is then exactly twice dt.
        return {
            "type": "CubaLIF",
            "tau_syn": np.full(n, 2e-4),
            "tau_mem": np.full(n, 2e-4),
            "r": np.full(n, 2.0),
            "v_leak": np.zeros(n),
            "v_threshold": np.ones(n),
            "v_reset": np.zeros(n),
            "w_in": np.full(n, 4.0),
        }

    fc = {"type": "Affine", "weight": np.array([[0.125, 0, 0, 0], [0.375, 0.5, 0.25, 0]], dtype=F),
          "bias": np.zeros(2, dtype=F)}
    inp = {"type": "Input", "shape": np.array([4], dtype=np.int64)}
    out = {"type": "Output", "shape": np.array([2], dtype=np.int64)}
    write(d + "/cuba.nir", {"input": inp, "fc": fc, "cuba": cubalif(2), "output": out},
          [["input", "fc"], ["fc", "cuba"], ["cuba", "output"]])
    sub = {
        "input": {"type": "Input", "shape": np.array([2], dtype=np.int64)},
        "lif": cubalif(2),
        "w_rec": {"type": "Linear", "weight": np.array([[0, 0.25], [0, 0]], dtype=F)},
        "output": {"type": "Output", "shape": np.array([2], dtype=np.int64)},
    }
    sub_edges = [["input", "lif"], ["lif", "w_rec"], ["w_rec", "lif"], ["lif", "output"]]
    write(d + "/cuba-recurrent.nir",
          {"input": inp, "fc": fc, "rsyn": ("graph", sub, sub_edges), "output": out},
          [["input", "fc"], ["fc", "rsyn"], ["rsyn", "output"]])


def sinabs(path):
    """A Sinabs-style convolutional network: IF neurons (r = 1) with per-neuron arrays of
    the layer's (C, H, W) shape, Conv2d with per-axis stride and padding, a SumPool2d, a
    Flatten and bias-free Affine nodes, a spiking output layer."""
    rng = np.random.default_rng(3)
    ns = {
        "input": {"type": "Input", "shape": np.array([1, 6, 6], dtype=np.int64)},
        "0": {
            "type": "Conv2d",
            "input_shape": np.array([6, 6], dtype=np.int64),
            "weight": rng.uniform(-1, 1.5, (2, 1, 3, 3)).astype(F),
            "stride": np.array([1, 1], dtype=np.int64),
            "padding": np.array([1, 1], dtype=np.int64),
            "dilation": np.array([1, 1], dtype=np.int64),
            "groups": np.int64(1),
            "bias": np.zeros(2, dtype=F),
        },
        "1": {"type": "IF", "r": np.ones((2, 6, 6), dtype=F),
              "v_threshold": np.ones((2, 6, 6), dtype=F), "v_reset": np.zeros((2, 6, 6), dtype=F)},
        "2": {"type": "SumPool2d", "kernel_size": np.array([2, 2], dtype=np.int64),
              "stride": np.array([2, 2], dtype=np.int64), "padding": np.array([0, 0], dtype=np.int64)},
        "3": {
            "type": "Conv2d",
            "input_shape": np.array([3, 3], dtype=np.int64),
            "weight": rng.uniform(-0.5, 1, (4, 2, 2, 2)).astype(F),
            "stride": np.array([1, 1], dtype=np.int64),
            "padding": np.array([0, 0], dtype=np.int64),
            "dilation": np.array([1, 1], dtype=np.int64),
            "groups": np.int64(1),
            "bias": np.zeros(4, dtype=F),
        },
        "4": {"type": "IF", "r": np.ones((4, 2, 2), dtype=F),
              "v_threshold": np.ones((4, 2, 2), dtype=F), "v_reset": np.zeros((4, 2, 2), dtype=F)},
        "5": {"type": "Flatten", "start_dim": np.int64(0), "end_dim": np.int64(-1)},
        "6": {"type": "Affine", "weight": rng.uniform(-0.5, 1, (10, 16)).astype(F),
              "bias": np.zeros(10, dtype=F)},
        "7": {"type": "IF", "r": np.ones(10, dtype=F), "v_threshold": np.ones(10, dtype=F),
              "v_reset": np.zeros(10, dtype=F)},
        "output": {"type": "Output", "shape": np.array([10], dtype=np.int64)},
    }
    order = ["input", "0", "1", "2", "3", "4", "5", "6", "7", "output"]
    write(path, ns, [[a, b] for a, b in zip(order, order[1:])])


def events(path):
    """Input (2, 34, 34) -> Flatten -> Affine fc1 (8, 2312) -> LIF lif1 -> Affine fc2 (10, 8)
    -> Output, no metadata.  fc1's weights are k/8 with k drawn uniformly from -3..3 (seed 5)
    and its bias is k/8 from 0..2, so every sum is exact in float32 whatever its order; lif1:
    tau = 2e-4 s, r = 2 (lambda 0.5, gain 1 at dt = 1e-4; float64, so that tau is exactly
    twice dt), v_threshold 1, v_reset 0.  fc2 is the identity on the first 8 classes."""
    rng = np.random.default_rng(5)
    n = 8
    fc2 = np.zeros((10, n), dtype=F)
    fc2[:n, :n] = np.eye(n, dtype=F)
    ns = {
        "input": {"type": "Input", "shape": np.array([2, 34, 34], dtype=np.int64)},
        "flat": {"type": "Flatten", "start_dim": np.int64(0), "end_dim": np.int64(-1)},
        "fc1": {"type": "Affine", "weight": (rng.integers(-3, 4, (n, 2 * 34 * 34)) / 8).astype(F),
                "bias": (rng.integers(0, 3, n) / 8).astype(F)},
        "lif1": {"type": "LIF", "tau": np.full(n, 2e-4), "r": np.full(n, 2.0),
                 "v_leak": np.zeros(n), "v_threshold": np.ones(n), "v_reset": np.zeros(n)},
        "fc2": {"type": "Affine", "weight": fc2, "bias": np.zeros(10, dtype=F)},
        "output": {"type": "Output", "shape": np.array([10], dtype=np.int64)},
    }
    order = ["input", "flat", "fc1", "lif1", "fc2", "output"]
    write(path, ns, [[a, b] for a, b in zip(order, order[1:])])


def strip(path):
    with h5py.File(path, "r+") as f:
        found = []
        f.visit(lambda name: found.append(name) if name.endswith("metadata") else None)
        for name in sorted(found, key=len, reverse=True):
            del f[name]


def main():
    if sys.argv[1] == "--strip":
        strip(sys.argv[2])
        return
    d = sys.argv[1]
    write(d + "/snn.nir", nodes(), EDGES)
    sinabs(d + "/sinabs.nir")
    ns = nodes()
    ns["rec"] = {"type": "Linear", "weight": np.array([[0, 0, 0], [0, 0, 0.5], [0, 0, 0]], dtype=F)}
    write(d + "/recurrent.nir", ns, EDGES + [["lif1", "rec"], ["rec", "lif1"]])
    ns = nodes()
    del ns["lif1"]["type"]
    write(d + "/missing-type.nir", ns, EDGES)
    ns = nodes()
    ns["lif1"]["type"] = "LI"
    ns["thr"] = {"type": "Threshold", "threshold": np.ones(2, dtype=F)}
    write(d + "/unknown-node.nir", ns, EDGES + [["lif2", "thr"]])
    write(d + "/bad-edge.nir", nodes(), EDGES + [["fc1", "ghost"]])
    ns = nodes()
    ns["fc1"]["weight"] = np.zeros((3, 5), dtype=F)
    write(d + "/shape-mismatch.nir", ns, EDGES)
    ns = nodes()
    sub = {
        "input": {"type": "Input", "shape": np.array([3], dtype=np.int64)},
        "lif": ns.pop("lif1"),
        "output": {"type": "Output", "shape": np.array([3], dtype=np.int64)},
    }
    ns["lif1"] = ("graph", sub, [["input", "lif"], ["lif", "output"]])
    write(d + "/nested.nir", ns, EDGES)
    cuba(d)
    events(d + "/events.nir")
    with open(d + "/not-hdf5.nir", "w") as f:
        f.write("this is not an HDF5 file\n")


main()
