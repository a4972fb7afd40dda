"""The strict contract (the embedded model's profile, `local-smollm2`) sends exactly the requests it
sent before natural-text contracts existed, so existing response caches keep hitting.

The constants below were recorded from the builder before the natural contract was added: a whole
in-process build over Othello with top-up and confirmation on (every step, an adjudication, a
trait re-ask), answered by the scripted fake of test_moral_roleplay_llm_steps.py labelled
`local:smollm2`. Each step's requests are reduced to their cache keys (builders.llm.cache.request_key
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
    "moral_roleplay.question": (224, "d42b78b85410344e13b820c9d950ca8d23a40d9f1cee81c0a2af9c13af966bb5"),
    "moral_roleplay.rating": (12, "3e7c30d267b1a3be76131bd60b261b9bce8e2e427d78671cae93ef028fd4201b"),
    "moral_roleplay.scene": (6, "fdedad3f48ac84b0fef961210dde2e0d61884e49bebe36192ce92e7207370b19"),
    "moral_roleplay.synthetic_brief": (6, "254ea476a046a43b721adfa0a491fc1054b8188472d439fb76341ceb07b8c039"),
    "moral_roleplay.synthetic_character": (12, "e8c79c0baf9c46ff86553170b85405455d2727118dd0e426e52ff20a1b9ccbf8"),
    "moral_roleplay.synthetic_environment": (6, "b1b4fa1015855a499e284afe0c082a8f49a25f6cb23a8f324feb924554554e07"),
    "moral_roleplay.synthetic_lines": (18, "08e6544ecc3e8cbcdc8338dc1c1302ffb4a1ecd61f9397142c749929e487513b"),
    "moral_roleplay.thoughts": (21, "69b84c7fea07030d2e28f18e15ce40e0ace7669450be124254415ddd9dcc4188"),
    "moral_roleplay.traits": (33, "271aff89777da6cf73591b1ae0946f91152584cb0cc1b9d04ac639bb286f9ebe"),
}


def _iago_reasked(name, sample, level):
    """Iago's first trait set names one trait three times: the re-ask (sample 10) is in the record too."""
    return ["Cruel", "Cruel", "Cruel"] if (name == "Iago" and sample == 0) else TRAITS_BY_LEVEL[level]


@pytest.fixture(scope="module")
def strict_requests() -> list:
    fake = FakeLLM(levels=_levels_by_name, label="local:smollm2", traits=_iago_reasked)
    _generate(fake, _args(top_up=True, max_per_character=1, confirm_top_up="on"))
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
