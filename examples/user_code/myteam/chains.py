"""LangChain runnables of the example team, served by the LangChain bridge by import path.

Declared in the bridge's YAML (``code: {paths: [examples/user_code], modules:
[myteam.chains]}``), then::

    create_chain {"chain_id": "sum", "runnable": "myteam.chains:summarize"}
    create_chain {"chain_id": "qa", "runnable": "myteam.chains:make_answerer",
                  "init": {"answers": ["Paris."]}}
    invoke {"chain_id": "sum", "input": {"text": "...", "max_words": 8}}

Offline: ``summarize`` is plain Python in a ``RunnableLambda`` pipeline, and
``make_answerer`` builds ``prompt | fake chat model | parser`` with LangChain's
``FakeListChatModel`` (scripted answers, streamed character by character). A real team puts
its own chat model where the fake one is.
"""

from __future__ import annotations

import re

from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnableLambda
from pydantic import BaseModel, Field


class SummarizeInput(BaseModel):
    """What ``summarize`` takes."""

    text: str = Field(description="the text to summarise")
    max_words: int = Field(default=20, ge=1, le=200, description="at most this many words")


class Summary(BaseModel):
    """What ``summarize`` returns."""

    summary: str
    words: int
    sentences: int


def _summarize(request: SummarizeInput | dict) -> Summary:
    request = SummarizeInput.model_validate(request)
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", request.text.strip()) if s]
    words = (sentences[0] if sentences else "").split()[: request.max_words]
    return Summary(summary=" ".join(words), words=len(words), sentences=len(sentences))


#: The first sentence of a text, at most ``max_words`` words, with counts.
summarize: Runnable = RunnableLambda(_summarize, name="summarize").with_types(
    input_type=SummarizeInput, output_type=Summary
)


def make_answerer(answers: list[str] | None = None) -> Runnable:
    """A factory: ``prompt | fake chat model | parser`` answering ``{question}``."""
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Answer in one short sentence."), ("user", "{question}")]
    )
    model = FakeListChatModel(responses=answers or ["I would look that up."])
    return (prompt | model | StrOutputParser()).with_config(run_name="answerer")
