#!/bin/sh
# Decode and prefill tokens/s of slimscope and llama.cpp on the same weights, side by side in one
# run (rounds interleaved, medians), on the random checkpoints `slimscope bench` caches.
#   sh tools/compare/llamacpp.sh LLAMA_CPP_BUILD_DIR GGUF_DIR [shape ...]
# shapes: 110m-bf16 1b-bf16 1b-q8 8b-bf16 (default: the first three). GGUF files are written into
# GGUF_DIR by st2gguf.py (Q8_0 by llama.cpp's llama-quantize) on first use. llama.cpp is built
# beside the project, never by its Makefile.
set -e
LL=${1:?llama.cpp build dir}; G=${2:?gguf dir}; shift 2
SHAPES=${*:-110m-bf16 1b-bf16 1b-q8}
HERE=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$HERE/slimscope
CACHE=${SLIMSCOPE_BENCH_CACHE:-$HOME/.cache/slimscope/bench}
T=${THREADS:-2}; ROUNDS=${ROUNDS:-3}
mkdir -p "$G"
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ids() { awk -v n=$1 'BEGIN {for (i = 0; i < n; i++) printf "%s%d", i ? "," : "", 3 + (i * 7919) % 30000}'; }

printf '%-10s %-8s %14s %14s %8s\n' shape what slimscope llama.cpp ratio
for s in $SHAPES; do
    case $s in
        *-q8) dir=$CACHE/${s%-q8}-bf16; w=q8 ;;
        *) dir=$CACHE/$s; w=native ;;
    esac
    [ -f "$dir/model.safetensors" ] || { echo "$s: $dir missing (run slimscope bench once)"; continue; }
    gguf=$G/$s.gguf
    if [ ! -f "$gguf" ]; then
        if [ $w = q8 ]; then
            [ -f "$G/${s%-q8}-bf16.gguf" ] || python3 "$HERE/tools/compare/st2gguf.py" "$dir" "$G/${s%-q8}-bf16.gguf"
            "$LL/bin/llama-quantize" "$G/${s%-q8}-bf16.gguf" "$gguf" Q8_0 >/dev/null 2>&1
        else
            python3 "$HERE/tools/compare/st2gguf.py" "$dir" "$gguf"
        fi
    fi
    case $s in 8b*) n=16; np=128 ;; *) n=64; np=512 ;; esac
    : > /tmp/cmp.$$.sd; : > /tmp/cmp.$$.ld; : > /tmp/cmp.$$.sp; : > /tmp/cmp.$$.lp
    for r in $(seq $ROUNDS); do
        "$BIN" generate --model "$dir" --weights $w --threads $T --ids 1,2,3,4 -n $n 2>&1 >/dev/null |
            sed -n 's/.* generated at \([0-9.]*\) tokens.*/\1/p' >> /tmp/cmp.$$.sd
        "$LL/bin/llama-bench" -m "$gguf" -t $T -p 0 -n $n -r 1 -o csv 2>/dev/null |
            tail -1 | awk -F, '{gsub(/"/, "", $0); print $(NF-1)}' >> /tmp/cmp.$$.ld
        "$BIN" generate --model "$dir" --weights $w --threads $T --ids "$(ids $np)" -n 1 2>&1 >/dev/null |
            sed -n 's/^\[\([0-9]*\) prompt tokens in \([0-9.]*\) s.*/\1 \2/p' | awk '{print $1 / $2}' >> /tmp/cmp.$$.sp
        "$LL/bin/llama-bench" -m "$gguf" -t $T -p $np -n 0 -r 1 -o csv 2>/dev/null |
            tail -1 | awk -F, '{gsub(/"/, "", $0); print $(NF-1)}' >> /tmp/cmp.$$.lp
    done
    for k in d p; do
        a=$(median < /tmp/cmp.$$.s$k); b=$(median < /tmp/cmp.$$.l$k)
        [ $k = d ] && what="decode" || what="pp$np"
        printf '%-10s %-8s %14.2f %14.2f %7.2fx\n' $s $what "$a" "$b" "$(echo "$a $b" | awk '{print $1 / $2}')"
    done
done
rm -f /tmp/cmp.$$.*
