"""The lm-evaluation-harness tasks in the dataset cards, and `python -m release lm-eval-task`.

Every check here runs without lm_eval: the tasks' Jinja templates are rendered the way lm-eval
renders them, over the rows `datasets` loads from a real release of each benchmark, and the answer
regex is applied the way lm-eval's `regex` filter applies it. tests/test_lm_eval_harness.py runs the
same tasks through the real harness.
"""

from __future__ import annotations

import re

import datasets
import jinja2
import pytest
import yaml

from release.__main__ import main
from release.card import LOCAL_RELEASES_ROOT
from release.lm_eval_task import USAGE_BEGIN, USAGE_END, card_task_blocks
from tests.support.fake_releases import fake_records, write_fake_release
from tests.test_reliability_support import release_files

MULTIPLE_CHOICE = ("tomato", "personaeval", "litchartom")  # Moral RolePlay has no answer to compare with


@pytest.fixture(scope="module")
def release_of(tmp_path_factory):
    """(name, repo_id) -> release folder of a fake build, built once per module."""
    made, records = {}, {}

    def get(name: str, repo_id: str | None = None):
        if (name, repo_id) not in made:
            records.setdefault(name, fake_records(name))
            made[name, repo_id] = write_fake_release(name, records[name], tmp_path_factory.mktemp("releases"),
                                                     repo_id=repo_id)
        return made[name, repo_id]

    return get


def card_tasks(release) -> list[dict]:
    return [yaml.safe_load(block) for block in card_task_blocks(release)]


def usage_section(release) -> str:
    text = (release / "README.md").read_text(encoding="utf-8")
    return text[text.index(USAGE_BEGIN) : text.index(USAGE_END)]


# lm-eval renders doc_to_text / doc_to_target / doc_to_choice like this (lm_eval.utils.apply_template)
_LM_EVAL_JINJA = jinja2.Environment(loader=jinja2.BaseLoader(), undefined=jinja2.StrictUndefined,
                                    keep_trailing_newline=True)


def render(template, row: dict):
    if not isinstance(template, str):
        return template
    if "{{" not in template and template in row:  # a bare field name, e.g. `doc_to_target: a_idx`
        return row[template]
    text = _LM_EVAL_JINJA.from_string(template).render(**row)
    return yaml.safe_load(text) if text.startswith("[") else text  # lm-eval reads a list literal back


def extract_answer(task: dict, reply: str) -> str | None:
    """What the task's filters make of a reply, as lm-eval's `regex` then `take_first` filters do."""
    [pipeline] = task["filter_list"]
    regex, take_first = pipeline["filter"]
    assert regex["function"] == "regex" and take_first["function"] == "take_first"
    found = re.findall(regex["regex_pattern"], reply)
    if not found:
        return None
    match = found[regex.get("group_select", 0)]
    if isinstance(match, tuple):
        match = next((group for group in match if group), None)
    return match.strip() if match else None


def gold_letter(name: str, row: dict) -> str:
    if name == "tomato":
        return "ABCD"[row["a_idx"]]
    if name == "personaeval":
        return "ABCDE"[row["gold_index"]]
    return row["correct_answer"]


def gold_option(name: str, row: dict):
    """What the multiple-choice variant's target must pick among its choices."""
    return {"tomato": lambda: row["a_str"], "personaeval": lambda: row["gt"],
            "litchartom": lambda: row["correct_answer"]}[name]()


# -- the cards --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MULTIPLE_CHOICE)
def test_each_card_gives_a_generative_task_first_and_a_log_likelihood_variant_second(name, release_of):
    release = release_of(name)
    generative, loglik = card_tasks(release)
    assert (generative["task"], generative["output_type"]) == (f"{name}_gen", "generate_until")
    assert (loglik["task"], loglik["output_type"]) == (f"{name}_mc", "multiple_choice")
    assert generative["metric_list"] == [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True}]
    assert generative["generation_kwargs"]["until"] and generative["generation_kwargs"]["max_gen_toks"] <= 32
    for task in (generative, loglik):
        # no Hub repo named: the folder as seen from the one holding releases/, never a Hub-like id
        assert task["dataset_path"] == f"{LOCAL_RELEASES_ROOT}/{name}/v1.0.0"
        assert task["dataset_kwargs"] == {"revision": "v1.0.0"} and task["test_split"] == "test"
    usage = usage_section(release)
    assert usage.index("generate_until") < usage.index("multiple_choice")
    assert "KeyError: 'token_logprobs'" in usage and "python -m release lm-eval-task" in usage


@pytest.mark.parametrize("name", MULTIPLE_CHOICE)
def test_task_templates_render_every_released_row_with_the_gold_answer(name, release_of, tmp_path):
    release = release_of(name)
    generative, loglik = card_tasks(release)
    rows = datasets.load_dataset(str(release), generative["dataset_name"], split=generative["test_split"],
                                 cache_dir=str(tmp_path / "cache"))
    assert rows.num_rows > 0
    for row in rows:
        prompt = render(generative.get("description", ""), row) + render(generative["doc_to_text"], row)
        assert render(generative["doc_to_target"], row) == gold_letter(name, row)
        assert "{{" not in prompt and "{%" not in prompt
        if name == "tomato":  # the spec's prompt: transcript, question, options [A]..[D]
            assert row["conversation"] in prompt and row["q"] in prompt
            assert all(f"[{letter}] {row[f'a{i}']}" in prompt for i, letter in enumerate("ABCD"))
        elif name == "personaeval":  # the JSON answer format is replaced by lettered candidates
            assert "JSON" in row["prompt"] and "JSON" not in prompt
            assert prompt.startswith(row["prompt"].split("\n## Answer format")[0])
            assert f"{gold_letter(name, row)}. {row['gt']}\n" in prompt
        else:  # the released README-layout prompt
            assert prompt.startswith(row["messages"][0]["content"]) and "Answer: <letter>" in prompt

        choices = render(loglik["doc_to_choice"], row)
        target = render(loglik["doc_to_target"], row)
        target = int(target) if isinstance(target, str) and target.isdigit() else target
        picked = choices[target] if isinstance(target, int) else choices[choices.index(target)]
        assert len(choices) == 4 and picked == gold_option(name, row)
        assert render(loglik["doc_to_text"], row).strip()


REPLIES = [  # (reply, the letter a ToMATO / PersonaEval task scores, the letter a LitCharToM task scores)
    ("[B]", "B", "B"),
    ("(C)", "C", "C"),
    ("D", "D", "D"),
    ("Answer: A", "A", "A"),
    ("**B**", "B", "B"),
    ("B. She thinks that he feels calm.", "B", "B"),
    ("The answer is C.", "C", "C"),
    ("I pick [D] because (A) is wrong.", "D", "D"),
    ("[A] looks likely, but on reflection... Answer: C", "A", "C"),  # ToMATO: first bracket; LitCharToM: last Answer
    ("Answer: B\nAnswer: D", "B", "D"),
    ("A person would say so.", None, None),  # an article is no answer
    ("Bob is speaking.", None, None),
    ("", None, None),
]


@pytest.mark.parametrize("reply,first_rule,last_answer_rule", REPLIES)
def test_the_answer_regex_takes_the_letter_out_of_chat_replies(reply, first_rule, last_answer_rule, release_of):
    for name in MULTIPLE_CHOICE:
        generative = card_tasks(release_of(name))[0]
        expected = last_answer_rule if name == "litchartom" else first_rule
        assert extract_answer(generative, reply) == expected, (name, reply)
    personaeval = card_tasks(release_of("personaeval"))[0]
    assert extract_answer(personaeval, "E") == "E"  # a fifth candidate (the Expertise layout)


def test_moral_roleplay_card_has_no_task_and_points_to_its_simulation_and_judge_protocol(release_of):
    release = release_of("moral_roleplay")
    usage = usage_section(release)
    assert card_task_blocks(release) == [] and "```yaml" not in usage
    assert "simulation" in usage and "judge" in usage and "python -m benchscore" in usage
    assert "python -m release export" in usage


@pytest.mark.parametrize("name", MULTIPLE_CHOICE)
def test_a_release_built_for_a_hub_repo_names_it_in_its_tasks(name, release_of):
    release = release_of(name, "org/fresh-benchmark")
    for task in card_tasks(release):
        assert task["dataset_path"] == "org/fresh-benchmark"
    assert "placeholder" not in usage_section(release)


def test_a_release_without_a_hub_repo_is_byte_identical_wherever_it_is_written(tmp_path):
    records = fake_records("tomato")
    first = write_fake_release("tomato", records, tmp_path / "here" / "releases")
    second = write_fake_release("tomato", records, tmp_path / "somewhere" / "else")
    assert release_files(first) == release_files(second)
    assert str(tmp_path) not in (first / "README.md").read_text()


# -- python -m release lm-eval-task -------------------------------------------------------------------


def test_lm_eval_task_writes_the_cards_tasks_reading_the_local_release_folder(release_of, tmp_path, capsys):
    release = release_of("tomato")
    assert main(["lm-eval-task", str(release), "--out", str(tmp_path / "tasks")]) == 0
    assert "--include_path" in capsys.readouterr().out  # prints how to run them
    written = sorted(p.name for p in (tmp_path / "tasks").iterdir())
    assert written == ["tomato_gen.yaml", "tomato_mc.yaml"]
    for block, card_task in zip(card_task_blocks(release), card_tasks(release)):
        text = (tmp_path / "tasks" / f"{card_task['task']}.yaml").read_text()
        task = yaml.safe_load(text)
        assert task == {**card_task, "dataset_path": str(release.resolve())}  # only the path changed
        assert "placeholder" not in text and "# tomato v1.0.0 (content hash" in text
        # the card's own lines, comments included, are kept
        kept = [line for line in block.splitlines() if not line.startswith(("# this release folder", "# `python",
                                                                            "dataset_path:"))]
        assert all(line in text.splitlines() for line in kept)


def test_lm_eval_task_also_localises_a_release_built_for_a_hub_repo(release_of, tmp_path):
    release = release_of("litchartom", "org/fresh-benchmark")
    assert main(["lm-eval-task", str(release), "--out", str(tmp_path)]) == 0
    assert yaml.safe_load((tmp_path / "litchartom_gen.yaml").read_text())["dataset_path"] == str(release.resolve())


def test_lm_eval_task_refuses_a_release_without_tasks_and_a_folder_that_is_no_release(release_of, tmp_path, capsys):
    assert main(["lm-eval-task", str(release_of("moral_roleplay")), "--out", str(tmp_path / "tasks")]) == 1
    assert "defines no lm-evaluation-harness task" in capsys.readouterr().err
    assert main(["lm-eval-task", str(tmp_path), "--out", str(tmp_path / "tasks")]) == 1
    assert "neither a release folder" in capsys.readouterr().err
    assert not (tmp_path / "tasks").exists()
