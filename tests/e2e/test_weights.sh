#!/bin/sh
# Weights computed as stored, through the real binary: on the shipped demo (BF16) greedy text is the
# same as with the weights widened to float32, with and without the SLIM adapter; Q8_0 still answers;
# a BF16 model's peak resident memory stays within its file size + 64 MB (widening it to float32
# would need twice the file). Prints TAP lines.
BIN=${SLIMSCOPE_BIN:-./slimscope}
D=${DEMO_DIR:-models/demo}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
no() { n=$((n + 1)); echo "not ok $n - $1"; }
check() { if eval "$2"; then ok "$1"; else no "$1"; fi; }

[ -x "$BIN" ] || { no "binary $BIN exists"; exit 1; }
if [ -f "$D/base/config.json" ]; then
    for ad in "" "--adapter $D/slim"; do
        for p in "The king said unto them" "Q: 45+78= A:"; do
            a=$("$BIN" generate --model $D/base $ad --prompt "$p" -n 32 --weights native 2>/dev/null)
            b=$("$BIN" generate --model $D/base $ad --prompt "$p" -n 32 --weights f32 2>/dev/null)
            check "BF16 greedy = F32 greedy ${ad:+(slim) }on '$p' (got: $a)" '[ -n "$a" ] && [ "$a" = "$b" ]'
        done
    done
    q=$("$BIN" generate --model $D/base --prompt "The king said unto them" -n 16 --weights q8 2>/dev/null)
    words=$(printf '%s' "$q" | tr -cs 'A-Za-z' '\n' | grep -c '[a-z]')
    check "Q8_0 generates words (got: $q)" '[ "$words" -ge 6 ]'
else
    echo "ok 1 - demo model present # SKIP models/demo/base is not built (make demo)"
    n=1
fi

# peak RSS of `forward` on a ~80 MB BF16 model, on the CPU (a GPU would hold the weights itself)
"$BIN" make-test-model --out "$T/m" --dim 512 --layers 8 --vocab 16384 --dtype BF16 >/dev/null 2>&1
size=$(stat -c %s "$T/m/model.safetensors")
rss() { /usr/bin/time -f %M "$BIN" forward --model "$T/m" --ids 1,2,3 --device cpu --weights $1 --dump-logits "$T/l.$1" 2>&1 >/dev/null | tail -1; }
native=$(rss native); f32=$(rss f32)
limit=$(( (size + 64 * 1024 * 1024) / 1024 ))
check "BF16 forward: peak RSS ${native} KB <= file ${size} B + 64 MB (${limit} KB)" '[ "$native" -le "$limit" ]'
check "the same with --weights f32 needs more (${f32} KB > ${limit} KB: the bound tells them apart)" '[ "$f32" -gt "$limit" ]'
check "BF16 and widened logits agree" 'cmp -s "$T/l.native" "$T/l.f32" || node -e "
const f=require(\"fs\");const a=new Float32Array(f.readFileSync(process.argv[1]).buffer),b=new Float32Array(f.readFileSync(process.argv[2]).buffer);
let m=0,s=0;for(let i=0;i<a.length;i++){m=Math.max(m,Math.abs(a[i]-b[i]));s=Math.max(s,Math.abs(b[i]))}process.exit(m<=1e-4*s?0:1)" "$T/l.native" "$T/l.f32"'
