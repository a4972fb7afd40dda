"""Scoring ToMATO through the command, end to end, against scripted models; and the results files
that travel with the release (scores, predictions, index, card) without touching its data."""

from __future__ import annotations

import json

from release.hub import check_release_files
from release.manifest import read_manifest
from tests.test_benchscore_support import (  # noqa: F401  (fixtures)
    copy_release,
    letter_server,
    model,
    predictions_of,
    release_files,
    rows_of,
    score,
    scores_of,
    share_of,
    tomato_golds,
    tomato_release,
)


def test_an_oracle_scores_1_and_every_breakdown_is_1(tomato_release, tmp_path, capsys):
    release = copy_release(tomato_release, tmp_path)
    with letter_server(tomato_golds(release), "[{}]") as server:
        assert score(release, model(server, "oracle"), tmp_path / "cache") == 0
    document = scores_of(release, "openai-compatible_oracle")
    assert document["headline"]["value"] == 1.0 and document["headline"]["n"] == 20
    assert document["headline"]["interval"] == [1.0, 1.0] and document["headline"]["unparseable"] == 0
    for key in ("mental_state", "order", "false_belief", "big_five.Extraversion"):
        blocks = document["breakdowns"][key].values()
        assert blocks and all(block["value"] == 1.0 for block in blocks)
    assert document["headline"]["false_belief"]["n"] == sum(r["false_belief"] for r in rows_of(release, "all"))
    assert "accuracy 100.0% (95% CI 100.0% to 100.0%), n=20, unparseable 0" in capsys.readouterr().out


def test_a_model_that_always_answers_a_scores_the_share_of_golds_at_a(tomato_release, tmp_path):
    release = copy_release(tomato_release, tmp_path)
    with letter_server({}, "I think the answer is {}.", always="A") as server:
        assert score(release, model(server, "always-a"), tmp_path / "cache") == 0
    document = scores_of(release, "openai-compatible_always-a")
    expected = share_of([row["a_idx"] for row in rows_of(release, "all")], 0)
    assert document["headline"]["value"] == round(expected, 6)
    low, high = document["headline"]["interval"]
    assert low <= document["headline"]["value"] <= high
    assert document["breakdowns"]["letters"]["predicted"] == {"A": 20}


def test_results_files_and_card_without_touching_the_data(tomato_release, tmp_path):
    release = copy_release(tomato_release, tmp_path)
    before = release_files(release)
    manifest_before = read_manifest(release)
    with letter_server(tomato_golds(release), "[{}]") as server:
        assert score(release, model(server, "oracle"), tmp_path / "cache") == 0
    after = release_files(release)
    changed = {path for path in before if before[path] != after[path]}
    assert changed == {"README.md", "manifest.json"}  # the card, and the card's digest in the manifest
    manifest = read_manifest(release)
    assert manifest["content_hash"] == manifest_before["content_hash"]
    assert {k: v for k, v in manifest["files"].items() if k != "README.md"} == \
        {k: v for k, v in manifest_before["files"].items() if k != "README.md"}
    check_release_files(release, manifest)  # every digest, the card's included, still verifies

    run = "openai-compatible_oracle"
    assert {p for p in after if p.startswith("results/")} == {
        "results/index.json", f"results/{run}/scores.json", f"results/{run}/predictions.parquet"}
    document = scores_of(release, run)
    assert document["release"] == {"version": "1.0.0", "content_hash": manifest["content_hash"], "repo_id": None,
                                   "configs": ["all"], "split": "test"}
    assert document["model"] == "openai-compatible:oracle" and document["model_profile"] == "openai-compatible"
    assert set(document["protocol"]["prompt_hashes"]) == {"benchscore/tomato_system.j2", "benchscore/tomato_user.j2"}
    assert document["protocol"]["decoding"] == {"temperature": 0.0, "max_tokens": 256, "samples": 1, "mode": "greedy"}
    assert document["seed"] == 0 and document["toolkit_version"] and "date" not in json.dumps(document)

    predictions = predictions_of(release, run)
    assert len(predictions) == 20 and all(p["parsed"] and p["correct"] for p in predictions)
    assert {p["id"] for p in predictions} == {row["q_id"] for row in rows_of(release, "all")}
    assert all(p["prediction"] == p["gold"] and p["raw_reply"] == f"[{p['gold']}]" for p in predictions)
    assert all(len(p["request_hash"]) == 64 for p in predictions)

    index = json.loads(after["results/index.json"])
    assert index["content_hash"] == manifest["content_hash"]
    assert index["runs"][run]["files"][f"results/{run}/scores.json"]["size"] == len(after[f"results/{run}/scores.json"])
    card = after["README.md"].decode()
    end = "<!-- toolkit:end results -->"
    section = card[card.index("<!-- toolkit:begin results -->"):card.index(end) + len(end)]
    assert "| `openai-compatible:oracle` | accuracy | all / test | 100.0% | 100.0% to 100.0% | 20 | 0 |" in section
    assert card.index("toolkit:end results") < card.index("toolkit:begin build")  # before how it was built
    assert card.replace(section + "\n\n", "") == before["README.md"].decode()  # nothing else in the card changed


def test_scoring_again_gives_byte_identical_results_and_a_second_model_adds_a_row(tomato_release, tmp_path):
    release = copy_release(tomato_release, tmp_path)
    with letter_server(tomato_golds(release), "[{}]") as server:
        score(release, model(server, "oracle"), tmp_path / "cache")
        first = release_files(release)
        requests = len(server.requests)
        score(release, model(server, "oracle"), tmp_path / "cache")
        assert len(server.requests) == requests  # every reply came from the response cache
    assert release_files(release) == first
    with letter_server({}, "[{}]", always="B") as server:
        score(release, model(server, "always-b"), tmp_path / "cache")
    card = (release / "README.md").read_text()
    assert "`openai-compatible:always-b`" in card and "`openai-compatible:oracle`" in card
    assert card.count("<!-- toolkit:begin results -->") == 1


def test_samples_limit_and_no_write(tomato_release, tmp_path):
    release = copy_release(tomato_release, tmp_path)
    before = release_files(release)
    with letter_server(tomato_golds(release), "[{}]") as server:
        assert score(release, model(server, "oracle"), tmp_path / "cache", "--no-write") == 0
        assert release_files(release) == before
        assert score(release, model(server, "oracle"), tmp_path / "cache", "--samples", "3", "--limit", "5") == 0
        bodies = [r.json for r in server.requests[20:]]
    run = "openai-compatible_oracle--limit5--samples3"
    document = scores_of(release, run)
    assert document["headline"]["n"] == 5 and document["headline"]["replies"] == 15
    assert document["protocol"]["decoding"] == {"temperature": 0.6, "top_p": 0.9, "max_tokens": 256, "samples": 3,
                                                "mode": "sampled"}
    assert {(b["temperature"], b["top_p"]) for b in bodies} == {(0.6, 0.9)}
    assert sorted({p["sample"] for p in predictions_of(release, run)}) == [0, 1, 2]


def test_the_prompt_is_the_official_one(tomato_release, tmp_path):
    release = copy_release(tomato_release, tmp_path)
    with letter_server(tomato_golds(release), "[{}]") as server:
        score(release, model(server, "oracle"), tmp_path / "cache", "--limit", "1")
        (body,) = [r.json for r in server.requests]
    system, user = body["messages"]
    assert system["role"] == "system" and "expert at understanding human communication" in system["content"]
    assert "[A], [B], [C], or [D]" in system["content"]
    row = next(r for r in rows_of(release, "all") if f"# Question\n{r['q']}\n" in user["content"])
    assert user["content"].startswith(f"# Transcript\n{row['conversation']}\n\n# Question\n")
    assert user["content"].endswith("\n".join(f"[{letter}] {row[f'a{i}']}" for i, letter in enumerate("ABCD")))
    assert body["temperature"] == 0.0 and body["max_tokens"] == 256
