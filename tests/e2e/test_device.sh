#!/bin/sh
# test_device.sh: --device through the real binary. The binary links no CUDA library; with no
# usable CUDA backend (here forced by pointing SLIMSCOPE_CUDA_LIB at nothing) --device auto runs on
# the CPU after one line on stderr saying why, with the CPU's exact logits, and --device cuda is a
# one-line error; inspect names the device. On a machine with a usable GPU, --device cuda and auto
# run there with no line. Run from the repository root; prints TAP lines itself.
BIN=${SLIMSCOPE:-./slimscope}
n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; shift; for l in "$@"; do echo "# $l"; done; }
check() { if eval "$2"; then ok "$1"; else not_ok "$1" "$(cat "$T/err" 2>/dev/null)"; fi; }

T=$(mktemp -d "${TMPDIR:-/tmp}/slimscope-device-XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT INT TERM
"$BIN" make-test-model --out "$T/m" >/dev/null 2>&1 || { not_ok "make-test-model failed (run make first)"; echo "1..$n"; exit 1; }

check "the binary links no CUDA library" '! ldd "$BIN" | grep -Eq "libcuda|libcudart|libcublas"'

NOLIB=$T/no-such-lib.so
# forward's own stderr line ("wrote N x V logits to FILE") is left out of the counts
run() { SLIMSCOPE_CUDA_LIB=$NOLIB "$BIN" "$@" >"$T/out" 2>"$T/all"; rc=$?; grep -v '^wrote ' "$T/all" >"$T/err"; return $rc; }
run forward --model "$T/m" --ids 1,2,3 --dump-logits "$T/cpu.bin" --device cpu
check "--device cpu runs with nothing on stderr" '[ $rc -eq 0 ] && [ ! -s "$T/err" ]'

# a build without CUDA says so for --device cuda and falls back without a word
run forward --model "$T/m" --ids 1,2,3 --dump-logits "$T/x.bin" --device cuda
if grep -q "built without CUDA" "$T/err"; then
    check "GPU=0 build: --device cuda is one error line, exit 1" '[ $rc -eq 1 ] && [ $(grep -c "" "$T/err") -eq 1 ]'
    run forward --model "$T/m" --ids 1,2,3 --dump-logits "$T/auto.bin"
    check "GPU=0 build: --device auto runs on the CPU silently" '[ $rc -eq 0 ] && [ ! -s "$T/err" ] && cmp -s "$T/auto.bin" "$T/cpu.bin"'
else
    check "no CUDA backend: --device cuda is one error line naming the library, exit 1" \
        '[ $rc -eq 1 ] && [ $(grep -c "" "$T/err") -eq 1 ] && grep -q -- "forward: --device cuda: cannot load the CUDA backend: $NOLIB" "$T/err"'
    run forward --model "$T/m" --ids 1,2,3 --dump-logits "$T/auto.bin"
    check "no CUDA backend: --device auto runs, one line on stderr" \
        '[ $rc -eq 0 ] && [ $(grep -c "" "$T/err") -eq 1 ] && grep -q "^slimscope: --device auto: no usable CUDA device (cannot load the CUDA backend: .*); running on the CPU$" "$T/err"'
    check "no CUDA backend: --device auto gives the CPU's logits exactly" 'cmp -s "$T/auto.bin" "$T/cpu.bin"'
    run inspect --model "$T/m"
    check "inspect names the CPU fallback and its reason" 'grep -q "^device  *cpu: .*no usable CUDA device" "$T/out" && [ ! -s "$T/err" ]'
    run inspect --model "$T/m" --device cuda
    check "inspect --device cuda without a backend: exit 1, one line" '[ $rc -eq 1 ] && [ $(grep -c "" "$T/err") -eq 1 ]'
fi

if [ -f models/demo/base/config.json ]; then
    printf 'The king said unto them\n' >"$T/text.txt"
    run eval --model models/demo/base --data "$T/text.txt" --metric ppl --device cpu
    grep '^metric=ppl' "$T/out" >"$T/ppl.cpu"
    run eval --model models/demo/base --data "$T/text.txt" --metric ppl
    check "eval: --device auto without a backend gives the CPU's perplexity" '[ $rc -eq 0 ] && grep "^metric=ppl" "$T/out" | cmp -s - "$T/ppl.cpu"'
    run eval --model models/demo/base --data "$T/text.txt" --metric ppl --device cuda
    check "eval: --device cuda without a backend: exit 1, one line" '[ $rc -eq 1 ] && [ $(grep -c "" "$T/err") -eq 1 ]'
fi
run forward --model "$T/m" --ids 1 --dump-logits "$T/x.bin" --device gpu
check "--device gpu: usage error, exit 2" '[ $rc -eq 2 ] && grep -q "expects auto, cpu or cuda" "$T/err"'
run forward --model "$T/m" --ids 1 --dump-logits "$T/x.bin" --device cuda --weights q8
check "--device cuda --weights q8: one error line, exit 1" '[ $rc -eq 1 ] && [ $(grep -c "" "$T/err") -eq 1 ] && grep -q "Q8_0" "$T/err"'
run forward --model "$T/m" --ids 1,999 --dump-logits "$T/x.bin"
check "a bad id is the only line on stderr (the device is chosen after validation)" \
    '[ $rc -eq 1 ] && [ $(grep -c "" "$T/err") -eq 1 ] && grep -q "outside the vocabulary" "$T/err"'

# with the real backend: a usable GPU runs --device cuda and auto without a word
"$BIN" inspect --model "$T/m" >"$T/out" 2>"$T/err"
if grep -q "^device  *cuda:" "$T/out"; then
    "$BIN" forward --model "$T/m" --ids 1,2,3 --dump-logits "$T/gpu.bin" --device cuda >/dev/null 2>"$T/all"
    rc=$?; grep -v '^wrote ' "$T/all" >"$T/err"
    check "GPU present: --device cuda runs with nothing on stderr" '[ $rc -eq 0 ] && [ ! -s "$T/err" ]'
    "$BIN" forward --model "$T/m" --ids 1,2,3 --dump-logits "$T/auto.bin" >/dev/null 2>"$T/all"
    rc=$?; grep -v '^wrote ' "$T/all" >"$T/err"
    check "GPU present: --device auto picks it silently (same logits as --device cuda)" '[ $rc -eq 0 ] && [ ! -s "$T/err" ] && cmp -s "$T/auto.bin" "$T/gpu.bin"'
else
    n=$((n + 1)); echo "ok $n - --device cuda on a GPU # SKIP no usable CUDA device here: $(grep '^device' "$T/out")"
fi
echo "1..$n"
[ "$fails" -eq 0 ]
