#!/usr/bin/env python3
"""corpus_clean.py: builds the demo's general English corpus from installed Debian packages.

Called by tools/demo/corpus.sh (which installs the packages). Reads:
  KJV Bible      `bible` (package bible-kjv) over bible-kjv-text's data: one document per chapter
  fortunes       /usr/share/games/fortunes/* (package fortunes; no offensive files are installed
                 by it): one document per fortune cookie
  Jargon File    /usr/share/doc/jargon-text/jargon.txt.gz: one document per glossary entry,
                 per chapter section and per appendix story
  Debian Ref.    /usr/share/debian-reference/*.en.html (tags stripped, only <p> prose outside
                 tables, code and the table of contents): one document per section
  GCIDE          /usr/share/dictd/gcide.dict.dz (Webster 1913 + GCIDE): a hash-chosen sample
                 of entries with prose definitions, pronunciation/etymology markup removed

Writes OUTDIR/general_train.txt and OUTDIR/general_valid.txt: documents (paragraphs one per
line) separated by a line `<|endoftext|>`; OUTDIR/corpus_stats.tsv: per source, split, document
and byte counts. Every choice (sampling, the held-out split, the order) comes from SHA-1 of the
document text, so the output is the same bytes on every run and machine.
"""
import gzip
import hashlib
import html.parser
import os
import re
import subprocess
import sys
import unicodedata

EOT = "<|endoftext|>"
VALID_PER_MILLE = 50        # ~5% of documents are held out
KJV_KEEP_PER_MILLE = 500    # half of the 1189 chapters: the Bible must not dominate the mixture
GCIDE_KEEP_PER_MILLE = 70   # 7% of the dictionary's entries, of which those with prose (~1.2 MB)

FORTUNE_DIR = "/usr/share/games/fortunes"
FORTUNE_SKIP = {"ascii-art", "art", "perl"}  # drawings; code and mail headers rather than prose
JARGON = "/usr/share/doc/jargon-text/jargon.txt.gz"
DEBREF_DIR = "/usr/share/debian-reference"
GCIDE = "/usr/share/dictd/gcide.dict.dz"


def h(s, salt=""):
    """Deterministic 64-bit hash of a string."""
    return int.from_bytes(hashlib.sha1((salt + "\0" + s).encode("utf-8")).digest()[:8], "big")


# ---------------------------------------------------------------------------------------------
# normalisation

_PUNCT = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u00b4": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2014": "--", "\u2013": "-", "\u2012": "-", "\u2010": "-", "\u2011": "-", "\u2212": "-",
    "\u2026": "...", "\u2122": "(TM)", "\u00a9": "(C)", "\u00ae": "(R)", "\u00d7": "x",
    "\u00a0": " ", "\u2009": " ", "\u200a": " ", "\u2002": " ", "\u2003": " ", "\u00b7": "",
    "\u00ad": "", "\u200b": "", "\ufeff": "", "\u00e6": "ae", "\u00c6": "Ae", "\u0153": "oe",
    "\u0152": "Oe", "\u00df": "ss", "\u00f8": "o", "\u00d8": "O", "\u00bd": "1/2", "\u00bc": "1/4",
    "\u00be": "3/4", "\t": " ",
}
_PUNCT_TABLE = str.maketrans(_PUNCT)


def to_ascii(s):
    """Maps typographic punctuation to ASCII, strips accents, drops whatever else is not ASCII."""
    if s.isascii():
        return "".join(c for c in s.replace("\t", " ") if c == "\n" or 32 <= ord(c) < 127)
    s = s.translate(_PUNCT_TABLE)
    s = unicodedata.normalize("NFKD", s)
    s = "".join(c for c in s if not unicodedata.combining(c))
    s = s.encode("ascii", "ignore").decode("ascii")
    return "".join(c for c in s if c == "\n" or 32 <= ord(c) < 127)


def squash(s):
    """One line: whitespace runs become one space."""
    return " ".join(s.split())


_ART = re.compile(r"([^A-Za-z0-9\s.])\1{3,}|[|\\/_]{2}.*[|\\/_]{2}")


def prose_ratio(s):
    chars = [c for c in s if not c.isspace()]
    if not chars:
        return 0.0
    return sum(c.isalpha() for c in chars) / len(chars)


def good_para(p, min_len=60, min_words=6):
    """Prose paragraph: long enough, mostly letters, no drawing or rule lines."""
    if len(p) < min_len or len(p.split()) < min_words:
        return False
    if prose_ratio(p) < 0.72:
        return False
    if _ART.search(p):
        return False
    return True


# ---------------------------------------------------------------------------------------------
# sources: each yields documents as lists of paragraphs (already one line each, ASCII)

def kjv_docs():
    out = subprocess.run(["bible", "-l", "100000", "Gen1:1-Rev22:21"], check=True, capture_output=True,
                         text=True, encoding="utf-8", env=dict(os.environ, COLUMNS="100000")).stdout
    docs, verses, title = [], [], None

    def flush():
        if title is None or not verses:
            return
        # verses joined into paragraphs of at least ~400 characters, verse numbers dropped
        paras, cur = [], ""
        for v in verses:
            cur = v if not cur else cur + " " + v
            if len(cur) >= 400:
                paras.append(cur)
                cur = ""
        if cur:
            paras.append(cur)
        docs.append((title, paras))

    for line in out.split("\n"):
        m = re.match(r"^\s+(\d+)\s+(.*\S)\s*$", line)
        if m:
            verses.append(squash(to_ascii(m.group(2))))
        elif line.strip():
            flush()
            title, verses = line.strip(), []
    flush()
    kept = []
    for title, paras in docs:
        if h(title, "kjv") % 1000 < KJV_KEEP_PER_MILLE:
            kept.append(paras)
    return kept


def fortune_reflow(lines):
    """Joins hard-wrapped lines into paragraphs. A line deeper indented than the one before
    (a new paragraph, an attribution), a "--" line, or a line after a short one (verse,
    dialogue) starts a new line of output."""
    paras, cur, prev_short, prev_indent = [], "", False, 0
    for raw in lines:
        exp = raw.expandtabs()
        indent = len(exp) - len(exp.lstrip())
        line = squash(raw)
        if not line:
            if cur:
                paras.append(cur)
            cur = ""
            continue
        if cur and (indent > prev_indent or line.startswith("--") or prev_short):
            paras.append(cur)
            cur = ""
        cur = line if not cur else cur + " " + line
        prev_short = len(exp) < 50
        prev_indent = indent
    if cur:
        paras.append(cur)
    return paras


def fortune_docs():
    docs = []
    for name in sorted(os.listdir(FORTUNE_DIR)):
        path = os.path.join(FORTUNE_DIR, name)
        if name in FORTUNE_SKIP or "." in name or os.path.islink(path) or not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        for cookie in re.split(r"\n%\n", "\n" + text + "\n"):
            cookie = to_ascii(cookie.replace("\r", ""))
            lines = [l.rstrip() for l in cookie.split("\n")]
            lines = [l for l in lines if l != "%"]
            while lines and not lines[0].strip():
                lines.pop(0)
            if not lines:
                continue
            if any(_ART.search(l) for l in lines) or any(len(l.expandtabs()) > 100 for l in lines):
                continue
            body = " ".join(squash(l) for l in lines)
            if len(body) < 40 or len(body.split()) < 6 or prose_ratio(body) < 0.75:
                continue
            # Q/A riddles and dialogues have many short lines; they read fine with line breaks
            docs.append(fortune_reflow(lines))
    return docs


def jargon_docs():
    with gzip.open(JARGON, "rt", encoding="utf-8") as f:
        lines = f.read().replace("\u00a0", " ").split("\n")

    def blocks(ls):
        """Blank-line separated blocks, each a list of lines."""
        out, cur = [], []
        for l in ls:
            if l.strip():
                cur.append(l)
            elif cur:
                out.append(cur)
                cur = []
        if cur:
            out.append(cur)
        return out

    def para(block):
        s = squash(to_ascii(" ".join(block)))
        return re.sub(r"\{([^{}]*)\}", r"\1", s)  # {cross reference} -> cross reference

    docs = []
    start = next(i for i, l in enumerate(lines) if l.startswith("Chapter 1."))
    gloss = next(i for i, l in enumerate(lines) if l == "Glossary")
    appx = next(i for i, l in enumerate(lines) if l.startswith("Appendix A."))
    bib = next(i for i, l in enumerate(lines) if l == "Bibliography")

    def sectioned(ls):
        # unindented lines are headings: each starts a document
        cur = []
        for b in blocks(ls):
            if not b[0].startswith(" "):
                if cur:
                    docs.append(cur)
                cur = []
                continue
            p = para(b)
            if good_para(p):
                cur.append(p)
        if cur:
            docs.append(cur)

    sectioned(lines[start:gloss])
    # glossary: entries start with "   :term: pronunciation, part of speech."
    entry, cur = None, []
    for b in blocks(lines[gloss:appx]):
        m = re.match(r"^   :(.+?):(?:\s+(.*))?$", b[0]) if len(b) == 1 else None
        if m:
            if entry and cur:
                docs.append(cur)
            term = squash(to_ascii(m.group(1)))
            rest = re.sub(r"^/[^/]*/,?\s*", "", to_ascii(m.group(2) or "")).strip()  # drop /pronunciation/
            entry = term + (", " + rest if rest else "")
            cur = []
            continue
        if entry is None:
            continue
        p = para(b)
        if good_para(p, min_len=20, min_words=4):
            if not cur:
                p = entry + ": " + p
            cur.append(p)
    if entry and cur:
        docs.append(cur)
    sectioned(lines[appx:bib])
    return docs


class _DocBookText(html.parser.HTMLParser):
    """Collects <p> text outside tables, code blocks and tables of contents; every <h2>/<h3>
    starts a new document."""

    SKIP = {"table", "pre", "script", "style"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.docs, self.cur = [], []
        self.skip = 0        # depth inside skipped elements
        self.toc = 0         # depth inside <dl class="toc"> / <div class="toc">
        self.stack = []
        self.para = None     # text of the open <p>

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = a.get("class") or ""
        if tag in ("h1", "h2", "h3"):
            self._end_para()
            if self.cur:
                self.docs.append(self.cur)
            self.cur = []
        if tag in self.SKIP:
            self.skip += 1
        if tag in ("dl", "div") and "toc" in cls.split():
            self.toc += 1
            self.stack.append((tag, True))
        elif tag in ("dl", "div"):
            self.stack.append((tag, False))
        if tag == "p" and not self.skip and not self.toc:
            self._end_para()
            self.para = []

    def handle_endtag(self, tag):
        if tag in self.SKIP and self.skip:
            self.skip -= 1
        if tag in ("dl", "div") and self.stack:
            t, was_toc = self.stack.pop()
            if was_toc:
                self.toc -= 1
        if tag == "p":
            self._end_para()

    def handle_data(self, data):
        if self.para is not None and not self.skip:
            self.para.append(data)

    def _end_para(self):
        if self.para is None:
            return
        p = squash(to_ascii("".join(self.para)))
        self.para = None
        if good_para(p):
            self.cur.append(p)

    def close(self):
        super().close()
        self._end_para()
        if self.cur:
            self.docs.append(self.cur)
        self.cur = []


def debref_docs():
    docs = []
    names = sorted(n for n in os.listdir(DEBREF_DIR) if re.match(r"^(pr|ch|ap)[a-z0-9]*\.en\.html$", n))
    for n in names:
        p = _DocBookText()
        with open(os.path.join(DEBREF_DIR, n), encoding="utf-8") as f:
            p.feed(f.read())
        p.close()
        docs.extend(d for d in p.docs if d)
    return docs


def gcide_docs():
    with gzip.open(GCIDE, "rt", encoding="utf-8", errors="replace") as f:
        text = f.read()
    docs = []
    entry = []

    def finish(entry):
        if not entry:
            return
        head = entry[0][0]
        if head.startswith("00-database") or head.startswith("00database"):
            return
        raw = "\n".join("\n".join(b) for b in entry)
        if h(raw, "gcide") % 1000 >= GCIDE_KEEP_PER_MILLE:  # sample first: cleaning all 40 MB is slow
            return
        s = to_ascii(raw)
        s = re.sub(r"\[[^\[\]]*\]", "", s)          # [etymology], [1913 Webster], [R.], [Obs.]
        s = re.sub(r"\\[^\\\n]*\\", "", s)          # \pro*nun"ci*a`tion\
        s = re.sub(r"--\s*[A-Z][A-Za-z. ]{0,30}\.(?=\s|$)", "", s)  # --Shak., --Bailey.
        s = re.sub(r"\{([^{}]*)\}", r"\1", s)
        paras = []
        for b in re.split(r"\n\s*\n", s):
            p = squash(b)
            p = re.sub(r"\s+([,;.])", r"\1", p)
            p = re.sub(r"([,;])(?:\s*[,;])+", r"\1", p)
            if p and prose_ratio(p) >= 0.7 and not _ART.search(p):
                paras.append(p)
        if not paras:
            return
        body = " ".join(paras)
        if len(body) < 200 or len(body.split()) < 30:
            return
        docs.append(paras)

    cur = []
    for line in text.split("\n"):
        if line.strip():
            cur.append(line)
            continue
        if cur:
            if not cur[0].startswith(" "):   # an unindented first line starts a new entry
                finish(entry)
                entry = []
            entry.append(cur)
            cur = []
    if cur:
        entry.append(cur)
    finish(entry)
    return docs


# ---------------------------------------------------------------------------------------------

SOURCES = [
    ("kjv", kjv_docs),
    ("fortunes", fortune_docs),
    ("jargon", jargon_docs),
    ("debian-reference", debref_docs),
    ("gcide", gcide_docs),
]


def main():
    if len(sys.argv) != 2:
        print("usage: corpus_clean.py OUTDIR", file=sys.stderr)
        return 2
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    seen = set()
    train, valid, stats = [], [], []
    for name, fn in SOURCES:
        counts = {"train": [0, 0], "valid": [0, 0]}
        for paras in fn():
            paras = [p for p in paras if p and EOT not in p]
            if not paras:
                continue
            doc = "\n".join(paras)
            key = h(doc, "doc")
            if key in seen:               # exact duplicates (a cookie in two files) count once
                continue
            seen.add(key)
            split = "valid" if h(doc, "split") % 1000 < VALID_PER_MILLE else "train"
            (valid if split == "valid" else train).append((key, doc))
            counts[split][0] += 1
            counts[split][1] += len(doc) + 1
        for split in ("train", "valid"):
            stats.append("%s\t%s\t%d\t%d" % (name, split, counts[split][0], counts[split][1]))
    for split, docs in (("train", train), ("valid", valid)):
        docs.sort()                       # order by hash: sources interleaved, same every run
        path = os.path.join(outdir, "general_%s.txt" % split)
        with open(path + ".tmp", "w", encoding="ascii", newline="\n") as f:
            f.write(("\n" + EOT + "\n").join(d for _, d in docs))
            f.write("\n")
        os.replace(path + ".tmp", path)
    with open(os.path.join(outdir, "corpus_stats.tsv"), "w", encoding="ascii", newline="\n") as f:
        f.write("source\tsplit\tdocuments\tbytes\n" + "\n".join(stats) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
