#!/bin/sh
# test_bad_input.sh: every kind of broken model directory, driven through the real binary
# (`slimscope inspect` and `slimscope forward`). Each must exit non-zero without crashing (status
# < 128), print exactly one line on stderr, name the broken file and say what is wrong, and (for
# forward) write no logits. The broken files are cut from a valid `make-test-model` output with
# head/tail/printf/sed. Run from the repository root; prints TAP lines itself.
BIN=${SLIMSCOPE_BIN:-./slimscope}
n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; shift; for l in "$@"; do echo "# $l"; done; }

if [ ! -x "$BIN" ]; then
    not_ok "bad input: $BIN is missing (run make first)"
    echo "1..$n"
    exit 1
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/slimscope-badinput-XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT INT TERM
GOOD="$T/good"
if ! "$BIN" make-test-model --out "$GOOD" >"$T/mk.out" 2>&1 || [ ! -f "$GOOD/model.safetensors" ]; then
    not_ok "bad input: make-test-model failed" "$(cat "$T/mk.out")"
    echo "1..$n"
    exit 1
fi
ST="$GOOD/model.safetensors"
SIZE=$(wc -c <"$ST")
HLEN=$(od -An -tu8 -N8 "$ST" | tr -d ' ')  # u64 little-endian (the CI machines are x86-64)
HEADER=$(head -c $((8 + HLEN)) "$ST" | tail -c "$HLEN")

# run_case NAME DIR FILE PHRASE CMD...: CMD must fail cleanly with one stderr line holding FILE and PHRASE.
run_case() {
    name=$1 dir=$2 file=$3 phrase=$4
    shift 4
    rm -f "$T/logits"
    "$@" >"$T/out" 2>"$T/err"
    rc=$?
    lines=$(grep -c '' "$T/err")
    msg=$(head -n 1 "$T/err")
    if [ "$rc" -eq 0 ]; then
        not_ok "$name: exit status 0, expected an error" "stderr: $(cat "$T/err")"
    elif [ "$rc" -ge 128 ]; then
        not_ok "$name: crashed (status $rc)" "stderr: $(cat "$T/err")"
    elif [ "$lines" -ne 1 ]; then
        not_ok "$name: $lines lines on stderr, expected exactly one" "$(sed 's/^/  /' "$T/err")"
    elif ! printf '%s\n' "$msg" | grep -qF -- "$file"; then
        not_ok "$name: the message does not name $file" "stderr: $msg"
    elif ! printf '%s\n' "$msg" | grep -qF -- "$phrase"; then
        not_ok "$name: the message lacks \"$phrase\"" "stderr: $msg"
    elif [ -e "$T/logits" ]; then
        not_ok "$name: logits were written despite the error"
    else
        ok "$name (exit $rc): $msg"
    fi
}

# fresh_copy NAME: a copy of the valid model in $T/NAME; prints its path.
fresh_copy() {
    rm -rf "$T/$1"
    cp -r "$GOOD" "$T/$1"
    echo "$T/$1"
}

# with_header DIR NEW_HEADER: rewrites DIR/model.safetensors with the header replaced by one of the
# same length (so the 8-byte length stays valid). Fails if the edit changed the length or nothing.
with_header() {
    if [ "${#2}" -ne "${#HEADER}" ] || [ "$2" = "$HEADER" ]; then
        echo "header edit failed" >&2
        return 1
    fi
    { head -c 8 "$ST"; printf '%s' "$2"; tail -c +$((9 + HLEN)) "$ST"; } >"$1/model.safetensors"
    [ "$(wc -c <"$1/model.safetensors")" -eq "$SIZE" ]
}

# check NAME DIR FILE PHRASE: the same broken model through inspect and through forward.
check() {
    run_case "inspect, $1" "$2" "$3" "$4" "$BIN" inspect --model "$2"
    run_case "forward, $1" "$2" "$3" "$4" "$BIN" forward --model "$2" --ids 1,2 --dump-logits "$T/logits"
}

# the valid model itself loads and runs (otherwise every case below would pass for the wrong reason)
if "$BIN" inspect --model "$GOOD" >"$T/out" 2>"$T/err" && grep -q llama "$T/out"; then
    ok "valid model: inspect succeeds"
else
    not_ok "valid model: inspect fails" "$(cat "$T/err")"
fi
rm -f "$T/logits"
if "$BIN" forward --model "$GOOD" --ids 1,2 --dump-logits "$T/logits" >/dev/null 2>&1 &&
    [ "$(wc -c <"$T/logits")" -eq $((256 * 4)) ]; then
    ok "valid model: forward writes 256 logits"
else
    not_ok "valid model: forward fails"
fi

# 1. truncated safetensors: 5 bytes, shorter than the length field
D=$(fresh_copy truncated)
head -c 5 "$ST" >"$D/model.safetensors"
check "truncated safetensors" "$D" "$D/model.safetensors" "truncated"

# 2. header length past the end of the file: 0xFFFFFFFF
D=$(fresh_copy hlen)
{ printf '\377\377\377\377\000\000\000\000'; tail -c +9 "$ST"; } >"$D/model.safetensors"
check "header length past the end" "$D" "$D/model.safetensors" "header length 4294967295 reaches past the end of the file"

# 3. data_offsets outside the data: the last 4 bytes of data cut off
D=$(fresh_copy offsets)
head -c $((SIZE - 4)) "$ST" >"$D/model.safetensors"
check "offsets outside the data" "$D" "$D/model.safetensors" "reach past the end of the data"

# 4. overlapping offsets: input_layernorm moved 4 bytes back, into the embedding's region
D=$(fresh_copy overlap)
if with_header "$D" "$(printf '%s' "$HEADER" | sed 's/"data_offsets":\[65536,65792\]/"data_offsets":[65532,65788]/')"; then
    check "overlapping offsets" "$D" "$D/model.safetensors" \
        "tensors 'model.embed_tokens.weight' and 'model.layers.0.input_layernorm.weight' overlap"
else
    not_ok "overlapping offsets: could not build the file"
fi

# 5. unknown dtype: the embedding claims F64; a quantised Q4 elsewhere
D=$(fresh_copy dtype)
if with_header "$D" "$(printf '%s' "$HEADER" | sed 's/"dtype":"F32"/"dtype":"F64"/')"; then
    check "unknown dtype F64" "$D" "$D/model.safetensors" "dtype 'F64' not supported"
else
    not_ok "unknown dtype F64: could not build the file"
fi
D=$(fresh_copy dtype-q4)
if with_header "$D" "$(printf '%s' "$HEADER" | sed 's/"dtype":"F32"/"dtype":"Q4" /')"; then
    check "unknown dtype Q4" "$D" "$D/model.safetensors" "dtype 'Q4' not supported"
else
    not_ok "unknown dtype Q4: could not build the file"
fi

# 6. shape/size mismatch: the embedding says [256,32] but its offsets hold 256*64 floats
D=$(fresh_copy size)
if with_header "$D" "$(printf '%s' "$HEADER" | sed 's/"shape":\[256,64\]/"shape":[256,32]/')"; then
    check "shape/size mismatch" "$D" "$D/model.safetensors" "65536 bytes in data_offsets but shape [256, 32] x F32 needs 32768"
else
    not_ok "shape/size mismatch: could not build the file"
fi

# 7. header not JSON (same length: the opening brace replaced)
D=$(fresh_copy notjson)
if with_header "$D" "$(printf '%s' "$HEADER" | sed 's/^{/x/')"; then
    check "header not JSON" "$D" "$D/model.safetensors" "header is not a JSON object"
else
    not_ok "header not JSON: could not build the file"
fi

# 8. a tensor whose shape does not match config.json: intermediate_size 168 -> 176
D=$(fresh_copy cfgshape)
sed 's/"intermediate_size":[[:space:]]*168/"intermediate_size": 176/' "$GOOD/config.json" >"$D/config.json"
check "tensor shape vs config.json" "$D" "$D/model.safetensors" \
    "tensor 'model.layers.0.mlp.gate_proj.weight' has shape [168, 64] but config.json implies [176, 64]"

# 9. a missing tensor: config.json asks for a third block
D=$(fresh_copy missing)
sed 's/"num_hidden_layers":[[:space:]]*2/"num_hidden_layers": 3/' "$GOOD/config.json" >"$D/config.json"
check "missing tensor" "$D" "$D/model.safetensors" "missing tensor 'model.layers.2.input_layernorm.weight'"

# 10. config.json that is not JSON
D=$(fresh_copy cfgjson)
printf '{"model_type": "llama", "hidden_size": 64,' >"$D/config.json"
check "config.json not JSON" "$D" "$D/config.json" "not a JSON object"

# 11. config.json lacking a field
D=$(fresh_copy cfgfield)
sed '/"vocab_size"/d' "$GOOD/config.json" >"$D/config.json"
check "config.json lacking vocab_size" "$D" "$D/config.json" "missing required field 'vocab_size'"

# 12. config.json missing, and no weights at all
D=$(fresh_copy nocfg)
rm "$D/config.json"
check "config.json missing" "$D" "$D/config.json" "cannot open"
D=$(fresh_copy noweights)
rm "$D/model.safetensors"
check "no weights" "$D" "$D" "no model.safetensors or model.safetensors.index.json"

# 13. command-line mistakes: one line, exit status 1 or 2
cli_case() {
    name=$1 phrase=$2
    shift 2
    "$@" >"$T/out" 2>"$T/err"
    rc=$?
    lines=$(grep -c '' "$T/err")
    if [ "$rc" -ne 1 ] && [ "$rc" -ne 2 ]; then
        not_ok "$name: exit status $rc, expected 1 or 2" "stderr: $(cat "$T/err")"
    elif [ "$lines" -ne 1 ]; then
        not_ok "$name: $lines lines on stderr, expected one" "$(sed 's/^/  /' "$T/err")"
    elif ! grep -qF -- "$phrase" "$T/err"; then
        not_ok "$name: stderr lacks \"$phrase\"" "stderr: $(cat "$T/err")"
    else
        ok "$name (exit $rc): $(cat "$T/err")"
    fi
}
cli_case "inspect with an unknown flag" "--bogus" "$BIN" inspect --model "$GOOD" --bogus
cli_case "forward with an unknown flag" "--bogus" "$BIN" forward --model "$GOOD" --ids 1 --dump-logits "$T/l" --bogus
cli_case "inspect without --model" "--model" "$BIN" inspect
cli_case "forward without --model" "--model" "$BIN" forward --ids 1,2 --dump-logits "$T/logits"
cli_case "inspect --model without a value" "--model" "$BIN" inspect --model
cli_case "forward with bad --ids" "--ids" "$BIN" forward --model "$GOOD" --ids 1,x --dump-logits "$T/logits"
cli_case "forward with an id past the vocabulary" "256" "$BIN" forward --model "$GOOD" --ids 1,256 --dump-logits "$T/logits"

echo "1..$n"
[ "$fails" -eq 0 ]
