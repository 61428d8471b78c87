#!/bin/sh
# test_torch_parity.sh — libdenoise's U-Net against PyTorch (tests/torch_parity.py
# drives tests/parity_driver and compares): folded inference, loss, gradients,
# one Adam step and batch-norm running statistics, each within a stated
# tolerance. Needs Debian's python3-torch (scripts/debian-packages.txt); its
# absence is a failure, not a skip, so that CI cannot pass without the check.
set -u
: "${DN_SRCDIR:?run from make check}" "${DN_BUILDDIR:?run from make check}"
py=${DN_PYTHON:-/usr/bin/python3}
driver=$DN_BUILDDIR/tests/parity_driver
if ! "$py" -c 'import numpy, torch' 2>/dev/null; then
	echo "$py cannot import numpy and torch (install python3-numpy python3-torch)"
	exit 1
fi
[ -x "$driver" ] || { echo "missing $driver"; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/dn-parity.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
# One thread each side; ASan's leak check stays on for the driver.
OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 "$py" "$DN_SRCDIR/tests/torch_parity.py" --driver "$driver" --workdir "$work"
