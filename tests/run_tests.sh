#!/bin/sh
# Runs every unit test binary given as arguments, then every tests/e2e/test_*.sh, all speaking
# TAP (cmocka with CMOCKA_MESSAGE_OUTPUT=TAP; the e2e scripts print it themselves), and ends with
# the line "N passed, N failed, N skipped". Exits non-zero if anything failed or crashed.
# E2E_TESTS, when set, names the e2e scripts to run instead of all of them (the sanitizer run).
pass=0; fail=0; skip=0
log=$(mktemp); trap 'rm -f "$log"' EXIT
run_one() {
    name=$1; shift
    CMOCKA_MESSAGE_OUTPUT=TAP "$@" >"$log" 2>&1
    rc=$?
    p=$(grep -c '^ok ' "$log"); s=$(grep -c '^not ok .*# SKIP' "$log")
    f=$(grep '^not ok [0-9]' "$log" | grep -vc '# SKIP')
    s2=$(grep -c '^ok .*# SKIP' "$log"); p=$((p - s2)); s=$((s + s2))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "not ok - $name exited with status $rc" >>"$log"; fi
    pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
    if [ "$f" -gt 0 ]; then echo "FAIL $name"; sed 's/^/    /' "$log"; else echo "ok   $name ($p passed, $s skipped)"; fi
    grep '# SKIP' "$log" | sed 's/^/    /'
}
for t in "$@"; do run_one "$(basename "$t")" "$t"; done
for t in ${E2E_TESTS-tests/e2e/test_*.sh}; do [ -f "$t" ] && run_one "$(basename "$t")" sh "$t"; done
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
