#!/bin/sh
# gpu_check.sh: the GPU checks of the CUDA backend in one run on a machine with a CUDA GPU: build
# (with the CUDA backend), the parity tests of tests/unit/test_gpu.c (which must run, not skip),
# the --device end-to-end test, then `bench`'s GPU rows: the 110M shape first, then 1B and 8B as
# the time left allows. Prints a summary at the end; exits non-zero when a check failed.
# Usage (from the repository root): sh tools/gpu_check.sh [SECONDS]   (default 480: ~8 minutes)
# Logs go to $OUT (the device tool's folder) or /tmp/gpu_check.
BUDGET=${1:-480}
LOG=${OUT:-/tmp/gpu_check}
mkdir -p "$LOG"
START=$(date +%s)
left() { echo $((BUDGET - ($(date +%s) - START))); }
summary=""
status=0
note() { summary="$summary
$1"; echo "== $1"; }

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >"$LOG/gpu.txt" 2>&1
note "gpu: $(cat "$LOG/gpu.txt" | head -1)"

# 1. build: the binary, the CUDA backend and the GPU test (the Debian packages must be there: no network)
if nice make -j"$(nproc)" slimscope build/libslimscope_cuda.so build/tests/test_gpu >"$LOG/build.txt" 2>&1; then
    note "build: ok ($(($(date +%s) - START)) s); ldd ./slimscope: $(ldd ./slimscope | grep -cE 'libcuda|libcudart|libcublas') CUDA libraries linked (want 0)"
else
    note "build: FAILED (tail of $LOG/build.txt below)"
    tail -20 "$LOG/build.txt"
    echo "$summary"
    exit 1
fi
./slimscope inspect --model models/demo/base 2>&1 | sed -n 2p >"$LOG/inspect.txt"
note "inspect: $(cat "$LOG/inspect.txt")"

# 2. parity: every op and whole forward passes on both backends, the demo's greedy tokens
t=$(left); [ "$t" -gt 240 ] && t=240
CMOCKA_MESSAGE_OUTPUT=TAP timeout "$t" ./build/tests/test_gpu >"$LOG/test_gpu.txt" 2>&1
rc=$?
if grep -q '# SKIP GPU tests not run' "$LOG/test_gpu.txt"; then
    note "test_gpu: SKIPPED on a GPU machine: $(grep SKIP "$LOG/test_gpu.txt")"; status=1
elif [ $rc -eq 0 ]; then
    note "test_gpu: ok ($(grep -c '^ok' "$LOG/test_gpu.txt") passed)"
else
    note "test_gpu: FAILED (exit $rc)"; status=1
fi
grep -E 'relative error|not ok|cuda device|normalised|# ' "$LOG/test_gpu.txt" | head -40

# 3. --device through the binary
timeout 120 sh tests/e2e/test_device.sh >"$LOG/test_device.txt" 2>&1
rc=$?
note "test_device.sh: $([ $rc -eq 0 ] && echo ok || echo FAILED) ($(grep -c '^ok' "$LOG/test_device.txt") ok, $(grep -c '^not ok' "$LOG/test_device.txt") not ok)"
[ $rc -eq 0 ] || { status=1; grep '^not ok' -A3 "$LOG/test_device.txt"; }

# 4. bench's GPU rows: 110M (quick), then the full table (1B, 8B; their checkpoints are written once)
export SLIMSCOPE_BENCH_CACHE=${SLIMSCOPE_BENCH_CACHE:-/tmp/slimscope-bench}
t=$(left)
if [ "$t" -gt 30 ]; then
    timeout $((t < 150 ? t : 150)) ./slimscope bench --only gpu --quick >"$LOG/bench_quick.txt" 2>&1
    note "bench --only gpu --quick: exit $?"
    cat "$LOG/bench_quick.txt"
fi
t=$(left)
if [ "$t" -gt 60 ]; then
    timeout "$t" ./slimscope bench --only gpu >"$LOG/bench_full.txt" 2>&1
    rc=$?
    note "bench --only gpu (1B, 8B): exit $rc$([ $rc -eq 124 ] && echo ' (out of time: rows so far below)')"
    cat "$LOG/bench_full.txt"
else
    note "bench --only gpu (1B, 8B): not run ($t s left)"
fi

echo
echo "summary (logs in $LOG):$summary"
echo "total $(($(date +%s) - START)) s"
exit $status
