"""Dataset card: front matter from the schema, owned sections, merging, charts, the ToMATO template."""

from __future__ import annotations

import json
import re

import datasets
import yaml
from huggingface_hub import DatasetCard

from release import write_release
from release.card_merge import merge_card
from release.charts import bar_chart
from release.resources import REPO_ROOT
from release.stats import distribution
from tests.test_release_fixtures import (  # noqa: F401  (fixtures)
    BUILD_REPORT,
    QUIZ_CARD,
    quiz_benchmark,
    releases_root,
    resources_root,
    write_quiz_release,
)

SECTIONS = ["fitness", "description", "release", "leakage", "stats", "build", "usage", "citation"]


write_quiz = write_quiz_release


def code_block(text: str, language: str, after: str) -> str:
    start = text.index(f"```{language}\n", text.index(after)) + len(language) + 4
    return text[start : text.index("```", start)]


def test_front_matter_declares_configs_features_and_metadata(resources_root, releases_root):
    result = write_quiz(resources_root, releases_root, repo_id="org/quiz")
    card = DatasetCard.load(result.path / "README.md")
    data = card.data.to_dict()
    assert data["configs"] == [
        {"config_name": "all", "default": True, "data_files": [
            {"split": "test", "path": "data/all/test-*.parquet"},
            {"split": "validation", "path": "data/all/validation-*.parquet"}]},
        {"config_name": "hard", "data_files": [
            {"split": "test", "path": "data/hard/test-*.parquet"},
            {"split": "validation", "path": "data/hard/validation-*.parquet"}]},
    ]
    assert data["license"] == "cc-by-4.0" and data["language"] == ["en"]
    assert data["task_categories"] == ["question-answering"] and data["size_categories"] == ["n<1K"]
    assert data["pretty_name"] == "Quiz" and data["tags"] == ["theory-of-mind", "test"]
    info = {entry["config_name"]: entry for entry in data["dataset_info"]}
    features = datasets.Features._from_yaml_list(info["all"]["features"])
    assert features["meta"]["seed"] == datasets.Value("int64")
    assert features["extra"] == datasets.Value("string")
    assert {s["name"]: s["num_examples"] for s in info["hard"]["splits"]} == {"test": 21, "validation": 5}
    assert "&id" not in (result.path / "README.md").read_text()  # no YAML anchors


def test_body_has_owned_sections_stats_build_and_pinned_usage(resources_root, releases_root):
    result = write_quiz(resources_root, releases_root, repo_id="org/quiz")
    body = DatasetCard.load(result.path / "README.md").text
    assert re.findall(r"<!-- toolkit:begin (\w+) -->", body) == SECTIONS
    assert re.findall(r"<!-- toolkit:end (\w+) -->", body) == SECTIONS
    assert "| all (default) | test | 32 |" in body
    assert "| belief | 11 | 3 | 35.0% |" in body  # category distribution of the default config
    assert "| 0 | 8 | 2 | 25.0% |" in body  # answer positions
    assert "![category](charts/category.png)" in body
    assert "| quiz.question | ab12cd34 |" in body and "| generated | 40 |" in body  # build report
    assert '"threshold": 0.85' in body
    assert 'load_dataset("org/quiz", "all", revision="v1.0.0")' in body
    task = yaml.safe_load(code_block(body, "yaml", "lm-evaluation-harness"))
    assert task["dataset_path"] == "org/quiz" and task["dataset_kwargs"] == {"revision": "v1.0.0"}
    assert task["dataset_name"] == "all" and task["test_split"] == "test"
    assert "@misc{quiz2025" in body


def test_charts_are_byte_stable_pngs_without_writer_metadata(tmp_path):
    bar_chart(tmp_path / "a.png", "t", ["x", "y"], [3, 5])
    bar_chart(tmp_path / "b.png", "t", ["x", "y"], [3, 5])
    bar_chart(tmp_path / "c.png", "t", ["x", "y"], [3, 6])
    a = (tmp_path / "a.png").read_bytes()
    assert a.startswith(b"\x89PNG") and a == (tmp_path / "b.png").read_bytes()
    assert a != (tmp_path / "c.png").read_bytes()
    assert b"Software" not in a and b"tIME" not in a and b"matplotlib" not in a.lower()


HUB_CARD = """---
license: mit
homepage: https://example.org/quiz
configs:
- config_name: stale
  data_files: old/*.parquet
---

# Quiz (curated by the maintainers)

A paragraph the maintainers wrote on the Hub.

<!-- toolkit:begin stats -->
old statistics
<!-- toolkit:end stats -->

## Leaderboard

| model | accuracy |
|---|---|
| someone | 0.5 |

<!-- toolkit:begin retired -->
a section the template no longer renders
<!-- toolkit:end retired -->
"""


def test_merge_keeps_foreign_text_and_keys_and_replaces_owned_ones(resources_root, releases_root):
    ours = (write_quiz(resources_root, releases_root).path / "README.md").read_text()
    merged = merge_card(HUB_CARD, ours)
    card = DatasetCard(merged)
    data = card.data.to_dict()
    assert data["homepage"] == "https://example.org/quiz"  # a key we do not set survives
    assert data["license"] == "cc-by-4.0"  # a key we set wins
    assert [c["config_name"] for c in data["configs"]] == ["all", "hard"]
    body = card.text
    assert "A paragraph the maintainers wrote on the Hub." in body
    assert "| someone | 0.5 |" in body and "# Quiz (curated by the maintainers)" in body
    assert "old statistics" not in body and "| all (default) | test | 32 |" in body
    assert "retired" not in body
    # stats stays where the maintainers had it; sections new to the card are placed around it in
    # template order, and the maintainers' text after it stays after it
    assert re.findall(r"<!-- toolkit:begin (\w+) -->", body) == SECTIONS
    assert body.index("A paragraph") < body.index("toolkit:begin description")
    assert body.index("toolkit:end citation") < body.index("## Leaderboard")
    assert merge_card(merged, ours) == merged  # merging is idempotent


def test_merge_into_a_card_without_markers_appends_our_sections():
    ours = "---\nlicense: cc-by-4.0\n---\n\n# T\n\n<!-- toolkit:begin stats -->\nS\n<!-- toolkit:end stats -->\n"
    merged = merge_card("# Hand-written\n\nKeep me.\n", ours)
    assert merged.index("Keep me.") < merged.index("<!-- toolkit:begin stats -->\nS")
    assert DatasetCard(merged).data.to_dict() == {"license": "cc-by-4.0"}


def test_foreign_text_in_the_previous_release_card_survives_the_next_release(resources_root, releases_root):
    first = write_quiz(resources_root, releases_root, n=40)
    readme = first.path / "README.md"
    readme.write_text(readme.read_text() + "\n## Errata\n\nA note kept across releases.\n")
    second = write_quiz(resources_root, releases_root, n=41)
    text = (second.path / "README.md").read_text()
    assert "A note kept across releases." in text
    assert '"./releases/quiz/v1.0.1"' in text and "./releases/quiz/v1.0.0" not in text


def test_tomato_card_template_renders_description_citation_and_lm_eval_task(tmp_path):
    root = tmp_path / "resources"
    (root / "schemas").mkdir(parents=True)
    schema = {"type": "object", "required": ["q_id", "q", "a_idx", "mental_state", "order", "false_belief"],
              "properties": {"q_id": {"type": "string"}, "q": {"type": "string"},
                             "a_idx": {"type": "integer"},
                             "mental_state": {"enum": ["belief", "intention", "desire", "emotion", "knowledge"]},
                             "order": {"enum": [1, 2]}, "false_belief": {"type": "boolean"}}}
    (root / "schemas" / "tomato.schema.json").write_text(json.dumps(schema))
    benchmark = quiz_benchmark(
        name="tomato", pretty_name="ToMATO", id_field="q_id",
        configs={"all": lambda r: True, "false_belief": lambda r: r["false_belief"]},
        splits={"test": 1.0}, stats_fields=("mental_state", "order"), answer_field="a_idx")
    states = ["belief", "intention", "desire", "emotion", "knowledge"]
    records = [{"q_id": f"1st-order-{states[i % 5]}_ABCDE_{i % 14}", "q": f"How does X feel {i}?",
                "a_idx": i % 4, "mental_state": states[i % 5], "order": 1 + i % 2,
                "false_belief": i % 7 == 0} for i in range(30)]
    splits = {"all": {"test": records}, "false_belief": {"test": [r for r in records if r["false_belief"]]}}
    result = write_release(benchmark, splits, BUILD_REPORT, tmp_path / "releases", repo_id="org/tomato",
                           resources_root=root)
    text = (result.path / "README.md").read_text()
    assert (REPO_ROOT / "cards" / "tomato.md").is_file()
    assert "theory-of-mind benchmark built from conversations" in text
    assert "2501.08838" in text
    assert "@inproceedings{shinoda2025tomato" in text and "AAAI" in text
    generative = yaml.safe_load(code_block(text, "yaml", "lm-evaluation-harness"))  # the first task
    assert generative["output_type"] == "generate_until" and generative["task"] == "tomato_gen"
    task = yaml.safe_load(code_block(text, "yaml", "Log-likelihood variant"))  # the second one
    assert task["dataset_kwargs"]["revision"] == "v1.0.0" and task["output_type"] == "multiple_choice"
    assert task["doc_to_choice"] == "{{[a0, a1, a2, a3]}}" and "{{conversation}}" in task["doc_to_text"]
    assert "| false_belief | test | 5 |" in text
    loaded = datasets.load_dataset(str(result.path), "false_belief", cache_dir=str(tmp_path / "cache"))
    assert loaded["test"].num_rows == 5


def stats_section(body: str, config: str) -> str:
    """The card text of one config's statistics, up to the next config or the end of the stats."""
    start = body.index(f"### Config `{config}`")
    ends = [i for i in (body.find("### Config", start + 1), body.index("<!-- toolkit:end stats")) if i > 0]
    return body[start : min(ends)]


def test_every_config_gets_its_own_tables_and_only_the_default_one_gets_charts(resources_root, releases_root):
    result = write_quiz(resources_root, releases_root)
    body = DatasetCard.load(result.path / "README.md").text
    default, hard = stats_section(body, "all"), stats_section(body, "hard")
    assert default.startswith("### Config `all` (default)") and hard.startswith("### Config `hard`\n")
    # 40 quiz records: hard = level 2 or 3; test = ids not divisible by 5
    assert "| 1 | 11 | 3 | 35.0% |" in default and "| 1 |" not in hard.split("#### `level`")[1].split("####")[0]
    assert "| desire | 11 | 2 | 50.0% |" in hard and "| belief |" not in hard  # hard = ids with i % 3 in (1, 2)
    assert "#### Answer positions (`answer_idx`)" in hard
    assert "![category](charts/category.png)" in default and "![" not in hard
    assert sorted(p.name for p in (result.path / "charts").iterdir()) == [
        "answer_position.png", "category.png", "level.png"]


TRAITS_SCHEMA = {
    "type": "object", "required": ["id", "key_traits", "kind"],
    "properties": {"id": {"type": "string"}, "kind": {"enum": ["villain", "hero"]},
                   "key_traits": {"type": "array", "items": {"type": "string"}}},
}


def test_a_list_valued_stats_field_counts_each_element(tmp_path):
    root = tmp_path / "resources"
    (root / "schemas").mkdir(parents=True)
    (root / "cards").mkdir()
    (root / "schemas" / "traits.schema.json").write_text(json.dumps(TRAITS_SCHEMA))
    (root / "cards" / "traits.md").write_text(QUIZ_CARD)
    benchmark = quiz_benchmark(name="traits", configs={"all": lambda r: True}, splits={"test": 1.0},
                               stats_fields=("key_traits", "kind"), answer_field=None)
    records = [{"id": "a", "kind": "villain", "key_traits": ["cruel", "cunning"]},
               {"id": "b", "kind": "villain", "key_traits": ["cunning"]},
               {"id": "c", "kind": "hero", "key_traits": []},
               {"id": "d", "kind": "hero", "key_traits": ["brave", "cunning", "loyal"]}]
    result = write_release(benchmark, {"all": {"test": records}}, BUILD_REPORT, tmp_path / "releases",
                           resources_root=root)
    body = DatasetCard.load(result.path / "README.md").text
    traits = body.split("#### `key_traits`")[1].split("####")[0]
    assert traits.startswith(" (a list per row: each element counted, 6 values in 4 rows)")
    assert "| cunning | 3 | 50.0% |" in traits and "| cruel | 1 | 16.7% |" in traits
    assert "| brave | 1 | 16.7% |" in traits and "[" not in traits  # elements, never whole lists
    kinds = body.split("#### `kind`")[1]
    assert "| villain | 2 | 50.0% |" in kinds and "a list per row" not in kinds.split("\n")[0]
    assert (result.path / "charts" / "key_traits.png").is_file()


def test_distribution_of_a_list_field_counts_elements_per_split():
    rows = {"test": [{"t": ["x", "y"]}, {"t": ["x"]}], "validation": [{"t": []}, {"t": ["y", "y"]}]}
    dist = distribution(rows, "t")
    assert dist.values == ["x", "y"] and dist.counts == {"x": [2, 0], "y": [1, 2]}
    assert (dist.grand_total, dist.rows, dist.list_valued) == (5, 4, True)
    assert dist.share("y") == "60.0%"
    scalar = distribution({"test": [{"t": "x"}, {"t": None}]}, "t")
    assert scalar.list_valued is False and scalar.values == ["null", "x"]


def test_a_release_written_by_a_smoke_test_model_says_at_the_top_that_it_is_not_fit_for_evaluation():
    from release.card import _smoke_test_models

    smoke = {"name": "local-smollm2", "smoke_test": True}
    strong = {"name": "openai", "smoke_test": False}
    report = {"models": {"generator": "local:smollm2", "judge": "local:smollm2"},
              "profiles": {"generator": smoke, "judge": smoke}}
    assert _smoke_test_models(report) == [("generator", "local:smollm2")]
    report = {"models": {"generator": "openai:gpt-4o", "judge": "local:smollm2"},
              "profiles": {"generator": strong, "judge": smoke}}
    assert _smoke_test_models(report) == [("judge", "local:smollm2")]
    report["profiles"]["judge"] = strong
    assert _smoke_test_models(report) == [] and _smoke_test_models({}) == []
