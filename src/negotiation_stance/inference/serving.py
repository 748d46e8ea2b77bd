"""A small HTTP API over StanceClassifier: ``python -m negotiation_stance serve --model DIR``.

Input is bounded before any work: the request body (413 past ``max_body_bytes``,
counted as it streams in, so it is never read whole into memory), each text
(422 past ``max_text_chars``; a 5 MB text once took 12 s and kept 660 MB) and
the article. A lone surrogate (JSON ``"\\ud800"``) is a 422 too: the tokenizer
and the UTF-8 response could not take it.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, field_validator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from negotiation_stance.config.paths import MAX_BODY_BYTES, MAX_TEXT_CHARS
from negotiation_stance.inference.classifier import StanceClassifier
from negotiation_stance.modeling.model import PairError
from negotiation_stance.text import ARTICLE_THRESHOLD

MAX_TEXTS = 1000
MAX_CHARS = 100_000  # one article


def _lone_surrogate(text: str) -> int | None:
    """Position of the first character UTF-8 cannot encode (an unpaired surrogate), or None."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


def _usable(texts: list[str], name: str, *, blank: bool = False) -> list[str]:
    for i, text in enumerate(texts):
        if not blank and not text.strip():
            raise ValueError(f"{name}[{i}] is empty")
        if (at := _lone_surrogate(text)) is not None:
            raise ValueError(f"{name}[{i}] holds a lone surrogate at character {at}; send valid Unicode")
    return texts


def _usable_pair(pair: str | list[str] | None) -> str | list[str] | None:
    if pair is None:
        return None
    return _usable([pair], "pair")[0] if isinstance(pair, str) else _usable(pair, "pair")


def _too_long(field: str, texts: list[str], max_text_chars: int) -> list[dict[str, Any]]:
    """422 details for each of ``texts`` over ``max_text_chars`` (the server's --max-text-chars)."""
    return [
        {
            "type": "string_too_long",
            "loc": ["body", field, i],
            "msg": f"{field}[{i}] has {len(text)} characters; the limit is {max_text_chars} (--max-text-chars)",
        }
        for i, text in enumerate(texts)
        if len(text) > max_text_chars
    ]


def _blank(field: str, texts: list[str]) -> list[dict[str, Any]]:
    """422 details for each blank one of ``texts``."""
    return [
        {"type": "value_error", "loc": ["body", field, i], "msg": f"{field}[{i}] is empty"}
        for i, text in enumerate(texts)
        if not text.strip()
    ]


class PredictRequest(BaseModel):
    texts: list[str] = Field(min_length=1, max_length=MAX_TEXTS, description="sentences to label")
    pair: str | list[str] | None = Field(
        None, description="pair models only: the second text (e.g. the target) of every text, or one per text"
    )

    @field_validator("texts")
    @classmethod
    def usable(cls, texts: list[str]) -> list[str]:
        return _usable(texts, "texts")

    # Blank pairs are refused in the endpoint, which knows the model: a context model's first sentence has "".
    @field_validator("pair")
    @classmethod
    def usable_pair(cls, pair: str | list[str] | None) -> str | list[str] | None:
        if pair is None:
            return None
        return _usable([pair], "pair", blank=True)[0] if isinstance(pair, str) else _usable(pair, "pair", blank=True)

    def pairs(self) -> list[str] | None:
        """One pair per text (``pair`` as one string stands for every text)."""
        if self.pair is None:
            return None
        return [self.pair] * len(self.texts) if isinstance(self.pair, str) else list(self.pair)


class ArticleRequest(BaseModel):
    text: str = Field(min_length=1, max_length=MAX_CHARS, description="a whole article")
    threshold: float = Field(ARTICLE_THRESHOLD, ge=0.0, le=1.0)
    pair: str | None = Field(None, description="pair models: every sentence's pair")
    # A lone surrogate here is refused by pydantic itself ("unable to parse raw data as a unicode string").

    # Checked as /predict's pair (non-blank here, --max-text-chars in the endpoint): a blank one was a 500.
    @field_validator("pair")
    @classmethod
    def usable_pair(cls, pair: str | None) -> str | None:
        return _usable_pair(pair)


class BodySizeLimit:
    """ASGI middleware: a request body over ``max_bytes`` gets 413 and is never held in memory.

    Content-Length is checked first; the bytes are also counted as they arrive,
    since a chunked request declares no length (and h11 stops a body at the
    length it declares).
    """

    # A refused body is still read, and dropped, up to this many bytes: clients that send the
    # whole body before reading (urllib, requests) would otherwise meet a reset, not the 413.
    DRAIN_BYTES = 16 * 1_048_576

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            # Expect: 100-continue (curl, for large bodies): the client waits, so answer before any read.
            drain = headers.get(b"expect", b"").lower() != b"100-continue"
            await self._refuse(scope, receive, send, more_body=drain)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                await self._refuse(scope, receive, send, more_body=message.get("more_body", False))
                return
            if not message.get("more_body", False):
                break
        body, replayed = b"".join(chunks), False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, *, more_body: bool) -> None:
        drained = 0
        while more_body and drained <= self.DRAIN_BYTES:
            message = await receive()
            if message["type"] != "http.request":
                return
            drained += len(message.get("body", b""))
            more_body = message.get("more_body", False)
        detail = f"request body over {self.max_bytes} bytes (the server's --max-body-bytes)"
        response = JSONResponse({"detail": detail}, status_code=413, headers={"Connection": "close"})
        await response(scope, receive, send)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    # FastAPI's own handler echoes each bad input back: a lone surrogate cannot be
    # encoded in the reply (a 500), and a long text need not travel twice.
    errors = [{key: error[key] for key in ("type", "loc", "msg") if key in error} for error in exc.errors()]
    return JSONResponse({"detail": errors}, status_code=422)


async def _pair_error(request: Request, exc: Exception) -> JSONResponse:
    # A pair model asked without pairs, or a single-sentence model given some: the request is at fault.
    return JSONResponse({"detail": [{"type": "pair", "loc": ["body", "pair"], "msg": str(exc)}]}, status_code=422)


def create_app(
    classifier: StanceClassifier, *, max_body_bytes: int = MAX_BODY_BYTES, max_text_chars: int = MAX_TEXT_CHARS
) -> FastAPI:
    """The API; ``max_body_bytes`` and ``max_text_chars`` are `serve`'s limits (413 and 422 past them)."""
    app = FastAPI(title="negotiation-stance", description="Stance toward negotiating an end to a war, per sentence.")
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(PairError, _pair_error)

    @app.get("/health")
    def health() -> dict[str, Any]:
        health = {"status": "ok", "labels": classifier.labels, "backend": classifier.backend}
        return health | {"pair_field": classifier.pair_field, "mask_names": classifier.mask_names}

    @app.post("/predict")
    def predict(request: PredictRequest) -> dict[str, Any]:
        pairs = request.pairs()
        if pairs is not None and len(pairs) != len(request.texts):
            msg = f"pair has {len(pairs)} items for {len(request.texts)} texts; give one per text, or one string"
            raise HTTPException(status_code=422, detail=[{"type": "pair", "loc": ["body", "pair"], "msg": msg}])
        too_long = _too_long("texts", request.texts, max_text_chars) + _too_long("pair", pairs or [], max_text_chars)
        blank = [] if classifier.reads_context else _blank("pair", pairs or [])
        if too_long or blank:
            raise HTTPException(status_code=422, detail=blank + too_long)
        return {"predictions": [p.to_dict() for p in classifier.predict(request.texts, pairs)]}

    @app.post("/predict_article")
    def predict_article(request: ArticleRequest) -> dict[str, Any]:
        if not request.text.strip():
            raise HTTPException(status_code=422, detail="the article is empty")
        if too_long := _too_long("pair", [request.pair] if request.pair is not None else [], max_text_chars):
            raise HTTPException(status_code=422, detail=too_long)
        return classifier.predict_article(request.text, pair=request.pair, threshold=request.threshold).to_dict()

    return app
