"""The batch test servers (tests/support/batch_servers.py), driven by the real OpenAI and Anthropic SDKs.

Every endpoint and every BatchFaults field is exercised through AsyncOpenAI / AsyncAnthropic with
base_url pointed at the server, so the client code tested against these servers is tested against
the request and answer shapes the installed SDKs actually produce and parse.
"""

from __future__ import annotations

import asyncio
import json
import time

import anthropic
import httpx
import openai
import pytest

from tests.support.batch_servers import (
    BatchAnthropicServer,
    BatchFaults,
    BatchOpenAIServer,
)
from tests.support.scripted_llm import answer_the_schema, http_error, reply_text
from tests.support.standin import StrongStandIn

# The servers are exercised by every default batch test of the client (test_llm_batch_servers.py,
# test_batch_builds.py); their own endpoint-by-endpoint checks run with -m slow.
pytestmark = pytest.mark.slow

SCHEMA = {"type": "object", "properties": {"mood": {"enum": ["calm", "angry"]}, "why": {"type": "string"}},
          "required": ["mood", "why"]}


def run(coroutine):
    return asyncio.run(coroutine)


def echo(request):
    """A responder whose reply and usage depend on the exact request (no usage given: counted from its size)."""
    return reply_text("echo " + request.json["messages"][-1]["content"])


# ---------------------------------------------------------------------------------------------
# OpenAI helpers
# ---------------------------------------------------------------------------------------------


def openai_client(server, retries: int = 0) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=server.base_url, api_key="test-key", max_retries=retries)


def chat_body(text: str, model: str = "gpt-test", schema: dict | None = None) -> dict:
    body = {"model": model, "messages": [{"role": "user", "content": text}]}
    if schema is not None:
        body["response_format"] = {"type": "json_schema", "json_schema": {"name": "reply", "schema": schema}}
    return body


def input_line(custom_id: str, body: dict) -> dict:
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}


def jsonl(lines: list[dict]) -> bytes:
    return "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode()


async def submit(client, bodies: dict[str, dict], metadata: dict | None = None, lines: list[dict] | None = None):
    lines = lines if lines is not None else [input_line(custom_id, body) for custom_id, body in bodies.items()]
    uploaded = await client.files.create(file=("requests.jsonl", jsonl(lines)), purpose="batch")
    return await client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions",
                                       completion_window="24h", metadata=metadata)


async def statuses_until_ended(client, batch_id: str, most: int = 10) -> list[str]:
    seen = []
    for _ in range(most):
        batch = await client.batches.retrieve(batch_id)
        seen.append(batch.status)
        if batch.status in ("completed", "failed", "expired", "cancelled"):
            return seen
    raise AssertionError(f"the batch did not end in {most} polls: {seen}")


async def file_lines(client, file_id: str | None) -> list[dict]:
    if file_id is None:
        return []
    content = await client.files.content(file_id)
    return [json.loads(line) for line in content.text.splitlines()]


def three_lines(prefix: str = "r") -> dict[str, dict]:
    return {f"{prefix}{n}": chat_body(f"question {n} — naïve café") for n in range(3)}


# ---------------------------------------------------------------------------------------------
# OpenAI: endpoints
# ---------------------------------------------------------------------------------------------


def test_openai_lifecycle_start_stop_and_online_endpoint_still_served():
    server = BatchOpenAIServer(responder=echo).start()
    try:
        async def online():
            async with openai_client(server) as client:
                reply = await client.chat.completions.create(**chat_body("hello"))
                models = await client.models.list()
                return reply, models

        reply, models = run(online())
        assert reply.choices[0].message.content == "echo hello"
        assert models.data[0].id == server.model
        assert server.online_requests == 1
        port = server.port
    finally:
        server.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/v1/models")
    with BatchOpenAIServer() as again:  # the context manager starts and stops it too
        assert httpx.get(f"{again.base_url}/batches").json()["data"] == []


def test_openai_files_upload_retrieve_content_delete():
    data = jsonl([input_line("a", chat_body("Zoë’s “quote” — £40\r\nsecond line"))])

    async def scenario(server):
        async with openai_client(server) as client:
            uploaded = await client.files.create(file=("in.jsonl", data), purpose="batch")
            assert (uploaded.object, uploaded.purpose, uploaded.bytes, uploaded.filename) == (
                "file", "batch", len(data), "in.jsonl")
            assert (await client.files.retrieve(uploaded.id)).id == uploaded.id
            assert (await client.files.content(uploaded.id)).content == data  # byte for byte
            assert (await client.files.delete(uploaded.id)).deleted
            with pytest.raises(openai.NotFoundError):
                await client.files.retrieve(uploaded.id)
            with pytest.raises(openai.BadRequestError, match="purpose"):
                await client.files.create(file=("in.jsonl", data), purpose="nonsense")

    with BatchOpenAIServer() as server:
        run(scenario(server))
        assert server.files == {}


def test_openai_chunked_multipart_upload_is_read_whole():
    data = jsonl([input_line(f"id{n}", chat_body("x" * 200)) for n in range(20)])
    boundary = "test-boundary-1234"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"in.jsonl\"\r\n"
            "Content-Type: application/jsonl\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()

    def streamed():  # a generator body: httpx sends it chunked, as with a file of unknown length
        for start in range(0, len(body), 1000):
            yield body[start:start + 1000]

    with BatchOpenAIServer() as server:
        response = httpx.post(f"{server.base_url}/files", content=streamed(),
                              headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        assert response.status_code == 200, response.text
        assert server.files[response.json()["id"]].content == data
        assert server.requests[-1].headers.get("transfer-encoding") is None  # de-chunked before recording


def test_openai_batch_runs_to_completed_with_replies_identical_to_online():
    bodies = three_lines()

    async def scenario(server):
        async with openai_client(server) as client:
            created = await submit(client, bodies, metadata={"build": "b1"})
            assert (created.object, created.status, created.endpoint, created.completion_window) == (
                "batch", "validating", "/v1/chat/completions", "24h")
            assert created.metadata == {"build": "b1"} and created.expires_at == created.created_at + 86400
            seen = await statuses_until_ended(client, created.id)
            batch = await client.batches.retrieve(created.id)
            output = await file_lines(client, batch.output_file_id)
            online = {cid: (await client.chat.completions.with_raw_response.create(**body)).http_response.json()
                      for cid, body in bodies.items()}
            return seen, batch, output, online

    with BatchOpenAIServer(responder=echo) as server:
        seen, batch, output, online = run(scenario(server))
    assert seen == ["in_progress", "completed"]
    assert (batch.request_counts.total, batch.request_counts.completed, batch.request_counts.failed) == (3, 3, 0)
    assert batch.error_file_id is None and batch.completed_at and batch.in_progress_at and batch.model == "gpt-test"
    assert [line["custom_id"] for line in output] != list(bodies)  # results are not in request order
    for line in output:
        assert line["error"] is None and line["response"]["status_code"] == 200
        assert line["id"].startswith("batch_req_") and line["response"]["request_id"].startswith("req_")
        reply, same_online = line["response"]["body"], online[line["custom_id"]]
        assert reply["id"] != same_online["id"]
        assert {**reply, "id": "", "created": 0} == {**same_online, "id": "", "created": 0}  # usage included
    assert batch.usage.input_tokens == sum(line["response"]["body"]["usage"]["prompt_tokens"] for line in output)
    assert sorted(server.lines_billed) == sorted(bodies) and server.billed_more_than_once() == []
    assert server.online_requests == 3 and server.polls == 3 and server.results_downloads == 1
    (record,) = server.batches_created
    assert record.custom_ids == tuple(bodies) and record.metadata == {"build": "b1"}


def test_openai_stateful_responder_gives_the_same_release_online_and_in_batch():
    """Two fresh stand-ins (as two runs of one build): the batch run's replies equal the online run's."""
    bodies = {f"q{n}": chat_body(f"Describe Clara's mood in scene {n}.", schema=SCHEMA) for n in range(4)}
    bodies["q_again"] = bodies["q0"]  # an identical body: the second sample, in both modes

    async def online_run():
        with BatchOpenAIServer(responder=StrongStandIn()) as server:
            async with openai_client(server) as client:
                return {cid: (await client.chat.completions.create(**body)).choices[0].message.content
                        for cid, body in bodies.items()}

    async def batch_run():
        with BatchOpenAIServer(responder=StrongStandIn()) as server:
            async with openai_client(server) as client:
                created = await submit(client, bodies)
                await statuses_until_ended(client, created.id)
                batch = await client.batches.retrieve(created.id)
                return {line["custom_id"]: line["response"]["body"]["choices"][0]["message"]["content"]
                        for line in await file_lines(client, batch.output_file_id)}

    online, batched = run(online_run()), run(batch_run())
    assert batched == online
    assert online["q0"] != online["q_again"]  # the stand-in samples again; the order is what matched


def test_openai_list_pages_newest_first_with_after_cursor():
    async def scenario(server):
        async with openai_client(server) as client:
            ids = [(await submit(client, {"a": chat_body("x")}, metadata={"n": str(n)})).id for n in range(5)]
            raw = await client.batches.with_raw_response.list(limit=2)
            first_page = raw.http_response.json()
            everything = [batch.id async for batch in client.batches.list(limit=2)]
            after = await client.batches.list(limit=2, after=ids[3])
            with pytest.raises(openai.BadRequestError):
                await client.batches.list(limit=101)
            return ids, first_page, everything, after

    with BatchOpenAIServer() as server:
        ids, first_page, everything, after = run(scenario(server))
    newest_first = ids[::-1]
    assert first_page["object"] == "list" and first_page["has_more"] is True
    assert [b["id"] for b in first_page["data"]] == newest_first[:2]
    assert (first_page["first_id"], first_page["last_id"]) == (newest_first[0], newest_first[1])
    assert everything == newest_first
    assert [b.id for b in after.data] == [ids[2], ids[1]] and after.has_more is True


def test_openai_client_cancel_keeps_finished_lines_and_reports_the_rest():
    async def scenario(server):
        async with openai_client(server) as client:
            created = await submit(client, three_lines())
            cancelling = await client.batches.cancel(created.id)
            again = await client.batches.cancel(created.id)  # while cancelling: the same batch
            seen = await statuses_until_ended(client, created.id)
            batch = await client.batches.retrieve(created.id)
            with pytest.raises(openai.BadRequestError, match="cancelled"):
                await client.batches.cancel(created.id)
            return cancelling, again, seen, batch, await file_lines(client, batch.output_file_id), \
                await file_lines(client, batch.error_file_id)

    with BatchOpenAIServer(responder=echo, faults=BatchFaults(lines_before_cancel=1)) as server:
        cancelling, again, seen, batch, output, errors = run(scenario(server))
    assert cancelling.status == again.status == "cancelling" and cancelling.cancelling_at
    assert seen == ["cancelled"] and batch.cancelled_at
    assert [line["custom_id"] for line in output] == ["r0"]
    assert sorted(line["custom_id"] for line in errors) == ["r1", "r2"]
    assert all(line["response"] is None and line["error"]["code"] == "batch_cancelled" for line in errors)
    assert (batch.request_counts.total, batch.request_counts.completed, batch.request_counts.failed) == (3, 1, 0)
    assert server.lines_billed == ["r0"]


def test_openai_unknown_batch_is_404():
    async def scenario(server):
        async with openai_client(server) as client:
            with pytest.raises(openai.NotFoundError):
                await client.batches.retrieve("batch_nope")
            with pytest.raises(openai.NotFoundError):
                await client.batches.cancel("batch_nope")
            with pytest.raises(openai.NotFoundError):
                await client.files.content("file-nope")

    with BatchOpenAIServer() as server:
        run(scenario(server))


@pytest.mark.parametrize("change, message", [
    (lambda body: body.update(input_file_id="file-missing"), "No such File"),
    (lambda body: body.update(endpoint="/v1/embeddings"), "/v1/embeddings"),
    (lambda body: body.update(completion_window="1h"), "completion_window"),
    (lambda body: body.update(metadata={f"k{n}": "v" for n in range(17)}), "16"),
    (lambda body: body.update(metadata={"k" * 65: "v"}), "64"),
])
def test_openai_create_refuses_bad_parameters_with_400(change, message):
    async def scenario(server):
        async with openai_client(server) as client:
            uploaded = await client.files.create(file=("in.jsonl", jsonl([input_line("a", chat_body("x"))])),
                                                 purpose="batch")
            params = {"input_file_id": uploaded.id, "endpoint": "/v1/chat/completions", "completion_window": "24h"}
            change(params)
            with pytest.raises(openai.BadRequestError, match=message):
                await client.batches.create(**params)

    with BatchOpenAIServer() as server:
        run(scenario(server))
        assert server.batches_created == [] and server.submissions == 1


def test_openai_create_refuses_a_file_not_uploaded_for_batch():
    async def scenario(server):
        async with openai_client(server) as client:
            uploaded = await client.files.create(file=("in.jsonl", b"{}\n"), purpose="user_data")
            with pytest.raises(openai.BadRequestError, match="purpose"):
                await client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions",
                                            completion_window="24h")

    with BatchOpenAIServer() as server:
        run(scenario(server))


@pytest.mark.parametrize("lines, limits, code, line_number", [
    ([input_line("a", chat_body("x")), input_line("b", chat_body("y", model="other-model"))], {},
     "mismatched_model", 2),
    ([input_line("a", chat_body("x")), input_line("a", chat_body("y"))], {}, "duplicate_custom_id", 2),
    ([input_line(c, chat_body(c)) for c in "abc"], {"max_lines": 2}, "too_many_lines", None),
    ([input_line(c, chat_body(c)) for c in "abc"], {"max_bytes": 100}, "file_too_large", None),
    ([input_line("a", chat_body("x")), {**input_line("b", chat_body("y")), "url": "/v1/embeddings"}], {},
     "invalid_url", 2),
    ([{**input_line("a", chat_body("x")), "method": "GET"}], {}, "invalid_method", 1),
    ([{"method": "POST", "url": "/v1/chat/completions", "body": chat_body("x")}], {}, "missing_custom_id", 1),
])
def test_openai_invalid_input_fails_the_batch_at_its_first_poll(lines, limits, code, line_number):
    async def scenario(server):
        async with openai_client(server) as client:
            created = await submit(client, {}, lines=lines)
            return created, await statuses_until_ended(client, created.id), await client.batches.retrieve(created.id)

    with BatchOpenAIServer(responder=echo, **limits) as server:
        created, seen, batch = run(scenario(server))
        assert created.status == "validating" and seen == ["failed"] and batch.failed_at
        (problem,) = batch.errors.data
        assert (problem.code, problem.line) == (code, line_number) and problem.message
        assert batch.request_counts.total == 0 and batch.output_file_id is None and batch.error_file_id is None
        assert server.lines_billed == [] and server.batches_created[0].rejected


def test_openai_invalid_json_line_is_reported_with_its_line_number():
    async def scenario(server):
        async with openai_client(server) as client:
            uploaded = await client.files.create(
                file=("in.jsonl", jsonl([input_line("a", chat_body("x"))]) + b"{not json\n"), purpose="batch")
            created = await client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions",
                                                  completion_window="24h")
            return await client.batches.retrieve(created.id)

    with BatchOpenAIServer() as server:
        batch = run(scenario(server))
    assert batch.status == "failed" and [(e.code, e.line) for e in batch.errors.data] == [("invalid_json_line", 2)]


# ---------------------------------------------------------------------------------------------
# OpenAI: faults
# ---------------------------------------------------------------------------------------------


def test_openai_reject_batches_fails_the_first_submission_only():
    async def scenario(server):
        async with openai_client(server) as client:
            first = await submit(client, three_lines())
            second = await submit(client, three_lines())
            return [await client.batches.retrieve(b.id) for b in (first, second)], \
                await statuses_until_ended(client, second.id)

    with BatchOpenAIServer(responder=echo, faults=BatchFaults(reject_batches=1)) as server:
        (failed, in_progress), seen = run(scenario(server))
        assert failed.status == "failed" and failed.errors.data[0].code == "token_limit_exceeded"
        assert in_progress.status == "in_progress" and seen == ["completed"]
        assert sorted(server.lines_billed) == ["r0", "r1", "r2"] and server.submissions == 2
        assert server.batches_created[0].custom_ids == ("r0", "r1", "r2")  # what the refused batch held


def test_openai_error_and_invalid_lines_fail_once_then_succeed():
    faults = BatchFaults(error_lines={"r0"}, invalid_lines=lambda custom_id: custom_id == "r1")

    async def scenario(server):
        async with openai_client(server) as client:
            first = await submit(client, three_lines())
            await statuses_until_ended(client, first.id)
            first = await client.batches.retrieve(first.id)
            errors = await file_lines(client, first.error_file_id)
            second = await submit(client, three_lines())
            await statuses_until_ended(client, second.id)
            second = await client.batches.retrieve(second.id)
            return first, errors, second, await file_lines(client, second.output_file_id)

    with BatchOpenAIServer(responder=echo, faults=faults) as server:
        first, errors, second, resent = run(scenario(server))
        assert first.status == "completed" and (first.request_counts.completed, first.request_counts.failed) == (1, 2)
        by_id = {line["custom_id"]: line for line in errors}
        assert by_id["r0"]["response"]["status_code"] == 500 and by_id["r0"]["error"] is None
        assert by_id["r0"]["response"]["body"]["error"]["type"] == "server_error"
        assert by_id["r1"]["response"]["status_code"] == 400
        assert by_id["r1"]["response"]["body"]["error"]["type"] == "invalid_request_error"
        assert second.request_counts.completed == 3 and sorted(line["custom_id"] for line in resent) == ["r0", "r1", "r2"]
        assert server.billed_more_than_once() == ["r2"]  # r2 was paid in both batches: the helper finds it


def test_openai_scripted_http_error_errors_its_line():
    async def scenario(server):
        async with openai_client(server) as client:
            created = await submit(client, three_lines())
            await statuses_until_ended(client, created.id)
            batch = await client.batches.retrieve(created.id)
            return await file_lines(client, batch.error_file_id)

    with BatchOpenAIServer(responder=echo) as server:
        server.script(http_error(429))  # the first line run gets the script, the rest the responder
        (error_line,) = run(scenario(server))
        assert error_line["custom_id"] == "r0" and error_line["response"]["status_code"] == 429
        assert sorted(server.lines_billed) == ["r1", "r2"]


def test_openai_expired_batch_keeps_done_lines_and_lists_expired_ones():
    async def scenario(server):
        async with openai_client(server) as client:
            results = []
            for _ in range(2):
                created = await submit(client, three_lines())
                seen = await statuses_until_ended(client, created.id)
                batch = await client.batches.retrieve(created.id)
                results.append((seen, batch, await file_lines(client, batch.output_file_id),
                                await file_lines(client, batch.error_file_id)))
            return results

    faults = BatchFaults(expire_batches=1, lines_before_expiry=2)
    with BatchOpenAIServer(responder=echo, faults=faults) as server:
        (seen, batch, output, errors), (seen_after, *_rest) = run(scenario(server))
        assert seen == ["in_progress", "expired"] and batch.expired_at and seen_after == ["in_progress", "completed"]
        assert sorted(line["custom_id"] for line in output) == ["r0", "r1"]
        (expired,) = errors
        assert expired["custom_id"] == "r2" and expired["response"] is None
        assert expired["error"] == {"code": "batch_expired", "message":
                                    "This request could not be executed before the completion window expired."}
        assert (batch.request_counts.completed, batch.request_counts.failed) == (2, 0)


def test_openai_omit_unrun_lines_leaves_expired_lines_out_of_every_file():
    async def scenario(server):
        async with openai_client(server) as client:
            created = await submit(client, three_lines())
            await statuses_until_ended(client, created.id)
            return await client.batches.retrieve(created.id)

    with BatchOpenAIServer(responder=echo, faults=BatchFaults(expire_batches=1, omit_unrun_lines=True)) as server:
        batch = run(scenario(server))
    assert batch.status == "expired" and batch.output_file_id is None and batch.error_file_id is None


def test_openai_server_side_cancel_shows_cancelling_then_cancelled():
    async def scenario(server):
        async with openai_client(server) as client:
            created = await submit(client, three_lines())
            seen = await statuses_until_ended(client, created.id)
            batch = await client.batches.retrieve(created.id)
            return seen, batch, await file_lines(client, batch.output_file_id)

    with BatchOpenAIServer(responder=echo, faults=BatchFaults(cancel_batches=1, lines_before_cancel=2)) as server:
        seen, batch, output = run(scenario(server))
    assert seen == ["in_progress", "cancelling", "cancelled"] and batch.cancelling_at and batch.cancelled_at
    assert len(output) == 2 and server.lines_billed == ["r0", "r1"]


@pytest.mark.parametrize("polls, expected", [
    (0, ["completed"]),
    (3, ["in_progress", "in_progress", "finalizing", "completed"]),
])
def test_openai_in_progress_polls_sets_how_many_polls_a_batch_takes(polls, expected):
    async def scenario(server):
        async with openai_client(server) as client:
            created = await submit(client, three_lines())
            return await statuses_until_ended(client, created.id)

    with BatchOpenAIServer(responder=echo, faults=BatchFaults(in_progress_polls=polls)) as server:
        assert run(scenario(server)) == expected
        assert server.polls == len(expected)


def test_openai_results_unavailable_answers_404_for_the_first_downloads_of_each_file():
    async def scenario(server):
        async with openai_client(server) as client:
            created = await submit(client, three_lines())
            await statuses_until_ended(client, created.id)
            batch = await client.batches.retrieve(created.id)
            for _ in range(2):
                with pytest.raises(openai.NotFoundError):
                    await client.files.content(batch.output_file_id)
            return await file_lines(client, batch.output_file_id)

    with BatchOpenAIServer(responder=echo, faults=BatchFaults(results_unavailable=2)) as server:
        assert len(run(scenario(server))) == 3
        assert server.results_downloads == 3


def test_openai_poll_errors_are_answered_in_order_without_advancing_the_batch():
    async def scenario(server):
        async with openai_client(server) as client:
            created = await submit(client, three_lines())
            with pytest.raises(openai.RateLimitError) as limited:
                await client.batches.retrieve(created.id)
            for _ in range(2):
                with pytest.raises(openai.InternalServerError):
                    await client.batches.retrieve(created.id)
            return limited.value, await statuses_until_ended(client, created.id)

    with BatchOpenAIServer(responder=echo, faults=BatchFaults(poll_errors=[429, 500, 503])) as server:
        limited, seen = run(scenario(server))
        assert limited.response.headers["retry-after"] == "0"
        assert seen == ["in_progress", "completed"] and server.polls == 5


def test_openai_sdk_retries_through_a_429_poll_error():
    async def scenario(server):
        async with openai_client(server, retries=2) as client:
            created = await submit(client, three_lines())
            return await client.batches.retrieve(created.id)

    with BatchOpenAIServer(responder=echo, faults=BatchFaults(poll_errors=[429])) as server:
        assert run(scenario(server)).status == "in_progress" and server.polls == 2


def test_openai_lost_submit_response_creates_the_batch_anyway():
    async def scenario(server, retries):
        async with openai_client(server, retries) as client:
            uploaded = await client.files.create(file=("in.jsonl", jsonl([input_line("a", chat_body("x"))])),
                                                 purpose="batch")
            params = {"input_file_id": uploaded.id, "endpoint": "/v1/chat/completions",
                      "completion_window": "24h", "metadata": {"round": "r1"}}
            if retries == 0:
                with pytest.raises(openai.APIConnectionError):
                    await client.batches.create(**params)
            else:
                await client.batches.create(**params)
            return [batch async for batch in client.batches.list() if (batch.metadata or {}).get("round") == "r1"]

    with BatchOpenAIServer(responder=echo, faults=BatchFaults(lose_submit_responses=1)) as server:
        (found,) = run(scenario(server, retries=0))  # the client can find it again by its metadata
        assert [b.id for b in server.batches_created] == [found.id]
    with BatchOpenAIServer(responder=echo, faults=BatchFaults(lose_submit_responses=1)) as server:
        assert len(run(scenario(server, retries=1))) == 2  # a blind SDK retry submits (and pays) twice


def test_openai_assigning_new_faults_restarts_their_counts():
    async def scenario(server):
        async with openai_client(server) as client:
            return (await client.batches.retrieve((await submit(client, three_lines())).id)).status

    with BatchOpenAIServer(responder=echo, faults=BatchFaults(reject_batches=1)) as server:
        assert run(scenario(server)) == "failed"
        assert run(scenario(server)) == "in_progress"
        server.faults = BatchFaults(reject_batches=1)
        assert run(scenario(server)) == "failed"


def test_openai_concurrent_polls_run_each_line_once_in_file_order():
    order = []

    def recording(request):
        order.append(request.json["messages"][0]["content"])
        time.sleep(0.01)  # long enough for unserialised polls to see a half-run batch
        return reply_text("ok")

    bodies = {f"r{n}": chat_body(f"line {n}") for n in range(8)}

    async def scenario(server):
        async with openai_client(server) as client:
            created = await submit(client, bodies)
            return await asyncio.gather(*(client.batches.retrieve(created.id) for _ in range(10)))

    with BatchOpenAIServer(responder=recording, faults=BatchFaults(in_progress_polls=0)) as server:
        batches = run(scenario(server))
        assert {(batch.status, batch.request_counts.completed, bool(batch.output_file_id))
                for batch in batches} == {("completed", 8, True)}
        assert order == [f"line {n}" for n in range(8)] and sorted(server.lines_billed) == sorted(bodies)


# ---------------------------------------------------------------------------------------------
# Anthropic helpers
# ---------------------------------------------------------------------------------------------


def anthropic_client(server, retries: int = 0) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=server.base_url, api_key="test-key", max_retries=retries)


def message_params(text: str, model: str = "claude-test", tools: bool = False) -> dict:
    params = {"model": model, "max_tokens": 100, "messages": [{"role": "user", "content": text}]}
    if tools:
        params["tools"] = [{"name": "reply", "description": "the reply", "input_schema": SCHEMA}]
        params["tool_choice"] = {"type": "tool", "name": "reply"}
    return params


def message_requests(prefix: str = "r", n: int = 3) -> list[dict]:
    return [{"custom_id": f"{prefix}{i}", "params": message_params(f"question {i} — naïve café")} for i in range(n)]


async def processing_until_ended(client, batch_id: str, most: int = 10) -> list[str]:
    seen = []
    for _ in range(most):
        batch = await client.messages.batches.retrieve(batch_id)
        seen.append(batch.processing_status)
        if batch.processing_status == "ended":
            return seen
    raise AssertionError(f"the batch did not end in {most} polls: {seen}")


async def results_of(client, batch_id: str) -> dict:
    return {line.custom_id: line.result async for line in await client.messages.batches.results(batch_id)}


async def run_anthropic_batch(client, requests: list[dict]):
    created = await client.messages.batches.create(requests=requests)
    seen = await processing_until_ended(client, created.id)
    return created, seen, await client.messages.batches.retrieve(created.id), await results_of(client, created.id)


# ---------------------------------------------------------------------------------------------
# Anthropic: endpoints
# ---------------------------------------------------------------------------------------------


def test_anthropic_lifecycle_and_online_endpoint_still_served():
    server = BatchAnthropicServer(responder=echo).start()
    try:
        async def online():
            async with anthropic_client(server) as client:
                return await client.messages.create(**message_params("hello"))

        assert run(online()).content[0].text == "echo hello" and server.online_requests == 1
        port = server.port
    finally:
        server.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/v1/messages/batches")


def test_anthropic_batch_runs_to_ended_with_replies_identical_to_online():
    requests = message_requests()

    async def scenario(server):
        async with anthropic_client(server) as client:
            created, seen, batch, results = await run_anthropic_batch(client, requests)
            raw = (await (await client.messages.batches.with_raw_response.results(created.id)).read()).decode()
            online = {r["custom_id"]: await client.messages.create(**r["params"]) for r in requests}
            return created, seen, batch, results, raw, online

    with BatchAnthropicServer(responder=echo) as server:
        created, seen, batch, results, raw, online = run(scenario(server))
        results_url = f"{server.root_url}/v1/messages/batches/{created.id}/results"
    assert (created.type, created.processing_status, created.results_url, created.ended_at) == (
        "message_batch", "in_progress", None, None)
    assert created.request_counts.processing == 3 and created.expires_at > created.created_at
    assert seen == ["in_progress", "ended"] and batch.results_url == results_url and batch.ended_at
    counts = batch.request_counts
    assert (counts.processing, counts.succeeded, counts.errored, counts.canceled, counts.expired) == (0, 3, 0, 0, 0)
    assert [json.loads(line)["custom_id"] for line in raw.splitlines()] != [r["custom_id"] for r in requests]
    for custom_id, result in results.items():
        assert result.type == "succeeded"
        same_online = online[custom_id]
        assert result.message.content == same_online.content and result.message.usage == same_online.usage
        assert result.message.id != same_online.id
    assert sorted(server.lines_billed) == ["r0", "r1", "r2"] and server.online_requests == 3


def test_anthropic_stateful_responder_gives_the_same_release_online_and_in_batch():
    requests = [{"custom_id": f"q{n}", "params": message_params(f"Clara in scene {n}?", tools=True)} for n in range(4)]
    requests.append({"custom_id": "q_again", "params": requests[0]["params"]})

    async def online_run():
        with BatchAnthropicServer(responder=StrongStandIn()) as server:
            async with anthropic_client(server) as client:
                return {r["custom_id"]: (await client.messages.create(**r["params"])).content[0].input
                        for r in requests}

    async def batch_run():
        with BatchAnthropicServer(responder=StrongStandIn()) as server:
            async with anthropic_client(server) as client:
                *_, results = await run_anthropic_batch(client, requests)
                return {custom_id: result.message.content[0].input for custom_id, result in results.items()}

    online, batched = run(online_run()), run(batch_run())
    assert batched == online and online["q0"] != online["q_again"]


def test_anthropic_list_pages_with_after_and_before_ids():
    async def scenario(server):
        async with anthropic_client(server) as client:
            ids = [(await client.messages.batches.create(requests=message_requests(n=1))).id for _ in range(5)]
            first = await client.messages.batches.list(limit=2)
            everything = [batch.id async for batch in client.messages.batches.list(limit=2)]
            after = await client.messages.batches.list(limit=2, after_id=ids[3])
            before = await client.messages.batches.list(limit=2, before_id=ids[1])
            newer = [batch.id async for batch in client.messages.batches.list(limit=1, before_id=ids[0])]
            return ids, first, everything, after, before, newer

    with BatchAnthropicServer() as server:
        ids, first, everything, after, before, newer = run(scenario(server))
    newest_first = ids[::-1]
    assert [b.id for b in first.data] == newest_first[:2] and first.has_more is True
    assert (first.first_id, first.last_id) == (newest_first[0], newest_first[1])
    assert everything == newest_first
    assert [b.id for b in after.data] == [ids[2], ids[1]] and after.has_more is True
    assert [b.id for b in before.data] == [ids[3], ids[2]] and before.has_more is True
    assert newer == ids[1:]  # with before_id the SDK pages toward newer batches, via first_id


def test_anthropic_client_cancel_then_delete():
    async def scenario(server):
        async with anthropic_client(server) as client:
            created = await client.messages.batches.create(requests=message_requests())
            with pytest.raises(anthropic.BadRequestError, match="cancel it first"):
                await client.messages.batches.delete(created.id)
            canceling = await client.messages.batches.cancel(created.id)
            seen = await processing_until_ended(client, created.id)
            batch = await client.messages.batches.retrieve(created.id)
            results = await results_of(client, created.id)
            deleted = await client.messages.batches.delete(created.id)
            with pytest.raises(anthropic.NotFoundError):
                await client.messages.batches.retrieve(created.id)
            return canceling, seen, batch, results, deleted

    with BatchAnthropicServer(responder=echo, faults=BatchFaults(lines_before_cancel=1)) as server:
        canceling, seen, batch, results, deleted = run(scenario(server))
        assert server.lines_billed == ["r0"] and server.batches_created[0].deleted
        assert httpx.get(f"{server.base_url}/v1/messages/batches").json()["data"] == []
    assert canceling.processing_status == "canceling" and canceling.cancel_initiated_at
    assert seen == ["ended"] and (batch.request_counts.succeeded, batch.request_counts.canceled) == (1, 2)
    assert {cid: r.type for cid, r in results.items()} == {"r0": "succeeded", "r1": "canceled", "r2": "canceled"}
    assert (deleted.id, deleted.type) == (batch.id, "message_batch_deleted")


def test_anthropic_results_before_the_end_are_unavailable():
    async def scenario(server):
        async with anthropic_client(server) as client:
            created = await client.messages.batches.create(requests=message_requests())
            with pytest.raises(anthropic.AnthropicError, match="results_url"):
                await client.messages.batches.results(created.id)  # the SDK checks results_url itself
            return created.id

    with BatchAnthropicServer(responder=echo) as server:
        batch_id = run(scenario(server))
        assert httpx.get(f"{server.root_url}/v1/messages/batches/{batch_id}/results").status_code == 404
        assert server.lines_billed == []


@pytest.mark.parametrize("requests, limits, error, message", [
    ([{"custom_id": "has space", "params": message_params("x")}], {}, anthropic.BadRequestError, "pattern"),
    ([{"custom_id": "x" * 65, "params": message_params("x")}], {}, anthropic.BadRequestError, "pattern"),
    ([{"custom_id": "a", "params": message_params("x")}] * 2, {}, anthropic.BadRequestError, "unique"),
    (message_requests(n=3), {"max_lines": 2}, anthropic.BadRequestError, "at most 2"),
    (message_requests(n=3), {"max_bytes": 200}, anthropic.APIStatusError, "limited to 200"),
    ([], {}, anthropic.BadRequestError, "non-empty"),
    ([{"custom_id": "a", "params": "not an object"}], {}, anthropic.BadRequestError, "params"),
])
def test_anthropic_create_refuses_invalid_batches(requests, limits, error, message):
    async def scenario(server):
        async with anthropic_client(server) as client:
            with pytest.raises(error, match=message) as refused:
                await client.messages.batches.create(requests=requests)
            return refused.value

    with BatchAnthropicServer(**limits) as server:
        refused = run(scenario(server))
        assert refused.status_code == (413 if "max_bytes" in limits else 400)
        assert refused.body["error"]["type"] == ("request_too_large" if "max_bytes" in limits else "invalid_request_error")
        assert server.batches_created == [] and server.submissions == 1


def test_anthropic_mixed_models_are_allowed_and_bad_params_error_their_line():
    requests = [{"custom_id": "a", "params": message_params("x", model="claude-one")},
                {"custom_id": "b", "params": message_params("y", model="claude-two")},
                {"custom_id": "c", "params": {"model": "claude-one", "messages": []}}]

    async def scenario(server):
        async with anthropic_client(server) as client:
            return await run_anthropic_batch(client, requests)

    with BatchAnthropicServer(responder=echo) as server:
        *_, results = run(scenario(server))
    assert results["a"].message.model == "claude-one" and results["b"].message.model == "claude-two"
    assert results["c"].type == "errored" and results["c"].error.error.type == "invalid_request_error"
    assert "max_tokens" in results["c"].error.error.message


# ---------------------------------------------------------------------------------------------
# Anthropic: faults
# ---------------------------------------------------------------------------------------------


def test_anthropic_reject_batches_refuses_the_first_submission_only():
    async def scenario(server):
        async with anthropic_client(server) as client:
            with pytest.raises(anthropic.BadRequestError, match="reject_batches"):
                await client.messages.batches.create(requests=message_requests())
            return await run_anthropic_batch(client, message_requests())

    with BatchAnthropicServer(responder=echo, faults=BatchFaults(reject_batches=1)) as server:
        _, seen, *_ = run(scenario(server))
        assert seen[-1] == "ended" and server.submissions == 2 and len(server.batches_created) == 1


def test_anthropic_error_and_invalid_lines_fail_once_then_succeed():
    faults = BatchFaults(error_lines=lambda custom_id: custom_id == "r0", invalid_lines={"r1"})

    async def scenario(server):
        async with anthropic_client(server) as client:
            first = await run_anthropic_batch(client, message_requests())
            second = await run_anthropic_batch(client, message_requests())
            return first, second

    with BatchAnthropicServer(responder=echo, faults=faults) as server:
        (_, _, batch, results), (*_, again) = run(scenario(server))
        assert (batch.request_counts.succeeded, batch.request_counts.errored) == (1, 2)
        assert results["r0"].type == results["r1"].type == "errored"
        assert results["r0"].error.type == "error" and results["r0"].error.error.type == "api_error"
        assert results["r1"].error.error.type == "invalid_request_error"
        assert {r.type for r in again.values()} == {"succeeded"}
        assert server.billed_more_than_once() == ["r2"]


def test_anthropic_expired_batch():
    async def scenario(server):
        async with anthropic_client(server) as client:
            return await run_anthropic_batch(client, message_requests())

    with BatchAnthropicServer(responder=echo, faults=BatchFaults(expire_batches=1, lines_before_expiry=1)) as server:
        _, seen, batch, results = run(scenario(server))
        assert seen == ["in_progress", "ended"]
        assert (batch.request_counts.succeeded, batch.request_counts.expired) == (1, 2)
        assert {cid: r.type for cid, r in results.items()} == {"r0": "succeeded", "r1": "expired", "r2": "expired"}
        assert server.lines_billed == ["r0"]


def test_anthropic_server_side_cancel():
    async def scenario(server):
        async with anthropic_client(server) as client:
            return await run_anthropic_batch(client, message_requests())

    with BatchAnthropicServer(responder=echo, faults=BatchFaults(cancel_batches=1)) as server:
        _, seen, batch, results = run(scenario(server))
    assert seen == ["in_progress", "canceling", "ended"] and batch.cancel_initiated_at
    assert batch.request_counts.canceled == 3 and {r.type for r in results.values()} == {"canceled"}


def test_anthropic_in_progress_polls():
    async def scenario(server):
        async with anthropic_client(server) as client:
            created = await client.messages.batches.create(requests=message_requests())
            return await processing_until_ended(client, created.id)

    with BatchAnthropicServer(responder=echo, faults=BatchFaults(in_progress_polls=3)) as server:
        assert run(scenario(server)) == ["in_progress"] * 3 + ["ended"]


@pytest.mark.parametrize("status, error", [(404, anthropic.NotFoundError), (503, anthropic.InternalServerError)])
def test_anthropic_results_unavailable(status, error):
    async def scenario(server):
        async with anthropic_client(server) as client:
            created = await client.messages.batches.create(requests=message_requests())
            await processing_until_ended(client, created.id)
            with pytest.raises(error):
                await client.messages.batches.results(created.id)
            return await results_of(client, created.id)

    faults = BatchFaults(results_unavailable=1, results_unavailable_status=status)
    with BatchAnthropicServer(responder=echo, faults=faults) as server:
        assert len(run(scenario(server))) == 3 and server.results_downloads == 2


def test_anthropic_poll_errors():
    async def scenario(server):
        async with anthropic_client(server) as client:
            created = await client.messages.batches.create(requests=message_requests())
            with pytest.raises(anthropic.RateLimitError) as limited:
                await client.messages.batches.retrieve(created.id)
            with pytest.raises(anthropic.InternalServerError):
                await client.messages.batches.retrieve(created.id)
            return limited.value, await processing_until_ended(client, created.id)

    with BatchAnthropicServer(responder=echo, faults=BatchFaults(poll_errors=[429, 503])) as server:
        limited, seen = run(scenario(server))
        assert limited.response.headers["retry-after"] == "0" and limited.body["error"]["type"] == "rate_limit_error"
        assert seen == ["in_progress", "ended"] and server.polls == 4


def test_anthropic_lost_submit_response_creates_the_batch_anyway():
    async def scenario(server):
        async with anthropic_client(server) as client:
            with pytest.raises(anthropic.APIConnectionError):
                await client.messages.batches.create(requests=message_requests())
            return [batch.id async for batch in client.messages.batches.list()]

    with BatchAnthropicServer(responder=echo, faults=BatchFaults(lose_submit_responses=1)) as server:
        listed = run(scenario(server))
        assert listed == [b.id for b in server.batches_created] and len(listed) == 1
        assert server.batches_created[0].custom_ids == ("r0", "r1", "r2")


def test_unknown_anthropic_batch_is_404():
    async def scenario(server):
        async with anthropic_client(server) as client:
            with pytest.raises(anthropic.NotFoundError):
                await client.messages.batches.retrieve("msgbatch_nope")
            with pytest.raises(anthropic.NotFoundError):
                await client.messages.batches.cancel("msgbatch_nope")

    with BatchAnthropicServer() as server:
        run(scenario(server))


def test_reset_counts_keeps_batches_and_billing():
    async def scenario(server):
        async with anthropic_client(server) as client:
            return await run_anthropic_batch(client, message_requests())

    with BatchAnthropicServer(responder=answer_the_schema) as server:
        run(scenario(server))
        server.reset_counts()
        assert (server.polls, server.results_downloads, server.submissions, server.online_requests) == (0, 0, 0, 0)
        assert len(server.batches_created) == 1 and len(server.lines_billed) == 3 and server.requests == []
