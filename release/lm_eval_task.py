"""Ready-to-run lm-evaluation-harness task files for a release folder on this machine.

    python -m release lm-eval-task releases/tomato/v1.0.0 --out tasks/
    lm_eval run --model local-chat-completions --apply_chat_template \\
        --model_args base_url=http://127.0.0.1:8080/v1/chat/completions,model=m \\
        --include_path tasks --tasks tomato_gen

The dataset card (README.md, Usage section) holds the tasks as YAML blocks. Their `dataset_path` is
the Hub repo the release was built (or pushed) for; a release built without one carries the folder's
path as seen from the folder holding `releases/` (`./releases/<benchmark>/vX.Y.Z`; older cards a
placeholder), never this machine's absolute path, because a release must be byte-identical wherever
it is built. This module copies each task block of the card into `<out>/<task>.yaml` with
`dataset_path` set to the release folder's absolute path, so the task runs from any directory: the
rest of the block, comments included, is the card's text, so what runs is what the card publishes.
`datasets` ignores `revision` for a local folder: the folder itself is the pinned version.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from release.card import LM_EVAL_LOCAL_PLACEHOLDER, LOCAL_RELEASES_ROOT
from release.manifest import read_manifest

README_NAME = "README.md"
USAGE_BEGIN = "<!-- toolkit:begin usage -->"
USAGE_END = "<!-- toolkit:end usage -->"
YAML_BLOCK = re.compile(r"^```yaml\n(.*?)^```$", re.S | re.M)


def card_task_blocks(release_dir: Path) -> list[str]:
    """The YAML text of every lm-evaluation-harness task in the release's card, in card order
    (the generative task first). Empty when the card defines none (Moral RolePlay)."""
    readme = release_dir / README_NAME
    if not readme.is_file():
        raise FileNotFoundError(f"{release_dir} has no {README_NAME}; pass a release folder written by this toolkit.")
    text = readme.read_text(encoding="utf-8")
    start, end = text.find(USAGE_BEGIN), text.find(USAGE_END)
    if start < 0 or end < start:
        raise ValueError(f"{readme} has no Usage section ({USAGE_BEGIN} ... {USAGE_END}); "
                         "re-render the card with this toolkit's release writer.")
    tasks = []
    for match in YAML_BLOCK.finditer(text, start, end):
        try:
            parsed = yaml.safe_load(match.group(1))
        except yaml.YAMLError as error:
            raise ValueError(f"a YAML block in the Usage section of {readme} does not parse ({error}); "
                             "re-render the card with this toolkit.") from None
        if isinstance(parsed, dict) and "task" in parsed:
            tasks.append(match.group(1))
    return tasks


def local_task_text(block: str, release_dir: Path) -> str:
    """A card task block reading `release_dir` (absolute) instead of the Hub repo or the placeholder."""
    lines = block.splitlines()
    at = [i for i, line in enumerate(lines) if line.startswith("dataset_path:")]
    if len(at) != 1:
        raise ValueError(f"a task block of {release_dir / README_NAME} has {len(at)} `dataset_path:` lines, "
                         "not one; re-render the card with this toolkit.")
    card_task = yaml.safe_load(block)
    first = at[0]
    if _is_local(card_task["dataset_path"]):  # the comment explaining the card's path goes with it
        while first > 0 and lines[first - 1].startswith("#"):
            first -= 1
    path = str(release_dir.resolve())
    # JSON string syntax is YAML double-quoted syntax: any path is written unambiguously.
    lines[first : at[0] + 1] = [f"dataset_path: {json.dumps(path)}"]
    text = "\n".join(lines) + "\n"
    if yaml.safe_load(text) != {**card_task, "dataset_path": path}:  # only the path may change
        raise ValueError(f"could not set dataset_path in the task {card_task['task']!r} of "
                         f"{release_dir / README_NAME}; re-render the card with this toolkit.")
    return text


def _is_local(dataset_path) -> bool:
    """A card's `dataset_path` for a release without a Hub repo: a relative folder path or the old placeholder."""
    return dataset_path == LM_EVAL_LOCAL_PLACEHOLDER or str(dataset_path).startswith(LOCAL_RELEASES_ROOT + "/")


def write_local_tasks(release_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Write every task of the release's card as `<out_dir>/<task>.yaml`; returns the files written."""
    release_dir, out_dir = Path(release_dir), Path(out_dir)
    manifest = read_manifest(release_dir)  # a release folder, not any folder with a README
    blocks = card_task_blocks(release_dir)
    if not blocks:
        raise ValueError(f"the card of {release_dir} ({manifest['benchmark']} v{manifest['version']}) defines no "
                         "lm-evaluation-harness task; its Usage section says how this benchmark is scored.")
    header = (f"# {manifest['benchmark']} v{manifest['version']} (content hash {manifest['content_hash']}), from the\n"
              "# release folder's card; written by `python -m release lm-eval-task` for this machine.\n")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for block in blocks:
        text = local_task_text(block, release_dir)
        target = out_dir / f"{yaml.safe_load(text)['task']}.yaml"
        target.write_text(header + text, encoding="utf-8")
        written.append(target)
    return written
