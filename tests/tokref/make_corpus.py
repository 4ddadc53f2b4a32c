#!/usr/bin/env python3
"""make_corpus.py: writes corpus.jsonl, the strings the tokenizer reference check encodes.
One JSON string per line. Re-run after editing; the output is committed."""
import json

base = [
    # plain ASCII
    "Hello world", "Hello, world!", "The quick brown fox jumps over the lazy dog.",
    "a", "A", "I", "ab", "hello", "HELLO", "Hello", "hElLo WoRlD",
    "This is a test. This is only a test.",
    "slimscope shows which LoRA clusters a token routes to.",
    "user@example.com", "https://huggingface.co/docs/tokenizers?x=1&y=2#frag",
    "C:\\Users\\me\\file.txt", "/usr/share/common-licenses/GPL-3",
    "snake_case_name and camelCaseName and kebab-case-name",
    '{"key": "value", "list": [1, 2, 3], "nested": {"a": null}}',
    "def foo(x):\n    return x ** 2\n",
    "int main(void) {\n\treturn 0;\n}\n",
    "for (i = 0; i < n; i++) { sum += a[i] * b[i]; }",
    "# Heading\n\n* item one\n* item two\n\n```python\nprint('hi')\n```",
    "SELECT * FROM users WHERE id = 42;",
    "supercalifragilisticexpialidocious", "antidisestablishmentarianism",
    "Mr. O'Neil's dog's bone", "rock 'n' roll", "'quoted' and \"double quoted\"",
    # contractions
    "I'm", "you're", "they've", "we'll", "he'd", "it's", "don't", "can't", "won't",
    "I'M SHOUTING", "YOU'RE", "THEY'VE", "She'S", "It'D", "We'Ll", "y'all'd've",
    "it\u2019s curly", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'x", "''",
    "'\u017f long s", "'\u212a kelvin",
    # digits
    "1", "12", "123", "1234", "12345", "123456", "1234567", "12345678901234567890",
    "3.14159", "1,000,000", "0.5%", "$100", "2024-06-01", "10:30pm", "+1 (555) 123-4567",
    "abc123def", "123abc", "v1.2.3-rc4", "0x1F600", "1e-10", "-42",
    "\u0663\u0664\u0665 arabic-indic", "\u2460\u2461\u2462 circled", "\u216b roman", "\u00bd half",
    "x\u00b2 + y\u00b3", "\uff11\uff12\uff13 fullwidth",
    # whitespace
    "", " ", "  ", "   ", "    ", "\t", "\t\t", "\n", "\n\n", "\n\n\n", "\r\n", "\r\n\r\n", "\r",
    " \n ", "\t \n", "a\tb", "a\t\tb", "a\nb", "a\r\nb", "a\n\nb", "a  b", "a   b", "a    b",
    "  leading", "trailing  ", "   both   ", " \t mixed \n whitespace \r\n ",
    "line1\nline2\nline3", "para one.\n\npara two.\n\n\npara three.",
    "a\u00a0b nbsp", "a\u3000b ideographic", "a\u2009b thin", "a\u0085b nel", "a\u180eb mvs",
    "a\u200bb zwsp", "\ufeffbom start", "a\u2028b line sep", "a\u000bb vt", "a\u000cb ff",
    " " * 50 + "x", "x" + " " * 50, "\n" * 20, "\t" * 10 + "tabbed",
    # punctuation
    "!!!", "???", "?!?!", "...", "\u2026", "---", "***", "<<<>>>", "(((x)))", "[]{}()",
    "#@$%^&*", "~`|\\", "a.b,c;d:e", "end.", "end!!", "wait...what?!",
    "\u00abguillemets\u00bb", "\u201cquotes\u201d", "em\u2014dash", "en\u2013dash",
    "\u00bfQu\u00e9?", "\u00a1Hola!", "\u00a9 2024 \u00ae \u2122", "\u00a7 4.2 \u00b6",
    "-->", "<=>", "!=", "==", "===", "::", "->", "=>", "&&", "||", "//", "/* */",
    # accents, composed and decomposed
    "caf\u00e9", "cafe\u0301", "na\u00efve", "nai\u0308ve", "\u00c5ngstr\u00f6m", "A\u030angstro\u0308m",
    "\u00f1and\u00fa", "n\u0303andu\u0301", "r\u00e9sum\u00e9 r\u00e9sum\u00e9", "Cr\u00e8me br\u00fbl\u00e9e",
    "\u0130stanbul", "stra\u00dfe", "\u01c4", "\ufb01le ligature", "\uff48\uff45\uff4c\uff4c\uff4f fullwidth",
    "\U0001d53e\U0001d560\U0001d560\U0001d555 math", "\u1e9b\u0323", "q\u0307\u0323", "e\u0301\u0301\u0301",
    "\u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac", "\u03a3\u038a\u03a3\u03a5\u03a6\u039f\u03a3",
    "\u0420\u0443\u0441\u0441\u043a\u0438\u0439 \u0442\u0435\u043a\u0441\u0442", "\u0423\u043a\u0440\u0430\u0457\u043d\u0430",
    "Vi\u1ec7t Nam", "\u017b\u00f3\u0142\u0107", "\u010de\u0161tina", "\u00de\u00f3r",
    # CJK and other scripts
    "\u4f60\u597d\uff0c\u4e16\u754c", "\u4f60\u597d\u4e16\u754c\uff01", "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8",
    "\u6771\u4eac\u30bf\u30ef\u30fc", "\ud55c\uad6d\uc5b4 \ubb38\uc7a5", "AI\u6a21\u578b123", "\u4e2d\u6587 English \u6df7\u5408",
    "\u3053\u3093\u306b\u3061\u306f\u3002\u5143\u6c17\u3067\u3059\u304b\uff1f", "\u30ab\u30bf\u30ab\u30ca", "\uff71\uff72\uff73 halfwidth",
    "\U00020000\U0002a6d6 ext-b", "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645",
    "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd", "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e",
    "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e04\u0e23\u0e31\u0e1a", "\u0bb5\u0ba3\u0b95\u0bcd\u0b95\u0bae\u0bcd",
    "\u10d2\u10d0\u10db\u10d0\u10e0\u10ef\u10dd\u10d1\u10d0", "\u1230\u120b\u121d", "\u0570\u0561\u0575\u0565\u0580\u0565\u0576",
    "\U0001d11e music", "\u2200x\u2208\u211d: x\u00b2 \u2265 0", "\u222b f(x) dx \u2248 \u03a3",
    # emoji
    "\U0001f44d", "\U0001f44d\U0001f3fd", "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466",
    "\U0001f3f3\ufe0f\u200d\U0001f308", "\U0001f1e9\U0001f1ea\U0001f1eb\U0001f1f7", "\u2764\ufe0f", "\U0001f600\U0001f603\U0001f604",
    "party \U0001f389", "\U0001f389 party", "1\ufe0f\u20e3 keycap", "\U0001f9d1\u200d\U0001f4bb coder", "\u263a\u2639",
    "I \u2764\ufe0f NY \U0001f5fd!!", "\U0001f468\U0001f3fe\u200d\U0001f52c",
    # controls
    "\u0001\u0002\u0003", "a\u007fb", "\u001b[31mred\u001b[0m", "bell\u0007", "\u0080\u009f c1",
    "\ue000 private use", "\ufffd replacement",
    # special tokens inside text
    "<s>", "</s>", "<unk>", "<s>hello</s>", " <s> ", "a <s> b", "a<s>b", "<s><s>", "<s> <s>", "</s></s>",
    "<s>\n", "\n<s>", "<s", "< s>", "<<s>>", "</s", "hello </s> world", "<unk> token", "x<unk>y",
    "<|endoftext|>", "text<|endoftext|>more", " <|endoftext|> ", "<|endoftext|><|endoftext|>", "<|endoftext",
    "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", "<|im_start|>system\nYou are helpful.<|im_end|>",
    "<think>\nreasoning here\n</think>\n\nanswer", "<think></think>", "<think><think>", " <think> x </think> ",
    "<tool_call>{}</tool_call>", "<|fim_prefix|>a<|fim_suffix|>b<|fim_middle|>",
    "<|begin_of_text|>Hello", "<|begin_of_text|><|begin_of_text|>", "<|eot_id|>", " <|eot_id|> end",
    "<|start_header_id|>system<|end_header_id|>\n\nYou are a bot.<|eot_id|>",
    "<|reserved_special_token_5|>", "<|reserved_special_token_250|>x", "<|end_of_text|>",
    "<|begin_of_text|><s><|endoftext|><think>",
    # long
    "x" * 300, "ab" * 200, "1" * 100, "!" * 80, " " * 200, "\u4e2d" * 100, "\U0001f600" * 50,
    "word " * 100, "a\n" * 50,
]

para = ("In the beginning the Universe was created. This has made a lot of people very angry and been "
        "widely regarded as a bad move. Many were increasingly of the opinion that they'd all made a big "
        "mistake in coming down from the trees in the first place. 42 is the answer; 6 x 9 = 54? ")
base.append(para * 3)
base.append("Caf\u00e9 na\u00efve co\u00f6perate \u2014 \u201cquoted\u201d \u2026 \u4f60\u597d \U0001f44d " * 10)

# long texts (over 4 KB) take the encoder's word-cache path
code = "def f(x):\n    return [i ** 2 for i in range(x)]  # squares\n\n"
mixed = "Caf\u00e9 \u4f60\u597d \U0001f44d 12345 <s> <|endoftext|> <think>ok</think> \t\r\n"
long_texts = [(para + code + mixed) * 12, ("word " * 7 + "\u00e9t\u00e9 " + "1234567 ") * 300]

variants = []
for s in base[:150]:
    variants += [" " + s, s + " ", "  " + s + "\n", "\t" + s]

seen, out = set(), []
for s in base + variants + long_texts:
    if s not in seen:
        seen.add(s)
        out.append(s)

with open("corpus.jsonl", "w", encoding="utf-8") as f:
    for s in out:
        f.write(json.dumps(s, ensure_ascii=False) + "\n")
print(len(out), "strings")
