"""Scoring LitCharToM: the README prompt, conditions (a) and (b), ID vs OOD, letter distribution."""

from __future__ import annotations

from collections import Counter

from tests.test_benchscore_support import (  # noqa: F401  (fixtures)
    copy_release,
    last_user,
    letter_server,
    litchartom_golds,
    litchartom_release,
    model,
    predictions_of,
    rows_of,
    score,
    scores_of,
)


def _golds(release) -> Counter:
    """Gold letters of every question: four per ID record, one per OOD record."""
    letters = Counter(row["correct_answer"] for row in rows_of(release, "ood"))
    for row in rows_of(release, "current"):
        for entry in row["qa_data"]["Target Character"]:
            letters.update(mcq["Correct Answer"] for mcq in entry.values() if mcq)
    return letters


def test_an_oracle_scores_1_in_and_out_of_distribution(litchartom_release, tmp_path):
    release = copy_release(litchartom_release, tmp_path)
    with letter_server(litchartom_golds(release), "The plot shows it.\nAnswer: {}") as server:
        assert score(release, model(server, "oracle"), tmp_path / "cache") == 0
        prompts = [last_user(r) for r in server.requests]
    document = scores_of(release, "openai-compatible_oracle")
    n_ood, n_id = len(rows_of(release, "ood")), 4 * len(rows_of(release, "current"))
    assert document["headline"]["value"] == 1.0 and document["headline"]["n"] == n_ood + n_id
    assert {k: v["n"] for k, v in document["breakdowns"]["distribution"].items()} == {"ID": n_id, "OOD": n_ood}
    assert set(document["breakdowns"]["dimension"]) == {"belief", "desire", "emotion", "intention"}
    assert document["release"]["configs"] == ["current", "ood"]
    # condition (a): no triples; the OOD record's stored answer ("Answer: X") never reaches the model
    assert not any("RELEVANT MENTAL STATE TRIPLES" in p for p in prompts)
    assert all(p.startswith("You are an expert in narrative analysis") and "\nSTORY PLOT:\n" in p
               and "\nCANDIDATE CHOICES:\nA. " in p for p in prompts)
    assert not any("Answer: " in p.split("CANDIDATE CHOICES:")[1] for p in prompts)


def test_always_a_scores_the_share_of_golds_at_a_and_the_letters_show_it(litchartom_release, tmp_path):
    release = copy_release(litchartom_release, tmp_path)
    with letter_server({}, "Answer: {}", always="A") as server:
        assert score(release, model(server, "always-a"), tmp_path / "cache") == 0
    document = scores_of(release, "openai-compatible_always-a")
    golds = _golds(release)
    assert document["headline"]["value"] == round(golds["A"] / sum(golds.values()), 6)
    letters = document["breakdowns"]["letters"]
    assert letters["predicted"] == {"A": sum(golds.values())} and letters["gold"] == dict(sorted(golds.items()))


def test_condition_b_shows_the_relevant_triples(litchartom_release, tmp_path):
    release = copy_release(litchartom_release, tmp_path)
    with letter_server(litchartom_golds(release, triples=True), "Answer: {}") as server:
        assert score(release, model(server, "oracle"), tmp_path / "cache", "--triples", "--config", "ood") == 0
        prompts = [last_user(r) for r in server.requests]
    document = scores_of(release, "openai-compatible_oracle--config-ood--triples")
    assert document["headline"]["value"] == 1.0 and document["protocol"]["decoding"]["condition"] == "b (triples)"
    expected = Counter("\n".join(row["corresponding_triples"]) for row in rows_of(release, "ood"))
    shown = Counter(p.split("RELEVANT MENTAL STATE TRIPLES:\n")[1].split("\n\nQUESTION:")[0] for p in prompts)
    assert shown == expected
    assert len(prompts) == len(predictions_of(release, "openai-compatible_oracle--config-ood--triples"))
