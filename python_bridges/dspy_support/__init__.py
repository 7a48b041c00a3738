"""Helpers of the DSPy bridge (``python_bridges/dspy_bridge.py``).

One module per concern (API-key redaction is ``mlbridge.secrets``): ``lm`` (LM settings, the
offline LM, history), ``offline`` (the offline DummyLM's deterministic answers),
``signatures`` (string and structured signatures), ``programs`` (building, running and
saving programs), ``tools`` (the ReAct tool registry), ``metrics`` (named metrics and
rewards) and ``errors`` (turning DSPy, LiteLLM and OpenAI errors into bridge errors).
Nothing here imports DSPy at import time except where a module needs it to define a
class; the bridge imports DSPy in ``initialize``.
"""
