"""The FastAPI peer for DSPy: ``dspy.Predict("question -> answer")`` run with ``acall``.

What a user would write instead of mlbridge: one LM pointing at the mock (``MOCK_LLM_URL``,
no cache, so every call reaches it), one program, an async route. ``DSPY_ENGINE`` (optional)
picks the LM's engine (``litellm``, ``auto``, ``lm15``), as ``options.lm.engine`` does on the
mlbridge side; unset, DSPy's default.

    MOCK_LLM_URL=http://127.0.0.1:PORT/v1 python -m uvicorn fastapi_dspy:app \
        --app-dir tests/bench/llm --workers 2 --loop uvloop --http httptools --port P
"""

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no fetch from GitHub at import

import dspy  # noqa: E402
from fastapi import FastAPI  # noqa: E402

engine = {"engine": os.environ["DSPY_ENGINE"]} if os.environ.get("DSPY_ENGINE") else {}
lm = dspy.LM(
    "openai/mock", api_base=os.environ["MOCK_LLM_URL"], api_key="EMPTY", cache=False, **engine
)
dspy.configure(lm=lm)
program = dspy.Predict("question -> answer")

app = FastAPI()


@app.post("/dspy")
async def predict(body: dict) -> dict:
    """``{"question": text}`` -> ``{"answer": text}``."""
    result = await program.acall(question=body["question"])
    return {"answer": result.answer}
