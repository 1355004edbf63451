"""A devnet for the tests: the `gpunet` binary (GPUNET_BIN, or the
repository's debug build) run as a user runs it, its profile written to a
configuration of the tests' own (GPUNET_CONFIG)."""

import contextlib
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _devnet(home: Path, *options: str):
    """Runs `gpunet devnet` with `options` under `home` until the caller is
    done; its profile goes to `home`/config.toml, which is returned."""
    binary = os.environ.get("GPUNET_BIN") or str(REPO / "target" / "debug" / "gpunet")
    assert Path(binary).exists(), f"build the binary first (cargo build), or set GPUNET_BIN: {binary}"
    config = home / "config.toml"
    console = f"127.0.0.1:{_free_port()}"
    # Where the devnet's console (and its plain-HTTP /v1/openapi.json) answers.
    (home / "console-url").write_text(f"http://{console}")
    log = open(home / "devnet.log", "w")
    process = subprocess.Popen(
        [
            binary,
            "devnet",
            "--data-dir",
            str(home / "data"),
            "--listen",
            f"127.0.0.1:{_free_port()}",
            "--console-listen",
            console,
            *options,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "GPUNET_CONFIG": str(config)},
    )
    deadline = time.monotonic() + 60
    while not config.exists():
        assert process.poll() is None, (home / "devnet.log").read_text()
        assert time.monotonic() < deadline, "the devnet wrote no profile"
        time.sleep(0.2)
    try:
        yield config
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def wait_for_machines(client, count: int) -> None:
    """Until `count` machines are verified and online: providers register
    and prove their machines first."""
    deadline = time.monotonic() + 120
    while len(client.machines("verified=true online=true")) < count:
        assert time.monotonic() < deadline, "the devnet's machines were never listed"
        time.sleep(0.5)


@pytest.fixture(scope="session")
def devnet(tmp_path_factory):
    """A devnet whose providers run jobs as processes; its profile is the
    tests' default (GPUNET_CONFIG)."""
    home = tmp_path_factory.mktemp("devnet")
    with _devnet(home) as config:
        os.environ["GPUNET_CONFIG"] = str(config)
        yield home


@pytest.fixture(scope="session")
def docker_devnet(tmp_path_factory):
    """A devnet whose two providers run jobs in Docker containers; yields
    its configuration (set GPUNET_CONFIG to it to make it the default)."""
    with _devnet(tmp_path_factory.mktemp("docker-devnet"), "--executor", "docker") as config:
        yield config


@pytest.fixture(scope="session")
def client(devnet):
    import gpunet

    client = gpunet.Client("devnet")
    wait_for_machines(client, 2)
    return client
