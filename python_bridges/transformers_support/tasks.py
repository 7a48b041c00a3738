"""The pipelines the bridge runs, the model class each needs, and answers as wire values.

Tasks are text tasks whose inputs and outputs travel as plain values: text-generation (a
prompt, or chat messages through the tokenizer's chat template: :mod:`.chat`),
text-classification (alias sentiment-analysis), token-classification (alias ner),
feature-extraction, fill-mask, zero-shot-classification, the text-to-text tasks
summarization, translation and text2text-generation (:mod:`.text2text`) and
question-answering (:mod:`.question_answering`); transformers 5 dropped the pipelines of the
last four, so the bridge runs them itself. A model loaded without a task gets the one its
checkpoint's architecture names (``GPT2LMHeadModel`` → text-generation).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from mlbridge import BridgeError


class Task(NamedTuple):
    name: str
    auto_class: str  #: the transformers Auto class that loads a model for it
    about: str


TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        Task("text-generation", "AutoModelForCausalLM", "continue a prompt"),
        Task("text-classification", "AutoModelForSequenceClassification", "label a text"),
        Task("token-classification", "AutoModelForTokenClassification", "label each word"),
        Task("feature-extraction", "AutoModel", "hidden states of each token"),
        Task("fill-mask", "AutoModelForMaskedLM", "guess the masked token"),
        Task(
            "zero-shot-classification",
            "AutoModelForSequenceClassification",
            "score candidate labels with an NLI model",
        ),
        Task("summarization", "AutoModelForSeq2SeqLM", "summarise a text"),
        Task("translation", "AutoModelForSeq2SeqLM", "translate a text (kwargs.target_lang)"),
        Task("text2text-generation", "AutoModelForSeq2SeqLM", "answer a text with a text"),
        Task("question-answering", "AutoModelForQuestionAnswering", "find an answer's span"),
    )
}
ALIASES: dict[str, str] = {
    "sentiment-analysis": "text-classification",
    "ner": "token-classification",
    "embeddings": "feature-extraction",
}

# Architecture name endings → task, for a model loaded without one.
_BY_ARCHITECTURE: tuple[tuple[str, str], ...] = (
    ("ForConditionalGeneration", "text2text-generation"),
    ("ForQuestionAnswering", "question-answering"),
    ("ForCausalLM", "text-generation"),
    ("LMHeadModel", "text-generation"),
    ("ForSequenceClassification", "text-classification"),
    ("ForTokenClassification", "token-classification"),
    ("ForMaskedLM", "fill-mask"),
)


def canonical(task: Any) -> str:
    """The task's canonical name; ``invalid_argument`` for one this bridge does not run."""
    if isinstance(task, str):
        name = ALIASES.get(task, task)
        if name in TASKS:
            return name
    known = ", ".join([*TASKS, *ALIASES])
    raise BridgeError(
        f"unknown task {task!r}; this bridge runs: {known}", category="invalid_argument"
    )


def infer(config: Any) -> str:
    """The task a checkpoint was saved for, from ``config.architectures``."""
    for architecture in getattr(config, "architectures", None) or []:
        for ending, task in _BY_ARCHITECTURE:
            if architecture.endswith(ending):
                return task
    return "feature-extraction"


#: Tasks that generate text, and so take generation settings in kwargs.
GENERATIVE = ("text-generation", "summarization", "translation", "text2text-generation")


def auto_class(task: str) -> Any:
    import transformers

    return getattr(transformers, TASKS[task].auto_class)


def to_wire(value: Any) -> Any:
    """Pipeline output → maps, lists, strings and numbers (numpy and torch values converted)."""
    if isinstance(value, dict):
        return {str(k): to_wire(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_wire(v) for v in value]
    if isinstance(value, str | bool | int | float) or value is None:
        return value
    tolist = getattr(value, "tolist", None)  # numpy scalars and arrays, torch tensors
    if tolist is not None:
        return tolist()
    return str(value)
