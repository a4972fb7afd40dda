"""A small ToMATO build is varied, reports every conversation it paid for, and chooses distractors
that keep the word-overlap shortcut at chance.

- Jobs are dealt round-robin over combos and a conversation gives at most `question_cap(n)`
  questions, so a --n 60 build spans many combos, scenarios and character pairs.
- Every conversation of a round reaches the report: its questions are released, cut at --n, over
  the cap, dropped by a form check or a judge, each with its reason.
- Distractors sharing about as many words with the question as the gold are chosen first.
"""

from __future__ import annotations

import collections
import itertools
import random
import types
from unittest import mock

from builders.audit import audit
from builders.tomato import questions, schedule
from builders.tomato.answer_key import mc_items
from builders.tomato.conversation import Conversation, Turn
from builders.tomato.questions import build_candidates
from builders.tomato.records import RunInfo, make_record
from builders.tomato.vocab import MENTAL_STATES, thought_prefix
from tests.test_tomato_build import FakeLLM, build
from tests.test_tomato_questions import make_conversation

# -- the schedule ----------------------------------------------------------------------------------


def test_jobs_are_dealt_round_robin_over_combos_with_the_states_in_turn():
    jobs = list(itertools.islice(schedule.iter_jobs(0), 5 * schedule.COMBOS_PER_CYCLE + 10))
    cycle, after = jobs[:5 * schedule.COMBOS_PER_CYCLE], jobs[5 * schedule.COMBOS_PER_CYCLE:]
    first_pass = cycle[:schedule.COMBOS_PER_CYCLE]
    assert len({combo.id for combo, _ in first_pass}) == schedule.COMBOS_PER_CYCLE  # a new combo each time
    assert [state for _, state in first_pass[:10]] == [*MENTAL_STATES, *MENTAL_STATES]
    # five passes run every (combo, state) of the cycle once, as the original's 160 x 5 conversations
    assert len({(combo.id, state) for combo, state in cycle}) == len(cycle)
    assert collections.Counter(state for _, state in cycle) == {s: schedule.COMBOS_PER_CYCLE for s in MENTAL_STATES}
    assert not {combo.id for combo, _ in after} & {combo.id for combo, _ in cycle}  # then the next cycle
    assert list(itertools.islice(schedule.iter_jobs(0), 20)) == jobs[:20]


def test_rounds_are_sized_by_what_is_missing_and_top_ups_stay_small():
    assert schedule.round_size(20, 4.0, first=True) == 5 and schedule.round_size(600, 4.0, first=True) == 8
    assert schedule.round_size(600, 4.0, first=False) == 150 and schedule.round_size(1, 9.0, first=False) == 1
    assert schedule.still_missing(60, 40, 60) == 20
    # --n yielded, yet the pipeline needs more (validation or dedup removed some): a tenth of n at a time
    assert schedule.still_missing(60, 60, 60) == 6 and schedule.still_missing(60, 62, 2) == 2


def test_the_cap_spreads_a_build_over_at_least_ten_conversations_and_never_below_five():
    assert [schedule.question_cap(n) for n in (1, 20, 50, 60, 100, 140, 5000)] == [5, 5, 5, 6, 10, 14, 14]
    for n in range(50, 1000):
        assert -(-n // schedule.question_cap(n)) >= 10


def test_the_questions_kept_alternate_orders_and_spread_over_the_conversation():
    candidates = [types.SimpleNamespace(u_id=u_id, order=1 if u_id % 2 == 0 else 2) for u_id in range(14)]
    kept, over = schedule.within_cap(candidates, 5, seed=0, key="k")
    assert len(kept) == 5 and len(over) == 9 and {c.u_id for c in kept} | {c.u_id for c in over} == set(range(14))
    assert collections.Counter(c.order for c in kept) in ({1: 3, 2: 2}, {1: 2, 2: 3})
    assert [c.u_id for c in kept] == sorted(c.u_id for c in kept)
    assert kept == schedule.within_cap(candidates, 5, seed=0, key="k")[0]  # seeded
    picks = {tuple(c.u_id for c in schedule.within_cap(candidates, 5, seed=0, key=f"k{i}")[0]) for i in range(50)}
    assert len(picks) > 40 and {u for pick in picks for u in pick} == set(range(14))  # every u_id is asked about
    assert schedule.within_cap(candidates[:4], 5, seed=0, key="k") == (candidates[:4], [])


# -- builds ----------------------------------------------------------------------------------------


def test_a_60_question_build_spans_many_combos_with_both_orders_in_each_conversation():
    collected, report = build(["--n", "60", "--item-judges", "off"], FakeLLM())
    records = collected.kept
    assert len(records) == 60
    combos = {(r["sotopia_environment"], *r["sotopia_agents"]) for r in records}
    assert len(combos) >= 8 and len({r["sotopia_environment"] for r in records}) >= 8
    assert len({r["mental_state"] for r in records}) == 5
    per_conversation = collections.defaultdict(list)
    for record in records:
        per_conversation[record["provenance"]["conversation_key"]].append(record)
    assert max(map(len, per_conversation.values())) <= schedule.question_cap(60)
    assert all({r["order"] for r in kept} == {1, 2} for kept in per_conversation.values() if len(kept) > 1)
    assert len({r["u_id"] for r in records}) == 14
    assert report.funnel["questions over the per-conversation cap"] == len(over_cap_rejects(report)) > 0
    assert any("keeps at most 6 questions of one conversation" in note for note in report.notes)


def over_cap_rejects(report) -> list[dict]:
    return [r for r in report.rejects if r["reason"].startswith("over the per-conversation cap")]


class CountingLLM(FakeLLM):
    """Counts the conversations it is asked to role-play (each agent's system prompt is its own)."""

    def __init__(self, *args, label="fake:model", **kwargs):
        super().__init__(*args, **kwargs)
        self.label = label
        self.system_prompts: set[str] = set()
        self.steps = collections.Counter()

    def _respond(self, request):
        self.steps[request.step] += 1
        if request.step == "tomato.turn":
            self.system_prompts.add(request.messages[0]["content"])
        return super()._respond(request)


def test_every_conversation_paid_for_reaches_the_report():
    """--n is reached inside a round: the conversations after that point were paid for all the same,
    and each of their 14 question candidates is in the report (released, or a reject saying why)."""
    llm = CountingLLM()
    collected, report = build(["--n", "25", "--seed", "4"], llm)
    assert len(collected.kept) == 25 and collected.removed == []
    conversations = len(llm.system_prompts) // 2
    assert report.funnel["conversations"] == conversations > 25 // schedule.question_cap(25)
    assert report.funnel["cut at --n"] > 0  # the last round gave more than --n needed
    accounted = collections.Counter(r["provenance"]["conversation_key"] for r in collected.kept)
    for reject in report.rejects:
        record = reject["record"]
        key = record.get("conversation_key") or record.get("unit")
        accounted[key] += 7 if record.get("u_id", 0) is None else 1  # an agent dropped: its 7 questions
    assert len(accounted) == conversations
    assert all(count == 14 for count in accounted.values()), accounted
    stages = collections.Counter(reject["stage"] for reject in report.rejects)
    assert set(stages) <= {"questions", "cut at --n"} and stages["cut at --n"] == report.funnel["cut at --n"]


def test_the_quick_start_stays_cheap_on_a_model_that_cannot_judge():
    """README's `--n 20` on the embedded model: 5 conversations of 5 questions (it was 2 of 14 before
    builds were spread: 43 requests), no item judge and no false-belief judge (the model is unfit)."""
    llm = CountingLLM(label="local:smollm2")
    collected, report = build(["--n", "20"], llm)
    assert len(collected.kept) == 20 and report.funnel["conversations"] == 5
    assert set(llm.steps) == {"tomato.turn", "tomato.scenario"}
    assert llm.steps["tomato.turn"] == 5 * 14 and 5 * 14 + 5 < 2 * 43  # a turn a message, a scenario a combo
    second = [r for r in collected.kept if r["order"] == 2]
    assert second and all(r["false_belief"] is None for r in second)
    assert report.funnel["order-2 questions not judged for false belief"] >= len(second)  # cut ones too


# -- distractors under the shortcut audit ----------------------------------------------------------

TOPICS = ["garden", "ladder", "concert", "invoice", "puppy", "wedding", "bakery", "kayak", "tuition", "roof"]
MOODS = ["uneasy", "hopeful", "curious", "tense", "relieved", "proud", "tired", "eager", "wary", "calm", "glad",
         "torn", "sure", "shy"]
TAILS = ["since last spring", "more than anything today", "because nobody asked first", "with some worry left",
         "after that long call", "though money is short", "and the neighbours know"]


def topical_conversation(index: int) -> Conversation:
    """A conversation whose every line is about the topic its thought was about, as a capable model's
    are: the question quotes the utterance, so the gold shares the topic's word with it. Each speaker
    keeps to two topics, so some other thoughts share it too."""
    rng = random.Random(index)
    base = make_conversation(combo_index=index % 20)
    a, b = base.combo.agent_a, base.combo.agent_b
    topics = rng.sample(TOPICS, 4)
    turns = []
    for k in range(14):
        speaker = "A" if k % 2 == 0 else "B"
        prefix = thought_prefix("emotion", 1, b.pronouns) if speaker == "A" else thought_prefix("emotion", 2,
                                                                                                a.pronouns)
        topic = topics[(k // 2) % 2 + (0 if speaker == "A" else 2)]
        thought = f"{prefix}{MOODS[k]} about the {topic} {TAILS[(k // 2 + (0 if speaker == 'A' else 3)) % 7]}."
        utterance = f"So the {topic} then, {MOODS[(5 * k + 3) % 14]} as ever."
        turns.append(Turn(speaker, thought, utterance, f"h{k}", False))
    return Conversation(base.combo, base.environment, "emotion", tuple(turns), 0, "fake:model", "h", (), "strict")


def question_overlap_accuracy(*, blind: bool) -> float:
    """The audit's "most word overlap with the question" on 60 topical conversations; `blind`: the
    distractors drawn without looking at the question (every candidate's gap ties)."""
    pick = questions.pick_distractors
    chooser = (lambda gold, pool, rng, question: pick(gold, pool, rng, "")) if blind else pick
    records = []
    with mock.patch.object(questions, "pick_distractors", chooser):
        for index in range(60):
            candidates, _ = build_candidates(topical_conversation(index), seed=0)
            records += [make_record(c, RunInfo(seed=0, scenario_model="", prompt_hashes={})) for c in candidates]
    report = audit([item for record in records for item in mc_items(record)])
    (row,) = [row for row in report["baselines"] if row["baseline"] == "most word overlap with the question"]
    return row["accuracy"]


def test_distractors_sharing_words_with_the_question_keep_the_overlap_shortcut_at_chance():
    assert question_overlap_accuracy(blind=True) > 0.40  # drawn blind, the gold stands out (the original: 0.42)
    assert question_overlap_accuracy(blind=False) <= 0.30  # chance + 5 points
