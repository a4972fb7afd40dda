"""PersonaEval pure steps on small in-test works: names, aliases, instances, leakage, distractors,
profile checks, records, placing the gold and the CSV export."""

from __future__ import annotations

import csv
import io
import types
from collections import Counter

import pytest

from builders.cli import UserError
from builders.personaeval import (
    answer_key,
    distractors,
    gender,
    instances,
    leakage,
    names,
    profiles,
    records,
    tracks,
)
from builders.personaeval.build import plan_work
from builders.personaeval.export import PUBLISHED_COLUMNS, csv_text
from builders.sources import Character, Mention, Section, Turn, Work

LINE = "I have a great many words to say about the weather and the sea today"  # 15 words


def make_work(speeches, *, characters, kind="play", directions=(), title="The Test Play", sections=None):
    """speeches: (section id, speaker id, text[, extra Turn fields]) in order."""
    turns, offset = [], 0
    for number, speech in enumerate(speeches):
        section, speaker, text, *extra = speech
        turns.append(Turn(id=f"t{number}", speaker=speaker, text=text, section=section,
                          span=(offset, offset + len(text)), **(extra[0] if extra else {})))
        offset += len(text) + 1
    section_ids = sections or list(dict.fromkeys(t.section for t in turns))
    return Work(id="test-work", title=title, author="Anon", kind=kind, license="public domain", source="memory",
                text=" ".join(t.text for t in turns), characters={c.id: c for c in characters}, turns=tuple(turns),
                sections=tuple(Section(id=s, title=f"Scene {s}. A room.", span=(0, offset)) for s in section_ids),
                directions=tuple(directions))


CAST = [
    Character("lear", "King Lear", ("KING LEAR", "LEAR"), category="named"),
    Character("kent", "Kent", ("KENT",), category="named"),
    Character("edgar", "Edgar", ("EDGAR",), category="named"),
    Character("fool", "Fool", ("Fool",), category="generic"),
    Character("regan", "Regan", ("REGAN",), category="named"),
    Character("oswald", "Oswald", ("OSWALD",), category="named"),
    Character("all", "All", ("All",), category="collective"),
]


def lear_work(extra=()):
    speeches = []
    for speaker in ("lear", "kent", "edgar", "fool", "regan", "oswald"):
        speeches += [("1.1", speaker, f"{LINE} number {i} from me") for i in range(5)]
    return make_work(speeches + list(extra), characters=CAST)


# -- names and aliases ----------------------------------------------------------------------------


def test_names_match_capitalised_whole_words_only():
    assert names.names_in("Come hither, Kent.", ["Kent"]) == ["Kent"]
    assert names.names_in("the kentish men", ["Kent"]) == []
    assert names.names_in("I will go", ["Will"]) == []
    assert names.names_in("Will, go!", ["Will"]) == ["Will"]
    assert names.names_in("Is that Lear's voice?", ["Lear"]) == ["Lear"]
    assert names.names_in("Mr. Darcy came", ["Mr Darcy"]) == ["Mr Darcy"]


def test_character_names_include_title_stripped_forms():
    work = lear_work()
    assert "Lear" in names.character_names(work, "lear")
    assert "King Lear" in names.character_names(work, "lear")


def test_same_person_merges_titles_but_not_sexes():
    albany = Character("a", "Albany", ())
    duke = Character("b", "Duke of Albany", ())
    assert names.same_person(albany, duke) and names.same_person(duke, albany)
    assert not names.same_person(Character("m", "Mr. Bennet", ()), Character("f", "Mrs. Bennet", ()))
    assert not names.same_person(Character("x", "Regan", ()), Character("y", "Goneril", ()))
    assert names.same_person(Character("x", "Lizzy", ("Elizabeth",)), Character("y", "Elizabeth Bennet", ("Elizabeth",)))
    assert not names.same_person(Character("x", "Sam", (), gender="M"), Character("y", "Sam", (), gender="F"))


# -- instances --------------------------------------------------------------------------------------


def test_pairs_need_different_eligible_speakers_same_scene_and_enough_words():
    work = make_work([
        ("1", "lear", LINE), ("1", "lear", LINE),  # same speaker
        ("1", "kent", "Too short, my lord."),  # under 8 words
        ("1", "edgar", LINE), ("2", "kent", LINE),  # scene break
        ("2", "fool", LINE),  # generic Character2
        ("2", "kent", LINE),  # Character1 generic is fine
    ], characters=CAST)
    eligible = {"lear", "kent", "edgar"}
    extraction = instances.candidate_pairs(work, eligible)
    assert extraction.pairs == 6
    assert [(i.character1, i.gold) for i in extraction.instances] == [("fool", "kent")]
    assert extraction.drops == Counter({"same speaker": 1, "turn under min words": 2, "scene or chapter break": 1,
                                        "Character2 not an eligible character": 1})


def test_novel_pairs_respect_the_narration_gap():
    turns = [Turn("q1", "kent", LINE, "ch1", (0, 60)), Turn("q2", "lear", LINE, "ch1", (2000, 2060))]
    work = Work(id="n", title="N", author="", kind="novel", license="", source="", text="x" * 2100,
                characters={c.id: c for c in CAST}, turns=tuple(turns), sections=())
    assert instances.candidate_pairs(work, {"kent", "lear"}).drops == Counter({"narration gap too long": 1})


def test_context_keeps_only_the_two_speakers_of_the_exchange():
    work = make_work([("1", "regan", LINE), ("1", "kent", LINE), ("1", "lear", LINE), ("1", "kent", LINE),
                      ("1", "lear", LINE)], characters=CAST)
    found = instances.candidate_pairs(work, {"lear", "kent", "regan"}, context_turns=5).instances
    last = found[-1]
    assert (last.character1, last.gold) == ("kent", "lear")
    assert [t.id for t in last.context] == ["t1", "t2"]  # Regan's turn t0 ends the context


def test_eligible_speakers_exclude_groups_and_rare_speakers_and_cap_the_cast():
    work = lear_work([("1.1", "all", LINE)] * 6)
    assert set(instances.eligible_speakers(work)) == {"lear", "kent", "edgar", "regan", "oswald"}
    assert len(instances.eligible_speakers(work, max_characters=2)) == 2
    assert instances.eligible_speakers(work, min_lines=6) == []


def test_per_section_cap_spreads_picks_and_never_reuses_a_turn():
    speeches = [(s, sp, LINE) for s in ("1", "2") for sp in ("lear", "kent") * 4]
    work = make_work(speeches, characters=CAST)
    found = instances.candidate_pairs(work, {"lear", "kent"}).instances
    selected, drops = instances.select_per_section(found, per_section=2, seed=0)
    assert len(selected) == 4
    assert [i.section for i in selected[:2]] == ["1", "2"]  # every scene's first pick comes first
    targets = [t.id for i in selected for t in (i.first, i.second)]
    assert len(targets) == len(set(targets))
    assert sum(drops.values()) == len(found) - 4
    again, _ = instances.select_per_section(found, per_section=2, seed=0)
    assert again == selected


def test_trim_words_cuts_at_sentence_ends_from_the_right_side():
    text = "One two three. Four five six seven. Eight nine."
    assert instances.trim_words(text, 6, keep="start") == "One two three."
    assert instances.trim_words(text, 6, keep="end") == "Four five six seven. Eight nine."
    assert instances.trim_words(text, 5, keep="end") == "Eight nine."
    assert instances.trim_words("a b c d e f g", 3) == "a b c …"
    assert instances.trim_words(text, 50) == text


def test_play_turns_show_verse_breaks():
    work = make_work([("1", "kent", "First line\nsecond line")], characters=CAST)
    assert instances.display_text(work, work.turns[0]) == "First line / second line"


# -- leakage ----------------------------------------------------------------------------------------


def _instance(work, index):
    return instances.Instance(work.id, index, work.turns[index], work.turns[index + 1])


def test_vocative_and_self_naming_of_the_gold_are_leaks():
    work = make_work([("1", "kent", f"Good {LINE}, Lear"), ("1", "lear", LINE),
                      ("1", "kent", LINE), ("1", "lear", f"I am King Lear and {LINE}"),
                      ("1", "kent", LINE), ("1", "lear", LINE)], characters=CAST)
    assert leakage.leak_reason(work, _instance(work, 0)) == "names Character2"
    assert leakage.leak_reason(work, _instance(work, 2)) == "names Character2"
    assert leakage.leak_reason(work, _instance(work, 4)) is None


def test_resolved_epithets_and_directions_naming_the_gold_are_leaks():
    epithet = Mention("your father", (0, 11), ("lear",))
    pronoun = Mention("you", (0, 3), ("lear",))
    work = make_work([("1", "kent", LINE, {"mentions": (epithet,)}), ("1", "lear", LINE),
                      ("1", "kent", LINE, {"mentions": (pronoun,)}), ("1", "lear", LINE),
                      ("1", "kent", LINE, {"directions": ("To LEAR",)}), ("1", "lear", LINE)], characters=CAST)
    assert leakage.leak_reason(work, _instance(work, 0)) == "refers to Character2 by epithet"
    assert leakage.leak_reason(work, _instance(work, 2)) is None
    assert leakage.leak_reason(work, _instance(work, 4)) == "stage direction names Character2"


def test_context_line_leaves_out_titles_naming_any_character():
    work = make_work([("1", "kent", LINE)], characters=CAST, title="King Lear")
    line, omitted = leakage.context_line(work, work.sections[0], ["lear", "kent"])
    assert "Lear" not in line and omitted == ["work title"]
    line, omitted = leakage.context_line(work, work.sections[0], ["kent"])
    assert line.startswith("From King Lear by Anon.") and omitted == []


def test_leakage_drops_are_counted_in_the_work_plan():
    work = lear_work([("1.1", "kent", f"{LINE} Lear"), ("1.1", "lear", LINE)])
    args = types.SimpleNamespace(min_lines=5, max_characters=0, min_words=8, context_turns=0, per_scene=9)
    plan = plan_work(tracks.TRACKS["drama"], work, args, seed=0)
    assert plan.counts["Drama: pairs dropped (leak): names Character2"] == 1
    assert all(not names.names_in(t.text, ["Lear"]) for i in plan.instances if i.gold == "lear" for t in i.shown_turns)


# -- distractors ------------------------------------------------------------------------------------


def test_distractors_exclude_gold_character1_aliases_named_and_generic_roles():
    cast = CAST + [Character("lear2", "Lear", (), category="named")]  # the gold under another name
    speeches = [("1", sp, f"{LINE} {i}") for sp in ("lear", "kent", "edgar", "regan", "oswald", "lear2", "fool")
                for i in range(5)]
    speeches += [("2", "kent", f"Where is Oswald? {LINE}"), ("2", "lear", LINE)]
    work = make_work(speeches, characters=cast)
    eligible = instances.eligible_speakers(work)
    instance = _instance(work, len(speeches) - 2)
    ranked = distractors.rank_distractors(work, instance, eligible, distractors.SpeechSimilarity(work, eligible), 0)
    chosen = {r.char_id for r in ranked}
    assert chosen == {"edgar", "regan"}  # not lear, kent (Character1), lear2 (alias), oswald (named), fool
    excluded = distractors.excluded_characters(work, instance, eligible)
    assert excluded["lear2"] == "alias of the gold or Character1" and excluded["oswald"] == "named in the dialogue"


def test_same_scene_distractors_come_first_nearest_first():
    speeches = [("1", sp, f"{LINE} {i}") for sp in ("edgar", "regan", "oswald") for i in range(5)]
    speeches += [("2", "regan", LINE), ("2", "kent", LINE), ("2", "lear", LINE)]
    work = make_work(speeches + [("1", "kent", LINE)] * 4 + [("1", "lear", LINE)] * 4, characters=CAST)
    eligible = instances.eligible_speakers(work)
    instance = _instance(work, 16)
    assert (instance.character1, instance.gold) == ("kent", "lear")
    ranked = distractors.rank_distractors(work, instance, eligible, distractors.SpeechSimilarity(work, eligible), 0)
    assert ranked[0] == distractors.Ranked("regan", "same_scene")
    assert {r.kind for r in ranked[1:]} <= {"similar_speech", "random"}


def test_speech_similarity_prefers_characters_who_talk_alike():
    work = make_work([("1", "lear", "thunder storm heath madness"), ("1", "kent", "thunder storm heath rain"),
                      ("1", "edgar", "poor tom is cold")], characters=CAST)
    similarity = distractors.SpeechSimilarity(work, ["lear", "kent", "edgar"])
    assert similarity.similarity("lear", "kent") > similarity.similarity("lear", "edgar")


# -- profile checks ---------------------------------------------------------------------------------


def _evidence(text):
    work = make_work([("1", "kent", text)], characters=CAST)
    return profiles.WorkEvidence.of(work, {"t0"})


def _reply(words_per_part, filler="calm"):
    return {part: " ".join(f"{filler}{i}" for i in range(words_per_part)) + "." for part in profiles.PARTS}


def test_profile_accepts_lengths_in_range_and_cuts_long_ones():
    evidence = _evidence(LINE)
    verdict = profiles.accept(_reply(40), evidence, last_attempt=False)
    assert verdict.reason is None and verdict.masked == 0 and 150 <= len(verdict.text.split()) <= 400
    assert verdict.normalised == ()
    short = profiles.accept(_reply(10), evidence, last_attempt=True)
    assert short.text is None and short.reason.startswith("shorter than 150")
    long = profiles.accept(_reply(120), evidence, last_attempt=False)
    assert len(long.text.split()) <= 400 and long.normalised == ("cut from 600 to 360 words (at most 400)",)


def test_profile_line_breaks_are_joined_and_recorded_not_refused():
    reply = _reply(40)
    reply["arc"] = "She changes.\n\nShe leaves “the house” — for good, in 1920…"
    verdict = profiles.accept(reply, _evidence(LINE), last_attempt=False)
    assert verdict.reason is None and "\n" not in verdict.text and "“the house” — for good" in verdict.text
    assert verdict.normalised == ("line breaks joined into one paragraph",)


def test_profile_quoting_a_target_turn_is_rejected_then_masked():
    target = "the quality of mercy is not strained it droppeth as the gentle rain"
    reply = _reply(40)
    reply["speech"] = f"They once said {target} and more."
    evidence = _evidence(target)
    refused = profiles.accept(reply, evidence, last_attempt=False)
    assert refused.text is None and "quotes an evaluation turn" in refused.reason
    verdict = profiles.accept(reply, evidence, last_attempt=True)
    text = verdict.text
    assert verdict.reason is None and verdict.masked >= 8 and "mercy is not strained" not in text
    assert profiles.MASK in text and verdict.normalised == (f"{verdict.masked} words shared with a shown turn masked",)
    assert not profiles.ngrams(profiles.tokens(text)) & evidence.ngrams


def test_profile_lines_leave_out_evaluation_turns():
    work = lear_work()
    evidence = profiles.WorkEvidence.of(work, {"t0", "t1"})
    lines = profiles.profile_lines(evidence, "lear", max_lines=8, line_words=30)
    assert len(lines) == 3 and all("number 0" not in line and "number 1" not in line for line in lines)
    assert profiles.profile_lines(evidence, "lear", max_lines=2, line_words=5) == [
        "I have a great many …", "I have a great many …"]


def test_match_lengths_bounds_the_ratio_and_keeps_the_shortest():
    texts = ["a " * 150, "b. " * 300, "c " * 190, "d " * 400]
    matched = profiles.match_lengths([t.strip() for t in texts])
    lengths = [len(t.split()) for t in matched]
    assert lengths[0] == 150 and max(lengths) <= 1.25 * min(lengths)


# -- records ----------------------------------------------------------------------------------------


NO_GENDER_CUE = {"shortcut": gender.NO_CUE, "cue": None, "options": [{"gender": None, "basis": "unknown"}] * 4}


def _record(gold_slot=2, gold_profile_words=200):
    work = lear_work([("2", "kent", LINE), ("2", "lear", LINE)])
    instance = _instance(work, len(work.turns) - 2)
    fake = lambda cid, n: profiles.Profile(cid, " ".join([cid] * n), 0, 0, {"request_hash": "h"})
    chosen = [("edgar", "same_scene"), ("regan", "similar_speech"), ("oswald", "random")]
    chosen.insert(gold_slot, ("lear", "gold"))
    options = [records.Option(cid, work.characters[cid].name, kind, fake(cid, 200), fake(cid, 200).text)
               for cid, kind in chosen]
    return records.make_record(work=work, track="Drama", instance=instance, options=options, gold_slot=gold_slot,
                               context_line="From The Test Play by Anon.", omitted_context=[], seed=0,
                               context_turns=0, section_title="Scene 2",
                               profile_request={"model": "fake", "contract": "strict", "prompt_hash": "p",
                                                "temperature": 0.7, "max_tokens": 700},
                               gender=NO_GENDER_CUE)


def test_record_has_published_columns_and_passes_every_check():
    record = _record()
    assert record["gt"] == "King Lear" == record["option3"] and record["gold_index"] == 2
    assert record["option5"] == "" and record["option5_profile"] == ""
    assert "Character1 (Kent): " in record["prompt"] and "\nCharacter2: " in record["prompt"]
    assert [check(record) for check in records.CHECKS] == [None] * len(records.CHECKS)
    assert records.render_prompt_from(record) == record["prompt"]


def test_record_checks_catch_broken_invariants():
    record = _record()
    broken = dict(record, option1="King Lear")
    assert records.check_gold(broken) is not None and records.check_distinct_options(broken) is not None
    leaked = dict(record, prompt=record["prompt"].replace("Character2: ", "Character2 (King Lear): ", 1))
    assert records.check_gold_not_leaked(leaked) is not None
    assert records.check_option5(dict(record, option5="X")) is not None
    uneven = dict(record, option1_profile="short " * 100)
    assert records.check_profiles(uneven) is not None


def test_record_id_is_stable_and_schema_valid():
    import json

    from builders.resources import SCHEMAS
    from builders.validate import validate_records

    schema = json.loads((SCHEMAS / "personaeval.schema.json").read_text())
    record = _record()
    assert record["id"] == _record(gold_slot=0)["id"]
    valid, rejects = validate_records([record], schema, checks=records.CHECKS)
    assert len(valid) == 1 and rejects == []


def test_placing_the_gold_moves_every_field_that_names_a_candidate_by_its_slot():
    genders = [{"gender": g, "basis": b} for g, b in (("M", "title"), ("M", "source"), ("F", "source"), (None, "unknown"))]
    record = dict(_record(gold_slot=0), provenance={**_record(gold_slot=0)["provenance"],
                                                     "gender": {"cue": None, "options": genders}})
    before = {record[f"option{i}"]: (record[f"option{i}_profile"], record["provenance"]["options"][i - 1],
                                     record["provenance"]["gender"]["options"][i - 1]) for i in range(1, 5)}
    assert answer_key.slots(record) == [answer_key.Slot(stratum="Drama", options=4, gold=0)]
    placed = answer_key.place(record, 0, [2, 0, 3, 1])  # new slot j holds old slot order[j]
    assert [placed[f"option{i}"] for i in range(1, 5)] == ["Regan", "King Lear", "Oswald", "Edgar"]
    assert placed["gold_index"] == 1 and placed["gt"] == "King Lear" == record["gt"]
    for i in range(1, 5):
        profile, option, gender_entry = before[placed[f"option{i}"]]
        assert placed[f"option{i}_profile"] == profile and placed["provenance"]["options"][i - 1] == option
        assert placed["provenance"]["gender"]["options"][i - 1] == gender_entry
    assert placed["prompt"] == records.render_prompt_from(placed) != record["prompt"]
    assert placed["prompt"].index("### Regan") < placed["prompt"].index("### King Lear") < placed["prompt"].index(
        "### Oswald") < placed["prompt"].index("### Edgar")
    assert '("Regan", "King Lear", "Oswald", "Edgar")' in placed["prompt"]  # the answer-format line too
    assert [check(placed) for check in records.CHECKS] == [None] * len(records.CHECKS)
    assert record["gold_index"] == 0 and record["option1"] == "King Lear"  # the input row is left alone


def test_csv_export_has_the_published_columns_in_order():
    record = _record()
    text = csv_text([record])
    rows = list(csv.reader(io.StringIO(text)))
    assert tuple(rows[0]) == PUBLISHED_COLUMNS and len(rows) == 2
    assert rows[1][0] == record["prompt"] and rows[1][-2:] == ["", ""]
    header = next(csv.reader(io.StringIO(csv_text([record], with_ids=True))))
    assert header[0] == "id"


# -- tracks (bad input) -----------------------------------------------------------------------------


def test_bad_track_and_missing_inputs_raise_user_errors(tmp_path):
    with pytest.raises(UserError, match="unknown --track"):
        tracks.parse_tracks("opera")
    with pytest.raises(UserError, match="needs --pdnc-dir"):
        tracks.load_novels(None, [])
    with pytest.raises(UserError, match="does not exist"):
        tracks.load_novels(tmp_path / "nowhere", [])
    with pytest.raises(UserError, match="holds no PDNC novel folders"):
        tracks.load_novels(tmp_path, [])
    with pytest.raises(UserError, match="needs --script"):
        tracks.load_user_script(None)
    with pytest.raises(UserError, match="is not a file"):
        tracks.load_user_script(tmp_path / "missing.txt")


def test_unknown_play_id_names_the_choices():
    pytest.importorskip("builders.sources.plays")
    with pytest.raises(UserError, match="unknown play id.*choose from"):
        tracks.load_plays(["king-leer"])


def test_script_without_speaker_lines_is_a_user_error(tmp_path):
    script = tmp_path / "notes.txt"
    script.write_text("just some prose\nwith no speakers at all\n")
    with pytest.raises(UserError, match="speaker"):
        tracks.load_user_script(script)


# -- gender shortcut --------------------------------------------------------------------------------


def test_address_cues_count_terms_of_address_not_pronouns():
    assert gender.address_cues("Good my lord, I pray you, sir, hear me.") == Counter({"M": 2})
    assert gender.address_cues("Madam, he told her so.") == Counter({"F": 1})  # "he"/"her": about someone else
    assert gender.address_cues("The lady is gone; my lord's horse too.") == Counter()  # not vocatives
    assert gender.cue_gender(gender.address_cues("Sir, madam, both of you")) is None  # mixed: no cue
    assert gender.cue_gender(gender.address_cues("Nothing to see here.")) is None


def test_character_gender_from_source_then_title_then_how_others_address_them():
    assert gender.title_gender("Player Queen") == "F" and gender.title_gender("Duke of Albany") == "M"
    cast = [Character("lear", "King Lear", category="named"), Character("gon", "Goneril", category="named"),
            Character("kent", "Kent", category="named"), Character("eliza", "Elizabeth", gender="F"),
            Character("edm", "Edmund", category="named")]
    speeches = [("1", "lear", "Speak, madam, speak."), ("1", "gon", LINE)] * 3 + [("1", "lear", "Sir, one word."),
                ("1", "kent", LINE), ("2", "lear", "Madam, sir, lady."), ("2", "edm", LINE)]
    genders = gender.character_genders(make_work(speeches, characters=cast))
    assert genders["eliza"] == gender.CharacterGender("F", "source")
    assert genders["lear"] == gender.CharacterGender("M", "title")
    assert genders["gon"] == gender.CharacterGender("F", "addressed")  # three "madam"s before her speeches
    assert genders["kent"] == gender.CharacterGender(None, "unknown")  # one cue is not enough
    assert genders["edm"].gender is None  # mixed cues (2 F, 1 M is under the 0.75 agreement)


@pytest.mark.parametrize("cue, gold, distractors, expected", [
    (None, "F", ["M", "M", "M"], gender.NO_CUE),
    ("F", "F", ["M", "M", "M"], gender.ONLY_GOLD),
    ("F", "F", ["M", "F", "M"], gender.DISTRACTOR_TOO),
    ("F", "F", ["M", None, "M"], gender.UNKNOWN),
    ("F", None, ["F", None, "M"], gender.DISTRACTOR_TOO),
    ("M", "F", ["M", "M", "M"], gender.GOLD_MISFIT),
])
def test_shortcut_values(cue, gold, distractors, expected):
    known = lambda g: gender.CharacterGender(g, "source" if g else "unknown")
    assert gender.shortcut(cue, known(gold), [known(g) for g in distractors]) == expected


def test_built_item_records_the_gender_audit():
    from builders.personaeval.build import gender_audit
    work = lear_work([("2", "kent", "Hear me, my lord, and you, sir: " + LINE), ("2", "lear", LINE)])
    plan = types.SimpleNamespace(genders={cid: gender.CharacterGender("M" if cid != "regan" else "F", "source")
                                          for cid in work.characters})
    instance = _instance(work, len(work.turns) - 2)
    options = [types.SimpleNamespace(char_id=cid) for cid in ("regan", "edgar", "lear", "oswald")]
    audit = gender_audit(plan, instance, options, gold_slot=2)
    assert audit["cue"] == "M" and audit["shortcut"] == gender.DISTRACTOR_TOO
    assert [o["gender"] for o in audit["options"]] == ["F", "M", "M", "M"]


def test_jobs_open_the_works_needed_for_n_and_one_per_five_items_then_fall_back_to_the_rest():
    from builders.personaeval.build import jobs_of
    plan = lambda name, k, flag="drama": types.SimpleNamespace(name=name, track=types.SimpleNamespace(flag=flag),
                                                              instances=[f"{name}{i}" for i in range(k)])
    plans = [plan("a", 3), plan("b", 3), plan("c", 2), plan("n", 2, "literary")]
    order = [f"{p.name}:{i}" for p, i in jobs_of(plans, n=4)]  # 1.25 * 4 = 5 -> works a and b are opened
    assert order == ["a:a0", "n:n0", "b:b0", "n:n1", "a:a1", "b:b1", "a:a2", "b:b2", "c:c0", "c:c1"]
    assert [i for _, i in jobs_of(plans[:3], n=100)][:3] == ["a0", "b0", "c0"]  # too few: every work at once
    many = [plan(name, 30) for name in "pqrstu"]  # one work alone covers --n 20, but 20 items open four works
    first = [i for _, i in jobs_of(many, n=20)][:20]
    assert Counter(i[0] for i in first) == {"p": 5, "q": 5, "r": 5, "s": 5}
