"""Extractive question answering: the span of a context that answers a question.

transformers 5 has no question-answering pipeline any more, so :class:`QuestionAnsweringPipeline`
does what it did: encode question and context as a pair, take the start and end logits of an
``AutoModelForQuestionAnswering``, and pick the best spans inside the context (start before
end, at most ``max_answer_len`` tokens), scored as P(start) x P(end). Answers keep the
pipeline's shape: ``{"answer", "score", "start", "end"}`` with character offsets into the
context.
"""

from __future__ import annotations

from typing import Any

from mlbridge import BridgeError

SHAPE = "question-answering takes {'question': '...', 'context': '...'} or a list of those"


def invalid(message: str) -> BridgeError:
    return BridgeError(message, category="invalid_argument")


def check_inputs(value: Any, max_batch: int) -> tuple[list[dict[str, str]], bool]:
    """``(items, is_batch)``: each a non-empty question and context."""
    batch = isinstance(value, list)
    items = value if batch else [value]
    if not items or len(items) > max_batch:
        raise invalid(f"{SHAPE} (1 to {max_batch} items, options.max_batch)")
    for index, item in enumerate(items):
        where = f"inputs[{index}]" if batch else "inputs"
        if not isinstance(item, dict) or set(item) != {"question", "context"}:
            raise invalid(f"{where}: {SHAPE}")
        for key in ("question", "context"):
            if not isinstance(item[key], str) or not item[key].strip():
                raise invalid(f"{where}.{key} must be a non-empty string")
    return items, batch


def check_kwargs(kwargs: dict[str, Any]) -> dict[str, int]:
    unknown = sorted(set(kwargs) - {"top_k", "max_answer_len", "batch_size"})
    if unknown:
        raise invalid(
            f"unknown kwargs {unknown} for question-answering; known: top_k, max_answer_len"
        )
    checked = {}
    for name, default, high in (("top_k", 1, 20), ("max_answer_len", 30, 512)):
        value = kwargs.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
            raise invalid(f"kwargs.{name} must be an integer from 1 to {high}")
        checked[name] = value
    return checked


class QuestionAnsweringPipeline:
    """Best answer spans of a context for a question, from start and end logits."""

    task = "question-answering"

    def __init__(self, model: Any, tokenizer: Any):
        self.model = model
        self.tokenizer = tokenizer

    def __call__(self, inputs: Any, **kwargs: Any) -> Any:
        settings = check_kwargs(kwargs)
        items = inputs if isinstance(inputs, list) else [inputs]
        answers = [self._answer(i["question"], i["context"], **settings) for i in items]
        answers = [a[0] if settings["top_k"] == 1 else a for a in answers]
        return answers if isinstance(inputs, list) else answers[0]

    def _answer(self, question: str, context: str, top_k: int, max_answer_len: int) -> list[Any]:
        import torch

        encoded = self.tokenizer(
            question,
            context,
            truncation="only_second",
            max_length=min(self.tokenizer.model_max_length, 4096),
            return_offsets_mapping=True,
            return_tensors="pt",
        )
        offsets = encoded.pop("offset_mapping")[0].tolist()
        in_context = torch.tensor([s == 1 for s in encoded.sequence_ids(0)])
        encoded = encoded.to(self.model.device)
        with torch.inference_mode():
            output = self.model(**encoded)
        start = output.start_logits[0].float().cpu().softmax(-1) * in_context
        end = output.end_logits[0].float().cpu().softmax(-1) * in_context
        scores = torch.outer(start, end)
        scores = torch.triu(scores) - torch.triu(scores, diagonal=max_answer_len)
        best = torch.topk(scores.flatten(), k=min(top_k, int((scores > 0).sum()) or 1))
        width = scores.shape[1]
        answers = []
        for score, flat in zip(best.values.tolist(), best.indices.tolist(), strict=True):
            first, last = divmod(flat, width)
            begin, finish = offsets[first][0], offsets[last][1]
            answers.append(
                {"answer": context[begin:finish], "score": score, "start": begin, "end": finish}
            )
        return answers
