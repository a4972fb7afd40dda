"""The strict contract (the embedded model's profile, `local-smollm2`) sends exactly the requests it
sent before natural-text contracts existed, so existing response caches keep hitting.

The constants below were recorded from the builder before the natural contract was added: a whole
in-process build over Othello with top-up and confirmation on (every step, an adjudication, a
trait re-ask), answered by the scripted fake of test_moral_roleplay_llm_steps.py under the strict
contract and fit to judge (the embedded model itself no longer annotates: its profile says it is
unfit, so its portrayals are not judged). The steps that read top-up scenes (synthetic_*, and the
rating, questions and traits that include them) were recorded again when a top-up scene's setting
and names began to follow its rank within its level instead of the build-wide scene number, which
tied each setting to one level; the source-scene steps (profile, scene, thoughts) keep the hashes
recorded before contracts existed. The annotation steps were recorded again, deliberately, for
issue 20: the level questions (six now, two asked from both sides so that a model answering
everything alike contradicts itself instead of landing on level 2), the trait asks (a villain's set
may no longer hold Brave, Upright or Just, and the prompt states what a level-3 or level-4 set must
hold) and the new `tone` step (the scene's tone from the annotators, not the writer). The embedded
model itself never annotates (its profile is unfit to judge), so its own cached requests, the writing
steps above, are unchanged. Each step's requests are reduced to their cache keys (builders.llm.cache.request_key
over messages, schema, temperature, max_tokens, seed and sample: what the response cache is keyed by,
minus the weights fingerprint) and hashed as a sorted list, so the hash does not depend on the order
concurrent work happened to send them in. If one of these fails, a strict request changed: the
embedded model's caches would miss. Change the natural branch instead (`profile.natural`).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict

import pytest

from builders.llm.cache import request_key
from builders.moral_roleplay.steps import REASK_OFFSET
from tests.test_moral_roleplay_llm_steps import (
    TRAITS_BY_LEVEL,
    FakeLLM,
    _args,
    _generate,
    _levels_by_name,
)

STRICT_REQUESTS = {  # step -> (requests, sha256 of their sorted cache keys)
    "moral_roleplay.profile": (5, "abd35f9d6e21420f4b62a9d225562503627ac1a6134a94e085fa39215875de0a"),
    "moral_roleplay.question": (336, "61d10da262bfb5699380f7f968ba560e96f59ef53191e55d9c9611a3c4f0ae94"),
    "moral_roleplay.rating": (12, "8f6bc7c5efac7b5f8e192dc4d26f7a8e923eb666f0fbfdf10d3d831e83945fb6"),
    "moral_roleplay.scene": (6, "fdedad3f48ac84b0fef961210dde2e0d61884e49bebe36192ce92e7207370b19"),
    "moral_roleplay.synthetic_brief": (6, "a3f822d2e22ef68e77d6f220c19b614cae9f95c0f3f1504946a347bbcdfa335a"),
    "moral_roleplay.synthetic_character": (12, "15dd5c9b68125403d8970829aa42d7122ffad95b1fa960e3fe0dac5420a3e7bb"),
    "moral_roleplay.synthetic_environment": (6, "b1b4fa1015855a499e284afe0c082a8f49a25f6cb23a8f324feb924554554e07"),
    "moral_roleplay.synthetic_lines": (18, "3b5d81832612e499d8e919c83a83b09b1e9a0b32f1a4ebe554918d20a667b00b"),
    "moral_roleplay.thoughts": (21, "69b84c7fea07030d2e28f18e15ce40e0ace7669450be124254415ddd9dcc4188"),
    "moral_roleplay.tone": (24, "893dca4ea8c420f9bcd4250c2119d16beb12631138a38ffe26bf0611c119076b"),
    "moral_roleplay.traits": (33, "c3ed7b0a27bcf3f126ea3340dbfa6eb1fd9ad499bcf9384a21ee30aec815ef89"),
}


def _iago_reasked(name, sample, level):
    """Iago's first trait set names one trait three times: the re-ask (sample 10) is in the record too."""
    return ["Cruel", "Cruel", "Cruel"] if (name == "Iago" and sample == 0) else TRAITS_BY_LEVEL[level]


@pytest.fixture(scope="module")
def strict_requests() -> list:
    fake = FakeLLM(levels=_levels_by_name, label="fake:strict", traits=_iago_reasked)  # strict contract, fit to judge
    # the recorded build's shape: the top-up fills each level's own shortfall
    _generate(fake, _args(top_up=True, max_per_character=1, confirm_top_up="on", origin_balance=False))
    return fake.requests


def test_strict_requests_are_byte_identical_to_the_recorded_ones(strict_requests):
    keys = defaultdict(list)
    for r in strict_requests:
        keys[r.step].append(request_key(model="local:smollm2", messages=r.messages, schema=r.schema,
                                        temperature=r.temperature, top_p=r.top_p, max_tokens=r.max_tokens,
                                        seed=0, sample=r.sample))
    by_step = {step: (len(found), hashlib.sha256("\n".join(sorted(found)).encode()).hexdigest())
               for step, found in sorted(keys.items())}
    assert by_step == STRICT_REQUESTS


def test_the_recorded_build_marks_exactly_the_trait_reasks_as_reasks(strict_requests):
    reasks = [(r.step, r.sample) for r in strict_requests if r.reask]
    assert reasks and set(reasks) == {("moral_roleplay.traits", REASK_OFFSET)}
    assert all(r.reask == (r.sample >= REASK_OFFSET) for r in strict_requests)
