"""The Transformers benchmark's in-process side: the tiny model called directly in Python.

tests/bench/transformers_bench.cpp runs tiny-gpt2 through the host (``load_model`` then
``run_pipeline``); this script makes the same calls in-process, with ``transformers.pipeline``
built the way the bridge builds it (``transformers_support.loader``), the same prompt, the same
kwargs and the same seed, and prints JSON (also written to ``--out``):

cold (one fresh interpreter per repetition, ``--cold N``)
    ``startup_ms`` spawn → the script runs (interpreter start-up), ``import_ms`` ``import torch,
    transformers`` (what the bridge's ``initialize`` imports), ``load_ms`` tokenizer, model and
    pipeline, ``first_call_ms`` the first generation, ``spawn_to_first_ms`` all of them.
warm (in the last cold start's interpreter, after its first call; ``--repetitions N`` of
    ``--min-time`` seconds) ``calls_per_s`` and ``tokens_per_s`` (``min_new_tokens ==
    max_new_tokens``: every call generates exactly that many tokens).

    .venv/bin/python tests/bench/transformers_inprocess.py --models build/models --out x.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

STARTED = time.monotonic()  # CLOCK_MONOTONIC: comparable with the parent's clock (Linux)

# The call of transformers_bench.cpp; keep both in step.
MODEL = "tiny-gpt2"
PROMPT = "The quick brown fox"
MAX_NEW_TOKENS = 32
SEED = 0

# What transformers_support.environment forces in the worker before any import.
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


def generation_kwargs(max_new_tokens: int) -> dict[str, Any]:
    """Greedy, exactly ``max_new_tokens`` new tokens (the bridge adds do_sample=False too)."""
    return {"max_new_tokens": max_new_tokens, "min_new_tokens": max_new_tokens, "do_sample": False}


def ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def import_frameworks() -> tuple[Any, Any]:
    import torch
    import transformers
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    return torch, transformers


def load(path: Path) -> Any:
    """The pipeline as transformers_support.loader.load_pipeline builds it (CPU, float32)."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, pipeline

    config = AutoConfig.from_pretrained(str(path), local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(
        str(path), local_files_only=True, trust_remote_code=False
    )
    model = AutoModelForCausalLM.from_pretrained(
        str(path), config=config, local_files_only=True, trust_remote_code=False
    )
    model.to("cpu")
    model.eval()
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return pipeline("text-generation", model=model, tokenizer=tokenizer, device=model.device)


def call(pipe: Any, torch: Any, kwargs: dict[str, Any]) -> str:
    """One run_pipeline: seed, then the pipeline under inference_mode (as the bridge does)."""
    from transformers import set_seed

    set_seed(SEED)
    with torch.inference_mode():
        outputs = pipe(PROMPT, **kwargs)
    return outputs[0]["generated_text"]


def child(options: argparse.Namespace) -> None:
    """One cold start, in this fresh interpreter."""
    started = STARTED
    torch, transformers = import_frameworks()
    imported = time.monotonic()
    pipe = load(options.models / options.model)
    loaded = time.monotonic()
    kwargs = generation_kwargs(options.max_new_tokens)
    text = call(pipe, torch, kwargs)
    answered = time.monotonic()
    runs = warm(pipe, torch, kwargs, options) if options.warm else []
    result = {
        "startup_ms": ms(started - options.spawned_at),
        "import_ms": ms(imported - started),
        "load_ms": ms(loaded - imported),
        "first_call_ms": ms(answered - loaded),
        "spawn_to_first_ms": ms(answered - options.spawned_at),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "threads": torch.get_num_threads(),
        "text": text,
        "warm": runs,
    }
    print(json.dumps(result))


def cold_start(options: argparse.Namespace, then_warm: bool) -> dict[str, Any]:
    command = [
        sys.executable,
        os.path.abspath(__file__),
        "--child",
        "--models",
        str(options.models),
        "--model",
        options.model,
        "--max-new-tokens",
        str(options.max_new_tokens),
    ]
    if then_warm:
        command += ["--warm", "--repetitions", str(options.repetitions)]
        command += ["--min-time", repr(options.min_time)]
    spawned = time.monotonic()
    done = subprocess.run(
        [*command, "--spawned-at", repr(spawned)],
        capture_output=True,
        text=True,
        env={**os.environ, **OFFLINE_ENV},
        check=False,
    )
    if done.returncode != 0:
        sys.exit(f"transformers_inprocess: the cold start failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def warm(
    pipe: Any, torch: Any, kwargs: dict[str, Any], options: argparse.Namespace
) -> list[dict[str, Any]]:
    """Closed-loop calls after the first one: ``--repetitions`` runs of ``--min-time`` s."""
    runs = []
    for _ in range(options.repetitions):
        calls = 0
        begin = time.perf_counter()
        elapsed = 0.0
        while calls == 0 or elapsed < options.min_time:
            call(pipe, torch, kwargs)
            calls += 1
            elapsed = time.perf_counter() - begin
        runs.append(
            {
                "calls": calls,
                "seconds": round(elapsed, 6),
                "calls_per_s": calls / elapsed,
                "tokens_per_s": calls * options.max_new_tokens / elapsed,
            }
        )
    return runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=Path, required=True, help="build/models")
    parser.add_argument("--model", default=MODEL)
    parser.add_argument("--max-new-tokens", type=int, default=MAX_NEW_TOKENS)
    parser.add_argument("--cold", type=int, default=3, help="cold starts (fresh interpreters)")
    parser.add_argument("--repetitions", type=int, default=3, help="warm repetitions")
    parser.add_argument("--min-time", type=float, default=1.0, help="seconds per repetition")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--warm", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--spawned-at", type=float, help=argparse.SUPPRESS)
    options = parser.parse_args()
    options.models = options.models.resolve()
    if options.child:
        child(options)
        return 0
    if options.cold < 1 or options.repetitions < 1:
        parser.error("--cold and --repetitions must be at least 1")

    colds = [cold_start(options, i == options.cold - 1) for i in range(options.cold)]
    runs = colds[-1]["warm"]
    text = colds[-1]["text"]
    metrics = ("startup_ms", "import_ms", "load_ms", "first_call_ms", "spawn_to_first_ms")
    report = {
        "model": options.model,
        "prompt": PROMPT,
        "max_new_tokens": options.max_new_tokens,
        "seed": SEED,
        "python": sys.version.split()[0],
        "torch": colds[0]["torch"],
        "transformers": colds[0]["transformers"],
        "threads": colds[0]["threads"],
        "cold": [{k: c[k] for k in metrics} for c in colds],
        "cold_median": {k: statistics.median(c[k] for c in colds) for k in metrics},
        "warm": runs,
        "warm_median": {
            k: statistics.median(r[k] for r in runs) for k in ("calls_per_s", "tokens_per_s")
        },
        "text": text,
        "cold_texts_match": all(c["text"] == text for c in colds),
    }
    encoded = json.dumps(report, indent=2)
    if options.out:
        options.out.write_text(encoded + "\n")
    print(encoded)
    return 0


if __name__ == "__main__":
    sys.exit(main())
