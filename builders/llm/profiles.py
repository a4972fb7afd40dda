"""Model profiles: what a model can do, in one place.

A builder never hard-codes what a model can handle. Every model string resolves to one profile
(context window, grammar-constrained decoding, the text contract its schemas use, fitness to judge,
concurrency, and per-builder limits such as excerpt lengths or reply sizes). The known profiles
are data (builders/llm/profiles.yaml); a user names another one or overrides fields with
`--model-profile NAME|FILE.yaml` (`--judge-profile` for the judge). Builders read
`llm.profile.natural`, `llm.profile.judge`, `llm.profile.limit("tomato.thought_words")`...

A profile that cannot be right for its model (a grammar claimed for an API that has none, a context
window smaller than the smallest prompt a builder sends) is refused before any request.
"""

from __future__ import annotations

import copy
import fnmatch
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from .errors import ConfigError
from .models import ModelSpec, parse_model

PROFILES_FILE = Path(__file__).with_name("profiles.yaml")
BASE_PROFILE = "capable"  # declares every field and every limit key
CONTRACTS = ("strict", "natural")
FIELDS = ("description", "context_tokens", "grammar", "contract", "judge", "judge_note", "concurrency", "smoke_test",
          "limits")
FILE_ONLY_KEYS = ("extends", "name")  # allowed in a user's profile file besides FIELDS
GRAMMAR_PROVIDERS = ("local", "openai-compatible")  # servers that can decode under a llama.cpp grammar
# The embedded server's context per slot (builders.llm.providers.local_model.CONTEXT_PER_SLOT);
# a profile cannot give the embedded model more than its server holds.
LOCAL_CONTEXT_TOKENS = 2048
CHARS_PER_TOKEN = 4  # the usual rough rate for English; only used for coarse fits, never to cut text


@dataclass(frozen=True)
class ModelProfile:
    name: str
    description: str
    context_tokens: int
    grammar: bool
    contract: str
    judge: bool
    judge_note: str
    concurrency: int
    smoke_test: bool = False  # proves the pipeline runs; what it writes is not fit for evaluation
    limits: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    origin: str = "built-in"  # "built-in", or "file" when a user's file changed it (the path is not kept:
    #                          it is machine-specific and a release must not depend on where a file was)

    @property
    def natural(self) -> bool:
        """True when schemas ask for structure only and take natural Unicode prose."""
        return self.contract == "natural"

    def limit(self, key: str) -> Any:
        """A builder's limit, "builder.name" (e.g. "tomato.thought_words")."""
        builder, _, name = key.partition(".")
        try:
            return self.limits[builder][name]
        except KeyError:
            known = sorted(f"{b}.{n}" for b, names in self.limits.items() for n in names)
            raise KeyError(f"no limit {key!r} in model profile {self.name!r}; known limits: {', '.join(known)}. "
                           f"Declare it under profiles.{BASE_PROFILE}.limits in {PROFILES_FILE.name}") from None

    def judge_note_for(self, builder: str) -> str:
        """What the note says about `builder`'s judging. A note of `builder: text` clauses joined by
        "; " (profiles.yaml) gives its builder's clause, so a build reports only measurements of its
        own steps; any other note is returned whole."""
        clauses = [part.strip().partition(": ") for part in self.judge_note.split("; ")]
        if not all(sep and name.isidentifier() and name.islower() for name, sep, _ in clauses):
            return self.judge_note
        mine = [" ".join(text.split()) for name, _, text in clauses if name == builder]
        return mine[0] if mine else f"not measured for {builder} (profiles.yaml names no {builder} measurement)"

    def chars_for_tokens(self, tokens: int) -> int:
        return int(tokens * CHARS_PER_TOKEN)

    def summary(self) -> dict:
        """What a build report, manifest and card record: deterministic, no paths."""
        body = {k: getattr(self, k) for k in FIELDS if k != "limits"}
        body["limits"] = {b: dict(sorted(v.items())) for b, v in sorted(self.limits.items())}
        return {"name": self.name, "origin": self.origin, **body,
                "fingerprint": hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]}


# -- the known profiles ---------------------------------------------------------------------------


def _load_known() -> dict[str, dict]:
    raw = yaml.safe_load(PROFILES_FILE.read_text())
    return raw["profiles"]


def known_profile_names() -> list[str]:
    return list(_load_known())


def _resolved(name: str, known: dict[str, dict], seen: tuple[str, ...] = ()) -> dict:
    """A profile's fields with everything it extends merged in (limits merged per builder)."""
    if name not in known:
        raise ConfigError(f"unknown model profile {name!r}; known profiles: {', '.join(known)} "
                          f"(or give a YAML file: --model-profile my-profile.yaml)")
    if name in seen:
        raise ConfigError(f"model profiles extend each other in a loop: {' -> '.join(seen + (name,))}")
    own = known[name]
    parent = _resolved(own["extends"], known, seen + (name,)) if "extends" in own else {}
    return _merge(parent, own)


def _merge(base: dict, override: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if key == "limits":
            limits = merged.setdefault("limits", {})
            for builder, names in (value or {}).items():
                limits.setdefault(builder, {}).update(names or {})
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def default_profile_name(spec: ModelSpec) -> str:
    """The known profile for a model string: an exact match first, then the longest pattern."""
    label = spec.label
    best, best_rank = None, None
    for name, fields in _load_known().items():
        for pattern in fields.get("match", []):
            if fnmatch.fnmatchcase(label, pattern):
                rank = (pattern == label, len(pattern))
                if best_rank is None or rank > best_rank:
                    best, best_rank = name, rank
    if best is None:
        raise ConfigError(f"no model profile matches {label!r}; add one to {PROFILES_FILE} or pass "
                          "--model-profile NAME|FILE.yaml")
    return best


def profile_for(spec: ModelSpec, choice: str | Path | None = None) -> ModelProfile:
    """The profile of `spec`: `choice` (a known name or a YAML file) or the default for the model
    string; checked against the model."""
    known = _load_known()
    if choice is None or str(choice) == "":
        name = default_profile_name(spec)
        profile = _build(name, _resolved(name, known), known, origin="built-in")
    elif _looks_like_file(str(choice)):
        profile = _from_file(Path(choice), spec, known)
    else:
        profile = _build(str(choice), _resolved(str(choice), known), known, origin="built-in")
    check_against_model(profile, spec)
    return profile


def _looks_like_file(choice: str) -> bool:
    return choice.endswith((".yaml", ".yml")) or "/" in choice or Path(choice).is_file()


def _from_file(path: Path, spec: ModelSpec, known: dict[str, dict]) -> ModelProfile:
    if not path.is_file():
        raise ConfigError(f"model profile file {path} not found; give an existing YAML file or a known profile "
                          f"name ({', '.join(known)})")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"model profile file {path} is not valid YAML: {error}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"model profile file {path} must be a mapping of fields (e.g. context_tokens: 8192)")
    unknown = sorted(set(raw) - set(FIELDS) - set(FILE_ONLY_KEYS))
    if unknown:
        raise ConfigError(f"model profile file {path}: unknown key(s) {unknown}; allowed: "
                          f"{', '.join(FILE_ONLY_KEYS + FIELDS)}")
    parent = raw.get("extends") or default_profile_name(spec)
    fields = _merge(_resolved(parent, known), {k: v for k, v in raw.items() if k not in FILE_ONLY_KEYS})
    name = str(raw.get("name") or f"{parent}+{path.stem}")
    return _build(name, fields, known, origin="file", where=str(path))


def _build(name: str, fields: dict, known: dict[str, dict], *, origin: str, where: str | None = None) -> ModelProfile:
    where = where or f"{PROFILES_FILE.name}: {name}"
    declared = _resolved(BASE_PROFILE, known).get("limits", {})
    _check_fields(fields, declared, where)
    return ModelProfile(name=name, description=str(fields["description"]), context_tokens=fields["context_tokens"],
                        grammar=fields["grammar"], contract=fields["contract"], judge=fields["judge"],
                        judge_note=str(fields.get("judge_note") or ""), concurrency=fields["concurrency"],
                        smoke_test=fields["smoke_test"],
                        limits={b: dict(v) for b, v in (fields.get("limits") or {}).items()}, origin=origin)


def _check_fields(fields: dict, declared: dict, where: str) -> None:
    missing = [k for k in FIELDS if k not in fields and k not in ("judge_note", "limits")]
    if missing:
        raise ConfigError(f"{where}: missing field(s) {missing}")
    for key in ("context_tokens", "concurrency"):
        if not isinstance(fields[key], int) or isinstance(fields[key], bool) or fields[key] < 1:
            raise ConfigError(f"{where}: {key} must be a whole number of at least 1, got {fields[key]!r}")
    for key in ("grammar", "judge", "smoke_test"):
        if not isinstance(fields[key], bool):
            raise ConfigError(f"{where}: {key} must be true or false, got {fields[key]!r}")
    if fields["contract"] not in CONTRACTS:
        raise ConfigError(f"{where}: contract must be one of {', '.join(CONTRACTS)}, got {fields['contract']!r}")
    for builder, names in (fields.get("limits") or {}).items():
        if builder not in declared:
            raise ConfigError(f"{where}: unknown limits section {builder!r}; known: {', '.join(sorted(declared))}")
        for limit, value in (names or {}).items():
            if limit not in declared[builder]:
                raise ConfigError(f"{where}: unknown limit {builder}.{limit}; known in {builder}: "
                                  f"{', '.join(sorted(declared[builder]))}")
            _check_limit_type(f"{builder}.{limit}", value, declared[builder][limit], where)


def _check_limit_type(key: str, value: Any, reference: Any, where: str) -> None:
    """A limit takes the type of its declaration in the base profile (int, float, bool, list of 2...)."""
    if isinstance(reference, bool) or isinstance(value, bool):
        ok = isinstance(value, bool) and isinstance(reference, bool)
    elif isinstance(reference, (int, float)):
        ok = isinstance(value, (int, float)) and value > 0 and (isinstance(value, int) or isinstance(reference, float))
    elif isinstance(reference, list):
        ok = isinstance(value, list) and len(value) == len(reference)
    else:
        ok = isinstance(value, type(reference))
    if not ok:
        raise ConfigError(f"{where}: limit {key} must be like {reference!r} (the base profile's value), got {value!r}")


# -- contradictions between a profile and its model -----------------------------------------------


def check_against_model(profile: ModelProfile, spec: ModelSpec) -> None:
    """Refuse a profile that cannot be right for the model, with the fix."""
    if profile.grammar and spec.provider not in GRAMMAR_PROVIDERS:
        raise ConfigError(f"model profile {profile.name!r} says grammar: true, but {spec.provider} models do not "
                          f"decode under a grammar; use a profile with grammar: false for {spec.label}")
    if spec.provider == "local":
        if not profile.grammar:
            raise ConfigError(f"model profile {profile.name!r} says grammar: false, but the embedded model always "
                              f"decodes under its reply schema's grammar; keep grammar: true for {spec.label}")
        if profile.context_tokens > LOCAL_CONTEXT_TOKENS:
            raise ConfigError(f"model profile {profile.name!r} gives {spec.label} {profile.context_tokens} tokens of "
                              f"context, but its server holds {LOCAL_CONTEXT_TOKENS} per request; set "
                              f"context_tokens: {LOCAL_CONTEXT_TOKENS} or less")


def check_fits_prompts(profile: ModelProfile, prompt_folder: Path, *, model: str) -> None:
    """Refuse a context window smaller than the smallest prompt a builder sends (its smallest
    template, before any variable is filled in), before any request."""
    sizes = {p.name: len(p.read_text()) for p in sorted(prompt_folder.glob("*.j2")) if not p.name.startswith("_")}
    if not sizes:
        return
    name, chars = min(sizes.items(), key=lambda item: item[1])
    needed = -(-chars // CHARS_PER_TOKEN)
    if profile.context_tokens < needed:
        raise ConfigError(f"model profile {profile.name!r} gives {model} a context of {profile.context_tokens} "
                          f"tokens, smaller than the smallest prompt it would be sent ({prompt_folder.name}/{name}, "
                          f"about {needed} tokens before any text is filled in); raise context_tokens in the "
                          "profile, or choose a model with a larger context")


# -- judges ---------------------------------------------------------------------------------------


def profile_of(model) -> ModelProfile:
    """The profile of an LLM client (or of anything with a model-string `label`)."""
    profile = getattr(model, "profile", None)
    return profile if isinstance(profile, ModelProfile) else profile_for(parse_model(model.label))


def judges_wanted(setting: str, judges: list, notes: list[str], *, what: str, flag: str) -> bool:
    """An auto|on|off judge setting: on/off as asked; auto is on unless no judge's profile says it
    is fit to judge, in which case a note for the build report says so and how to force it."""
    if setting != "auto":
        return setting == "on"
    unfit = [(judge.label, profile_of(judge)) for judge in judges if not profile_of(judge).judge]
    if len(unfit) < len(judges):
        return True
    builder = what.partition(":")[0] if ":" in what else None  # `what` reads "<builder>: <step>"
    notes.append(f"{what} skipped ({flag} auto): "
                 + "; ".join(f"{label} (profile {p.name}): {p.judge_note_for(builder) if builder else p.judge_note}"
                             for label, p in unfit)
                 + f". Pass a stronger --judge-model, or {flag} on to filter with it anyway.")
    return False
