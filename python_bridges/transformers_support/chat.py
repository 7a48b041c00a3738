"""Chat-message inputs: ``[{"role": "user", "content": "..."}]`` through the tokenizer's
chat template.

A text-generation model takes one conversation (a list of messages) or a batch of them (a
list of such lists) wherever it takes a prompt. Each conversation is rendered with the
tokenizer's own chat template (``apply_chat_template`` with the generation prompt added) and
the reply is generated after it. A model whose tokenizer has no chat template is refused with
``invalid_argument``: the bridge never guesses a layout the model was not trained on.
"""

from __future__ import annotations

from typing import Any

from mlbridge import BridgeError

ROLES = ("system", "user", "assistant", "tool")
SHAPE = (
    "a chat is a list of messages {'role': 'system'|'user'|'assistant'|'tool', 'content': "
    "'...'} (or a list of such lists for a batch)"
)


def invalid(message: str) -> BridgeError:
    return BridgeError(message, category="invalid_argument")


def looks_like_chat(value: Any) -> bool:
    """True when ``value`` holds messages (maps or lists of maps), not prompt strings."""
    if isinstance(value, dict):
        return True
    return isinstance(value, list) and any(isinstance(v, dict | list) for v in value)


def check_conversation(messages: Any, where: str) -> list[dict[str, str]]:
    """The messages of one conversation, checked: roles known, contents strings."""
    if not isinstance(messages, list) or not messages:
        raise invalid(f"{where} must be a non-empty list of messages; {SHAPE}")
    checked = []
    for index, message in enumerate(messages):
        spot = f"{where}[{index}]"
        if not isinstance(message, dict):
            raise invalid(f"{spot} is a {type(message).__name__}, not a message; {SHAPE}")
        unknown = sorted(set(message) - {"role", "content", "name"})
        if unknown:
            raise invalid(f"{spot} has unknown keys {unknown}; a message has role and content")
        if message.get("role") not in ROLES:
            raise invalid(
                f"{spot}.role must be one of {', '.join(ROLES)} (got {message.get('role')!r})"
            )
        if not isinstance(message.get("content"), str):
            raise invalid(f"{spot}.content must be a string")
        checked.append({k: v for k, v in message.items() if k != "name" or isinstance(v, str)})
    return checked


def conversations(value: Any, max_batch: int, where: str = "inputs") -> tuple[list[Any], bool]:
    """``(conversations, is_batch)`` from one conversation or a list of them."""
    if isinstance(value, dict):
        raise invalid(f"{where} is one message; wrap it in a list. {SHAPE}")
    if not isinstance(value, list) or not value:
        raise invalid(f"{where} must be a non-empty list; {SHAPE}")
    if all(isinstance(v, list) for v in value):
        if len(value) > max_batch:
            raise invalid(f"{where}: at most {max_batch} conversations (options.max_batch)")
        return [check_conversation(v, f"{where}[{i}]") for i, v in enumerate(value)], True
    return [check_conversation(value, where)], False


def render(tokenizer: Any, messages: list[dict[str, str]], model_id: str) -> str:
    """The prompt the model sees for ``messages``: its template, then the reply's start."""
    if not getattr(tokenizer, "chat_template", None):
        raise invalid(
            f"model {model_id!r} has no chat template (its tokenizer_config.json has no "
            "chat_template): give it a prompt string instead of messages"
        )
    try:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    except Exception as exc:  # a template that rejects these messages (e.g. role order)
        raise invalid(f"model {model_id!r}'s chat template refused the messages: {exc}") from None


def with_reply(messages: list[dict[str, str]], reply: str) -> list[dict[str, str]]:
    return [*messages, {"role": "assistant", "content": reply}]
