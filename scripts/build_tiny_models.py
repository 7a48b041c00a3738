#!/usr/bin/env python3
"""Build the tiny local models that the Transformers bridge's tests and demos load.

Nothing is downloaded: the tokenizers are built with ``tokenizers`` from the small corpus
kept in the repo (tests/data/tiny_corpus/corpus.txt) — a byte-level BPE trained by its BPE
trainer, a WordPiece vocabulary counted from the same words — the models get random weights
from small configs under a fixed seed, and everything is written with ``save_pretrained``, so the
bridge loads them exactly as it would load a real model from disk::

    .venv/bin/python scripts/build_tiny_models.py [--out build/models] [--force] [--quiet]

Models (each a directory under --out):

- ``tiny-gpt2``: GPT-2-style causal LM, byte-level BPE tokenizer with a chat template
  (text-generation, chat messages, feature-extraction).
- ``tiny-bert``: BERT-style masked LM, WordPiece tokenizer (fill-mask, feature-extraction).
- ``tiny-bert-sentiment``: the same encoder shape with a sequence-classification head and
  three named labels: negative, neutral, positive (text-classification).
- ``tiny-bert-ner``: a token-classification head with the labels O, B-PER, I-PER, B-LOC,
  I-LOC (token-classification).
- ``tiny-t5``: T5-style encoder-decoder on the same BPE tokenizer (summarization,
  translation, text2text-generation).
- ``tiny-bert-qa``: a BERT encoder with an extractive question-answering head
  (question-answering).
- ``small-gpt2``: the GPT-2 shape made wider and deeper (13 M parameters, ~50 MB in float32),
  big enough that loading and unloading it shows in the worker's RSS.

Idempotent: each directory holds ``mlbridge-tiny-model.json`` with a fingerprint of this
script, the corpus and the installed versions of torch, transformers and tokenizers; a model
whose fingerprint matches is skipped. A model is built in a temporary directory and renamed
into place, so an interrupted run never leaves half a model behind.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "data" / "tiny_corpus" / "corpus.txt"
DEFAULT_OUT = ROOT / "build" / "models"
STAMP = "mlbridge-tiny-model.json"
SEED = 1234
FORMAT = 1  # bump to rebuild every model when the layout changes

SENTIMENT_LABELS = ["negative", "neutral", "positive"]
NER_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
GPT2_EOS = "<|endoftext|>"
BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
BPE_VOCAB = 600
#: The chat template of the BPE tokenizer (a ChatML-like layout): the tiny models have none of
#: their own, and chat-message inputs go through the tokenizer's template.
CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}"
    "<|endoftext|>\n{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
WORDPIECE_VOCAB = 600

# Small on purpose: each model is a few hundred kilobytes and builds in well under a second.
ENCODER = {
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 128,
    "max_position_embeddings": 256,
}


def fingerprint() -> str:
    """What a built model depends on: this script, the corpus and the library versions."""
    digest = hashlib.sha256()
    digest.update(f"format {FORMAT} seed {SEED}\n".encode())
    digest.update(Path(__file__).read_bytes())
    digest.update(CORPUS.read_bytes())
    for package in ("torch", "transformers", "tokenizers"):
        digest.update(f"{package} {version(package)}\n".encode())
    return digest.hexdigest()


def corpus_lines() -> list[str]:
    return [line.strip() for line in CORPUS.read_text(encoding="utf-8").splitlines() if line]


# ------------------------------------------------------------------------ tokenizers


def train_bpe(lines: list[str]) -> Any:
    """A GPT-2-style byte-level BPE tokenizer wrapped for transformers."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=BPE_VOCAB,
        min_frequency=2,
        special_tokens=[GPT2_EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(lines, trainer=trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=GPT2_EOS,
        eos_token=GPT2_EOS,
        unk_token=GPT2_EOS,
        pad_token=GPT2_EOS,
        model_max_length=ENCODER["max_position_embeddings"],
    )
    wrapped.chat_template = CHAT_TEMPLATE
    return wrapped


def train_wordpiece(lines: list[str]) -> Any:
    """A BERT-style lower-casing WordPiece tokenizer wrapped for transformers.

    ``tokenizers``' WordPieceTrainer numbers its "##" alphabet in hash-map order, so two runs
    give different vocabularies. The vocabulary is therefore counted here, in a fixed order,
    with the tokenizer's own normalizer and pre-tokenizer: the specials, every character alone
    and as a "##" continuation, then the most frequent words (count, then spelling). A word
    outside it falls back to its characters, as WordPiece does.
    """
    from collections import Counter

    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    normalizer = normalizers.BertNormalizer(lowercase=True)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    words: Counter[str] = Counter()
    for line in lines:
        pieces = pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(line))
        words.update(word for word, _ in pieces)
    chars = sorted({c for word in words for c in word})
    vocab = [*BERT_SPECIALS, *chars, *(f"##{c}" for c in chars)]
    room = WORDPIECE_VOCAB - len(vocab)
    frequent = sorted((w for w in words if len(w) > 1), key=lambda w: (-words[w], w))
    vocab += frequent[:room]
    tokenizer = Tokenizer(
        models.WordPiece({token: i for i, token in enumerate(vocab)}, unk_token="[UNK]")
    )
    tokenizer.normalizer = normalizer
    tokenizer.pre_tokenizer = pre_tokenizer
    tokenizer.decoder = decoders.WordPiece()
    cls, sep = vocab.index("[CLS]"), vocab.index("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=ENCODER["max_position_embeddings"],
    )


# ---------------------------------------------------------------------------- models


def gpt2(tokenizer: Any, width: int = 0, layers: int = 0, heads: int = 0) -> Any:
    from transformers import GPT2Config, GPT2LMHeadModel

    eos = tokenizer.convert_tokens_to_ids(GPT2_EOS)
    width = width or ENCODER["hidden_size"]
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=ENCODER["max_position_embeddings"],
        n_embd=width,
        n_layer=layers or ENCODER["num_hidden_layers"],
        n_head=heads or ENCODER["num_attention_heads"],
        n_inner=width * 2,
        bos_token_id=eos,
        eos_token_id=eos,
        pad_token_id=eos,
    )
    model = GPT2LMHeadModel(config)
    model.generation_config.pad_token_id = eos
    return model


def small_gpt2(tokenizer: Any) -> Any:
    return gpt2(tokenizer, width=512, layers=4, heads=8)


def t5(tokenizer: Any) -> Any:
    from transformers import T5Config, T5ForConditionalGeneration

    eos = tokenizer.convert_tokens_to_ids(GPT2_EOS)
    config = T5Config(
        vocab_size=len(tokenizer),
        d_model=ENCODER["hidden_size"],
        d_kv=ENCODER["hidden_size"] // ENCODER["num_attention_heads"],
        d_ff=ENCODER["intermediate_size"],
        num_layers=ENCODER["num_hidden_layers"],
        num_heads=ENCODER["num_attention_heads"],
        eos_token_id=eos,
        pad_token_id=eos,
        decoder_start_token_id=eos,
    )
    model = T5ForConditionalGeneration(config)
    model.generation_config.decoder_start_token_id = eos
    model.generation_config.pad_token_id = eos
    return model


def bert_config(tokenizer: Any, labels: list[str] | None = None) -> Any:
    from transformers import BertConfig

    extra: dict[str, Any] = {}
    if labels:
        extra["id2label"] = dict(enumerate(labels))
        extra["label2id"] = {label: i for i, label in enumerate(labels)}
    return BertConfig(
        vocab_size=len(tokenizer),
        type_vocab_size=2,
        pad_token_id=tokenizer.pad_token_id,
        **ENCODER,
        **extra,
    )


def bert_mlm(tokenizer: Any) -> Any:
    from transformers import BertForMaskedLM

    return BertForMaskedLM(bert_config(tokenizer))


def bert_sentiment(tokenizer: Any) -> Any:
    from transformers import BertForSequenceClassification

    return BertForSequenceClassification(bert_config(tokenizer, SENTIMENT_LABELS))


def bert_qa(tokenizer: Any) -> Any:
    from transformers import BertForQuestionAnswering

    return BertForQuestionAnswering(bert_config(tokenizer))


def bert_ner(tokenizer: Any) -> Any:
    from transformers import BertForTokenClassification

    return BertForTokenClassification(bert_config(tokenizer, NER_LABELS))


#: name → (tokenizer kind, model builder, tasks it serves, one line for its README)
MODELS: dict[str, tuple[str, Callable[[Any], Any], list[str], str]] = {
    "tiny-gpt2": (
        "bpe",
        gpt2,
        ["text-generation", "feature-extraction"],
        "GPT-2-style causal LM (2 layers, 64 wide), byte-level BPE tokenizer",
    ),
    "tiny-bert": (
        "wordpiece",
        bert_mlm,
        ["fill-mask", "feature-extraction"],
        "BERT-style masked LM (2 layers, 64 wide), WordPiece tokenizer",
    ),
    "tiny-bert-sentiment": (
        "wordpiece",
        bert_sentiment,
        ["text-classification", "feature-extraction"],
        f"BERT-style sequence classifier with labels {', '.join(SENTIMENT_LABELS)}",
    ),
    "tiny-bert-ner": (
        "wordpiece",
        bert_ner,
        ["token-classification", "feature-extraction"],
        f"BERT-style token classifier with labels {', '.join(NER_LABELS)}",
    ),
    "tiny-t5": (
        "bpe",
        t5,
        ["summarization", "translation", "text2text-generation"],
        "T5-style encoder-decoder (2 layers, 64 wide), byte-level BPE tokenizer",
    ),
    "tiny-bert-qa": (
        "wordpiece",
        bert_qa,
        ["question-answering"],
        "BERT-style extractive question answering (start and end logits)",
    ),
    "small-gpt2": (
        "bpe",
        small_gpt2,
        ["text-generation", "feature-extraction"],
        "GPT-2-style causal LM (4 layers, 512 wide, ~50 MB), byte-level BPE tokenizer",
    ),
}


def is_current(path: Path, stamp: str) -> bool:
    try:
        return json.loads((path / STAMP).read_text())["fingerprint"] == stamp
    except (OSError, ValueError, KeyError, TypeError):
        return False


def build_one(name: str, out: Path, tokenizers: dict[str, Any], stamp: str) -> None:
    import torch

    kind, builder, tasks, about = MODELS[name]
    tokenizer = tokenizers[kind]
    torch.manual_seed(SEED)
    model = builder(tokenizer).eval()
    staging = out / f".{name}.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    params = sum(p.numel() for p in model.parameters())
    (staging / "README.md").write_text(
        f"# {name}\n\n{about}. Random weights (seed {SEED}): its answers mean nothing.\n"
        f"Built by scripts/build_tiny_models.py for tests; tasks: {', '.join(tasks)}.\n"
    )
    (staging / STAMP).write_text(
        json.dumps(
            {"name": name, "tasks": tasks, "parameters": params, "fingerprint": stamp}, indent=2
        )
        + "\n"
    )
    target = out / name
    if target.exists():
        shutil.rmtree(target, ignore_errors=True)
    try:
        staging.rename(target)
    except OSError:  # another build (a parallel test run) put it there first
        shutil.rmtree(staging, ignore_errors=True)
        if not is_current(target, stamp):
            raise


def build(out: Path, force: bool = False, quiet: bool = False) -> list[str]:
    """Build every model missing or stale under ``out``; return the names built."""
    say = (lambda _msg: None) if quiet else (lambda msg: print(f"[tiny-models] {msg}"))
    stamp = fingerprint()
    wanted = [n for n in MODELS if force or not is_current(out / n, stamp)]
    if not wanted:
        say(f"up to date in {out}")
        return []
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing here needs the hub
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    started = time.monotonic()
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    lines = corpus_lines()
    kinds = {MODELS[n][0] for n in wanted}
    tokenizers = {}
    if "bpe" in kinds:
        tokenizers["bpe"] = train_bpe(lines)
    if "wordpiece" in kinds:
        tokenizers["wordpiece"] = train_wordpiece(lines)
    out.mkdir(parents=True, exist_ok=True)
    for name in wanted:
        build_one(name, out, tokenizers, stamp)
        say(f"built {out / name}")
    say(f"{len(wanted)} model(s) in {time.monotonic() - started:.1f}s")
    return wanted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"default {DEFAULT_OUT}")
    parser.add_argument("--force", action="store_true", help="rebuild even when up to date")
    parser.add_argument("--quiet", action="store_true", help="print nothing on success")
    options = parser.parse_args(argv)
    try:
        build(options.out.resolve(), options.force, options.quiet)
    except ImportError as exc:
        print(f"build_tiny_models: {exc}; run scripts/setup.sh first", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
