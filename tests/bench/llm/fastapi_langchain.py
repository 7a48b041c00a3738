"""The FastAPI peer for LangChain: ``prompt | ChatOpenAI | StrOutputParser`` run with ``ainvoke``.

What a user would write instead of mlbridge: one chain whose model points at the mock
(``MOCK_LLM_URL``), an async route.

    MOCK_LLM_URL=http://127.0.0.1:PORT/v1 python -m uvicorn fastapi_langchain:app \
        --app-dir tests/bench/llm --workers 2 --loop uvloop --http httptools --port P
"""

import os

from fastapi import FastAPI
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_openai import ChatOpenAI

PROMPT = [("system", "You are a helpful assistant."), ("user", "{question}")]

model = ChatOpenAI(model="mock", base_url=os.environ["MOCK_LLM_URL"], api_key="EMPTY")
chain = ChatPromptTemplate.from_messages(PROMPT) | model | StrOutputParser()

app = FastAPI()


@app.post("/langchain")
async def invoke(body: dict) -> dict:
    """``{"question": text}`` -> ``{"output": text}``."""
    return {"output": await chain.ainvoke({"question": body["question"]})}
