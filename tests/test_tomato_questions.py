"""Question candidates, distractors, records, schema + invariants, compatibility export.

Conversations here are built by hand (no LLM), so every label is known.
"""

import collections
import itertools
import json

import pytest

from builders.resources import load_schema
from builders.tomato import invariants
from builders.tomato.catalog import iter_combos
from builders.tomato.conversation import Conversation, Turn
from builders.tomato.export import FILES, dumps, export_compat, release_sort_key
from builders.tomato.questions import build_candidates, pick_form, question_text
from builders.tomato.records import RunInfo, make_record
from builders.tomato.scenarios import seed_environment
from builders.tomato.seeds import load_seeds
from builders.validate import validate_records

A_FEELINGS = ["happy to see her old friend again", "a little nervous about asking for the car",
              "relieved that the talk is going well", "annoyed that the dent is not explained",
              "curious about the weekend trip details", "hopeful that the friend will be honest",
              "grateful for the offer of help with repairs"]
B_FEELINGS = ["glad about the meeting", "worried about the dent", "suspicious of the questions",
              "calm about the whole situation", "eager to borrow the car again", "tired of the topic",
              "pleased with the outcome"]


def make_conversation(state="emotion", combo_index=0, a_thoughts=None, b_thoughts=None, seed=0):
    combo = list(itertools.islice(iter_combos(seed, load_seeds()), combo_index + 1))[-1]
    a, b = combo.agent_a, combo.agent_b
    from builders.tomato.vocab import thought_prefix
    a_prefix, b_prefix = thought_prefix(state, 1, b.pronouns), thought_prefix(state, 2, a.pronouns)
    a_thoughts = a_thoughts or [a_prefix + t + "." for t in A_FEELINGS]
    b_thoughts = b_thoughts or [b_prefix + t + "." for t in B_FEELINGS]
    turns = []
    for k in range(7):
        turns.append(Turn("A", a_thoughts[k], f"Line {k} from {a.first_name}, about the car.", f"ha{k}", False))
        turns.append(Turn("B", b_thoughts[k], f"Reply {k} from {b.first_name}, sure thing.", f"hb{k}", False))
    return Conversation(combo, seed_environment(combo.scenario_seed), state, tuple(turns), 0, "fake:model", "h", (),
                        "strict")


RUN = RunInfo(seed=0, scenario_model="fake:model", prompt_hashes={"roleplay_system": "abc"})


def fb_check(judged=True, reason=None):
    return {"compared": {}, "verdicts": [], "rule": "test", "judged": judged, "reason": reason}


def records_of(conversation, fb=None):
    """Records of every candidate; order-2 false beliefs from `fb` (u_id -> label), else judged false."""
    candidates, drops = build_candidates(conversation, seed=0)
    fb = fb or {}
    records = []
    for c in candidates:
        label = False if c.order == 1 else fb.get(c.u_id, False)
        check = None if c.order == 1 else fb_check(label is not None, None if label is not None else "unfit judge")
        records.append(make_record(c, RUN, false_belief=label, false_belief_check=check))
    return records, drops


def test_one_candidate_per_message_with_gold_from_the_thought_before_it():
    conversation = make_conversation()
    candidates, drops = build_candidates(conversation, seed=0)
    assert drops == [] and [c.u_id for c in candidates] == list(range(14))
    for c in candidates:
        assert c.order == (1 if c.u_id % 2 == 0 else 2)
        assert c.gold.thought == conversation.turns[c.u_id].thought
        assert c.gold.text.split()[0] in {"He", "She", "They"}
        # distractors: same speaker, same conversation, other turns, distinct
        assert all(d.u_id % 2 == c.u_id % 2 and d.u_id != c.u_id for d in c.distractors)
        assert len({c.gold.text, *(d.text for d in c.distractors)}) == 4


def test_distractors_are_seeded():
    conversation = make_conversation()
    first, _ = build_candidates(conversation, seed=0)
    again, _ = build_candidates(conversation, seed=0)
    other, _ = build_candidates(conversation, seed=1)
    assert [c.distractors for c in first] == [c.distractors for c in again]
    assert [c.distractors for c in first] != [c.distractors for c in other]


def test_agent_with_fewer_than_four_distinct_thoughts_yields_no_questions():
    conversation = make_conversation()
    a = conversation.combo.agent_a
    from builders.tomato.vocab import thought_prefix
    prefix = thought_prefix("emotion", 1, conversation.combo.agent_b.pronouns)
    repeated = [prefix + t + "." for t in ["calm and steady", "calm and steady", "calm and steady", "tired",
                                            "tired", "calm and steady", "tired"]]
    conversation = make_conversation(a_thoughts=repeated)
    candidates, drops = build_candidates(conversation, seed=0)
    assert all(c.order == 2 for c in candidates) and len(candidates) == 7
    assert len(drops) == 1 and drops[0].u_id is None and "2 distinct thoughts" in drops[0].reason
    assert a.first_name  # the agent exists; only its questions are gone


def test_near_duplicate_thoughts_are_not_distractors():
    from builders.tomato.vocab import thought_prefix
    conversation = make_conversation()
    prefix = thought_prefix("emotion", 1, conversation.combo.agent_b.pronouns)
    near = [prefix + t + "." for t in ["very happy to see my old friend again today",
                                        "very happy to see my old friend again now",
                                        "worried", "angry at the weather", "sleepy after lunch", "bored",
                                        "excited"]]
    candidates, _ = build_candidates(make_conversation(a_thoughts=near), seed=0)
    gold0 = next(c for c in candidates if c.u_id == 0)
    assert all(d.u_id != 2 for d in gold0.distractors)


@pytest.mark.parametrize("state,order,form,pronoun,expected", [
    ("emotion", 1, 0, "he", 'How does Liam feel when he says "Hi there"?'),
    ("emotion", 1, 1, "they", 'When Liam says "Hi there", how do they feel?'),
    ("emotion", 1, 0, "they", 'How does Liam feel when they say "Hi there"?'),
    ("emotion", 2, 1, "she", 'When Liam says "Hi there", how does she think that Ethan feels?'),
    ("intention", 1, 1, "he", 'When Liam says "Hi there", what will Liam do?'),
    ("intention", 2, 0, "he", 'What does Liam think that Ethan will do when he says "Hi there"?'),
    ("belief", 2, 0, "he", 'What does Liam think that Ethan thinks when he says "Hi there"?'),
    ("desire", 1, 1, "she", 'When Liam says "Hi there", what does Liam want?'),
    ("knowledge", 2, 1, "she", 'When Liam says "Hi there", what does Liam think that Ethan knows?'),
])
def test_question_surface_forms(state, order, form, pronoun, expected):
    from builders.tomato.personas import Agent
    speaker = Agent("Liam", "Smith", 30, "nurse", pronoun, (True,) * 5)
    partner = Agent("Ethan", "Jones", 31, "chef", "he", (False,) * 5)
    assert question_text(form, state, order, speaker, partner, "Hi there") == expected


def test_question_forms_are_about_half_and_half():
    forms = [pick_form(0, f"conversation-{i}", u) for i in range(200) for u in range(14)]
    assert 0.45 <= sum(forms) / len(forms) <= 0.55


def test_records_pass_the_schema_and_every_invariant():
    records = []
    for index, state in enumerate(("emotion", "belief", "intention", "desire", "knowledge")):
        batch, _ = records_of(make_conversation(state=state, combo_index=index), fb={1: True, 3: True, 5: None})
        records += batch
    valid, rejects = validate_records(records, load_schema("tomato"), checks=invariants.checks)
    assert rejects == [] and len(valid) == 70
    record = records[1]
    assert record["a_str"] == record[f"a{record['a_idx']}"]
    assert record["q_id"].startswith("2nd-order-belief-about-emotion_") and record["u_id"] == "1"
    assert record["false_belief"] is True and record["order"] == 2
    assert record["conversation"].split("\n")[0].endswith(': "Hi!"')
    assert record["conversation"].split("\n")[1].endswith(': "Hi, how are you?"')
    assert set(record) - {"provenance"} == set(json.loads(json.dumps(load_schema("tomato")["required"]))) - {"provenance"}
    assert records[5]["false_belief"] is None  # not judged: released as null, the reason in provenance
    assert records[5]["provenance"]["false_belief_check"]["reason"] == "unfit judge"
    # provisional positions (the release's are dealt later: tests/test_tomato_validity.py) vary
    assert set(collections.Counter(r["a_idx"] for r in records)) == {0, 1, 2, 3}


@pytest.mark.parametrize("corrupt,check", [
    (lambda r: r.update(a_str="something else"), "answer_matches_index"),
    (lambda r: r.update(a1=r["a0"], a_idx=2, a_str=r["a2"]), "options_distinct"),
    (lambda r: r.update(order=2), "order_matches_u_id"),
    (lambda r: r.update(false_belief=True), "false_belief_only_second_order"),
    (lambda r: r.update(false_belief=None), "false_belief_only_second_order"),
    (lambda r: r.update(conversation=r["conversation"].rsplit("\n", 1)[0]), "conversation_lines"),
    (lambda r: r.update(q='What does X think when he says "nothing like it"?'), "question_quotes_target_line"),
    (lambda r: r.update(big_five=r["provenance"]["agent_cards"][1]["big_five"] + "x"), "big_five_is_speakers"),
    (lambda r: r.update(q_id=r["q_id"].replace("emotion", "belief")), "q_id_matches_fields"),
    (lambda r: r.update(a0="Someone feels odd.", a_str=r["a0"] if r["a_idx"] != 0 else "Someone feels odd."),
     "options_framed_by_order"),
    (lambda r: r.update(a0=r["a0"] + " They thinks so."), "options_agree_with_subject"),
])
def test_each_invariant_catches_its_corruption(corrupt, check):
    records, _ = records_of(make_conversation())
    record = json.loads(json.dumps(records[0]))
    assert all(c(record) is None for c in invariants.checks)
    corrupt(record)
    failing = [c.__name__ for c in invariants.checks if c(record)]
    assert check in failing


@pytest.mark.parametrize("label,check,problem", [
    (None, fb_check(judged=True), "does not say why"),  # null, yet a judge decided
    (None, fb_check(judged=False, reason=""), "does not say why"),
    (True, fb_check(judged=False, reason="unfit judge"), "no fit judge decided it"),  # a label nobody fit gave
    (False, None, "no false_belief_check"),
])
def test_an_order_2_label_is_a_fit_judges_or_null_with_its_reason(label, check, problem):
    records, _ = records_of(make_conversation(), fb={1: True, 3: None})
    decided, unjudged = json.loads(json.dumps(records[1])), json.loads(json.dumps(records[3]))
    assert invariants.false_belief_decided_by_a_judge(decided) is None
    assert invariants.false_belief_decided_by_a_judge(unjudged) is None
    decided["false_belief"] = label
    decided["provenance"]["false_belief_check"] = check
    assert problem in invariants.false_belief_decided_by_a_judge(decided)


def test_compat_export_writes_four_files_that_round_trip(tmp_path):
    records = []
    for index, state in enumerate(("emotion", "belief")):
        batch, _ = records_of(make_conversation(state=state, combo_index=index), fb={3: True, 5: None})
        records += batch
    counts = export_compat(list(reversed(records)), tmp_path)
    assert counts == {"tomato.json": 28, "tomato_first.json": 14, "tomato_second.json": 14, "tomato_fb.json": 2}
    # a question not judged for false belief (null) is written false, the original's type: never in tomato_fb.json
    unjudged = {r["q_id"] for r in records if r["false_belief"] is None}
    second = {r["q_id"]: r for r in json.loads((tmp_path / "tomato_second.json").read_text())}
    assert len(unjudged) == 2 and all(second[q_id]["false_belief"] is False for q_id in unjudged)
    for name in FILES:
        text = (tmp_path / name).read_text()
        rows = json.loads(text)
        assert json.dumps(rows, sort_keys=True, indent=4) == text == dumps(rows)
        assert all("provenance" not in r and len(r) == 16 for r in rows)
        assert rows == sorted(rows, key=release_sort_key)
    assert all(r["false_belief"] and r["order"] == 2 for r in json.loads((tmp_path / "tomato_fb.json").read_text()))
