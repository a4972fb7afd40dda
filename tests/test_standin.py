"""The strong-model stand-in (tests/support/standin.py): determinism, structure, prose that ignores
patterns but keeps literal prefixes, stated lengths and overruns, verbatim quotes, judge accuracy,
and both protocols end to end through the real toolkit client."""

from __future__ import annotations

import json
import os
import random
import re
import statistics
import sys
import threading
import time

import httpx
import jsonschema
import pytest

from builders.llm import ChatRequest
from builders.llm.providers.anthropic_api import tool_input_schema
from builders.llm.structured import openai_strict_schema
from tests.support.llm_fixtures import run_chats
from tests.support.scripted_llm import RecordedRequest
from tests.support.standin import (
    StrongStandIn,
    Writer,
    bank,
    field_segments,
    main,
    names_in,
    parse_target,
    pattern_prefix,
)

NON_ASCII_PUNCTUATION = set("—’“”…")
PREFIX = "I think that she feels "
THOUGHT_PATTERN = rf"^{PREFIX}[A-Za-z ,.]{{8,120}}$"


def words(text: str) -> int:
    """Words as a reader counts them: "Zoë’s", "£40" and "3:30" are one word each, a dash none."""
    return len(re.findall(r"[^\s—–…]*\w[^\s—–…]*", text))


def openai_body(schema: dict | None, user: str = "Go on.", *, system: str = "You are helpful.", seed: int = 0) -> dict:
    """A body as the toolkit sends it to an `openai:` model (strict json_schema, a seed)."""
    body = {"model": "gpt-4o", "seed": seed, "temperature": 0.7, "max_tokens": 512,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}]}
    if schema is not None:
        body["response_format"] = {"type": "json_schema", "json_schema": {
            "name": "reply", "schema": openai_strict_schema(schema), "strict": True}}
    return body


def anthropic_body(schema: dict, user: str = "Go on.", *, system: str = "You are helpful.") -> dict:
    """A body as the toolkit sends it to an `anthropic:` model (a forced tool; no seed)."""
    return {"model": "claude-sonnet-4-5", "max_tokens": 512, "system": system,
            "messages": [{"role": "user", "content": user}],
            "tools": [{"name": "reply", "description": "Give the answer in this structure.",
                       "input_schema": tool_input_schema(schema)}],
            "tool_choice": {"type": "tool", "name": "reply"}}


def one_field(field: dict, name: str = "text") -> dict:
    return {"type": "object", "properties": {name: field}, "required": [name], "additionalProperties": False}


def values(standin: StrongStandIn, schema: dict, n: int, name: str = "text", **body) -> list:
    return [standin.reply_for(openai_body(schema, seed=seed, **body))[name] for seed in range(n)]


# ---- determinism ----


def test_the_same_body_gets_the_same_reply_and_another_seed_may_differ():
    schema = one_field({"type": "string", "description": "about 25 words"})
    body = openai_body(schema, "What does Edgar believe about the lease?", seed=3)
    first = StrongStandIn().reply_for(body)
    assert StrongStandIn().reply_for(json.loads(json.dumps(body))) == first  # a copy, another instance
    assert StrongStandIn().reply_for(dict(reversed(list(body.items())))) == first  # key order is not content
    assert len({StrongStandIn().reply_for({**body, "seed": seed})["text"] for seed in range(10)}) >= 8

    tool_body = anthropic_body(schema, "What does Edgar believe about the lease?")
    request = RecordedRequest("POST", "/v1/messages", {}, json.dumps(tool_body).encode(), json=tool_body)
    assert StrongStandIn()(request) == StrongStandIn()(request)  # a fresh server replays the same sequence
    standin = StrongStandIn()  # without a seed, asking the same again samples again (a re-ask can succeed)
    assert standin(request) != standin(request)


# ---- structure ----

NESTED = {
    "type": "object",
    "$defs": {"turn": {"type": "object", "properties": {
        "speaker": {"enum": ["Clara", "Edgar"]},
        "text": {"type": "string"},
        "aside": {"type": ["string", "null"]}}, "required": ["speaker", "text"]}},
    "properties": {
        "title": {"type": "string"},
        "mood": {"enum": ["calm", "angry", "sad", "wistful"]},
        "version": {"const": 2},
        "scores": {"type": "array", "minItems": 2, "maxItems": 3,
                   "items": {"type": "integer", "minimum": 1, "maximum": 5}},
        "weight": {"type": "number", "minimum": 0, "maximum": 1},
        "urgent": {"type": "boolean"},
        "turns": {"type": "array", "minItems": 3, "maxItems": 6, "items": {"$ref": "#/$defs/turn"}},
        "places": {"type": "array", "minItems": 1, "maxItems": 2, "uniqueItems": True,
                   "items": {"enum": ["kitchen", "garden", "station"]}},
        "detail": {"anyOf": [{"type": "null"}, {"type": "object", "properties": {
            "level": {"type": "integer", "minimum": 1, "maximum": 4}}, "required": ["level"]}]},
        "optional_note": {"type": "string"},
    },
    "required": ["title", "mood", "version", "scores", "weight", "urgent", "turns", "places", "detail"],
}


def test_nested_schemas_get_their_structure_in_both_protocols():
    standin = StrongStandIn()
    replies = [standin.reply_for(openai_body(NESTED, seed=seed)) for seed in range(30)]
    # Anthropic's tool schema has lost minItems/maxItems/minimum/maximum into descriptions: still followed.
    replies += [standin.reply_for(anthropic_body(NESTED, f"request {n}")) for n in range(30)]
    for reply in replies:
        jsonschema.validate(reply, NESTED)
        assert reply["detail"] is not None and isinstance(reply["turns"][0]["text"], str)
    counts = {len(reply["turns"]) for reply in replies}
    assert counts <= {3, 4, 5, 6} and len(counts) >= 3
    assert len({reply["mood"] for reply in replies}) == 4
    anthropic_notes = [reply for reply in replies[30:] if "optional_note" in reply]
    assert 15 <= len(anthropic_notes) < 30  # optional properties usually present (strict mode: always)


# ---- patterns and prefixes ----


def test_patterns_are_ignored_but_literal_prefixes_are_kept():
    field = {"type": "string", "pattern": THOUGHT_PATTERN, "maxLength": 140}
    standin = StrongStandIn()
    thoughts = values(standin, one_field(field), 100, user="Hi, how are you?")
    thoughts += [standin.reply_for(anthropic_body(one_field(field), f"Hi, how are you? ({n})"))["text"]
                 for n in range(100)]
    assert all(t.startswith(PREFIX) for t in thoughts)
    assert all(t[len(PREFIX)].islower() for t in thoughts)  # the sentence goes on mid-sentence
    breaking = [t for t in thoughts if not re.fullmatch(THOUGHT_PATTERN, t) or len(t) > 140]
    non_ascii = [t for t in thoughts if any(ord(c) > 127 for c in t)]
    assert len(breaking) > 100 and len(non_ascii) > 40, (len(breaking), len(non_ascii))

    described = values(standin, one_field({"type": "string", "description": 'Starts with "Dear Zoë, "'}), 20)
    assert all(v.startswith("Dear Zoë, ") and len(v) > 20 for v in described)


@pytest.mark.parametrize("pattern, prefix", [
    (THOUGHT_PATTERN, PREFIX),
    ("^What does King Lear believe( [A-Za-z]+){2,10}[?]$", "What does King Lear believe"),
    ("^Edgar intends to( [a-z]+){3,11}$", "Edgar intends to"),
    (r"^Yes\. [a-z]+", "Yes. "),
    ("^[.]{3} and", "."),
    ("^abc?d", "ab"),
    ("^I feel ", "I feel "),
    ("^no|^yes", ""),
    (r"^\d+ items", ""),
    ("I feel", ""),  # unanchored: nothing is required at the start
])
def test_pattern_prefix_reads_the_literal_start(pattern, prefix):
    assert pattern_prefix(pattern) == prefix


def test_prefixes_are_continued_the_way_their_last_word_asks():
    standin = StrongStandIn()
    question = one_field({"type": "string", "pattern": "^What does Edgar believe( [a-z]+){2,10}[?]$"})
    for value in values(standin, question, 20):
        assert value.startswith("What does Edgar believe ") and value.endswith("?") and value.count("?") == 1
    wants = values(standin, one_field({"type": "string", "pattern": "^Lear wants [a-z ]+$"}), 20)
    assert all(v.startswith("Lear wants to ") for v in wants)


# ---- lengths ----


def test_a_described_length_is_followed_on_average():
    standin = StrongStandIn()  # default overrun_rate 0.1 included in the mean
    about = [words(v) for v in values(standin, one_field({"type": "string", "description": "In about 25 words."}), 200)]
    assert abs(statistics.mean(about) - 25) <= 0.2 * 25, statistics.mean(about)

    exact = StrongStandIn(overrun_rate=0)
    ranged = [words(v) for v in values(exact, one_field({"type": "string", "description": "20–30 words"}), 200)]
    assert 22 <= statistics.mean(ranged) <= 28 and max(ranged) <= 32 and min(ranged) >= 17
    capped = [words(v) for v in values(exact, one_field({"type": "string", "description": "at most 60 words"}), 100)]
    assert max(capped) <= 61 and statistics.mean(capped) >= 35
    few = [words(v) for v in values(exact, one_field({"type": "string", "description": "a few words"}), 100)]
    assert max(few) <= 5 and not any(v.endswith(".") for v in values(exact, one_field(
        {"type": "string", "description": "a few words"}), 20))


def test_a_length_in_the_messages_applies_to_the_field_named_next_to_it():
    schema = {"type": "object", "properties": {"utterance": {"type": "string"}, "note": {"type": "string"}},
              "required": ["utterance", "note"]}
    system = 'Answer in JSON:\n- "utterance": what you say, about 60 words\n- "note": anything'
    standin = StrongStandIn(overrun_rate=0)
    replies = [standin.reply_for(openai_body(schema, system=system, seed=seed)) for seed in range(100)]
    assert abs(statistics.mean(words(r["utterance"]) for r in replies) - 60) <= 6
    assert statistics.mean(words(r["note"]) for r in replies) < 35  # the default: one or two sentences

    unnamed = [standin.reply_for(openai_body(schema, "Answer in about 90 words.", seed=seed)) for seed in range(50)]
    assert statistics.mean(words(r["utterance"]) for r in unnamed) < 35  # two fields: whose 90 words?
    single = values(standin, one_field({"type": "string"}), 50, user="Answer in about 90 words.")
    assert abs(statistics.mean(words(v) for v in single) - 90) <= 9  # the only field: this one


def test_overruns_come_at_the_set_rate():
    field = one_field({"type": "string", "description": "20-30 words"})
    for rate in (0.1, 0.4):
        standin = StrongStandIn(overrun_rate=rate)
        counts = [words(v) for v in values(standin, field, 400)]
        over = [n for n in counts if n > 33]
        assert abs(len(over) / 400 - rate) <= 0.05, (rate, len(over))
        assert all(34 <= n <= 50 for n in over)  # 20-60% beyond the stated 30
        assert standin.stats["overruns"] == len(over) and standin.stats["stated_maximum"] == 400
    assert all(words(v) <= 32 for v in values(StrongStandIn(overrun_rate=0), field, 200))


@pytest.mark.parametrize("text, expected", [
    ("about 25 words", ((21, 29), None, 25)),
    ("20-30 words", ((20, 30), None, 30)),
    ("20 to 30 words", ((20, 30), None, 30)),
    ("no more than 60 words", ((33, 60), None, 60)),
    ("under 60 words", ((33, 60), None, 60)),
    ("one sentence", (None, (1, 1), 24)),
    ('"reason": "one short sentence"', (None, (1, 1), 14)),
    ("in one or two sentences", (None, (1, 2), 48)),
    ("2-4 sentences, present tense", (None, (2, 4), 96)),
    ("one or two sentences, about 30 words", ((26, 34), (1, 2), 30)),
    ("150-400 words", ((150, 400), None, 400)),
    ('"thought" (what the speaker thinks, a few words)', ((2, 5), None, 5)),
    ("a single word", ((1, 1), None, 1)),
    ("what you say out loud", None),
])
def test_parse_target_reads_the_usual_phrasings(text, expected):
    target = parse_target(text)
    assert (target and (target.words, target.sentences, target.maximum)) == expected


def test_field_segments_stop_at_the_next_field():
    line = 'Each line has "thought" (what the speaker thinks, a few words) and "text" (one or two sentences).'
    assert field_segments(line, "thought") == ("what the speaker thinks, a few words) and ",)
    assert field_segments("utterance: one or two sentences, about 30 words\nnote: x", "utterance") == \
        (" one or two sentences, about 30 words",)


# ---- quotes ----

PASSAGE = """Book: "King Lear" by William Shakespeare.

PASSAGE:
LEAR: Meantime we shall express our darker purpose.
Give me the map there. Know that we have divided
In three our kingdom: and 'tis our fast intent
To shake all cares and business from our age;
GONERIL: Sir, I love you more than words can wield the matter;
Dearer than eye-sight, space, and liberty;
CORDELIA: What shall Cordelia speak? Love, and be silent.

Divide the passage into plots. For each plot give:
- "first_line": the first line of the plot, copied exactly from the passage;
- "last_line": the last line of the plot, copied exactly from the passage;
- "quotes": spoken lines, each {"speaker": name, "text": the words copied exactly from the passage}.
"""
SPEAKERS = {"Meantime": "Lear", "Give": "Lear", "In": "Lear", "To": "Lear", "and": "Lear", "Sir,": "Goneril",
            "Dearer": "Goneril", "What": "Cordelia"}
PLOTS = {"type": "object", "required": ["plots"], "properties": {"plots": {
    "type": "array", "minItems": 1, "maxItems": 3, "items": {
        "type": "object", "required": ["first_line", "last_line", "quotes", "gist"],
        "properties": {
            "first_line": {"type": "string", "minLength": 8, "maxLength": 80},
            "last_line": {"type": "string", "minLength": 8, "maxLength": 80},
            "gist": {"type": "string", "description": "One passage, quoted verbatim."},
            "quotes": {"type": "array", "minItems": 1, "maxItems": 5, "items": {
                "type": "object", "required": ["speaker", "text"],
                "properties": {"speaker": {"enum": ["Lear", "Goneril", "Cordelia"]}, "text": {"type": "string"}}}}}}}}}


def test_quotes_are_copied_verbatim_from_the_passage():
    standin = StrongStandIn()
    replies = [standin.reply_for(openai_body(PLOTS, PASSAGE, seed=seed)) for seed in range(20)]
    replies += [standin.reply_for(anthropic_body(PLOTS, PASSAGE + " " * n)) for n in range(20)]
    passage = PASSAGE.split("PASSAGE:")[1].split("Divide")[0]
    for reply in replies:
        starts = []
        for plot in reply["plots"]:
            for span in [plot["first_line"], plot["last_line"], plot["gist"]] + [q["text"] for q in plot["quotes"]]:
                assert span in passage and words(span) >= 3, span
            assert passage.index(plot["first_line"]) <= passage.index(plot["last_line"])
            starts.append(passage.index(plot["first_line"]))
            for quote in plot["quotes"]:  # the speaker of the line quoted
                assert SPEAKERS[quote["text"].split()[0]] == quote["speaker"], quote
        assert starts == sorted(starts)  # plots follow the passage in order
    assert standin.stats["quotes"] > 200


# ---- judging ----

YES_NO = {"type": "object", "properties": {"plausible": {"enum": ["yes", "no"]}, "same": {"type": "boolean"},
                                           "tone": {"enum": ["warm", "cold", "neutral"]}},
          "required": ["plausible", "same", "tone"]}
LETTERS = """# Transcript
Zoë: I still can’t believe the deposit for the flat in Lisbon was £900.
José: The landlord wants the deposit by Friday, and I haven’t got it.

# Question
What does José feel?

# Options
[A] José feels delighted about his new bicycle
[B] José feels bored at the football match
[C] José feels anxious about paying the landlord the Lisbon flat deposit by Friday
[D] José feels proud of his garden
Answer with a JSON object {"answer": "A", "B", "C" or "D"}."""


def test_judge_answers_are_right_at_the_set_rate_without_an_oracle():
    standin = StrongStandIn(judge_accuracy=0.9)
    replies = [standin.reply_for(openai_body(YES_NO, seed=seed)) for seed in range(400)]
    assert abs(sum(r["plausible"] == "yes" for r in replies) / 400 - 0.9) <= 0.05
    assert abs(sum(r["same"] is True for r in replies) / 400 - 0.9) <= 0.05
    tones = [sum(r["tone"] == tone for r in replies) / 400 for tone in ("warm", "cold", "neutral")]
    assert all(0.25 <= share <= 0.42 for share in tones)  # no way to tell right: at random

    flags = one_field({"type": "array", "items": {"enum": ["B", "C", "D"]}, "uniqueItems": True,
                       "minItems": 0, "maxItems": 3}, name="also_valid")
    lists = values(standin, flags, 400, name="also_valid")
    assert abs(sum(not flagged for flagged in lists) / 400 - 0.9) <= 0.05  # "none is also valid"

    letter = {"type": "object", "properties": {"answer": {"enum": ["A", "B", "C", "D"]}}, "required": ["answer"]}
    answers = values(StrongStandIn(judge_accuracy=0.7), letter, 400, name="answer", user=LETTERS)
    assert abs(answers.count("C") / 400 - 0.7) <= 0.06
    assert all(answers.count(wrong) > 0 for wrong in "ABD")


def test_judge_answers_follow_the_oracle_at_the_set_rate():
    asked = []

    def oracle(body, path, choices):
        asked.append((path, tuple(choices)))
        return {("plausible",): "no", ("same",): False}.get(path)

    standin = StrongStandIn(judge_accuracy=0.8, oracle=oracle)
    replies = [standin.reply_for(openai_body(YES_NO, seed=seed)) for seed in range(400)]
    assert abs(sum(r["plausible"] == "no" for r in replies) / 400 - 0.8) <= 0.05
    assert abs(sum(r["same"] is False for r in replies) / 400 - 0.8) <= 0.05
    assert (("plausible",), ("yes", "no")) in asked and (("same",), (True, False)) in asked
    assert (("tone",), ("warm", "cold", "neutral")) in asked  # asked, said None: the default applies


# ---- prose ----


def test_prose_names_the_request_characters_and_reads_like_a_model():
    system = "You are Clara Díaz, a 34-year-old nurse. You are talking with Edgar Moreau."
    assert names_in(system + " What does Edgar believe?") == ("Clara Díaz", "Edgar Moreau", "Edgar")
    schema = {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
              "required": ["a", "b"]}
    standin = StrongStandIn()
    texts = [text for seed in range(100) for text in
             standin.reply_for(openai_body(schema, "What does Edgar believe?", system=system, seed=seed)).values()]
    assert sum(("Edgar" in t or "Clara" in t) for t in texts) > 60
    assert sum(any(c in NON_ASCII_PUNCTUATION for c in t) for t in texts) > 100
    assert sum(bool(re.search(r"\d", t)) for t in texts) > 40
    assert statistics.mean(words(t) for t in texts) == pytest.approx(28.5, abs=4)  # default: 12-45 words
    assert len(set(texts)) >= 0.97 * len(texts)  # a short template with one slot may come back


def test_every_template_of_the_bank_fills():
    writer = Writer(random.Random(0), ["Clara"], spaced_dashes=False)
    for kind, templates in bank().items():
        for template in templates:
            text = writer.fill(template)
            assert "{" not in text and "}" not in text, (kind, template)


def test_free_text_is_prose_with_plausible_usage():
    standin = StrongStandIn(overrun_rate=0)
    body = openai_body(None, "Describe the market in about 80 words.")
    texts = [standin.reply_for({**body, "seed": seed}) for seed in range(30)]
    assert all(isinstance(t, str) for t in texts) and abs(statistics.mean(map(words, texts)) - 80) <= 8
    request = RecordedRequest("POST", "/v1/chat/completions", {}, json.dumps(body).encode(), json=body)
    action = standin(request)
    prompt_chars = len("You are helpful.") + len("Describe the market in about 80 words.")
    assert action.usage[1] == pytest.approx(len(action.text) / 4, abs=1)
    assert action.usage[0] == pytest.approx(prompt_chars / 4, abs=3)
    assert standin.stats["requests"] == 31 and standin.stats["free_text"] == 31


# ---- end to end through the toolkit client ----

# Structure and a literal prefix only: the client validates replies against the full schema, and a
# strong model (like this stand-in) does not keep to tight patterns or lengths.
TURN = {"type": "object", "additionalProperties": False,
        "required": ["thought", "utterance", "mood", "tags", "confidence"],
        "properties": {"thought": {"type": "string", "pattern": "^I feel "},
                       "utterance": {"type": "string", "description": "one or two sentences"},
                       "mood": {"enum": ["calm", "angry", "hopeful"]},
                       "tags": {"type": "array", "minItems": 2, "maxItems": 3, "items": {"type": "string"}},
                       "confidence": {"type": "integer", "minimum": 1, "maximum": 5},
                       "note": {"type": "string"}}}


def turn_requests(n: int) -> list[ChatRequest]:
    return [ChatRequest(messages=[{"role": "system", "content": "You are Clara Díaz, talking with Edgar."},
                                  {"role": "user", "content": f"Edgar says: shall we split the £{40 + i} bill?"}],
                        schema=TURN, max_tokens=400, step="test.turn") for i in range(n)]


@pytest.mark.parametrize("protocol, model", [("openai", "openai:gpt-4o"),
                                             ("anthropic", "anthropic:claude-sonnet-4-5")])
def test_both_protocols_end_to_end_through_the_toolkit_client(protocol, model, request, make_llm, tmp_path):
    server = request.getfixturevalue(f"{protocol}_server")
    server.responder = StrongStandIn()
    replies = run_chats(make_llm(model), turn_requests(6))
    for reply in replies:
        assert not isinstance(reply, BaseException), reply
        jsonschema.validate(reply.data, TURN)
        assert reply.data["thought"].startswith("I feel ") and words(reply.data["thought"]) > 4
    assert any(any(ord(c) > 127 for c in json.dumps(r.data, ensure_ascii=False)) for r in replies)
    assert server.responder.stats["requests"] == 6
    # A fresh cache and a fresh server: the same replies (a rebuild against a new stand-in is identical).
    server.responder = StrongStandIn()
    again = run_chats(make_llm(model, cache_dir=tmp_path / "second-cache"), turn_requests(6))
    assert [r.data for r in again] == [r.data for r in replies]
    assert all(r.provenance["provider"] == protocol for r in replies)


def test_command_line_serves_until_stdin_closes(monkeypatch, capsys):
    """`python -m tests.support.standin` runs main(); run in a thread here, as a subprocess would
    spend seconds importing the SDKs again."""
    read_end, write_end = os.pipe()
    monkeypatch.setattr(sys, "stdin", os.fdopen(read_end))
    done = []
    thread = threading.Thread(target=lambda: done.append(main(["--protocol", "anthropic", "--overrun-rate", "0"])))
    thread.start()
    try:
        output = ""
        for _ in range(500):
            output += capsys.readouterr().out
            if "PORT" in output:
                break
            time.sleep(0.01)
        port = int(output.split()[1])
        body = anthropic_body(one_field({"type": "string", "pattern": "^I feel "}), "Hi")
        response = httpx.post(f"http://127.0.0.1:{port}/v1/messages", json=body)
        (block,) = response.json()["content"]
        assert block["type"] == "tool_use" and block["input"]["text"].startswith("I feel ")
    finally:
        os.close(write_end)
        thread.join(timeout=30)
    assert done == [0] and "SERVED 1" in capsys.readouterr().out


def test_prose_now_and_then_holds_a_straight_quote_an_aside_or_a_line_break():
    schema = one_field({"type": "string", "pattern": "^I feel ", "description": "about 25 words"})
    standin = StrongStandIn(markup_rate=0.3)
    texts = [standin.reply_for(openai_body(schema, "How do you feel?", seed=seed))["text"] for seed in range(300)]
    marked = [t for t in texts if '"' in t or "(" in t or "\n" in t]
    assert 0.2 < len(marked) / len(texts) < 0.4 and standin.stats["markup"] == len(marked)
    assert all(t.startswith("I feel ") for t in texts)  # the required prefix is never touched
    assert {kind for t in marked for kind, mark in (("quote", '"'), ("aside", "("), ("break", "\n")) if mark in t} \
        == {"quote", "aside", "break"}
    assert not any('"' in t or "(" in t or "\n" in t
                   for t in (StrongStandIn(markup_rate=0).reply_for(openai_body(schema, "How?", seed=s))["text"]
                             for s in range(50)))
