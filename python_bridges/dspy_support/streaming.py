"""``execute_program`` with ``"stream": true``: DSPy's ``streamify`` over the SDK's chunks.

Every text output field that exactly one predictor of the program produces gets a
``dspy.streaming.StreamListener``; each piece of text the LM streams for it is sent as one
chunk ``{"field": name, "predictor": predictor name, "chunk": text}``. The final prediction
is the call's result, as without streaming. A field that several predictors produce (which
DSPy's listeners cannot tell apart) and non-text fields arrive in the result only. An LM that
cannot stream (the offline DummyLM) gives the result with no chunks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def listened_fields(module: Any, output_fields: list[str], annotations: dict[str, Any]) -> list:
    """The output fields to stream: text, and produced by exactly one predictor."""
    counts: dict[str, int] = {}
    for predictor in module.predictors():
        for name in predictor.signature.output_fields:
            counts[name] = counts.get(name, 0) + 1
    return [n for n in output_fields if counts.get(n) == 1 and annotations.get(n) is str]


async def run_streamed(
    module: Any, inputs: dict[str, Any], signature: Any, send: Callable[[Any], Any]
) -> Any:
    """Run ``module`` on ``inputs`` under ``dspy.streamify``; chunks go to ``send``."""
    import dspy
    from dspy.streaming import StreamListener, StreamResponse

    annotations = {n: f.annotation for n, f in signature.output_fields.items()}
    fields = listened_fields(module, list(signature.output_fields), annotations)
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
