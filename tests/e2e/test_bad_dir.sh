#!/bin/sh
# test_bad_dir.sh: every case under tests/bad/ (see tests/bad/README.md) through the real binary:
# the expected exit status within 20 s (a FIFO or /dev/zero must not hang it), exactly one line on
# stderr, holding the case's phrase. Run from the repository root; prints TAP lines itself.
BIN=${SLIMSCOPE_BIN:-./slimscope}
BAD=${BAD_DIR:-tests/bad}
n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; shift; for l in "$@"; do echo "# $l"; done; }

T=$(mktemp -d "${TMPDIR:-/tmp}/slimscope-baddir-XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT INT TERM
if [ ! -x "$BIN" ] || ! "$BIN" make-test-model --out "$T/good" --adapter-out "$T/good-adapter" >"$T/mk.out" 2>&1; then
    not_ok "bad dir: $BIN make-test-model failed (run make first)" "$(cat "$T/mk.out" 2>/dev/null)"
    echo "1..$n"
    exit 1
fi

for C in "$BAD"/*/; do
    C=${C%/}
    name=${C##*/}
    W="$T/$name"
    mkdir -p "$W"
    cp -R "$T/good" "$W/model" && cp -R "$T/good-adapter" "$W/adapter"
    for part in model adapter; do
        # a directory standing for a file replaces that file, so remove what it covers first
        [ -d "$C/$part" ] && (cd "$C/$part" && find . -mindepth 1 -maxdepth 1) | while read -r f; do rm -rf "$W/$part/$f"; done
        [ -d "$C/$part" ] && cp -RP "$C/$part/." "$W/$part/"
    done
    [ -f "$C/edit" ] && while IFS="$(printf '\t')" read -r rel expr; do sed -i "$expr" "$W/$rel"; done <"$C/edit"
    [ -f "$C/fifos" ] && while read -r rel; do rm -rf "$W/$rel" && mkfifo "$W/$rel"; done <"$C/fifos"
    args=$(sed "s|@W@|$W|g" "$C/args")
    want_rc=$(sed -n 1p "$C/expect")
    phrase=$(sed -n 2p "$C/expect" | sed "s|@W@|$W|g")
    eval "set -- $args"
    timeout 20 "$BIN" "$@" >"$T/out" 2>"$T/err" </dev/null
    rc=$?
    lines=$(grep -c '' "$T/err")
    if [ "$rc" -eq 124 ]; then
        not_ok "$name: hung (killed after 20 s)"
    elif [ "$rc" -ne "$want_rc" ]; then
        not_ok "$name: exit status $rc, expected $want_rc" "stderr: $(cat "$T/err")"
    elif [ "$lines" -ne 1 ]; then
        not_ok "$name: $lines lines on stderr, expected one" "$(sed 's/^/  /' "$T/err")"
    elif ! grep -qF -- "$phrase" "$T/err"; then
        not_ok "$name: stderr lacks \"$phrase\"" "stderr: $(cat "$T/err")"
    else
        ok "$name (exit $rc): $(cat "$T/err")"
    fi
done

echo "1..$n"
[ "$fails" -eq 0 ]
