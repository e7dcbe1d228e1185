"""Keras Tuner's chief / worker protocol, configured from `--chief` / `--worker N --oracle`.

Keras Tuner runs a distributed search when three environment variables are set in every
process: `KERASTUNER_TUNER_ID` (`chief` for the process that owns the oracle, any other unique
id for a worker), `KERASTUNER_ORACLE_IP` and `KERASTUNER_ORACLE_PORT` (where the chief's gRPC
oracle listens, and where the workers reach it). `configure` sets them; it must run before
keras_tuner is imported, so this module imports neither keras_tuner nor TensorFlow.

Example:

```bash
python main.py tune --chief --oracle 0.0.0.0:8000            # on the chief
python main.py tune --worker 0 --oracle chief-host:8000      # on each worker, N = 0, 1, ...
```
"""

from __future__ import annotations

import os

from hint.config import ConfigError

ENV_ID = "KERASTUNER_TUNER_ID"
ENV_IP = "KERASTUNER_ORACLE_IP"
ENV_PORT = "KERASTUNER_ORACLE_PORT"
CHIEF_ID = "chief"
DEFAULT_CHIEF_ADDRESS = "0.0.0.0:8000"


def parse_address(address: str) -> tuple[str, int]:
    """Splits `HOST:PORT` into (host, port); raises `ConfigError` when malformed."""
    host, sep, port = str(address).rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(
            f"--oracle must look like HOST:PORT, e.g. 10.0.0.5:8000. Received: {address!r}"
        )
    return host.strip("[]"), int(port)


def configure(chief: bool = False, worker: int | None = None, oracle: str | None = None) -> None:
    """Sets the `KERASTUNER_*` variables for a chief or a worker; no-op for a local search.

    Args:
        chief: Whether this process is the chief (serves the oracle, runs no trial).
            Defaults to `False`.
        worker: This worker's number (0, 1, ...), or None. Defaults to `None`.
        oracle: `HOST:PORT` of the chief's oracle: the address the chief listens on
            (default `0.0.0.0:8000`) and the workers connect to (required for workers unless
            `KERASTUNER_ORACLE_IP` / `_PORT` are already set). Defaults to `None`.

    Raises:
        ConfigError: for contradictory or malformed arguments.
    """
    if chief and worker is not None:
        raise ConfigError("Use either --chief or --worker N, not both.")
    if not chief and worker is None:
        if oracle is not None:
            raise ConfigError("--oracle needs --chief or --worker N.")
        return
    if worker is not None and (isinstance(worker, bool) or int(worker) < 0):
        raise ConfigError(f"--worker must be a number >= 0. Received: {worker!r}")
    if oracle is None:
        if ENV_IP in os.environ and ENV_PORT in os.environ:
            oracle = f"{os.environ[ENV_IP]}:{os.environ[ENV_PORT]}"
        elif chief:
            oracle = DEFAULT_CHIEF_ADDRESS
        else:
            raise ConfigError("--worker needs --oracle HOST:PORT (the chief's address).")
    host, port = parse_address(oracle)
    os.environ[ENV_ID] = CHIEF_ID if chief else f"worker{int(worker)}"
    os.environ[ENV_IP] = host
    os.environ[ENV_PORT] = str(port)


def role() -> str:
    """`"chief"`, `"worker"` or `"local"`, from the environment (as Keras Tuner reads it)."""
    if ENV_IP not in os.environ:
        return "local"
    if ENV_PORT not in os.environ or ENV_ID not in os.environ:
        raise ConfigError(
            f"{ENV_IP} is set, so this is a distributed search, but {ENV_PORT} or {ENV_ID} is "
            "not. Use --chief / --worker N --oracle HOST:PORT, or set all three."
        )
    return "chief" if CHIEF_ID in os.environ[ENV_ID] else "worker"


def tuner_id() -> str:
    """This process' tuner id (`tuner0` for a local search)."""
    return os.environ.get(ENV_ID, "tuner0") if role() != "local" else "tuner0"
