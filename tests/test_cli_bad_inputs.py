"""Every command line against a list of bad inputs: the documented exit code, no traceback, and a
message naming the problem.

Exit codes: builders and `python -m benchscore` give 2 for bad input (before any request);
`python -m release` gives 1 for an error and 2 for a usage error (argparse). Every case fails before
any model call: the scripted server the builders point at must see no chat request.

The commands run as subprocesses, a few at a time (each spends most of its second importing).
"""

from __future__ import annotations

import csv
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support.schema_faker import fake_model
from tests.support.scripted_llm import ScriptedOpenAIServer
from tests.test_reliability_support import CHAT_PATH, one_line, run
from tests.test_sources_pdnc import make_novel

PARALLEL = 3  # subprocesses at a time


def builder(benchmark: str, *flags: str, n: int = 4) -> list[str]:
    """A build against the scripted server; {out}, {cache}, {model} are filled in per run."""
    return ["-m", f"builders.{benchmark}", "--n", str(n), "--model", "{model}", "--out", "{out}",
            "--cache-dir", "{cache}", "--quiet", *flags]


def tool(module: str, *arguments: str) -> list[str]:
    return ["-m", module, *arguments]


# (id, arguments, exit code, fragments the one-line stderr must hold). {tmp}: a scratch folder with
# a_file (a file), a_dir (a folder), bad.yaml (not YAML), pdnc_short/ and pdnc_empty/ (damaged PDNC corpora).
CASES = [
    # shared builder flags
    ("n-zero", builder("tomato", n=0), 2, ["argument --n: must be at least 1, got 0"]),
    ("splits-nan", builder("tomato", "--splits", "train=nan,test=1"), 2,
     ["argument --splits", "ratio of split 'train' must be a finite number, got nan"]),
    ("splits-unknown-name", builder("tomato", "--splits", "trian=0.5,test=0.5"), 2, ["unknown split name(s) ['trian']"]),
    ("splits-too-fine-for-n", builder("tomato", "--splits", "train=0.8,validation=0.1,test=0.1", n=5), 2,
     ["needs --n 10 or more"]),
    ("max-cost-nan", builder("tomato", "--max-cost", "nan"), 2, ["argument --max-cost: must be greater than 0"]),
    ("timeout-zero", builder("tomato", "--timeout", "0"), 2, ["argument --timeout: must be greater than 0"]),
    ("n-negative", builder("tomato", n=-3), 2, ["argument --n: must be at least 1, got -3"]),
    ("n-not-a-number", [*builder("tomato"), "--n", "abc"], 2, ["argument --n: expected a whole number, got 'abc'"]),
    ("concurrency-zero", builder("tomato", "--concurrency", "0"), 2, ["argument --concurrency: must be at least 1, got 0"]),
    ("max-cost-negative", builder("tomato", "--max-cost", "-1"), 2, ["argument --max-cost: must be greater than 0, got -1"]),
    ("splits-sum", builder("tomato", "--splits", "train=0.9,test=0.3"), 2,
     ["argument --splits", "must be non-negative and sum to 1", "train=0.9,test=0.3"]),
    ("splits-not-a-number", builder("tomato", "--splits", "train=lots"), 2,
     ["argument --splits", "bad split ratio 'train=lots'", "write e.g. train=0.8,test=0.2"]),
    ("release-version", builder("tomato", "--release-version", "one"), 2,
     ["--release-version", "'one' is not a semantic version", "use X.Y.Z"]),
    ("model-unknown-provider", [*builder("tomato"), "--model", "foo:bar"], 2,
     ["unknown provider 'foo'", "known providers: openai, anthropic, openai-compatible, local"]),
    ("model-without-provider", [*builder("tomato"), "--model", "gpt-4o-mini"], 2,
     ["'gpt-4o-mini' is not of the form provider:model", "openai:gpt-4o-mini"]),
    ("model-compatible-without-name", [*builder("tomato"), "--model", "openai-compatible:127.0.0.1:8000"], 2,
     ["openai-compatible:<base URL>#<model name>", "e.g. openai-compatible:http://127.0.0.1:8000/v1#my-model"]),
    ("model-url-credentials", [*builder("tomato"), "--model", "openai-compatible:http://user:secret@127.0.0.1/v1#m"], 2,
     ["put no credentials in the server URL", "set OPENAI_COMPATIBLE_API_KEY"]),
    ("model-unknown-local", [*builder("tomato"), "--model", "local:llama-70b"], 2,
     ["unknown local model 'llama-70b'", "smollm2"]),
    ("model-profile-missing", builder("tomato", "--model-profile", "{tmp}/missing.yaml"), 2,
     ["model profile file {tmp}/missing.yaml not found"]),
    ("out-is-a-file", [*builder("tomato"), "--out", "{tmp}/a_file"], 2, ["--out {tmp}/a_file is a file"]),
    ("out-cannot-be-created", [*builder("tomato"), "--out", "/proc/x/releases"], 2,
     ["--out /proc/x/releases cannot be created or written to"]),
    ("cache-dir-is-a-file", [*builder("tomato"), "--cache-dir", "{tmp}/a_file"], 2,
     ["cannot create the cache folder {tmp}/a_file"]),
    ("salt-file-missing", builder("tomato", "--answer-key-salt-file", "{tmp}/missing.salt"), 2,
     ["answer-key salt {tmp}/missing.salt cannot be read"]),
    ("batch-without-a-batch-api", builder("tomato", "--batch"), 2,
     ["--batch needs a provider with a batch API (openai: or anthropic:)", "Drop --batch"]),
    ("batch-poll-seconds", builder("tomato", "--batch", "--batch-poll-seconds", "30,5"), 2,
     ["argument --batch-poll-seconds", "MAX at least FIRST"]),
    ("batch-gather-zero", builder("tomato", "--batch", "--batch-gather-seconds", "0"), 2,
     ["argument --batch-gather-seconds: must be greater than 0"]),
    ("tomato-exchanges", builder("tomato", "--exchanges", "9"), 2, ["argument --exchanges: invalid choice: 9"]),
    ("tomato-max-conversations", builder("tomato", "--max-conversations", "-1"), 2,
     ["argument --max-conversations: must be at least 1, got -1"]),
    ("tomato-temperature-nan", builder("tomato", "--temperature", "nan"), 2,
     ["argument --temperature: must be a number from 0 to 2, got nan"]),
    ("tomato-turn-attempts", builder("tomato", "--turn-attempts", "0"), 2,
     ["argument --turn-attempts: must be at least 1, got 0"]),
    # PersonaEval
    ("personaeval-empty-plays", builder("personaeval", "--plays", ""), 2, ["argument --plays: names nothing ('')"]),
    ("personaeval-empty-novels", builder("personaeval", "--novels", ","), 2, ["argument --novels: names nothing"]),
    ("personaeval-unknown-track", builder("personaeval", "--track", "poetry"), 2, ["unknown --track 'poetry'"]),
    ("personaeval-unknown-play", builder("personaeval", "--plays", "hamlet,no-such-play"), 2,
     ["unknown play id(s) no-such-play in --plays"]),
    ("personaeval-literary-without-pdnc", builder("personaeval", "--track", "literary"), 2,
     ["--track literary needs --pdnc-dir"]),
    ("personaeval-pdnc-dir-missing", builder("personaeval", "--track", "literary", "--pdnc-dir", "{tmp}/missing"), 2,
     ["--pdnc-dir {tmp}/missing does not exist"]),
    ("personaeval-script-is-a-folder", builder("personaeval", "--track", "script", "--script", "{tmp}/a_dir"), 2,
     ["--script {tmp}/a_dir is not a file"]),
    ("personaeval-header-only-pdnc", builder("personaeval", "--track", "literary", "--pdnc-dir", "{tmp}/pdnc_empty"),
     2, ["{tmp}/pdnc_empty/Emma/quotation_info.csv: the file has a header and no rows"]),
    ("personaeval-context-turns", builder("personaeval", "--context-turns", "many"), 2,
     ["argument --context-turns: invalid non_negative_int value: 'many'"]),
    ("personaeval-temperature-nan", builder("personaeval", "--temperature", "nan"), 2,
     ["argument --temperature: must be a number from 0 to 2, got nan"]),
    # LitCharToM
    ("litchartom-empty-plays", builder("litchartom", "--plays", ","), 2, ["argument --plays: names nothing (',')"]),
    ("litchartom-empty-gutenberg", builder("litchartom", "--gutenberg-ids", ""), 2, ["argument --gutenberg-ids"]),
    ("litchartom-novels-without-dir", builder("litchartom", "--novels", "Emma"), 2, ["--novels needs --pdnc-dir"]),
    ("litchartom-ood-not-loaded", builder("litchartom", "--plays", "macbeth", "--ood-works", "hamlet"), 2,
     ["--ood-works names 'hamlet', which is not among the loaded works"]),
    ("litchartom-min-plots", builder("litchartom", "--min-plots", "0"), 2, ["argument --min-plots: must be at least 1"]),
    ("litchartom-short-row", builder("litchartom", "--pdnc-dir", "{tmp}/pdnc_short", "--novels", "Emma"), 2,
     ["{tmp}/pdnc_short/Emma/quotation_info.csv, line 3, column 5: the row has 4 cells"]),
    # Moral RolePlay
    ("moral-empty-plays", builder("moral_roleplay", "--plays", " , "), 2, ["argument --plays: names nothing"]),
    ("moral-window", builder("moral_roleplay", "--window", "99"), 2, ["--window 99 must be within 9-32 speeches"]),
    ("moral-script-missing", builder("moral_roleplay", "--script", "{tmp}/missing.txt"), 2,
     ["{tmp}/missing.txt: file not found"]),
    ("moral-script-is-a-folder", builder("moral_roleplay", "--script", "{tmp}/a_dir"), 2,
     ["{tmp}/a_dir: cannot be read (Is a directory)"]),
    ("moral-per-level", builder("moral_roleplay", "--per-level", "-1"), 2, ["argument --per-level: must be at least 1"]),
    ("moral-max-scenes", builder("moral_roleplay", "--max-scenes", "-3"), 2, ["argument --max-scenes: must be 0 or more"]),
    ("moral-temperature", builder("moral_roleplay", "--temperature", "3"), 2,
     ["argument --temperature: must be a number from 0 to 2, got 3"]),
    ("moral-pdnc-dir-is-a-file", builder("moral_roleplay", "--pdnc-dir", "{tmp}/a_file"), 2,
     ["--pdnc-dir {tmp}/a_file is not a folder"]),
    ("moral-short-row", builder("moral_roleplay", "--pdnc-dir", "{tmp}/pdnc_short"), 2,
     ["{tmp}/pdnc_short/Emma/quotation_info.csv, line 3, column 5"]),
    # python -m release
    ("release-no-command", tool("release"), 2, ["usage: python -m release"]),
    ("release-push-without-repo", tool("release", "push", "{tmp}/missing"), 2,
     ["the following arguments are required: --repo"]),
    ("release-push-missing-folder", tool("release", "push", "{tmp}/missing", "--repo", "org/name"), 1,
     ["'{tmp}/missing' is neither a release folder (no manifest.json) nor a benchmark with releases"]),
    ("release-rebuild-nothing-named", tool("release", "rebuild"), 1, ["name a benchmark, pass --config FILE"]),
    ("release-rebuild-unknown", tool("release", "rebuild", "no_such_benchmark"), 1,
     ["no_such_benchmark.yaml not found"]),
    ("release-rebuild-bad-yaml", tool("release", "rebuild", "--config", "{tmp}/bad.yaml"), 1,
     ["{tmp}/bad.yaml is not valid YAML"]),
    ("release-export-missing", tool("release", "export", "{tmp}/missing", "--out", "{tmp}/exported"), 1,
     ["is neither a release folder"]),
    ("release-lm-eval-missing", tool("release", "lm-eval-task", "{tmp}/missing", "--out", "{tmp}/tasks"), 1,
     ["is neither a release folder"]),
    # python -m benchscore
    ("benchscore-missing-release", tool("benchscore", "{tmp}/missing", "--model", "{model}", "--cache-dir", "{cache}"),
     2, ["{tmp}/missing does not exist"]),
    ("benchscore-bad-model", tool("benchscore", "{tmp}/missing", "--model", "foo:bar", "--cache-dir", "{cache}"), 2,
     ["unknown provider 'foo'"]),
    ("benchscore-limit", tool("benchscore", "{tmp}/missing", "--model", "{model}", "--limit", "0"), 2,
     ["argument --limit"]),
    ("benchscore-no-model", tool("benchscore", "{tmp}/missing"), 2, ["the following arguments are required: --model"]),
]


# Cases that get as far as the builder's source loading (models made, works read): 3-4 s each, and cases
# whose code path another default case (or tests/test_reliability_inputs.py) already takes, are marked
# slow so that the default selection stays under a minute.
SLOW = {"release-version", "model-unknown-provider", "out-is-a-file", "release-export-missing",
        "release-lm-eval-missing",
        "personaeval-unknown-track", "personaeval-unknown-play", "personaeval-literary-without-pdnc",
        "personaeval-pdnc-dir-missing", "personaeval-script-is-a-folder", "personaeval-header-only-pdnc",
        "litchartom-novels-without-dir", "litchartom-ood-not-loaded", "litchartom-short-row", "moral-window",
        "moral-script-missing", "moral-script-is-a-folder", "moral-pdnc-dir-is-a-file", "moral-short-row"}


def scratch(tmp: Path) -> None:
    (tmp / "a_file").write_text("not a folder\n")
    (tmp / "a_dir").mkdir()
    (tmp / "bad.yaml").write_text("benchmark: [\n")
    short = make_novel(tmp / "pdnc_short" / "Emma")
    empty = make_novel(tmp / "pdnc_empty" / "Emma")
    for folder, keep in ((short, None), (empty, 1)):
        with (folder / "quotation_info.csv").open(encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle))
        if keep is None:
            rows[2] = rows[2][:4]  # line 3 ends after quoteByteSpans
        with (folder / "quotation_info.csv").open("w", encoding="utf-8", newline="") as handle:
            csv.writer(handle).writerows(rows[:keep])


@pytest.fixture(scope="module")
def server():
    with ScriptedOpenAIServer(responder=fake_model) as scripted:
        yield scripted


@pytest.fixture(scope="module")
def outcomes(server, tmp_path_factory, request):
    """Case id -> (the message's {placeholders} filled in, the finished process): every selected case
    is run up front, a few at a time."""
    tmp = tmp_path_factory.mktemp("bad_inputs")
    scratch(tmp)
    selected = {item.callspec.params["case_id"] for item in request.session.items  # selected and not skipped
                if item.module is request.module and hasattr(item, "callspec") and not item.get_closest_marker("skip")}

    def one(case):
        case_id, arguments, _, fragments = case
        fill = {"tmp": str(tmp), "model": f"openai-compatible:{server.base_url}#fake",
                "out": str(tmp / case_id / "out"), "cache": str(tmp / case_id / "cache")}
        command = [sys.executable, *(argument.format(**fill) for argument in arguments)]
        return case_id, ([fragment.format(**fill) for fragment in fragments], run(command, timeout=180))

    with ThreadPoolExecutor(PARALLEL) as pool:
        return dict(pool.map(one, [case for case in CASES if case[0] in selected]))


@pytest.mark.parametrize("case_id, code", [
    pytest.param(case[0], case[2], id=case[0], marks=[pytest.mark.slow] if case[0] in SLOW else [])
    for case in CASES])
def test_bad_input_gets_its_exit_code_and_one_message_without_a_traceback(outcomes, case_id, code):
    if case_id == "out-cannot-be-created" and not Path("/proc/self").is_dir():
        pytest.skip("needs Linux /proc")
    fragments, result = outcomes[case_id]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert result.returncode == code, (result.returncode, result.stderr[-3000:])
    message = one_line(result.stderr)
    for fragment in fragments:
        assert fragment in message, (fragment, message[-3000:])


def test_no_bad_input_reached_the_model(outcomes, server):
    assert [r.path for r in server.requests if r.path.endswith(CHAT_PATH)] == []
