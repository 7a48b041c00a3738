"""The FastAPI peer for LangChain: ``prompt | ChatOpenAI | StrOutputParser`` run with ``ainvoke``.

What a user would write instead of mlbridge: one chain whose model points at the mock
(``MOCK_LLM_URL``), an async route. Its model gets the same aiohttp-based HTTP client the
LangChain bridge uses (``langchain_support.http_client``), so both sides pay the same for the
HTTP client and the comparison measures the serving (ChatOpenAI's default httpx pool costs
several times more CPU per call with hundreds of requests in flight).

    MOCK_LLM_URL=http://127.0.0.1:PORT/v1 python -m uvicorn fastapi_langchain:app \
        --app-dir tests/bench/llm --workers 2 --loop uvloop --http httptools --port P
"""

import os
import sys
from pathlib import Path

from fastapi import FastAPI
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_openai import ChatOpenAI

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "python_bridges"))
from langchain_support.http_client import async_client  # noqa: E402

PROMPT = [("system", "You are a helpful assistant."), ("user", "{question}")]

model = ChatOpenAI(
    model="mock",
    base_url=os.environ["MOCK_LLM_URL"],
    api_key="EMPTY",
    http_async_client=async_client(),
)
chain = ChatPromptTemplate.from_messages(PROMPT) | model | StrOutputParser()

app = FastAPI()


@app.post("/langchain")
async def invoke(body: dict) -> dict:
    """``{"question": text}`` -> ``{"output": text}``."""
    return {"output": await chain.ainvoke({"question": body["question"]})}
