"""``execute_program`` with ``"stream": true``: DSPy's ``streamify`` over the SDK's chunks.

Every text output field (and ChainOfThought's ``reasoning``) that exactly one predictor of
the program produces gets a
``dspy.streaming.StreamListener``; each piece of text the LM streams for it is sent as one
chunk ``{"field": name, "predictor": predictor name, "chunk": text}``. The final prediction
is the call's result, as without streaming. A field that several predictors produce (which
DSPy's listeners cannot tell apart) and non-text fields arrive in the result only. An LM that
cannot stream (the offline DummyLM) gives the result with no chunks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def listened_fields(module: Any, output_fields: list[str]) -> list[str]:
    """The fields to stream: the program's text outputs (and ChainOfThought's
    ``reasoning``) that exactly one predictor produces."""
    counts: dict[str, int] = {}
    text: set[str] = set()
    for predictor in module.predictors():
        for name, info in predictor.signature.output_fields.items():
            counts[name] = counts.get(name, 0) + 1
            if info.annotation is str:
                text.add(name)
    wanted = [*output_fields, "reasoning"]
    return [n for n in dict.fromkeys(wanted) if counts.get(n) == 1 and n in text]


async def run_streamed(
    module: Any, inputs: dict[str, Any], signature: Any, send: Callable[[Any], Any]
) -> Any:
    """Run ``module`` on ``inputs`` under ``dspy.streamify``; chunks go to ``send``."""
    import dspy
    from dspy.streaming import StreamListener, StreamResponse

    fields = listened_fields(module, list(signature.output_fields))
    streamed = dspy.streamify(
        module,
        stream_listeners=[StreamListener(signature_field_name=n) for n in fields],
        include_final_prediction_in_output_stream=True,
        is_async_program=callable(getattr(module, "aforward", None)),
        async_streaming=True,
    )
    prediction = None
    async for item in streamed(**inputs):
        if isinstance(item, StreamResponse):
            if item.chunk:
                send(
                    {
                        "field": item.signature_field_name,
                        "predictor": item.predict_name,
                        "chunk": item.chunk,
                    }
                )
        elif isinstance(item, dspy.Prediction):
            prediction = item
    return prediction
