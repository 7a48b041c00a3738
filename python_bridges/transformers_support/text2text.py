"""Text-to-text tasks on an encoder-decoder model: summarization, translation and
text2text-generation.

transformers 5 has no pipelines for these tasks any more, so :class:`Seq2SeqPipeline` is the
bridge's own: it prefixes each text the T5 way (``summarize: ``, ``translate English to
French: ``; a ``prefix`` replaces it), runs ``generate`` on the batch and decodes the answers.
Answers keep the keys of the pipelines users know: ``summary_text``, ``translation_text``,
``generated_text``.
"""

from __future__ import annotations

from typing import Any

from mlbridge import BridgeError

TASKS = ("summarization", "translation", "text2text-generation")
OUTPUT_KEY = {
    "summarization": "summary_text",
    "translation": "translation_text",
    "text2text-generation": "generated_text",
}
#: kwargs of these tasks besides the generation settings.
TASK_KWARGS = {"prefix", "source_lang", "target_lang", "batch_size"}


def invalid(message: str) -> BridgeError:
    return BridgeError(message, category="invalid_argument")


def prefix_for(task: str, kwargs: dict[str, Any]) -> str:
    """The text put before each input (checked from the call's kwargs)."""
    for name in ("prefix", "source_lang", "target_lang"):
        if kwargs.get(name) is not None and not isinstance(kwargs[name], str):
            raise invalid(f"kwargs.{name} must be a string")
    if kwargs.get("prefix") is not None:
        return kwargs["prefix"]
    if task == "summarization":
        return "summarize: "
    if task == "translation":
        if not kwargs.get("target_lang"):
            raise invalid(
                "translation needs kwargs.target_lang (and source_lang, default English), "
                "or kwargs.prefix"
            )
        source = kwargs.get("source_lang") or "English"
        return f"translate {source} to {kwargs['target_lang']}: "
    return ""


class Seq2SeqPipeline:
    """``model.generate`` over prefixed texts: what the removed pipelines did."""

    def __init__(self, task: str, model: Any, tokenizer: Any):
        self.task = task
        self.model = model
        self.tokenizer = tokenizer

    def __call__(self, inputs: str | list[str], **kwargs: Any) -> Any:
        import torch

        prefix = prefix_for(self.task, kwargs)
        batch_size = kwargs.pop("batch_size", None) or 16
        settings = {k: v for k, v in kwargs.items() if k not in TASK_KWARGS}
        texts = [inputs] if isinstance(inputs, str) else list(inputs)
        per_input = settings.get("num_return_sequences", 1)
        key = OUTPUT_KEY[self.task]
        answers: list[list[dict[str, str]]] = []
        for start in range(0, len(texts), batch_size):
            chunk = [prefix + text for text in texts[start : start + batch_size]]
            encoded = self.tokenizer(chunk, return_tensors="pt", padding=True, truncation=True)
            encoded.pop("token_type_ids", None)
            encoded = encoded.to(self.model.device)
            with torch.inference_mode():
                output = self.model.generate(**encoded, **settings)
            decoded = self.tokenizer.batch_decode(output, skip_special_tokens=True)
            for i in range(len(chunk)):
                rows = decoded[i * per_input : (i + 1) * per_input]
                answers.append([{key: text.strip()} for text in rows])
        return answers[0] if isinstance(inputs, str) else answers
