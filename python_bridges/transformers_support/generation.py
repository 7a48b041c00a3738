"""Generation settings, seeds, and streaming generated text as protocol chunks.

``generation_kwargs`` checks the settings a caller may give (names, types, ranges) and turns
sampling on when a sampling setting is given without ``do_sample``. ``fill_defaults`` adds
what the caller left out: the model's own ``generation_config`` first (as the installed
pipeline does), the bridge's defaults (greedy, ``options.default_max_new_tokens``) only where
the checkpoint says nothing. ``seeded`` seeds Python,
NumPy and torch right before a call, so the same seed gives the same text. ``ChunkStreamer``
is a transformers streamer that sends each new piece of text as soon as it decodes, from the
thread that runs ``generate`` (the worker's main thread, so cancellation interrupts it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlbridge import BridgeError

MAX_SEED = 2**32 - 1

# name → (accepted types, low, high); None: no bound.
_INT = (int,)
_NUMBER = (int, float)
SETTINGS: dict[str, tuple[tuple[type, ...], float | None, float | None]] = {
    "max_new_tokens": (_INT, 1, None),
    "min_new_tokens": (_INT, 0, None),
    "temperature": (_NUMBER, 1e-6, 100.0),
    "top_k": (_INT, 0, None),
    "top_p": (_NUMBER, 1e-6, 1.0),
    "typical_p": (_NUMBER, 1e-6, 1.0),
    "repetition_penalty": (_NUMBER, 1e-6, 100.0),
    "no_repeat_ngram_size": (_INT, 0, None),
    "num_beams": (_INT, 1, 64),
    "num_return_sequences": (_INT, 1, None),
    "length_penalty": (_NUMBER, -100.0, 100.0),
}
FLAGS = ("do_sample", "early_stopping")
SAMPLING = ("temperature", "top_k", "top_p", "typical_p")


def _check_range(name: str, value: Any, kinds: tuple[type, ...], low: Any, high: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, kinds):
        kind = "an integer" if kinds == _INT else "a number"
        raise BridgeError(f"{name} must be {kind}, got {value!r}", category="invalid_argument")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"at least {low}" if high is None else f"from {low} to {high}"
        raise BridgeError(f"{name} must be {bounds}, got {value!r}", category="invalid_argument")


def generation_kwargs(args: dict[str, Any], max_new_tokens_limit: int) -> dict[str, Any]:
    """The generation settings of ``args`` (only those given), checked."""
    found: dict[str, Any] = {}
    for name, (kinds, low, high) in SETTINGS.items():
        if name in args and args[name] is not None:
            if name == "max_new_tokens":
                high = max_new_tokens_limit
            _check_range(name, args[name], kinds, low, high)
            found[name] = args[name]
    for name in FLAGS:
        if name in args and args[name] is not None:
            if not isinstance(args[name], bool):
                raise BridgeError(f"{name} must be true or false", category="invalid_argument")
            found[name] = args[name]
    if "do_sample" not in found and any(name in found for name in SAMPLING):
        found["do_sample"] = True
    return found


def fill_defaults(
    settings: dict[str, Any],
    generation_config: Any,
    default_max_new_tokens: int,
    max_new_tokens_limit: int,
) -> None:
    """Complete a call's generation ``settings`` in place: what the caller set stays; what
    the checkpoint's ``generation_config`` sets (``do_sample``, ``max_new_tokens`` or
    ``max_length``) is left to it; otherwise decoding is greedy and at most
    ``default_max_new_tokens`` long. A checkpoint's length is capped at
    ``max_new_tokens_limit`` like a caller's."""
    model = generation_config.to_diff_dict() if generation_config is not None else {}
    if "do_sample" not in settings:
        # Said explicitly: the pipeline alone would sample at temperature 0.7.
        settings["do_sample"] = bool(model.get("do_sample", False))
    if "max_new_tokens" in settings or "max_length" in settings:
        return
    if model.get("max_new_tokens") is not None:
        if model["max_new_tokens"] > max_new_tokens_limit:
            settings["max_new_tokens"] = max_new_tokens_limit
    elif model.get("max_length") is not None:
        # max_length counts the prompt too, so it never gives more new tokens than itself.
        if model["max_length"] > max_new_tokens_limit:
            settings["max_new_tokens"] = max_new_tokens_limit
    else:
        settings["max_new_tokens"] = default_max_new_tokens


def check_seed(seed: Any) -> int | None:
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise BridgeError(
            f"seed must be an integer from 0 to {MAX_SEED}, got {seed!r}",
            category="invalid_argument",
        )
    return seed


def seeded(seed: int | None) -> None:
    """Seed Python, NumPy and torch (all devices) when a seed is given."""
    if seed is not None:
        from transformers import set_seed

        set_seed(seed)


def make_streamer(tokenizer: Any, emit: Callable[[str], None], skip_special_tokens: bool) -> Any:
    """A streamer for ``model.generate(streamer=...)`` that calls ``emit(text)`` per new piece.

    It decodes every generated token so far and sends what was added since the last piece,
    holding back text that ends in an incomplete character (a byte-level token can carry half
    of a UTF-8 sequence) or that would change text already sent (decoders that join
    word pieces). The prompt is skipped; ``end()`` flushes whatever is left.
    """
    from transformers.generation.streamers import BaseStreamer

    class ChunkStreamer(BaseStreamer):
        def __init__(self) -> None:
            self.tokens: list[int] = []
            self.sent = ""
            self.prompt_seen = False
            self.chunks = 0

        def put(self, value: Any) -> None:
            if not self.prompt_seen:  # generate() hands over the prompt first
                self.prompt_seen = True
                return
            if value.dim() > 1:
                if value.shape[0] > 1:
                    raise ValueError("streaming supports one sequence at a time")
                value = value[0]
            self.tokens.extend(int(t) for t in value.tolist())
            self._flush(final=False)

        def end(self) -> None:
            self._flush(final=True)

        def text(self) -> str:
            return tokenizer.decode(self.tokens, skip_special_tokens=skip_special_tokens)

        def _flush(self, final: bool) -> None:
            text = self.text()
            if not text.startswith(self.sent):
                if not final:
                    return  # an earlier piece changed; wait for the end
                text = self.sent + text[len(self.sent) :]
            if not final and text.endswith("\ufffd"):
                return
            piece = text[len(self.sent) :]
            if piece:
                self.sent = text
                self.chunks += 1
                emit(piece)

    return ChunkStreamer()
