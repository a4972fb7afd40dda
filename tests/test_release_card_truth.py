"""A card is always true of its release: load snippets that load it, a pushed card naming its repo,
claims computed from the release's own rows, readable charts, the licence and who chose it."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest
import yaml
from huggingface_hub import DatasetCard, HfApi

from builders.licenses import license_id, model_providers
from builders.llm.profiles import judges_wanted, profile_for
from builders.llm.models import parse_model
from builders.pipeline import split_by_config
from release import write_release
from release.card_merge import refresh_sections
from release.charts import bar_figure, chart_labels
from release.export import builder_benchmark
from release.hub import push_release
from release.lm_eval_task import USAGE_BEGIN, USAGE_END, card_task_blocks
from tests.support.fake_releases import fake_records, write_fake_release
from tests.test_reliability_support import release_files


@pytest.fixture(scope="module")
def tomato_records():
    return fake_records("tomato")


def usage_section(release: Path) -> str:
    text = (release / "README.md").read_text(encoding="utf-8")
    return text[text.index(USAGE_BEGIN) : text.index(USAGE_END)]


def release_with(name: str, records: list[dict], root: Path, *, splits=None, report=None) -> Path:
    """A release of `records` with the given split ratios and build report (fake_releases fixes both)."""
    benchmark = builder_benchmark(name)
    by_config = split_by_config(benchmark, records, splits or {"test": 1.0}, 0)
    return write_release(benchmark, by_config, report or {"funnel": {"records": len(records)}}, root).path


# -- 18.2 the load snippet of a local release ----------------------------------------------------------


def _offline_env(tmp_path: Path) -> dict:
    """No Hub at all: a snippet that `datasets` took for a repo id fails instead of loading."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE"))}
    return {**env, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf-home"),
            "HF_ENDPOINT": "http://127.0.0.1:9", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}


def _run(code: str, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def test_the_cards_load_snippets_load_the_release_from_where_the_card_says(tomato_records, tmp_path):
    project = tmp_path / "project"  # the folder a build ran in: it holds releases/
    release = write_fake_release("tomato", tomato_records, project / "releases")
    block = re.search(r"```python\n(.*?)```", usage_section(release), re.S).group(1)
    lines = block.splitlines()
    statements = [(lines[i - 1], line) for i, line in enumerate(lines) if line.startswith("ds = load_dataset(")]
    where = {"from the folder holding `releases/`": project, "from inside this release folder": release}
    assert [next(cwd for said, cwd in where.items() if said in comment) for comment, _ in statements] == \
        [project, release]  # each snippet says where it runs
    rows = sum(json.loads((release / "manifest.json").read_text())["counts"]["all"].values())
    lm_eval_task = yaml.safe_load(card_task_blocks(release)[0])
    env = _offline_env(tmp_path)
    for (comment, statement), cwd in zip(statements, (project, release)):
        path = re.match(r'ds = load_dataset\(("[^"]+"|os.getcwd\(\))', statement).group(1)
        assert path == "os.getcwd()" or path.startswith('"./') and path.count("/") > 1  # never a Hub-like id
        check = "print(sum(split.num_rows for split in ds.values()))"
        extra = ""
        if cwd == project:  # lm-eval loads the card's task the same way, from the same place
            extra = (f"\nrows = load_dataset({lm_eval_task['dataset_path']!r}, {lm_eval_task['dataset_name']!r}, "
                     f"split={lm_eval_task['test_split']!r}, **{lm_eval_task['dataset_kwargs']!r})\n"
                     "print(rows.num_rows)")
        done = _run(f"import os\nfrom datasets import load_dataset\n{statement}\n{check}{extra}", cwd, env)
        assert done.returncode == 0, (comment, done.stderr[-2000:])
        assert done.stdout.split()[0] == str(rows)
    # the snippet the card used to carry is a Hub repo id from the project root: it does not load
    old = _run('from datasets import load_dataset\nload_dataset("tomato/v1.0.0", "all")', project, env)
    assert old.returncode != 0


# -- 18.3 a release built first and pushed later --------------------------------------------------------


def test_a_card_pushed_to_a_repo_names_the_repo_and_tag_and_the_local_folder_is_untouched(
        local_hub, tomato_records, tmp_path):
    release = write_fake_release("tomato", tomato_records, tmp_path / "releases")  # no --repo-id
    before = release_files(release)
    assert "./releases/tomato/v1.0.0" in usage_section(release)
    result = push_release(release, "org/x", report=lambda _: None)
    assert result.verified  # loads at the tag, every file's sha256 as the manifest says
    assert release_files(release) == before  # pushing wrote nothing locally
    api = HfApi(endpoint=local_hub.endpoint, token=local_hub.token)
    card = Path(api.hf_hub_download("org/x", "README.md", repo_type="dataset", revision="v1.0.0",
                                    cache_dir=str(tmp_path / "dl"))).read_text(encoding="utf-8")
    manifest = json.loads(Path(api.hf_hub_download("org/x", "manifest.json", repo_type="dataset", revision="v1.0.0",
                                                   cache_dir=str(tmp_path / "dl"))).read_text())
    usage = card[card.index(USAGE_BEGIN) : card.index(USAGE_END)]
    assert 'load_dataset("org/x", "all", revision="v1.0.0")' in usage
    assert "No Hub repository" not in card and "./releases/" not in card and "built for no Hub" not in card
    tasks = [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", usage, re.S)]
    assert tasks and all(t["dataset_path"] == "org/x" and t["dataset_kwargs"] == {"revision": "v1.0.0"}
                         for t in tasks)
    local_manifest = json.loads(before["manifest.json"])
    assert manifest["card_rendered_for"] == {"repo": "org/x", "tag": "v1.0.0"}
    assert manifest["content_hash"] == local_manifest["content_hash"]
    assert {p: f for p, f in manifest["files"].items() if p != "README.md"} == \
        {p: f for p, f in local_manifest["files"].items() if p != "README.md"}
    assert manifest["files"]["README.md"]["size"] == len(card.encode("utf-8"))
    # the card's statistics are the release's, as rendered at build time
    local_card = before["README.md"].decode("utf-8")
    stats = lambda text: text[text.index("<!-- toolkit:begin stats"):text.index("<!-- toolkit:end stats")]  # noqa: E731
    assert stats(card) == stats(local_card)


def test_refreshing_a_card_keeps_an_owned_section_the_new_rendering_lacks():
    local = ("---\nlicense: mit\n---\n\n<!-- toolkit:begin usage -->\nold usage\n<!-- toolkit:end usage -->\n\n"
             "<!-- toolkit:begin results -->\nscores\n<!-- toolkit:end results -->\n")
    ours = "---\nlicense: mit\n---\n\n<!-- toolkit:begin usage -->\nnew usage\n<!-- toolkit:end usage -->\n"
    merged = refresh_sections(local, ours)
    assert "new usage" in merged and "old usage" not in merged and "scores" in merged


# -- 18.4 every claim from the release's own data -------------------------------------------------------


CONFIG_MENTIONS = (r"`(\w+)` config", r"config `(\w+)`", r"dataset_name: (\w+)", r'load_dataset\("[^"]+", "(\w+)"')


def named_configs(card: str) -> set[str]:
    """Configs the card names as existing (a mention right after "no " is a statement of absence)."""
    named = set()
    for pattern in CONFIG_MENTIONS:
        for match in re.finditer(pattern, card):
            if not card[max(0, match.start() - 5) : match.start()].lower().endswith(("no ", "no **")):
                named.add(match.group(1))
    return named


def claims_hold(release: Path, benchmark_name: str) -> str:
    card = (release / "README.md").read_text(encoding="utf-8")
    counts = json.loads((release / "manifest.json").read_text())["counts"]
    benchmark = builder_benchmark(benchmark_name)
    absent = set(benchmark.configs) - set(counts)
    assert not named_configs(card) & absent, named_configs(card) & absent
    splits = {split for splits in counts.values() for split in splits}
    no_train = ("no `train` split", "no training split")
    assert any(text in card for text in no_train) == ("train" not in splits)
    return card


def test_a_tomato_card_states_only_what_its_release_has(tomato_records, tmp_path):
    kept_states = ("belief", "intention")
    records = [r for r in tomato_records if r["order"] == 1 and r["mental_state"] in kept_states]
    release = release_with("tomato", records, tmp_path / "a", splits={"train": 0.5, "test": 0.5})
    card = claims_hold(release, "tomato")
    present = {r["mental_state"] for r in records}
    assert re.search(r"(\d+) mental states?:", card).group(1) == str(len(present))
    assert "`desire`, `emotion`, `knowledge` do not occur" in card
    assert "No second-order question" in card and "**Second-order** questions" not in card
    assert "false-belief subset" not in card.split("Score accuracy")[1].split("\n")[0]
    assert "per `order`" not in card
    assert "no `false_belief` config" not in card  # no order-2 question: nothing to say about labels


def test_a_full_tomato_card_names_its_configs_states_and_the_subset(tomato_records, tmp_path):
    release = write_fake_release("tomato", tomato_records, tmp_path / "b")
    card = claims_hold(release, "tomato")
    states = {r["mental_state"] for r in tomato_records}
    assert re.search(r"(\d+) mental states?:", card).group(1) == str(len(states))
    fb = sum(1 for r in tomato_records if r["false_belief"])
    assert f"the `false_belief` config ({fb} questions)" in card
    assert "per `mental_state`, `order`, the false-belief subset" in card


@pytest.mark.parametrize("name", ("personaeval", "litchartom", "moral_roleplay"))
def test_other_cards_name_no_config_their_release_lacks(name, tmp_path):
    records = fake_records(name)
    claims_hold(write_fake_release(name, records, tmp_path / "full"), name)
    if name == "litchartom":  # without held-out works: no ood config, so no task reading it
        current = [r for r in records if r["record_type"] != "ood"]
        card = claims_hold(release_with(name, current, tmp_path / "no-ood", splits={"train": 0.5, "test": 0.5}), name)
        assert "dataset_name: ood" not in card and "`ood` is the test set" not in card
    if name == "moral_roleplay":  # only the characters config
        only = [{**r, "test": False, "scene_row": False} for r in records]
        card = claims_hold(release_with(name, only, tmp_path / "chars"), name)
        assert "no `test` config" in card


# -- 18.5 charts whose bars can be told apart ------------------------------------------------------------


BIG_FIVE = ("Openness to Experience", "Conscientiousness", "Extraversion", "Agreeableness", "Neuroticism")


def test_big_five_patterns_get_distinct_compact_codes_with_a_legend():
    patterns = ["; ".join(f"{trait} - {'High' if (index >> bit) & 1 else 'Low'}" for bit, trait in enumerate(BIG_FIVE))
                for index in range(32)]
    ticks, legend = chart_labels(patterns)
    assert len(set(ticks)) == 32 and ticks[5] == "O+ C- E+ A- N-"
    assert all(len(tick) <= 18 for tick in ticks)
    assert "O Openness to Experience" in legend[0] and "+ High" in legend[0]


def test_long_labels_that_collide_when_cut_are_numbered_with_a_legend():
    works = ["The Tragedy of King Lear, Prince of Britain", "The Tragedy of King Lear, Quarto"]
    ticks, legend = chart_labels(works)
    assert ticks == ["1", "2"] and legend == [f"1: {works[0]}", f"2: {works[1]}"]
    assert chart_labels(["belief", "desire"]) == (["belief", "desire"], [])


def test_count_axes_have_integer_ticks():
    figure = bar_figure("order", ["1", "2"], [1, 2])
    figure.canvas.draw()
    ticks = figure.axes[0].get_yticks()
    assert len(ticks) >= 2 and all(float(tick).is_integer() for tick in ticks)
    dimensions = [f"{d} Multiple Choice Question" for d in ("Belief", "Desire", "Emotion", "Intention")]
    labels = bar_figure("qa_type", dimensions, [5, 5, 6, 6]).axes[0].get_xticklabels()
    assert all(label.get_rotation() == 30 for label in labels)  # four cut labels do not fit side by side


# -- 18.9 a build's note names only its own builder's measurement ----------------------------------------


def test_the_tomato_notes_about_an_unfit_judge_name_only_tomato_measurements():
    from builders.tomato.false_belief import unfit_judges

    smollm2 = types.SimpleNamespace(label="local:smollm2")
    notes: list[str] = []
    assert not judges_wanted("auto", [smollm2], notes, what="tomato: item judges", flag="--item-judges")
    for text in (notes[0], unfit_judges([smollm2])):
        assert "ToMATO uniqueness checks" in text
        assert "LitCharToM" not in text and "Moral RolePlay" not in text
    profile = profile_for(parse_model("local:smollm2"))
    assert "LitCharToM" in profile.judge_note_for("litchartom") and "ToMATO" not in profile.judge_note_for("litchartom")
    assert "kappa -0.06" in profile.judge_note_for("moral_roleplay")


# -- 18.10 the licence: chosen, recorded, stated ----------------------------------------------------------


def test_license_ids_are_validated():
    assert license_id("CC-BY-SA-4.0") == "cc-by-sa-4.0" and license_id("mit") == "mit"
    with pytest.raises(argparse.ArgumentTypeError, match="not a licence id"):
        license_id("free for all!")
    from builders.cli import build_parser

    assert build_parser(builder_benchmark("tomato")).parse_args(["--license", "MIT"]).license == "mit"
    assert model_providers({"generator": "openai:gpt-4o-mini", "judge": "openai:gpt-4o-mini"}) == \
        [("openai:gpt-4o-mini", "OpenAI")]


def test_the_card_states_the_licence_who_chose_it_and_the_writer_models_provider(tomato_records, tmp_path):
    report = {"config": {"license": "mit"}, "models": {"generator": "anthropic:claude-sonnet-4-5",
                                                        "judge": "openai:gpt-4o"}}
    chosen = (release_with("tomato", tomato_records, tmp_path / "a", report=report) / "README.md").read_text()
    assert DatasetCard(chosen).data.license == "mit"
    assert "Licence: `mit`, chosen by the release config (`--license`)" in chosen
    assert "`anthropic:claude-sonnet-4-5` (Anthropic), `openai:gpt-4o` (OpenAI)" in chosen
    assert "subject to the provider's terms of use" in chosen
    default = (release_with("tomato", tomato_records, tmp_path / "b", report={"config": {"license": None}})
               / "README.md").read_text()
    assert DatasetCard(default).data.license == "cc-by-4.0" and "the toolkit's default for `tomato`" in default
