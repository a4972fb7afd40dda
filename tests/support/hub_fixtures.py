"""Pytest fixture `local_hub`: a started LocalHub that the real huggingface_hub and datasets clients use.

huggingface_hub and datasets read HF_ENDPOINT, HF_HOME and friends once, at import time, into
module-level constants (and URL templates derived from them). Setting the environment is therefore
not enough when those libraries were imported earlier: the fixture also patches every captured value,
through monkeypatch, so everything is restored after the test.
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support.hub_server import LocalHub


@pytest.fixture
def local_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A LocalHub requiring a random token; HF_ENDPOINT/HF_TOKEN point the real clients at it."""
    with LocalHub(token=f"hf_local_{secrets.token_hex(16)}") as hub:
        _point_clients_at(hub, tmp_path / "hf_home", monkeypatch)
        try:
            yield hub
        finally:
            _drop_client_state()


def _point_clients_at(hub: LocalHub, hf_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hf_home.mkdir(parents=True, exist_ok=True)
    for name, value in {
        "HF_ENDPOINT": hub.endpoint,
        "HF_TOKEN": hub.token,
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_OFFLINE": "0",
        "HF_DATASETS_OFFLINE": "0",
        "HF_HOME": str(hf_home),
        "HF_HUB_CACHE": str(hf_home / "hub"),
        "HF_DATASETS_CACHE": str(hf_home / "datasets"),
        "HF_UPDATE_DOWNLOAD_COUNTS": "0",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    _patch_huggingface_hub(hub, hf_home, monkeypatch)
    _patch_datasets(hub, hf_home, monkeypatch)
    _drop_client_state()


def _patch_huggingface_hub(hub: LocalHub, hf_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants as constants
    import huggingface_hub.hf_api as hf_api

    for name, value in {
        "ENDPOINT": hub.endpoint,
        "HUGGINGFACE_CO_URL_TEMPLATE": hub.endpoint + "/{repo_id}/resolve/{revision}/{filename}",
        "HF_URL_HOSTS": constants.HF_URL_HOSTS | {urlsplit(hub.endpoint).hostname},
        "HF_HUB_OFFLINE": False,
        "HF_HUB_DISABLE_TELEMETRY": True,
        "HF_HOME": str(hf_home),
        "HF_HUB_CACHE": str(hf_home / "hub"),
        "HUGGINGFACE_HUB_CACHE": str(hf_home / "hub"),
        "HF_ASSETS_CACHE": str(hf_home / "assets"),
        "HUGGINGFACE_ASSETS_CACHE": str(hf_home / "assets"),
        "HF_TOKEN_PATH": str(hf_home / "token"),
        "HF_STORED_TOKENS_PATH": str(hf_home / "stored_tokens"),
        "HF_XET_CACHE": str(hf_home / "xet"),
        "AGENT_HARNESSES_PATH": str(hf_home / ".agent_harnesses.json"),
        "CHECK_FOR_UPDATE_DONE_PATH": str(hf_home / ".check_for_update_done"),
        "CHECK_FOR_SKILL_UPDATE_DONE_PATH": str(hf_home / ".check_for_skill_update_done"),
    }.items():
        if hasattr(constants, name):
            monkeypatch.setattr(constants, name, value)
    # The module-level client behind `huggingface_hub.create_repo(...)` and friends kept its endpoint.
    monkeypatch.setattr(hf_api.api, "endpoint", hub.endpoint)
    # Modules that did `from ..constants import ENDPOINT`.
    for module_name in ("huggingface_hub.utils._git_credential", "huggingface_hub.cli.auth"):
        module = sys.modules.get(module_name)
        if module is not None and hasattr(module, "ENDPOINT"):
            monkeypatch.setattr(module, "ENDPOINT", hub.endpoint)


def _patch_datasets(hub: LocalHub, hf_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets.config as config

    datasets_cache = hf_home / "datasets"
    downloads = datasets_cache / config.DOWNLOADED_DATASETS_DIR
    for name, value in {
        "HF_ENDPOINT": hub.endpoint,
        "HUB_DATASETS_URL": hub.endpoint + "/datasets/{repo_id}/resolve/{revision}/{path}",
        "HF_HUB_OFFLINE": False,
        "HF_DATASETS_OFFLINE": False,
        "HF_CACHE_HOME": str(hf_home),
        "HF_DATASETS_CACHE": datasets_cache,
        "HF_MODULES_CACHE": hf_home / "modules",
        "DOWNLOADED_DATASETS_PATH": downloads,
        "EXTRACTED_DATASETS_PATH": downloads / config.EXTRACTED_DATASETS_DIR,
        # The download counter HEADs a public bucket: never leave this machine from a test.
        "HF_UPDATE_DOWNLOAD_COUNTS": False,
        # The dataset viewer lives on "datasets-server.<endpoint host>", which the local hub cannot be.
        "USE_PARQUET_EXPORT": False,
    }.items():
        monkeypatch.setattr(config, name, value)


def _drop_client_state() -> None:
    """Forget pooled connections and cached filesystem instances bound to another server."""
    from huggingface_hub import HfFileSystem
    from huggingface_hub.utils import close_session

    close_session()
    HfFileSystem.clear_instance_cache()


__all__ = ["local_hub"]
