"""A small HTTP API over StanceClassifier: ``python -m negotiation_stance serve --model DIR``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field, field_validator

from negotiation_stance.inference.classifier import StanceClassifier

MAX_TEXTS = 1000
MAX_CHARS = 100_000


class PredictRequest(BaseModel):
    texts: list[str] = Field(min_length=1, max_length=MAX_TEXTS, description="sentences to label")

    @field_validator("texts")
    @classmethod
    def no_empty(cls, texts: list[str]) -> list[str]:
        for i, text in enumerate(texts):
            if not text.strip():
                raise ValueError(f"texts[{i}] is empty")
        return texts


class ArticleRequest(BaseModel):
    text: str = Field(min_length=1, max_length=MAX_CHARS, description="a whole article")
    threshold: float = Field(0.5, ge=0.0, le=1.0)


def create_app(classifier: StanceClassifier) -> FastAPI:
    app = FastAPI(title="negotiation-stance", description="Stance toward negotiating an end to a war, per sentence.")

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "labels": classifier.labels, "backend": classifier.backend}

    @app.post("/predict")
    def predict(request: PredictRequest) -> dict[str, Any]:
        return {"predictions": [p.to_dict() for p in classifier.predict(request.texts)]}

    @app.post("/predict_article")
    def predict_article(request: ArticleRequest) -> dict[str, Any]:
        if not request.text.strip():
            raise HTTPException(status_code=422, detail="the article is empty")
        return classifier.predict_article(request.text, threshold=request.threshold).to_dict()

    return app
