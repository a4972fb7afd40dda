"""The bespokelabs-curator side of bench/llm_layer.py (c); runs inside curator's own venv, not the toolkit's.

    <curator venv>/bin/python bench/_curator_peer.py --base-url http://127.0.0.1:PORT/v1 --n 2000 --concurrency 64

Sends N structured requests (a pydantic response format, as curator does structured output) to
the scripted OpenAI-compatible server and prints one JSON line: the wall time of the generation
call and how many rows came back answered. Rate limits are set far above what the run needs, so
that, as for the toolkit's layer, only the concurrency bound applies.
"""

from __future__ import annotations

import argparse
import json
import time

from bespokelabs import curator
from pydantic import BaseModel

UNLIMITED = 10_000_000  # per minute: never the binding limit in this benchmark


class Answer(BaseModel):
    answer: str


class AskQuestion(curator.LLM):
    response_format = Answer

    def prompt(self, row: dict) -> str:
        return row["question"]

    def parse(self, row: dict, response: Answer) -> dict:
        return {"question": row["question"], "answer": response.answer}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    args = parser.parse_args()

    ask = AskQuestion(
        model_name="gpt-4o-mini",  # a name curator and litellm know; the scripted server ignores it
        backend="openai",
        generation_params={"max_tokens": 16, "temperature": 0.7},
        backend_params={"base_url": args.base_url, "api_key": "unused",
                        "max_concurrent_requests": args.concurrency, "max_requests_per_minute": UNLIMITED,
                        "max_tokens_per_minute": UNLIMITED, "max_retries": 1, "require_all_responses": False},
    )
    questions = [{"question": f"Question {i}: is this item valid?"} for i in range(args.n)]
    started = time.perf_counter()
    response = ask(questions)
    seconds = time.perf_counter() - started
    rows = response.dataset if hasattr(response, "dataset") else response
    answered = sum(1 for row in rows if row.get("answer") == "yes")
    print(json.dumps({"seconds": seconds, "answered": answered}), flush=True)


if __name__ == "__main__":
    main()
