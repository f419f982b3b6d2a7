#!/usr/bin/env python3
"""A small Qwen2-shaped tokenizer.json and its reference ids, for tests/Engine.Tests/Qwen2TokenizerTests.cs; and NFC
cases for UnicodeNfc.

The tokenizer has the layout of Qwen2's / Qwen2.5's tokenizer.json: an NFC normalizer; a Sequence pre-tokenizer of a
Split with Qwen2's regex (behavior Isolated) and a ByteLevel step with use_regex false; a byte-level BPE model (no
unk token, no byte fallback, ignore_merges false); a ByteLevel post-processor and decoder (no begin token); the added
special tokens <|endoftext|>, <|im_start|>, <|im_end|> after the vocabulary. Its merges: a few made by hand that only
the Qwen2 split lets apply (digit pairs, which Qwen2 never sees together; a space before a digit; "(" before a
letter; "'S"; runs of newlines; the last UTF-8 byte of U+1D400 and of U+1D41A, math letters outside the BMP, before
"b"), then 300 learned from tests/fixtures/tokenizers/corpus.txt by counting pairs.

The reference ids are computed here from the published algorithm, with no tokenizers or transformers package: NFC
(unicodedata), the added tokens split out first (longest match, left to right), Qwen2's regex (the `regex` module:
code-point semantics, as the tokenizers library's Oniguruma), GPT-2's byte-to-unicode map, and BPE by merge rank.

    python3 tests/reference/qwen2_tokenizer_fixture.py      # needs the regex module (pip's regex)

Writes tests/fixtures/tokenizers/qwen2-json/{tokenizer.json, tokenizer_config.json, expected.json} and
tests/fixtures/tokenizers/nfc.json (random strings of combining marks, Hangul jamo and syllables, precomposed and
excluded characters, and their NFC by unicodedata, whose Unicode version it records).
"""
import json
import os
import random
import unicodedata

import regex

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "tokenizers")
CORPUS = os.path.join(OUT, "corpus.txt")

# Qwen2's pre-tokenizer pattern, as its tokenizer.json states it.
QWEN2_PATTERN = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
SPLIT = regex.compile(QWEN2_PATTERN)
ADDED = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
SCORE_TEXT = 12  # the index in TEXTS of the text scored
EVAL_LINES = [1, 2, 3, 6]  # the texts (one line each) an eval set is made of

TEXTS = [
    "Hello world",
    "The learning curves of 1000 words, measured at step 143000.",
    "In 2024 there were 12 runs (seed 1 and seed 12) and 3.14 steps.",
    "I don't think it's HE'S or THEY'RE, we'll see; I'M sure you'VE 'd",
    "  two leading spaces,\ttabs\tand   runs of   spaces  ",
    "line one\nline two\n\n\nline five\r\nend\n",
    "caf\u0065\u0301 and cafe\u0301 vs caf\u00e9; Ko\u0308ln, A\u030angstro\u0308m",
    "Grüße aus Köln — naïve café, À bientôt!",
    "Ελληνικά και русский текст, 東京 and 🙂 (emoji)",
    "(hello) [world] {x} 'Sam' \"quoted\" ((nested))",
    "<|im_start|>user\nWhat is 7+5?<|im_end|>\n<|im_start|>assistant\n12<|im_end|><|endoftext|>",
    "a <|endoftext|>b<|endoftext|>",
    "Step 143000: it's cafe\u0301 time (again).\n\n\nWe'LL see  2 runs of 10 steps.\n",
    "\U0001D400bc and \U0001F642abc, \U00020000\u4e00 x\U0001D7CE1 \U0001F642\U0001F642 (\U0001D41Ab)",
    "x",
    " ",
    "\n",
    "",
]


def bytes_to_unicode():
    """GPT-2's map of the 256 bytes to printable characters (bytes that print stand for themselves)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


B2U = bytes_to_unicode()


def pieces(text):
    """Qwen2's pre-tokenization of normalized text without added tokens: the regex matches and (Isolated) the text
    between them, each as its byte-level string."""
    out = []
    at = 0
    for m in SPLIT.finditer(text):
        if m.start() == m.end():
            continue
        if m.start() > at:
            out.append(text[at:m.start()])
        out.append(m.group())
        at = m.end()
    if at < len(text):
        out.append(text[at:])
    return ["".join(B2U[b] for b in p.encode("utf-8")) for p in out]


def learn(words, n, ranks):
    """n merges by pair count over the words (ties: the smaller pair), after those already ranked."""
    words = {tuple(w): c for w, c in words.items()}
    merges = []
    for _ in range(n):
        counts = {}
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                counts[(a, b)] = counts.get((a, b), 0) + c
        counts = {p: c for p, c in counts.items() if p not in ranks}
        if not counts:
            break
        best = min(counts, key=lambda p: (-counts[p], p))
        ranks[best] = len(ranks)
        merges.append(best)
        words = {tuple(merge_word(list(w), best)): c for w, c in words.items()}
    return merges


def merge_word(symbols, pair):
    out = []
    i = 0
    while i < len(symbols):
        if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == pair:
            out.append(symbols[i] + symbols[i + 1])
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return out


def bpe(word, ranks):
    """Byte-pair encoding of one piece: repeatedly merge the adjacent pair of lowest rank."""
    symbols = list(word)
    while len(symbols) > 1:
        pairs = [(ranks.get((a, b)), i) for i, (a, b) in enumerate(zip(symbols, symbols[1:])) if (a, b) in ranks]
        if not pairs:
            break
        rank = min(pairs)[0]
        pair = next((a, b) for a, b in zip(symbols, symbols[1:]) if ranks.get((a, b)) == rank)
        symbols = merge_word(symbols, pair)
    return symbols


def encode(text, vocab, ranks, added):
    ids = []
    text = unicodedata.normalize("NFC", text)
    i = start = 0
    while i < len(text):
        hit = max((a for a in added if text.startswith(a, i)), key=len, default=None)
        if hit is None:
            i += 1
            continue
        ids += encode_plain(text[start:i], vocab, ranks)
        ids.append(added[hit])
        i += len(hit)
        start = i
    ids += encode_plain(text[start:], vocab, ranks)
    return ids


def encode_plain(text, vocab, ranks):
    return [vocab[s] for p in pieces(text) for s in bpe(p, ranks)]


def nfc_cases(rng):
    marks = list(range(0x300, 0x370)) + [0x591, 0x5B0, 0x5C7, 0x93C, 0x94D, 0x9BC, 0x1DC0, 0x20D0, 0x302A, 0x3099, 0x309A]
    letters = [ord(c) for c in "aeiouAEIOUnNcCsSzZyYwWgGkKrRlLhH"] + [0x3B1, 0x3B9, 0x3C5, 0x3C9, 0x391, 0x415, 0x438, 0x433,
                                                                     0x928, 0x930, 0x915, 0x9C7, 0xB47, 0xB3E, 0xB57, 0xBC6,
                                                                     0x304B, 0x30CF, 0x1025, 0x102E]
    precomposed = [0xC0, 0xE9, 0xF6, 0x1E0A, 0x1EA0, 0x1F00, 0x1F80, 0x212B, 0x2126, 0xFB1D, 0x2ADC, 0x1E9B, 0x340, 0x341,
                   0x343, 0x344, 0x374, 0x37E, 0x387, 0x958, 0xF73, 0xF75, 0xF81, 0x1D15E, 0x1D160, 0x1D1BB, 0x2F800, 0xFA10]
    jamo = list(range(0x1100, 0x1113)) + list(range(0x1161, 0x1176)) + list(range(0x11A8, 0x11C3)) + [0x11A7, 0x1160]
    syllables = [0xAC00, 0xAC01, 0xB098, 0xD7A3, 0xD558, 0xAE00]
    pools = [marks, letters, precomposed, jamo, syllables, [ord(c) for c in " .-x1"]]
    cases = []
    for _ in range(400):
        n = rng.randint(1, 10)
        s = "".join(chr(rng.choice(rng.choice(pools))) for _ in range(n))
        if rng.random() < 0.3:
            s = unicodedata.normalize("NFD", s)
        cases.append([s, unicodedata.normalize("NFC", s)])
    return cases


def write_json(path, obj, ascii=False):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        json.dump(obj, f, ensure_ascii=ascii, indent=1)
        f.write("\n")


def main():
    with open(CORPUS, encoding="utf-8") as f:
        corpus = unicodedata.normalize("NFC", f.read())
    words = {}
    for p in pieces(corpus):
        words[p] = words.get(p, 0) + 1
    alphabet = [B2U[b] for b in range(256)]
    G, C = B2U[ord(" ")], B2U[ord("\n")]
    hand = [("0", "0"), ("1", "4"), ("2", "0"), ("00", "0"), (G, "1"), ("(", "h"), ("(", "s"), ("'", "S"), ("'", "s"),
            (C, C), (C + C, C), ("?", C), (G, G), (B2U[0x80], "b"), (B2U[0x9A], "b")]
    ranks = {p: r for r, p in enumerate(hand)}
    learned = learn(words, 300, ranks)
    merges = hand + learned
    vocab = {s: i for i, s in enumerate(alphabet)}
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    added = {t: len(vocab) + k for k, t in enumerate(ADDED)}

    folder = os.path.join(OUT, "qwen2-json")
    os.makedirs(folder, exist_ok=True)
    tokenizer = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": True} for t, i in added.items()],
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": QWEN2_PATTERN}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
        ]},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
        "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": [f"{a} {b}" for a, b in merges]},
    }
    write_json(os.path.join(folder, "tokenizer.json"), tokenizer)
    write_json(os.path.join(folder, "tokenizer_config.json"), {
        "add_prefix_space": False,
        "added_tokens_decoder": {str(i): {"content": t, "lstrip": False, "normalized": False, "rstrip": False,
                                          "single_word": False, "special": True} for t, i in added.items()},
        "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
        "bos_token": None,
        "clean_up_tokenization_spaces": False,
        "eos_token": "<|endoftext|>",
        "errors": "replace",
        "model_max_length": 32768,
        "pad_token": "<|endoftext|>",
        "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer",
        "unk_token": None,
    })
    expected = {
        "vocab_size": len(vocab) + len(added),
        "end_of_text": added["<|endoftext|>"],
        "cases": [{"text": t, "ids": encode(t, vocab, ranks, added)} for t in TEXTS],
        # The text `score --text` reads in ScoreCommandTests (one of the cases).
        "score_text": TEXTS[SCORE_TEXT],
        # The lines `eval-set --text --packing stream` reads in EvalSetCommandTests, and the stream it packs: each line
        # encoded with its newline.
        "eval_lines": [TEXTS[i] for i in EVAL_LINES],
        "eval_stream": [i for k in EVAL_LINES for i in encode(TEXTS[k] + "\n", vocab, ranks, added)],
    }
    write_json(os.path.join(folder, "expected.json"), expected, ascii=True)
    write_json(os.path.join(OUT, "nfc.json"), {"unicode": unicodedata.unidata_version, "cases": nfc_cases(random.Random(7))}, ascii=True)
    print(f"{folder}: {len(vocab)} vocabulary entries ({len(merges)} merges), {len(added)} added tokens; {len(TEXTS)} texts")


if __name__ == "__main__":
    main()
