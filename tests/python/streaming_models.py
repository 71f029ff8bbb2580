"""Models and handlers for tests/python/test_streams.py (and bench/python/streams_bench.py).

LangChain's fake models cover plain text; these two add what they lack: a chat model that
streams tool calls as tool-call chunks with usage and response metadata (as providers do),
and a string LLM that streams through ``_stream`` and reports its tokens. Both count their
calls in a list shared by copies (``cache_streams`` returns a copy), kept out of the model's
serialized form so it never changes the cache key.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.language_models.llms import LLM
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, ToolMessage
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult, GenerationChunk
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field


class FailingStream(RuntimeError):
    """What the models raise when told to fail mid-stream."""


def words(text: str) -> list[str]:
    return re.findall(r"\S+\s*|\s+", text)


class ToolCallingChatModel(BaseChatModel):
    """Answers with ``responses`` in turn (or, ``by_turn``, with the one for the number of
    tool results in the conversation, as an agent's model would); streams text by words,
    then each tool call's arguments in two tool-call chunks, usage and response metadata on
    the last chunk. Serializable, so its cache key goes through LangChain's ``_serialized``."""

    responses: list[AIMessage]
    by_turn: bool = False
    calls: list[str] = Field(default_factory=list, exclude=True)
    fail_after_chunks: int | None = Field(default=None, exclude=True)

    @classmethod
    def is_lc_serializable(cls) -> bool:
        return True

    @property
    def _llm_type(self) -> str:
        return "tool-calling-fake"

    def _next(self, messages: list[BaseMessage]) -> AIMessage:
        if self.by_turn:
            turn = sum(isinstance(message, ToolMessage) for message in messages)
        else:
            turn = len(self.calls)
        message = self.responses[turn % len(self.responses)]
        self.calls.append(str(message.content))
        return message

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        message = self._next(messages)
        return ChatResult(
            generations=[
                ChatGeneration(message=message, generation_info={"finish_reason": "stop"})
            ]
        )

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        message = self._next(messages)
        chunks = [AIMessageChunk(content=piece) for piece in words(str(message.content))]
        for index, call in enumerate(message.tool_calls):
            arguments = json.dumps(call["args"])
            half = len(arguments) // 2
            chunks.append(
                AIMessageChunk(
                    content="",
                    tool_call_chunks=[
                        tool_call_chunk(
                            name=call["name"], args=arguments[:half], id=call["id"], index=index
                        )
                    ],
                )
            )
            chunks.append(
                AIMessageChunk(
                    content="",
                    tool_call_chunks=[
                        tool_call_chunk(name=None, args=arguments[half:], id=None, index=index)
                    ],
                )
            )
        chunks.append(
            AIMessageChunk(
                content="",
                usage_metadata=message.usage_metadata,
                response_metadata=dict(message.response_metadata),
                chunk_position="last",
            )
        )
        for number, chunk in enumerate(chunks):
            if self.fail_after_chunks is not None and number == self.fail_after_chunks:
                raise FailingStream("the provider dropped the stream")
            generation = ChatGenerationChunk(message=chunk)
            if run_manager:
                run_manager.on_llm_new_token(str(chunk.content), chunk=generation)
            yield generation

    def bind_tools(
        self,
        tools: Sequence[Any],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        return self.bind(tools=[convert_to_openai_tool(tool) for tool in tools], **kwargs)


class WordStreamingLLM(LLM):
    """A string model answering ``responses`` in turn, streamed by words through
    ``_stream`` (reporting each token, as real LLMs do)."""

    responses: list[str]
    # Like providers' streaming=True: the non-streaming path collects the model's own stream.
    generate_by_streaming: bool = False
    calls: list[str] = Field(default_factory=list, exclude=True)
    fail_after_chunks: int | None = Field(default=None, exclude=True)

    @property
    def _llm_type(self) -> str:
        return "word-streaming-fake"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"responses": self.responses}

    def _next(self) -> str:
        response = self.responses[len(self.calls) % len(self.responses)]
        self.calls.append(response)
        return response

    def _call(
        self,
        prompt: str,
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> str:
        if self.generate_by_streaming:
            return "".join(chunk.text for chunk in self._stream(prompt, stop, run_manager))
        return self._next()

    def _stream(
        self,
        prompt: str,
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[GenerationChunk]:
        for number, piece in enumerate(words(self._next())):
            if self.fail_after_chunks is not None and number == self.fail_after_chunks:
                raise FailingStream("the provider dropped the stream")
            chunk = GenerationChunk(text=piece)
            if run_manager:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk


class TokenRecorder(BaseCallbackHandler):
    """What a user's callback handler sees: tokens, run starts and ends."""

    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.starts = 0
        self.ends = 0
        self.errors = 0

    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.tokens.append(token)

    def on_chat_model_start(self, *args: Any, **kwargs: Any) -> None:
        self.starts += 1

    def on_llm_start(self, *args: Any, **kwargs: Any) -> None:
        self.starts += 1

    def on_llm_end(self, *args: Any, **kwargs: Any) -> None:
        self.ends += 1

    def on_llm_error(self, *args: Any, **kwargs: Any) -> None:
        self.errors += 1
