"""The Transformers bridge: Hugging Face models from local directories, shared by sessions.

Run it the way the host does::

    python python_bridges/transformers_bridge.py --worker-id tf-1 --codec msgpack --protocol 1

Offline for good: the bridge sets ``HF_HUB_OFFLINE=1`` before transformers is imported and
loads models only from local directories (``save_pretrained`` output), from
``options.model_dirs`` by name, or from a Hugging Face cache already on disk
(``options.cache_dir``). Nothing is ever downloaded. See docs/bridges/transformers.md.

Models (``transformers_support.registry``)
    ``load_model`` ``{model (or path), task?, device?, dtype?, model_id?}`` → ``{model_id, task,
    device, dtype, parameters, memory_bytes, rss_delta_bytes, rss_bytes, shared, references}``.
    A model is loaded once per worker and shared by every session that loads it (same
    directory, task, device and dtype: ``shared: true``; a ``model_id`` the caller gives
    becomes an alias of the loaded model, and every alias resolves to it); a
    session holds a reference and may only use the models it loaded (or the pinned ones of
    ``options.preload``). ``unload_model`` ``{model_id, force?}`` drops the session's
    reference; the last one frees the model (``gc`` + ``malloc_trim``) and the answer reports
    the RSS before and after. ``list_models`` ``{all?}``, ``get_model_info`` ``{model_id}``.

Running
    ``run_pipeline`` ``{model_id, inputs: text | [texts], kwargs?, seed?, batch_size?}`` →
    ``{model_id, task, outputs, batch, count, elapsed_ms}``: the pipeline's answer as plain
    values. ``kwargs`` are the pipeline's (``top_k`` of text-classification,
    ``aggregation_strategy`` of token-classification, ``candidate_labels`` of zero-shot) and,
    for text-generation, generation settings (``max_new_tokens``, ``temperature``, ``top_k``,
    ``top_p``, ``do_sample``, ``num_return_sequences``, ``repetition_penalty`` ...), checked
    first; a sampling setting turns ``do_sample`` on. What the caller leaves out comes from the
    checkpoint's generation_config (``do_sample``, ``max_new_tokens``, ``max_length``), and
    only where that says nothing decoding is greedy and ``max_new_tokens`` is
    ``options.default_max_new_tokens``. ``seed`` seeds Python, NumPy and torch first: the
    same seed gives the same text.
    ``inputs`` may also be chat messages ``[{"role", "content"}]`` (or a list of chats) for a
    text-generation model, rendered with the tokenizer's chat template (``chat``); for
    question-answering ``{"question", "context"}`` (or a list); summarization, translation
    (``kwargs.target_lang``) and text2text-generation run on an encoder-decoder
    (``text2text``, ``question_answering``: transformers 5 has no pipelines for these).
    ``generate_stream`` ``{model_id, prompt | messages, kwargs?, seed?,
    skip_special_tokens?}`` sends ``{"text": piece}`` chunks as tokens decode, then
    ``{model_id, text, tokens, chunks, finish_reason, prompt_tokens, elapsed_ms}`` (the
    chunks joined are ``text``).

Tokens and vectors
    ``tokenize`` ``{model_id, text: text | [texts], add_special_tokens?, max_length?,
    return_offsets?}`` → ``{ids, tokens, count}`` (a list: ``{items: [...], count}``).
    ``detokenize`` ``{model_id, ids: [int] | [[int]], skip_special_tokens?}`` → ``{text}`` (or
    ``{texts}``). ``embed`` ``{model_id, inputs, pooling: mean|cls|last|max, normalize?,
    format: bytes|list, max_length?}`` → ``{embeddings, shape, dim, count, dtype, format}``:
    bytes are little-endian float32, row-major (MessagePack bin; base64 in JSON).

Errors are ``BridgeError``s with a category where the bridge knows what happened (a missing
model → ``not_found`` naming the path; an unknown task → ``invalid_argument``; CUDA missing →
``invalid_configuration``; out of memory, or a load over ``options.max_model_memory_mb`` →
``resource_exhausted``), keeping the original exception's type (``transformers_support.errors``).
"""

from __future__ import annotations

import functools
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# transformers_support lives beside this file (and mlbridge too, in a checkout without an install).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from transformers_support import environment  # noqa: E402

environment.force_offline()  # before anything imports huggingface_hub

from transformers_support import (  # noqa: E402
    chat,
    devices,
    embeddings,
    generation,
    loader,
    memory,
    question_answering,
    tasks,
    text2text,
)
from transformers_support.errors import raise_translated  # noqa: E402
from transformers_support.locate import Locator  # noqa: E402
from transformers_support.registry import (  # noqa: E402
    REF_PREFIX,
    WORKER,
    LoadedModel,
    ModelRef,
    ModelRegistry,
    holder_of,
)

from mlbridge import BaseBridge, BridgeError, CallContext, command  # noqa: E402

_OPTION_KEYS = {
    "model_dirs",
    "cache_dir",
    "device",
    "dtype",
    "num_threads",
    "max_model_memory_mb",
    "max_batch",
    "max_new_tokens_limit",
    "default_max_new_tokens",
    "embed_batch_size",
    "preload",
}
_LOAD_KEYS = {"model", "path", "task", "device", "dtype", "model_id"}
_STREAM_KEYS = {"model_id", "prompt", "messages", "kwargs", "seed", "skip_special_tokens"}


def tf_command(name: str, description: str) -> Callable[[Callable[..., Any]], Any]:
    """``@command`` plus what every command needs: a map of args, a ready bridge, and
    torch's and transformers' errors turned into categorized ones
    (``transformers_support.errors``)."""

    def wrap(func: Callable[..., Any]) -> Any:
        @functools.wraps(func)
        def handler(self: TransformersBridge, args: Any, ctx: CallContext) -> Any:
            if not isinstance(args, dict):
                raise BridgeError(f"{name}: args must be a map", category="invalid_argument")
            self._ready()
            try:
                return func(self, args, ctx)
            except BridgeError:
                raise
            except Exception as exc:  # KeyboardInterrupt (cancellation) passes untouched
                model = args.get("model_id") or args.get("model")
                raise_translated(exc, name, model if isinstance(model, str) else None)
                raise  # unreachable

        return command(name, description=description)(handler)

    return wrap


def _option_int(options: dict[str, Any], name: str, default: Any, low: int, high: int) -> Any:
    value = options.get(name, default)
    if value is None and default is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BridgeError(
            f"options.{name} must be an integer from {low} to {high}, got {value!r}",
            category="invalid_configuration",
        )
    return value


def _flag(args: dict[str, Any], name: str, default: bool) -> bool:
    value = args.get(name, default)
    if not isinstance(value, bool):
        raise BridgeError(f"{name} must be true or false", category="invalid_argument")
    return value


class TransformersBridge(BaseBridge):
    """Transformers pipelines behind the mlbridge protocol."""

    framework = "transformers"
    bridge_version = "0.1.0"

    def __init__(self) -> None:
        self.ready = False
        self.registry = ModelRegistry()
        self.locator = Locator([], None)
        self.default_device = "auto"
        self.default_dtype = "auto"
        self.max_model_memory_mb: int | None = None
        self.max_batch = 64
        self.max_new_tokens_limit = 2048
        self.default_max_new_tokens = 32
        self.embed_batch_size = 32

    # ------------------------------------------------------------------ set-up

    def initialize(self, options: dict[str, Any]) -> None:
        """Check the options, import torch and transformers, and preload models."""
        unknown = sorted(set(options) - _OPTION_KEYS)
        if unknown:
            raise BridgeError(
                f"options: unknown keys {unknown}; known: {sorted(_OPTION_KEYS)}",
                category="invalid_configuration",
            )
        model_dirs = options.get("model_dirs") or []
        if isinstance(model_dirs, str):
            model_dirs = [model_dirs]
        if not isinstance(model_dirs, list) or not all(isinstance(d, str) for d in model_dirs):
            raise BridgeError(
                "options.model_dirs must be a list of directories",
                category="invalid_configuration",
            )
        dirs = [self._existing_dir(d, "options.model_dirs") for d in model_dirs]
        cache_dir = options.get("cache_dir")
        cache = None
        if cache_dir is not None:
            if not isinstance(cache_dir, str):
                raise BridgeError(
                    "options.cache_dir must be a directory", category="invalid_configuration"
                )
            cache = self._existing_dir(cache_dir, "options.cache_dir")
            environment.set_cache_dir(str(cache))
        for key, known in (("device", devices.DEVICES), ("dtype", tuple(devices.DTYPES))):
            value = options.get(key, "auto")
            if not isinstance(value, str) or not (
                value in known or (key == "device" and value.startswith("cuda:"))
            ):
                raise BridgeError(
                    f"options.{key} must be one of {', '.join(known)}, got {value!r}",
                    category="invalid_configuration",
                )
        threads = _option_int(options, "num_threads", None, 1, 256)
        self.max_model_memory_mb = _option_int(options, "max_model_memory_mb", None, 1, 1 << 24)
        self.max_batch = _option_int(options, "max_batch", 64, 1, 10_000)
        self.max_new_tokens_limit = _option_int(options, "max_new_tokens_limit", 2048, 1, 1 << 20)
        self.default_max_new_tokens = _option_int(
            options, "default_max_new_tokens", 32, 1, self.max_new_tokens_limit
        )
        self.embed_batch_size = _option_int(options, "embed_batch_size", 32, 1, 4096)
        preload = options.get("preload") or []
        if not isinstance(preload, list) or not all(isinstance(p, dict) for p in preload):
            raise BridgeError(
                "options.preload must be a list of maps {model, task?, model_id?, device?, dtype?}",
                category="invalid_configuration",
            )

        started = time.monotonic()
        torch, transformers = environment.import_frameworks(threads)
        self.locator = Locator(dirs, cache)
        self.default_device = options.get("device", "auto")
        self.default_dtype = options.get("dtype", "auto")
        if self.default_device != "auto":
            try:
                devices.resolve_device(self.default_device)
            except BridgeError as exc:
                raise BridgeError(f"options.device: {exc.message}", category=exc.category) from None
        self.ready = True
        for spec in preload:
            try:
                entry, _ = self._load(spec, WORKER)
            except BridgeError as exc:
                raise BridgeError(
                    f"options.preload {spec.get('model')!r}: {exc.message}",
                    category="invalid_configuration"
                    if exc.category != "resource_exhausted"
                    else exc.category,
                ) from None
            entry.pinned = True
        print(
            f"transformers bridge: ready in {time.monotonic() - started:.1f}s (torch "
            f"{torch.__version__}, transformers {transformers.__version__}, "
            f"cuda {'yes' if torch.cuda.is_available() else 'no'}, offline); "
            f"{len(preload)} model(s) preloaded",
            file=sys.stderr,
        )

    @staticmethod
    def _existing_dir(value: str, key: str) -> Path:
        path = Path(value).expanduser()
        if not path.is_dir():
            raise BridgeError(
                f"{key}: {str(path.absolute())!r} is not a directory",
                category="invalid_configuration",
            )
        return path.resolve()

    def _ready(self) -> None:
        if not self.ready:  # a host that skipped init: defaults
            self.initialize({})

    def capabilities(self) -> dict[str, Any]:
        torch = sys.modules.get("torch")
        return {
            "streaming": True,
            "sessions": True,
            "cancellation": True,
            "offline": True,
            "tasks": list(tasks.TASKS),
            "task_aliases": dict(tasks.ALIASES),
            "devices": list(devices.DEVICES),
            "dtypes": sorted(set(devices.DTYPES.values())),
            "cuda": bool(torch is not None and torch.cuda.is_available()),
            "embedding_formats": list(embeddings.FORMATS),
            "poolings": list(embeddings.POOLINGS),
        }

    # ------------------------------------------------------------------ models

    def _load(self, args: dict[str, Any], holder: str) -> tuple[LoadedModel, str]:
        """Load (or share) the model ``args`` describe and add ``holder``'s reference; the
        model and the id the caller names it by (its ``model_id``, when given)."""
        unknown = sorted(set(args) - _LOAD_KEYS)
        if unknown:
            raise BridgeError(
                f"unknown arguments {unknown}; known: {sorted(_LOAD_KEYS)}",
                category="invalid_argument",
            )
        reference = args.get("model", args.get("path"))  # "path" reads as well
        if "model" in args and "path" in args:
            raise BridgeError("give model or path, not both", category="invalid_argument")
        path = self.locator.find(reference)
        config = loader.read_config(path)
        task = tasks.canonical(args["task"]) if args.get("task") else tasks.infer(config)
        device = devices.resolve_device(args.get("device") or self.default_device)
        dtype = devices.resolve_dtype(args.get("dtype") or self.default_dtype, device)
        existing = self.registry.find((str(path), task, device, devices.dtype_name(dtype)))
        if existing is not None:
            name = self.registry.name(existing, args.get("model_id"))
            existing.holders.add(holder)
            return existing, name
        model_id = self.registry.new_id(args.get("model_id"), path, task)
        _, estimate = loader.estimate(task, config, dtype)
        loader.check_budget(
            estimate, self.registry.total_weight_bytes(), self.max_model_memory_mb, reference, dtype
        )
        before = memory.rss_bytes() or 0
        started = time.monotonic()
        try:
            pipe = loader.load_pipeline(path, task, device, dtype, config)
        except BaseException:
            memory.release()  # whatever a failed load allocated
            raise
        entry = LoadedModel(
            model_id=model_id,
            reference=str(reference),
            path=path,
            task=task,
            device=device,
            dtype=devices.dtype_name(next(pipe.model.parameters()).dtype),
            pipeline=pipe,
            parameters=sum(p.numel() for p in pipe.model.parameters()),
            weight_bytes=memory.weight_bytes(pipe.model),
            rss_delta_bytes=max((memory.rss_bytes() or 0) - before, 0),
            load_ms=int((time.monotonic() - started) * 1000),
            requested_dtype=devices.dtype_name(dtype),
            holders={holder},
        )
        self.registry.add(entry)
        return entry, model_id

    def _model(self, args: dict[str, Any], ctx: CallContext) -> LoadedModel:
        return self.registry.get(args.get("model_id"), holder_of(ctx.session_id))

    def _free(self, models: list[LoadedModel]) -> None:
        if models:
            memory.release()

    @tf_command("load_model", "Load a model from a local path or name (shared by sessions).")
    def load_model(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        holder = holder_of(ctx.session_id)
        known = {m.model_id for m in self.registry.models.values()}
        entry, name = self._load(args, holder)
        ctx.resources[REF_PREFIX + entry.model_id] = ModelRef(entry.model_id)
        shared = entry.model_id in known
        return {
            **entry.summary(name),
            "shared": shared,
            "rss_delta_bytes": 0 if shared else entry.rss_delta_bytes,
            "load_ms": 0 if shared else entry.load_ms,
            "rss_bytes": memory.rss_bytes(),
            "session_id": ctx.session_id,
        }

    @tf_command("unload_model", "Drop the session's reference; the last one frees the model.")
    def unload_model(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        """``{model_id, force?}``; ``force`` frees it whoever holds it (pinned ones too)."""
        force = _flag(args, "force", False)
        holder = holder_of(ctx.session_id)
        model_id = args.get("model_id")
        forced = self.registry.resolve(model_id) if isinstance(model_id, str) else None
        if force and forced is not None:
            entry = forced
        else:
            entry = self._model(args, ctx)
        ctx.resources.pop(REF_PREFIX + entry.model_id, None)
        before = memory.rss_bytes() or 0
        if force:
            freed = [self.registry.drop(entry.model_id)]
        elif entry.pinned:
            raise BridgeError(
                f"model {entry.model_id!r} is preloaded (options.preload) and stays; pass "
                "force: true to unload it anyway",
                category="invalid_argument",
            )
        else:
            freed = self.registry.release(holder, [entry.model_id])
        self._free(freed)
        after = memory.rss_bytes() or 0
        return {
            "model_id": model_id,
            "unloaded": bool(freed),
            "references": len(entry.holders),
            "memory_bytes": entry.weight_bytes,
            "rss_before_bytes": before,
            "rss_after_bytes": after,
            "freed_bytes": max(before - after, 0),
        }

    @tf_command("list_models", "The session's models (all: true → every model of the worker).")
    def list_models(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        every = _flag(args, "all", False)
        models = (
            list(self.registry.models.values())
            if every
            else self.registry.held_by(holder_of(ctx.session_id))
        )
        return {
            "models": [m.summary() for m in models],
            "count": len(models),
            "scope": "worker" if every else "session",
            "session_id": ctx.session_id,
            "loaded_bytes": self.registry.total_weight_bytes(),
            "rss_bytes": memory.rss_bytes(),
            "max_model_memory_mb": self.max_model_memory_mb,
            **self.locator.describe(),
        }

    @tf_command("get_model_info", "Config, labels, tokenizer and memory of a loaded model.")
    def get_model_info(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        entry = self._model(args, ctx)
        config = entry.model.config
        tokenizer = entry.tokenizer
        labels = getattr(config, "id2label", None) or {}
        gen_config = getattr(entry.model, "generation_config", None)
        return {
            **entry.summary(args["model_id"]),
            "load_ms": entry.load_ms,
            "rss_delta_bytes": entry.rss_delta_bytes,
            "loaded_at": entry.loaded_at,
            "model_type": getattr(config, "model_type", None),
            "architectures": list(getattr(config, "architectures", None) or []),
            "labels": {str(k): v for k, v in labels.items()} if labels else {},
            "hidden_size": getattr(config, "hidden_size", None),
            "num_layers": getattr(config, "num_hidden_layers", None),
            "vocab_size": getattr(config, "vocab_size", None),
            "max_positions": getattr(config, "max_position_embeddings", None),
            "tokenizer": {
                "class": type(tokenizer).__name__,
                "vocab_size": len(tokenizer),
                "model_max_length": tokenizer.model_max_length
                if tokenizer.model_max_length < 10**9
                else None,
                "special_tokens": tasks.to_wire(tokenizer.special_tokens_map),
            },
            "generation_config": tasks.to_wire(gen_config.to_diff_dict()) if gen_config else None,
        }

    # ----------------------------------------------------------------- running

    def _inputs(self, value: Any, name: str) -> tuple[list[str], bool]:
        """``(texts, is_batch)`` from a string or a list of strings."""
        if isinstance(value, str):
            return [value], False
        if (
            isinstance(value, list)
            and value
            and len(value) <= self.max_batch
            and all(isinstance(v, str) for v in value)
        ):
            return value, True
        raise BridgeError(
            f"{name} must be a string or a list of 1 to {self.max_batch} strings "
            "(options.max_batch)",
            category="invalid_argument",
        )

    def _kwargs(self, args: dict[str, Any], entry: LoadedModel) -> dict[str, Any]:
        kwargs = args.get("kwargs") or {}
        if not isinstance(kwargs, dict):
            raise BridgeError("kwargs must be a map", category="invalid_argument")
        if entry.task in tasks.GENERATIVE:
            checked = generation.generation_kwargs(kwargs, self.max_new_tokens_limit)
            if entry.task in text2text.TASKS:
                extra = sorted(set(kwargs) - set(checked) - text2text.TASK_KWARGS)
                if extra:
                    raise BridgeError(
                        f"unknown kwargs {extra} for {entry.task}: generation settings, and "
                        f"{', '.join(sorted(text2text.TASK_KWARGS))}",
                        category="invalid_argument",
                    )
                text2text.prefix_for(entry.task, kwargs)  # a translation needs its languages
            kwargs = {**kwargs, **checked}
            self._generation_defaults(kwargs, entry)
        return kwargs

    def _call_inputs(self, raw: Any, entry: LoadedModel) -> tuple[Any, int, bool, list[Any] | None]:
        """What the pipeline is called with for a request's ``inputs``: ``(value, count,
        is_batch, conversations)``; conversations are None unless ``inputs`` are chat
        messages (rendered through the tokenizer's chat template)."""
        if entry.task == "question-answering":
            items, batch = question_answering.check_inputs(raw, self.max_batch)
            return (items if batch else items[0]), len(items), batch, None
        if chat.looks_like_chat(raw):
            if entry.task != "text-generation":
                raise BridgeError(
                    f"chat messages go to a text-generation model; {entry.model_id!r} was "
                    f"loaded for {entry.task}, which takes "
                    + ("{'question', 'context'}" if entry.task == "question-answering" else "text"),
                    category="invalid_argument",
                )
            conversations, batch = chat.conversations(raw, self.max_batch)
            prompts = [chat.render(entry.tokenizer, c, entry.model_id) for c in conversations]
            return (prompts if batch else prompts[0]), len(prompts), batch, conversations
        texts, batch = self._inputs(raw, "inputs")
        if entry.task == "fill-mask":
            mask = entry.tokenizer.mask_token
            missing = [i for i, t in enumerate(texts) if not mask or mask not in t]
            if missing:
                raise BridgeError(
                    f"fill-mask inputs must contain the mask token {mask!r} "
                    f"(missing in input {missing[0]})",
                    category="invalid_argument",
                )
        return (texts if batch else texts[0]), len(texts), batch, None

    @staticmethod
    def _chat_outputs(outputs: Any, conversations: list[Any], batch: bool) -> Any:
        """Each generated reply with the conversation it continues (``messages``)."""
        per_conversation = outputs if batch else [outputs]
        answered = [
            [
                {
                    "generated_text": item["generated_text"],
                    "messages": chat.with_reply(messages, item["generated_text"]),
                }
                for item in items
            ]
            for messages, items in zip(conversations, per_conversation, strict=True)
        ]
        return answered if batch else answered[0]

    def _generation_defaults(self, settings: dict[str, Any], entry: LoadedModel) -> None:
        """The caller's settings, then the checkpoint's generation_config, then the bridge's
        defaults (greedy, options.default_max_new_tokens): ``generation.fill_defaults``."""
        generation.fill_defaults(
            settings,
            getattr(entry.model, "generation_config", None),
            self.default_max_new_tokens,
            self.max_new_tokens_limit,
        )

    @tf_command("run_pipeline", "Run the model's pipeline on one input or a batch.")
    def run_pipeline(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        entry = self._model(args, ctx)
        inputs, count, batch, conversations = self._call_inputs(args.get("inputs"), entry)
        kwargs = self._kwargs(args, entry)
        if conversations is not None:
            kwargs["return_full_text"] = False  # the reply, not the rendered template again
        seed = generation.check_seed(args.get("seed"))
        batch_size = args.get("batch_size")
        if batch_size is not None:
            if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
                raise BridgeError(
                    "batch_size must be a positive integer", category="invalid_argument"
                )
            kwargs["batch_size"] = batch_size
        import torch

        started = time.monotonic()
        generation.seeded(seed)
        with torch.inference_mode():
            outputs = entry.pipeline(inputs, **kwargs)
        entry.calls += 1
        if conversations is not None:
            outputs = self._chat_outputs(outputs, conversations, batch)
        return {
            "model_id": args["model_id"],
            "task": entry.task,
            "outputs": tasks.to_wire(outputs),
            "batch": batch,
            "count": count,
            "seed": seed,
            "elapsed_ms": int((time.monotonic() - started) * 1000),
        }

    @tf_command("generate_stream", "Generate text, sending each new piece as a chunk.")
    def generate_stream(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        unknown = sorted(set(args) - _STREAM_KEYS)
        if unknown:
            raise BridgeError(
                f"unknown arguments {unknown}; known: {sorted(_STREAM_KEYS)} (generation "
                "settings go in kwargs)",
                category="invalid_argument",
            )
        entry = self._model(args, ctx)
        if entry.task != "text-generation":
            raise BridgeError(
                f"generate_stream needs a text-generation model; {entry.model_id!r} was loaded "
                f"for {entry.task}",
                category="invalid_argument",
            )
        if ("prompt" in args) == ("messages" in args):
            raise BridgeError(
                "give prompt (a string) or messages (a chat: a list of {role, content}), "
                "one of them",
                category="invalid_argument",
            )
        if "messages" in args:
            messages = chat.check_conversation(args["messages"], "messages")
            prompt = chat.render(entry.tokenizer, messages, entry.model_id)
        else:
            prompt = args.get("prompt")
        if not isinstance(prompt, str) or not prompt:
            raise BridgeError("prompt must be a non-empty string", category="invalid_argument")
        kwargs = args.get("kwargs") or {}
        if not isinstance(kwargs, dict):
            raise BridgeError("kwargs must be a map", category="invalid_argument")
        settings = generation.generation_kwargs(kwargs, self.max_new_tokens_limit)
        extra = sorted(set(kwargs) - set(settings))
        if extra:
            raise BridgeError(
                f"unknown generation settings {extra} for generate_stream",
                category="invalid_argument",
            )
        if settings.get("num_return_sequences", 1) > 1 or settings.get("num_beams", 1) > 1:
            raise BridgeError(
                "generate_stream streams one sequence: num_return_sequences and num_beams "
                "must be 1",
                category="invalid_argument",
            )
        self._generation_defaults(settings, entry)
        seed = generation.check_seed(args.get("seed"))
        skip_special = _flag(args, "skip_special_tokens", True)
        import torch

        tokenizer, model = entry.tokenizer, entry.model
        encoded = tokenizer(prompt, return_tensors="pt")
        encoded.pop("token_type_ids", None)
        encoded = encoded.to(model.device)
        streamer = generation.make_streamer(
            tokenizer, lambda piece: ctx.stream({"text": piece}), skip_special
        )
        started = time.monotonic()
        generation.seeded(seed)
        with torch.inference_mode():
            output = model.generate(
                **encoded,
                streamer=streamer,
                pad_token_id=tokenizer.pad_token_id,
                **settings,
            )
        entry.calls += 1
        prompt_tokens = int(encoded["input_ids"].shape[1])
        new = output[0][prompt_tokens:].tolist()
        eos = model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos]) - {None}
        finished = bool(new) and new[-1] in eos_ids
        return {
            "model_id": args["model_id"],
            "text": streamer.sent,
            "tokens": len(new),
            "prompt_tokens": prompt_tokens,
            "chunks": streamer.chunks,
            "finish_reason": "eos" if finished else "length",
            "seed": seed,
            "elapsed_ms": int((time.monotonic() - started) * 1000),
        }

    # ------------------------------------------------------------ tokens, vectors

    @tf_command("tokenize", "Token ids (and tokens) of a text or a list of texts.")
    def tokenize(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        entry = self._model(args, ctx)
        texts, batch = self._inputs(args.get("text"), "text")
        special = _flag(args, "add_special_tokens", True)
        offsets = _flag(args, "return_offsets", False)
        max_length = args.get("max_length")
        if max_length is not None and (
            isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1
        ):
            raise BridgeError("max_length must be a positive integer", category="invalid_argument")
        tokenizer = entry.tokenizer
        encoded = tokenizer(
            texts,
            add_special_tokens=special,
            truncation=max_length is not None,
            max_length=max_length,
            return_offsets_mapping=offsets,
        )
        items = []
        for i, ids in enumerate(encoded["input_ids"]):
            item: dict[str, Any] = {
                "ids": list(ids),
                "tokens": tokenizer.convert_ids_to_tokens(ids),
                "count": len(ids),
            }
            if offsets:
                item["offsets"] = [list(pair) for pair in encoded["offset_mapping"][i]]
            items.append(item)
        if batch:
            return {"model_id": args["model_id"], "items": items, "count": len(items)}
        return {"model_id": args["model_id"], **items[0]}

    @tf_command("detokenize", "Text of a list of token ids (or of several lists).")
    def detokenize(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        entry = self._model(args, ctx)
        ids = args.get("ids")
        batch = isinstance(ids, list) and bool(ids) and all(isinstance(r, list) for r in ids)
        rows = ids if batch else [ids]
        size = len(entry.tokenizer)
        for row in rows:
            if not isinstance(row, list) or not all(
                isinstance(t, int) and not isinstance(t, bool) and 0 <= t < size for t in row
            ):
                raise BridgeError(
                    f"ids must be a list of token ids from 0 to {size - 1} (or a list of such "
                    "lists)",
                    category="invalid_argument",
                )
        skip = _flag(args, "skip_special_tokens", False)
        texts = [entry.tokenizer.decode(row, skip_special_tokens=skip) for row in rows]
        if batch:
            return {"model_id": args["model_id"], "texts": texts, "count": len(texts)}
        return {"model_id": args["model_id"], "text": texts[0]}

    @tf_command("embed", "Pooled feature vectors (float32 bytes or lists) of texts.")
    def embed(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        entry = self._model(args, ctx)
        texts, batch = self._inputs(args.get("inputs"), "inputs")
        pooling, fmt = embeddings.check(args.get("pooling", "mean"), args.get("format", "bytes"))
        normalize = _flag(args, "normalize", False)
        max_length = args.get("max_length")
        if max_length is not None and (
            isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1
        ):
            raise BridgeError("max_length must be a positive integer", category="invalid_argument")
        started = time.monotonic()
        vectors = embeddings.embed(
            entry.model,
            entry.tokenizer,
            texts,
            pooling,
            normalize,
            max_length,
            self.embed_batch_size,
        )
        entry.calls += 1
        return {
            "model_id": args["model_id"],
            **embeddings.pack(vectors, fmt),
            "pooling": pooling,
            "normalized": normalize,
            "batch": batch,
            "elapsed_ms": int((time.monotonic() - started) * 1000),
        }

    # ---------------------------------------------------- session clean-up hooks

    def _builtin_cleanup_session(self, args: Any, ctx: CallContext) -> dict[str, Any]:
        result = super()._builtin_cleanup_session(args, ctx)
        freed = self.registry.release(holder_of(args["session_id"]))
        self._free(freed)
        return {**result, "models_unloaded": [m.model_id for m in freed]}

    def _builtin_cleanup(self, args: Any, ctx: CallContext) -> dict[str, Any]:
        result = super()._builtin_cleanup(args, ctx)
        freed = [
            self.registry.drop(model_id)
            for model_id, model in list(self.registry.models.items())
            if not model.pinned
        ]
        for model in self.registry.models.values():
            model.holders.intersection_update({WORKER})
        self._free(freed)
        return {**result, "models_unloaded": [m.model_id for m in freed]}


if __name__ == "__main__":
    TransformersBridge.main()
