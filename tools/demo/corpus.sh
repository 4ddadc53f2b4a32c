#!/bin/sh
# corpus.sh OUTDIR: the demo's general English corpus (issue 6, item 1).
# Installs the Debian packages that hold the text (as root; otherwise prints the one apt-get
# command to run and fails), then cleans and splits it with corpus_clean.py:
#   OUTDIR/general_train.txt  OUTDIR/general_valid.txt  (~95% / ~5% of documents)
#   OUTDIR/corpus_stats.tsv   (documents and bytes per source and split)
# Documents are separated by a line `<|endoftext|>`; the output is the same bytes on every run.
# Sources and licences: models/demo/SOURCES.md.
set -e
if [ $# -ne 1 ]; then
    echo "usage: tools/demo/corpus.sh OUTDIR" >&2
    exit 2
fi
out=$1
here=$(cd "$(dirname "$0")" && pwd)
# bible-kjv: the `bible` reader for bible-kjv-text's compressed data. dict-gcide pulls in dictd,
# whose service Debian's container images do not start (policy-rc.d).
PKGS="python3 bible-kjv bible-kjv-text fortunes jargon-text debian-reference-en dict-gcide"
sh "$here/../install-deps.sh" $PKGS
mkdir -p "$out"
python3 "$here/corpus_clean.py" "$out"
train=$(wc -c <"$out/general_train.txt")
valid=$(wc -c <"$out/general_valid.txt")
echo "corpus: $out/general_train.txt $train bytes, $out/general_valid.txt $valid bytes"
