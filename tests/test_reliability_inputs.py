"""Bad input through the real command lines: the exit code, and a message naming the problem and the fix.

Exit codes of the builders (builders/cli.py): 0 ok, 1 failed (no records), 2 bad input, 3 budget
spent. Every bad-input case here fails before the first model call: the fake server counts zero.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import sys
from pathlib import Path

import pytest

from builders.llm.cache import SCHEMA
from tests.test_reliability_support import (CACHE_FILE, build, build_report, chat_bodies, clean_env, fake_server,
                                            model_of, one_line, rejects, release_dir, run)

__all__ = ["fake_server"]

SMALL = 5  # records: one conversation, a build of ~3 s


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_bad_input(result, *fragments: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    message = one_line(result.stderr)
    for fragment in fragments:
        assert fragment in message, (fragment, message[-2000:])
    assert "Traceback" not in result.stderr


# ---- flags ----------------------------------------------------------------------------------------


# Bad flag values and model strings: cases of tests/test_cli_bad_inputs.py, which runs every CLI.


@pytest.mark.parametrize("model, variable, base_url", [
    ("openai:gpt-4o-mini", "OPENAI_API_KEY", "OPENAI_BASE_URL"),
    ("anthropic:claude-sonnet-4-5", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"),
])
def test_a_missing_api_key_is_named_before_any_request(fake_server, tmp_path, model, variable, base_url):
    env = clean_env(**{base_url: fake_server.base_url, variable: "  "})  # blank counts as missing
    result = run([sys.executable, "-m", "builders.tomato", "--n", "5", "--model", model, "--quiet",
                  "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache")], env=env)
    assert_bad_input(result, f"needs an API key: set the environment variable {variable}", f"export {variable}=")
    assert fake_server.requests == []


# ---- where the release goes -------------------------------------------------------------------------


def test_out_pointing_at_a_file_is_refused(fake_server, tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    result = build(fake_server, tmp_path, out="a-file")
    assert_bad_input(result, f"--out {tmp_path / 'a-file'} is a file", "give a folder")
    result = build(fake_server, tmp_path, out="a-file/releases")
    assert_bad_input(result, f"{tmp_path / 'a-file'} is a file", "give a folder path")
    assert chat_bodies(fake_server) == [] and (tmp_path / "a-file").read_text() == "not a folder"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_out_in_an_unwritable_folder_is_refused(fake_server, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        result = build(fake_server, tmp_path, out="locked/releases")
    finally:
        locked.chmod(0o755)
    assert_bad_input(result, f"--out {locked / 'releases'} is not writable", "choose a folder you can write to")
    assert chat_bodies(fake_server) == []


@pytest.mark.slow
@pytest.mark.ci
def test_existing_releases_and_requested_versions(fake_server, tmp_path):
    """What happens when the release folder already exists (docs/failure-modes.md, "Release folders")."""
    out = tmp_path / "out"
    assert build(fake_server, tmp_path, n=SMALL).returncode == 0
    first = release_dir(out)
    manifest = (first / "manifest.json").read_bytes()

    # the same command again: every reply is cached, the data is identical, no new version
    start = len(fake_server.requests)
    again = build(fake_server, tmp_path, n=SMALL)
    assert again.returncode == 0 and chat_bodies(fake_server, start) == []
    assert build_report(out)["release"]["noop"] is True and not release_dir(out, "v1.0.1").exists()
    assert (first / "manifest.json").read_bytes() == manifest

    # a requested version that exists or goes backwards fails before any request
    for version, fragments in (("1.0.0", ["version v1.0.0 already exists", "pick a new one"]),
                               ("0.9.0", ["version v0.9.0 goes backwards", "the latest release is v1.0.0",
                                          "request a higher version or omit it"])):
        start = len(fake_server.requests)
        result = build(fake_server, tmp_path, "--seed", "1", "--release-version", version, n=SMALL)
        assert_bad_input(result, *fragments)
        assert chat_bodies(fake_server, start) == []

    # a folder in the way that is not a release (no manifest.json) is named, never overwritten
    (release_dir(out, "v1.0.1") / "data").mkdir(parents=True)
    result = build(fake_server, tmp_path, "--seed", "1", n=SMALL)
    assert_bad_input(result, f"{release_dir(out, 'v1.0.1')} exists but is not a complete release",
                     "move it aside")
    (release_dir(out, "v1.0.1") / "data").rmdir()
    release_dir(out, "v1.0.1").rmdir()

    # other data is a new version next to the old one, which stays as it was
    assert build(fake_server, tmp_path, "--seed", "1", n=SMALL).returncode == 0
    assert (release_dir(out, "v1.0.1") / "manifest.json").is_file()
    assert (first / "manifest.json").read_bytes() == manifest


# ---- the response cache -------------------------------------------------------------------------


def other_format_cache(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute("INSERT INTO meta VALUES ('format_version', '2')")
        db.execute("CREATE TABLE responses (key TEXT PRIMARY KEY, value BLOB NOT NULL, created REAL NOT NULL)")
    db.close()


def foreign_database(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE notes (text TEXT)")
    db.close()


def foreign_with_meta(path: Path) -> None:
    """Another program's database that happens to have a `meta` table (the issue's case)."""
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute("INSERT INTO meta VALUES ('app', 'notes')")
        db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
        db.executemany("INSERT INTO notes (text) VALUES (?)", [(f"note {n}",) for n in range(465)])
    db.close()


def our_meta_other_responses(path: Path) -> None:
    """Our meta table and version row, but a `responses` table of another shape."""
    with sqlite3.connect(path) as db:
        db.execute(SCHEMA["meta"])
        db.execute("INSERT INTO meta VALUES ('format_version', '1')")
        db.execute("CREATE TABLE responses (key TEXT PRIMARY KEY, value TEXT, created REAL NOT NULL)")
        db.execute("INSERT INTO responses VALUES ('k', 'v', 0)")
    db.close()


def our_tables_without_version(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute(SCHEMA["meta"])
        db.execute(SCHEMA["responses"])
    db.close()


@pytest.mark.parametrize("make_file, fragments", [
    (lambda path: path.write_bytes(os.urandom(8192)), ["is unreadable (file is not a database)"]),
    (other_format_cache, ["has format version 2; this toolkit reads version 1"]),
    (foreign_database, ["is an SQLite file but not a response cache of this toolkit (tables: notes)"]),
    (foreign_with_meta, ["is an SQLite file but not a response cache of this toolkit", "tables: meta, notes"]),
    (our_meta_other_responses, ["is an SQLite file but not a response cache of this toolkit",
                                "table responses has columns key TEXT PRIMARY KEY, value TEXT, created REAL NOT NULL",
                                "a response cache has key TEXT PRIMARY KEY, value BLOB NOT NULL"]),
    (our_tables_without_version, ["its meta table has no format_version"]),
], ids=["random bytes", "another format version", "another program's database",
        "foreign database with a meta table", "our meta, another responses shape", "no format_version row"])
def test_a_cache_file_that_is_not_ours_is_named_left_untouched_and_a_fresh_cache_works(
        fake_server, tmp_path, make_file, fragments):
    cache = tmp_path / "cache"
    cache.mkdir()
    make_file(cache / CACHE_FILE)
    before = sha256(cache / CACHE_FILE)
    result = build(fake_server, tmp_path, n=SMALL)
    assert_bad_input(result, str(cache / CACHE_FILE), *fragments, "The file was left in place",
                     "Move it aside or pass another --cache-dir")
    assert sha256(cache / CACHE_FILE) == before and chat_bodies(fake_server) == []
    # nothing else: not even the answer-key salt, which is created only once the cache is usable
    assert sorted(p.name for p in cache.iterdir()) == [CACHE_FILE]

    if "unreadable" in fragments[0]:  # the advice works (one case is enough: the same code path)
        assert build(fake_server, tmp_path, n=SMALL, cache="fresh-cache").returncode == 0


# ---- records that fail the schema ---------------------------------------------------------------

# A builder whose generate() is ToMATO's with every third record of a batch broken in a way the
# schema forbids (a_idx outside 0..3), deterministically.
CORRUPTING_BUILDER = '''
from builders.cli import run_builder
from builders.pipeline import Batch
from builders.tomato.build import BENCHMARK, add_arguments, generate


async def corrupting(ctx):
    async for batch in generate(ctx):
        for index, record in enumerate(batch.records):
            if index % 3 == 0:
                record["a_idx"] = 7
        yield batch


raise SystemExit(run_builder(BENCHMARK, corrupting, add_arguments=add_arguments))
'''


def test_records_failing_the_schema_are_quarantined_with_reasons_and_counted(fake_server, tmp_path):
    script = tmp_path / "corrupting_builder.py"
    script.write_text(CORRUPTING_BUILDER)
    out = tmp_path / "out"
    result = run([sys.executable, str(script), "--n", "10", "--model", model_of(fake_server), "--quiet",
                  "--out", str(out), "--cache-dir", str(tmp_path / "cache")])
    assert result.returncode == 0, result.stderr[-3000:]

    quarantined = [r for r in rejects(out) if r["stage"] == "validate"]
    assert quarantined and all(r["record"]["a_idx"] == 7 for r in quarantined)
    assert all("a_idx" in r["reason"] and "7" in r["reason"] for r in quarantined)
    funnel = build_report(out)["funnel"]
    assert funnel["candidates"] - funnel["passed validation"] == len(quarantined)

    manifest = json.loads((release_dir(out) / "manifest.json").read_text())
    assert manifest["build_report"]["funnel"]["passed validation"] == funnel["passed validation"]
    assert sum(manifest["build_report"]["rejects"]["validate"].values()) == len(quarantined)
    card = (release_dir(out) / "README.md").read_text()
    assert f"| passed validation | {funnel['passed validation']} |" in card.replace("`", "")


# ---- source texts ---------------------------------------------------------------------------------


def broken_pdnc(root: Path) -> Path:
    novel = root / "pdnc" / "Emma"  # a public-domain name, so the loader reads the folder
    novel.mkdir(parents=True)
    (novel / "novel_text.txt").write_text("Emma Woodhouse, handsome, clever, and rich.\n")
    (novel / "character_info.csv").write_text("Character ID,Main Name,Aliases,Gender,Category\n"
                                              "0,Emma Woodhouse,\"{'Emma'}\",F,major\n")
    (novel / "quotation_info.csv").write_bytes(b"quoteID,subQuotationList\n\"Q1,[unclosed\n\xff\xfe")
    return root / "pdnc"


@pytest.mark.parametrize("source, fragments", [
    ("pdnc", ["quotation_info.csv", "Fix:"]),
    ("script", ["no-speakers.txt", "no speaker lines found", "Fix: write each speech as `NAME: words`"]),
])
def test_unreadable_source_texts_are_named_with_the_fix(fake_server, tmp_path, source, fragments):
    if source == "pdnc":
        flags = ["--track", "literary", "--pdnc-dir", str(broken_pdnc(tmp_path))]
    else:
        (tmp_path / "no-speakers.txt").write_text("Just prose.\nNobody speaks in this file at all.\n")
        flags = ["--track", "script", "--script", str(tmp_path / "no-speakers.txt")]
    result = run([sys.executable, "-m", "builders.personaeval", "--n", "5", "--model", model_of(fake_server),
                  "--quiet", "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache"), *flags])
    assert_bad_input(result, *fragments)
    assert chat_bodies(fake_server) == []


# ---- the release command line -------------------------------------------------------------------


@pytest.mark.parametrize("text, fragments", [
    ("benchmark: tomato\nmodel: [1, 2\n", ["is not valid YAML at line", "fix the file"]),
    ("- tomato\n- local:smollm2\n", ["must be a YAML mapping of keys to values"]),
    ("benchmark: tomato\nmodel: local:smollm2\nn: lots\nseed: 0\n", ["n must be a whole number, got 'lots'"]),
    ("benchmark: tomato\nmodel: local:smollm2\nn: 0\nseed: 0\n", ["n must be at least 1, got 0"]),
    ("benchmark: tomato\nmodel: local:smollm2\nn: 5\n", ["missing required key(s) ['seed']"]),
    ("benchmark: tomato\nmodel: local:smollm2\nn: 5\nseed: 0\nhub: x/y\n", ["unknown key(s) ['hub']"]),
    (None, ["not found", "pass an existing YAML file"]),
], ids=["malformed", "a list", "n not a number", "n zero", "missing key", "unknown key", "no file"])
def test_an_invalid_release_config_is_named_before_anything_runs(tmp_path, text, fragments):
    config = tmp_path / "bad.yaml"
    if text is not None:
        config.write_text(text)
    result = run([sys.executable, "-m", "release", "rebuild", "--config", str(config), "--no-push"])
    assert result.returncode == 1, result.stderr
    message = one_line(result.stderr)
    assert message.startswith(f"error: {config}") or str(config) in message
    for fragment in fragments:
        assert fragment in message, message
    assert "Traceback" not in result.stderr and not (tmp_path / "releases").exists()


@pytest.mark.slow
@pytest.mark.ci
def test_push_without_a_token_names_hf_token(fake_server, local_hub, tmp_path, monkeypatch):
    assert build(fake_server, tmp_path, n=SMALL).returncode == 0
    env = clean_env(HF_ENDPOINT=local_hub.endpoint, HF_HOME=str(tmp_path / "hf-home"))
    result = run([sys.executable, "-m", "release", "push", str(release_dir(tmp_path / "out")),
                  "--repo", "org/tomato-test"], env=env)
    assert result.returncode == 1, result.stderr
    message = one_line(result.stderr)
    assert "HF_TOKEN" in message and "Traceback" not in result.stderr, message
    assert local_hub.request_counts.get("commit", 0) == 0
