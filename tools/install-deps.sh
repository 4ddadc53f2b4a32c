#!/bin/sh
# Installs the Debian packages slimscope builds against, if any is missing.
# As root it runs apt-get; otherwise it prints the one command to run and fails.
missing=""
for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
    echo "installing missing packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q $missing >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q $missing >/dev/null; } ||
        { echo "error: apt-get could not install:$missing" >&2; exit 1; }
else
    echo "error: missing packages; run: sudo apt-get install -y$missing" >&2
    exit 1
fi
