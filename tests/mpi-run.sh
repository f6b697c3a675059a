#!/bin/sh
# tests/mpi-run.sh — $OZ_BIN of tests/test-mpi.c and tests/test-dist.c: $OZ_OPZOSIM (the
# program, or tests/dist-check.c for test-dist) under `mpirun -np $OZ_NP` when OZ_NP is set,
# alone otherwise.  --oversubscribe lets 2 ranks run on a machine
# with fewer free cores; as root Open MPI wants --allow-run-as-root.
if [ -z "$OZ_NP" ]; then
  exec "$OZ_OPZOSIM" "$@"
fi
root=""
if [ "$(id -u)" -eq 0 ]; then root="--allow-run-as-root"; fi
exec mpirun -np "$OZ_NP" --oversubscribe $root "$OZ_OPZOSIM" "$@"
