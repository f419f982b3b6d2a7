#!/usr/bin/python3
"""Small SentencePiece tokenizers and their reference ids, for tests/Engine.Tests/SentencePieceTokenizerTests.cs.

Trains two SentencePiece models on tests/fixtures/tokenizers/corpus.txt with Debian's python3-sentencepiece (the
library spm_train wraps), converts them to Hugging Face tokenizer.json files the way the transformers converters lay
them out, and writes the ids python3-sentencepiece gives for a fixed set of texts (expected.json). Written from the
SentencePiece model format (sentencepiece_model.proto) and the tokenizers JSON format; no transformers or tokenizers
package is used. Output is deterministic (one training thread, fixed seed sentences, no sampling).

    /usr/bin/python3 tests/reference/tokenizer_fixtures.py      # needs python3-sentencepiece, python3-protobuf

Folders under tests/fixtures/tokenizers/:
  sp-bpe/         tokenizer.model (BPE, byte_fallback, 640 pieces) + tokenizer_config.json (LlamaTokenizer, add_bos_token)
  sp-unigram/     tokenizer.model (Unigram, the normalization rules of norm.tsv, whitespace folding, no byte fallback,
                  320 pieces); no config: no BOS
  llama-json/     tokenizer.json converted from sp-bpe (BPE model with byte_fallback, fuse_unk, Prepend/Replace
                  normalizer, TemplateProcessing <s> $A) + tokenizer_config.json; no tokenizer.model
  llama-json-metaspace/  the same model with the newer layout (no normalizer; Metaspace pre-tokenizer prepend_scheme
                  "first", split false); no tokenizer_config.json (the BOS comes from the post_processor)
  unigram-json/   tokenizer.json converted from sp-unigram (Unigram model, Precompiled charsmap + Strip + Replace
                  normalizer, Metaspace pre-tokenizer), with [CLS]/[SEP] added at the end of the vocabulary and a
                  "[CLS] $A [SEP]" template (the layout of a SentencePiece vocabulary converted for a BERT-style
                  pipeline, as the learning-curve paper's tokenizer is)
"""
import base64
import json
import os
import sys

import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2 as pb

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "tokenizers")
CORPUS = os.path.join(OUT, "corpus.txt")

TEXTS = [
    "Hello world",
    "The learning curves of 1000 words, measured at step 143000.",
    "Grüße aus Köln — naïve café, À bientôt!",
    "¿Cuántos pasos? Muchos más.",
    "Ελληνικά και русский текст",
    "東京 and 🙂 are outside the training text",
    "  two leading spaces,\ttabs\tand   runs of   spaces  ",
    "line one\nline two",
    "ﬁ ligature, full-width ＡＢＣ and ① circled",
    "x",
    "",
]


def train(prefix, **kw):
    args = dict(input=CORPUS, model_prefix=prefix, num_threads=1, character_coverage=1.0,
                input_sentence_size=0, shuffle_input_sentence=False, minloglevel=2)
    args.update(kw)
    spm.SentencePieceTrainer.train(**args)


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=1)
        f.write("\n")


def added(id_, content, special=True):
    return {"id": id_, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
            "normalized": False, "special": special}


def proto(path):
    m = pb.ModelProto()
    with open(path, "rb") as f:
        m.ParseFromString(f.read())
    return m


def bpe_merges(m):
    """The merges of a SentencePiece BPE model as transformers' converter derives them: every split of a normal piece
    into two pieces of the vocabulary, ordered by the merged piece's score (descending), then by the ids of the parts."""
    vocab = {p.piece: i for i, p in enumerate(m.pieces)}
    scores = {p.piece: p.score for p in m.pieces}
    merges = []
    for piece, pid in vocab.items():
        if m.pieces[pid].type != pb.ModelProto.SentencePiece.NORMAL:
            continue
        for k in range(1, len(piece)):
            a, b = piece[:k], piece[k:]
            if a in vocab and b in vocab:
                merges.append((scores[piece], vocab[a], vocab[b], a, b))
    merges.sort(key=lambda t: (-t[0], t[1], t[2]))
    return [[a, b] for _, _, _, a, b in merges]


def llama_json(m, metaspace):
    vocab = {p.piece: i for i, p in enumerate(m.pieces)}
    model = {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
             "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
             "vocab": vocab, "merges": bpe_merges(m)}
    specials = [added(i, p.piece) for i, p in enumerate(m.pieces)
                if p.type in (pb.ModelProto.SentencePiece.UNKNOWN, pb.ModelProto.SentencePiece.CONTROL)]
    post = {"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [vocab["<s>"]], "tokens": ["<s>"]}}}
    if metaspace:
        normalizer = None
        pre = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": False}
        decoder = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": False}
    else:
        normalizer = {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"},
                                                          {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]}
        pre = None
        decoder = {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "}, {"type": "ByteFallback"},
            {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": specials, "normalizer": normalizer,
            "pre_tokenizer": pre, "post_processor": post, "decoder": decoder, "model": model}


def unigram_json(m, extra):
    vocab = [[p.piece, p.score] for p in m.pieces] + [[t, 0.0] for t in extra]
    unk = next(i for i, p in enumerate(m.pieces) if p.type == pb.ModelProto.SentencePiece.UNKNOWN)
    specials = [added(i, p.piece) for i, p in enumerate(m.pieces)
                if p.type in (pb.ModelProto.SentencePiece.UNKNOWN, pb.ModelProto.SentencePiece.CONTROL)]
    specials += [added(len(m.pieces) + k, t) for k, t in enumerate(extra)]
    cls, sep = len(m.pieces), len(m.pieces) + 1
    charsmap = base64.b64encode(m.normalizer_spec.precompiled_charsmap).decode("ascii")
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": specials,
            "normalizer": {"type": "Sequence", "normalizers": [
                {"type": "Precompiled", "precompiled_charsmap": charsmap},
                {"type": "Strip", "strip_left": False, "strip_right": True},
                {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": "\u2581"}]},
            "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
            "post_processor": {"type": "TemplateProcessing",
                               "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                                          {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
                               "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                                        {"SpecialToken": {"id": "[SEP]", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}},
                                        {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
                               "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [cls], "tokens": ["[CLS]"]},
                                                  "[SEP]": {"id": "[SEP]", "ids": [sep], "tokens": ["[SEP]"]}}},
            "decoder": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
            "model": {"type": "Unigram", "unk_id": unk, "vocab": vocab, "byte_fallback": False}}


def main():
    os.makedirs(OUT, exist_ok=True)
    bpe_dir, uni_dir = os.path.join(OUT, "sp-bpe"), os.path.join(OUT, "sp-unigram")
    for d in (bpe_dir, uni_dir):
        os.makedirs(d, exist_ok=True)
    # LLaMA's trainer settings in small: BPE, byte fallback, digits split, no whitespace folding, identity normalization.
    train(os.path.join(bpe_dir, "tokenizer"), model_type="bpe", vocab_size=640, byte_fallback=True, split_digits=True,
          remove_extra_whitespaces=False, normalization_rule_name="identity", unk_id=0, bos_id=1, eos_id=2, pad_id=-1)
    # A unigram model with SentencePiece's default whitespace folding and a normalization table; the table is a few
    # NFKC-like rules (norm.tsv) rather than the full nmt_nfkc table, whose 240 KB charsmap would dwarf the fixture.
    train(os.path.join(uni_dir, "tokenizer"), model_type="unigram", vocab_size=320, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
          normalization_rule_tsv=os.path.join(OUT, "norm.tsv"))
    for d in (bpe_dir, uni_dir):
        os.remove(os.path.join(d, "tokenizer.vocab"))
    write_json(os.path.join(bpe_dir, "tokenizer_config.json"),
               {"add_bos_token": True, "add_eos_token": False, "bos_token": "<s>", "eos_token": "</s>",
                "unk_token": "<unk>", "tokenizer_class": "LlamaTokenizer"})

    mb, mu = proto(os.path.join(bpe_dir, "tokenizer.model")), proto(os.path.join(uni_dir, "tokenizer.model"))
    for name, obj, cfg in [
        ("llama-json", llama_json(mb, False), {"add_bos_token": True, "add_eos_token": False,
                                                 "bos_token": {"content": "<s>", "lstrip": False, "normalized": False,
                                                               "rstrip": False, "single_word": False, "__type": "AddedToken"},
                                                 "eos_token": "</s>", "tokenizer_class": "LlamaTokenizerFast"}),
        ("llama-json-metaspace", llama_json(mb, True), None),
        ("unigram-json", unigram_json(mu, ["[CLS]", "[SEP]"]), None),
    ]:
        d = os.path.join(OUT, name)
        os.makedirs(d, exist_ok=True)
        write_json(os.path.join(d, "tokenizer.json"), obj)
        if cfg is not None:
            write_json(os.path.join(d, "tokenizer_config.json"), cfg)

    sb = spm.SentencePieceProcessor(model_file=os.path.join(bpe_dir, "tokenizer.model"))
    su = spm.SentencePieceProcessor(model_file=os.path.join(uni_dir, "tokenizer.model"))
    cases = []
    for t in TEXTS:
        ib, iu = sb.encode(t), su.encode(t)
        cases.append({"text": t, "bpe": ib, "bpe_decoded": sb.decode(ib), "unigram": iu, "unigram_decoded": su.decode(iu)})
    write_json(os.path.join(OUT, "expected.json"), {
        "sentencepiece": spm.__version__,
        "bpe": {"vocab_size": sb.get_piece_size(), "bos_id": sb.bos_id(), "eos_id": sb.eos_id(), "unk_id": sb.unk_id()},
        "unigram": {"vocab_size": su.get_piece_size(), "bos_id": su.bos_id(), "eos_id": su.eos_id(), "unk_id": su.unk_id()},
        "cases": cases})
    print(f"wrote {OUT}: {len(cases)} cases", file=sys.stderr)


if __name__ == "__main__":
    main()
