#!/usr/bin/env python3
"""bench/mpi-model.py — the scaling model of docs/CLUSTER.md: time per step against the number
of ranks and the network, and the rank count from which communication takes longer than
computing.

  t(N)      = B·t_s/N + t_comm(N)
  t_comm(N) = 2·(N−1)/N · S/BW + k·2·(N−1)·L

B the global batch (128), t_s one rank's compute time per sample, S the bytes summed per
step (gradients, plus OPZO's M × T with m_cadence = tick), k the fixed-order sums per step
(1, plus T for OPZO's per-tick M), BW and L a link's bandwidth and message latency.

  bench/mpi-model.py [T_S_MNIST_OPZO_MS T_S_MNIST_BP_MS]

The MNIST FC times per sample default to the idle 2-core machine's training epochs of
docs/RESULTS.md (OPZO 9.7 s, BP 8.1 s for 60,000 samples at 2 threads: 0.32 and 0.27 ms per
sample on one core); N-MNIST FC's come from bench/nmnist.sh, conv5's are estimates (below).
"""
import sys

B = 128
MB = 1e6

# name, t_s (s per sample on one core), S (bytes per step), k (sums per step)
def nets(ts_mnist_opzo, ts_mnist_bp):
    grad_fc, grad_nfc, grad_conv = 1276810 * 4, 2499210 * 4, 1727498 * 4
    m_fc, m_conv = 16000 * 4, 1756160 * 4
    return [
        ("MNIST FC, OPZO (T = 6)", ts_mnist_opzo, grad_fc + 6 * m_fc, 7),
        ("MNIST FC, BP", ts_mnist_bp, grad_fc, 1),
        # N-MNIST: the training epochs of bench/nmnist.sh (docs/PERFORMANCE.md, N-MNIST: OPZO
        # 76 s, BP 77 s for 60,000 samples at 2 threads), as one core's time per sample.
        ("N-MNIST FC, OPZO (T = 30)", 2 * 76.0 / 60000, grad_nfc + 30 * m_fc, 31),
        ("N-MNIST FC, BP", 2 * 77.0 / 60000, grad_nfc, 1),
        # conv5: about 130 ms of CPU per sample (docs/PERFORMANCE.md, 2 threads' CPU time).
        ("conv5, OPZO, m_cadence = tick", 0.130, grad_conv + 6 * m_conv, 7),
        ("conv5, OPZO, m_cadence = window", 0.130, grad_conv + m_conv, 2),
        ("conv5, BP", 0.125, grad_conv, 1),
    ]

LINKS = [
    ("one node, shared memory (5 GB/s, 1 µs)", 5e9, 1e-6),
    ("InfiniBand HDR (12 GB/s, 2 µs)", 12e9, 2e-6),
    ("10 GbE (1.1 GB/s, 20 µs)", 1.1e9, 20e-6),
    ("1 GbE (0.11 GB/s, 50 µs)", 0.11e9, 50e-6),
]


def t_comm(n, s, k, bw, lat):
    return 2 * (n - 1) / n * s / bw + k * 2 * (n - 1) * lat


def crossover(ts, s, k, bw, lat):
    """The smallest N (2..B) whose compute share B·t_s/N is below t_comm(N), or None."""
    for n in range(2, B + 1):
        if B * ts / n < t_comm(n, s, k, bw, lat):
            return n
    return None


def main():
    ts_opzo = float(sys.argv[1]) / 1e3 if len(sys.argv) > 1 else 0.32e-3
    ts_bp = float(sys.argv[2]) / 1e3 if len(sys.argv) > 2 else 0.27e-3
    rows = nets(ts_opzo, ts_bp)
    print("| network | t_s (ms/sample) | S (MB/step) | " +
          " | ".join(l[0] for l in LINKS) + " |")
    print("| --- | --- | --- | " + " | ".join("---" for _ in LINKS) + " |")
    for name, ts, s, k in rows:
        cells = []
        for _, bw, lat in LINKS:
            n = crossover(ts, s, k, bw, lat)
            if n is None:
                cells.append("> 128")
            else:
                step = B * ts / n + t_comm(n, s, k, bw, lat)
                cells.append(f"{n} ({1e3 * step:.0f} ms/step)")
        print(f"| {name} | {1e3 * ts:.2f} | {s / MB:.1f} | " + " | ".join(cells) + " |")
    print()
    print("Time per step (ms) of MNIST FC OPZO against N, 10 GbE:")
    name, ts, s, k = rows[0]
    for n in (1, 2, 4, 8, 16, 32, 64):
        c = t_comm(n, s, k, 1.1e9, 20e-6)
        print(f"  N = {n:3d}: compute {1e3 * B * ts / n:7.1f}  communication {1e3 * c:6.1f}")


if __name__ == "__main__":
    main()
