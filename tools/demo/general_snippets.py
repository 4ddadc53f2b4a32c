#!/usr/bin/env python3
"""general_snippets.py VALID OUT.jsonl: short general-text examples for the demo's curves.

Takes the last 40% of general_valid.txt (the perplexity table reads the first ~200 windows of 256
tokens, about the first 55%, so the two never overlap), drops the document separators, and cuts
the words into 512 snippets of 12 words, written as {"prompt": "", "response": TEXT} so that
`slimscope train --val-data` (and `eval --metric ppl`) score every token of them: about 22 tokens
each, within the adapters' --seq-len 32. The same bytes on every run.
"""
import json
import sys

N, WORDS = 512, 12


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: general_snippets.py general_valid.txt OUT.jsonl")
    text = open(sys.argv[1], encoding="utf-8").read()
    tail = text[int(len(text) * 0.6):].replace("<|endoftext|>", " ")
    words = tail.split()[1:]  # the first word may be cut
    if len(words) < N * WORDS:
        sys.exit("general_snippets: %s has %d words after the cut, %d needed" % (sys.argv[1], len(words), N * WORDS))
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        for i in range(N):
            f.write(json.dumps({"prompt": "", "response": " ".join(words[i * WORDS:(i + 1) * WORDS])}) + "\n")


if __name__ == "__main__":
    main()
