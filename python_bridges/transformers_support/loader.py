"""Loading a checkpoint from a local directory into a pipeline.

``read_config`` reads the checkpoint's config (no weights) so the task can be inferred and the
memory its weights need estimated before anything is allocated; ``check_budget`` refuses a
load that would pass ``options.max_model_memory_mb`` or what the machine has available;
``load_pipeline`` loads tokenizer and model with ``local_files_only`` and never runs code
shipped with a checkpoint (``trust_remote_code`` stays off); the tasks transformers 5 has no
pipeline for get the bridge's own (:mod:`.text2text`, :mod:`.question_answering`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlbridge import BridgeError

from . import memory, tasks, text2text
from .devices import dtype_name
from .question_answering import QuestionAnsweringPipeline

MIB = memory.MIB


def read_config(path: Path) -> Any:
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(str(path), local_files_only=True)
    except ValueError as exc:  # an unknown model_type, or one that needs remote code
        raise BridgeError(
            f"cannot read the model config in {str(path)!r}: {exc}",
            category="invalid_argument",
            type="transformers.ConfigError",
        ) from exc


def check_budget(
    estimate: int, loaded: int, budget_mb: int | None, reference: str, dtype: Any
) -> None:
    """``resource_exhausted`` when ``estimate`` more bytes of weights would not fit."""
    need = estimate / MIB
    if budget_mb is not None and loaded + estimate > budget_mb * MIB:
        raise BridgeError(
            f"loading {reference!r} needs about {need:.1f} MiB of weights ({dtype_name(dtype)}); "
            f"the loaded models hold {loaded / MIB:.1f} MiB and options.max_model_memory_mb "
            f"is {budget_mb}: unload a model first, or choose a smaller dtype",
            category="resource_exhausted",
            type="MemoryBudgetExceeded",
        )
    available = memory.available_bytes()
    if available is not None and estimate > available * 0.9:
        raise BridgeError(
            f"loading {reference!r} needs about {need:.1f} MiB of weights ({dtype_name(dtype)}) "
            f"and the machine has {available / MIB:.0f} MiB available",
            category="resource_exhausted",
            type="MemoryBudgetExceeded",
        )


def estimate(task: str, config: Any, dtype: Any) -> tuple[int, int]:
    """``(parameters, weight bytes)`` of the model for ``task``, from its config alone."""
    import torch

    real = dtype if isinstance(dtype, torch.dtype) else _config_dtype(config)
    return memory.estimate_weight_bytes(tasks.auto_class(task), config, real)


def _config_dtype(config: Any) -> Any:
    import torch

    value = getattr(config, "dtype", None) or getattr(config, "torch_dtype", None)
    if isinstance(value, str):
        value = getattr(torch, value, None)
    return value if isinstance(value, torch.dtype) else torch.float32


def load_pipeline(path: Path, task: str, device: str, dtype: Any, config: Any) -> Any:
    """A transformers pipeline for ``task`` over the checkpoint in ``path``, on ``device``."""
    from transformers import AutoTokenizer, pipeline

    tokenizer = AutoTokenizer.from_pretrained(
        str(path), local_files_only=True, trust_remote_code=False
    )
    model = tasks.auto_class(task).from_pretrained(
        str(path), config=config, dtype=dtype, local_files_only=True, trust_remote_code=False
    )
    model.to(device)
    model.eval()
    if task in text2text.TASKS:
        return text2text.Seq2SeqPipeline(task, model, tokenizer)
    if task == "question-answering":
        return QuestionAnsweringPipeline(model, tokenizer)
    if task == "text-generation":
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token  # batches need one; GPT-2 has none
        tokenizer.padding_side = "left"  # a decoder continues the last real token
    return pipeline(task, model=model, tokenizer=tokenizer, device=model.device)
