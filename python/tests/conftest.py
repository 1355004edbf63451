"""A devnet for the tests: the `gpunet` binary (GPUNET_BIN, or the
repository's debug build) run as a user runs it, its profile written to a
configuration of the tests' own (GPUNET_CONFIG)."""

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


@pytest.fixture(scope="session")
def devnet(tmp_path_factory):
    binary = os.environ.get("GPUNET_BIN") or str(REPO / "target" / "debug" / "gpunet")
    assert Path(binary).exists(), f"build the binary first (cargo build), or set GPUNET_BIN: {binary}"
    home = tmp_path_factory.mktemp("devnet")
    config = home / "config.toml"
    os.environ["GPUNET_CONFIG"] = str(config)
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
            f"127.0.0.1:{_free_port()}",
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
    yield home
    process.terminate()
    process.wait(timeout=30)
    log.close()


@pytest.fixture(scope="session")
def client(devnet):
    import gpunet

    client = gpunet.Client("devnet")
    # Its providers register and prove their machines first.
    deadline = time.monotonic() + 120
    while len(client.machines("verified=true online=true")) < 2:
        assert time.monotonic() < deadline, "the devnet's machines were never listed"
        time.sleep(0.5)
    return client
