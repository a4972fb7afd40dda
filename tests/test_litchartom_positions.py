"""Placing a question's gold (builders/litchartom/answer_key.py): the options are re-lettered, and
everything that names an option by its letter follows: the answer letter, the provenance per
option, an OOD record's rendered prompt and its assistant message."""

from __future__ import annotations

import pytest

from builders.answer_key import Slot
from builders.litchartom import answer_key
from builders.litchartom.invariants import CHECKS
from builders.litchartom.records import ood_prompt, ood_prompt_fields
from tests.test_litchartom_build import _args, _run
from tests.test_litchartom_fakes import ScriptedLLM, litchartom_responder

ORDER = [2, 0, 3, 1]  # new option j is old option ORDER[j]: the gold (old A) becomes B


@pytest.fixture(scope="module")
def records():
    with pytest.MonkeyPatch.context() as monkeypatch:
        llm = ScriptedLLM(litchartom_responder(plot_items=build_plot_items()))
        found, _ = _run(monkeypatch, llm, ScriptedLLM(litchartom_responder()), _args(auto_check="off"))
    return found


def build_plot_items():
    from tests.test_litchartom_build import _plot_items
    return _plot_items


def _kind(records, kind):
    return next(r for r in records if r["record_type"] == kind)


def _body(record, index):
    return next(body for body in record["qa_data"]["Target Character"][index].values() if body is not None)


def test_the_builder_leaves_every_gold_as_a_and_names_its_slots(records):
    current, ood = _kind(records, "current"), _kind(records, "ood")
    labels = [next(iter(item)) for item in current["qa_data"]["Target Character"]]
    assert answer_key.slots(current) == [Slot(stratum=f"current:{label}", options=4, gold=0) for label in labels]
    assert answer_key.slots(ood) == [Slot(stratum=f"ood:{ood['qa_type']}", options=4, gold=0)]
    assert all(check(record) is None for record in records for check in CHECKS)


def test_a_current_question_is_relettered_with_its_answer_and_provenance(records):
    record = _kind(records, "current")
    placed = answer_key.place(record, 1, ORDER)
    before, after = _body(record, 1), _body(placed, 1)
    texts = [option[3:] for option in before["Options"]]
    assert after["Options"] == [f"{letter}. {texts[old]}" for letter, old in zip("ABCD", ORDER)]
    assert after["Correct Answer"] == "B" and after["Options"][1][3:] == texts[0]
    question = placed["provenance"]["questions"][1]
    old = record["provenance"]["questions"][1]
    assert question["option_types"] == [old["option_types"][i] for i in ORDER]
    assert [s["option"] for s in question["distractor_sources"]] == ["A", "C", "D"]
    moved = {s["character"] + str(s["plot_index"]): s["option"] for s in question["distractor_sources"]}
    for source in old["distractor_sources"]:  # each source follows its option's text
        assert after["Options"]["ABCD".index(moved[source["character"] + str(source["plot_index"])])][3:] == \
            texts["ABCD".index(source["option"])]
    for index in (0, 2, 3):  # the other questions are left alone
        assert _body(placed, index) == _body(record, index)
        assert placed["provenance"]["questions"][index] == record["provenance"]["questions"][index]
    assert all(check(placed) is None for check in CHECKS) and _body(record, 1)["Correct Answer"] == "A"


def test_an_ood_prompt_is_rendered_again_with_the_new_letters(records):
    record = _kind(records, "ood")
    assert ood_prompt(**ood_prompt_fields(record)) == record["messages"][0]["content"]
    placed = answer_key.place(record, 0, ORDER)
    prompt = placed["messages"][0]["content"]
    head = record["messages"][0]["content"].split("CANDIDATE CHOICES:")[0]
    assert prompt.startswith(head) and placed["correct_answer"] == "B"
    shown = prompt.split("CANDIDATE CHOICES:\n")[1].splitlines()
    old = record["messages"][0]["content"].split("CANDIDATE CHOICES:\n")[1].splitlines()
    assert shown == [f"{letter}. {old[i][3:]}" for letter, i in zip("ABCD", ORDER)]
    assert placed["messages"][1] == {"role": "assistant", "content": "Answer: B"}
    assert placed["provenance"]["questions"][0]["option_types"][1] == "gold"
    assert all(check(placed) is None for check in CHECKS)


def test_the_checks_catch_a_placement_that_forgot_a_field(records):
    record = answer_key.place(_kind(records, "ood"), 0, ORDER)
    stale_prompt = {**record, "messages": [_kind(records, "ood")["messages"][0], record["messages"][1]]}
    assert any(check(stale_prompt) for check in CHECKS)
    stale_types = {**record, "provenance": {**record["provenance"],
                                            "questions": [_kind(records, "ood")["provenance"]["questions"][0]]}}
    assert any(check(stale_types) for check in CHECKS)
