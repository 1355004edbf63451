"""Rentals from Python: a machine rented, commands run in its container and
files copied both ways, against a devnet whose providers run Docker
containers (as a renter's notebook does)."""

import asyncio
import hashlib
import os
from datetime import timedelta

import pytest

import gpunet

from conftest import REPO, wait_for_machines


@pytest.fixture
def renter(docker_devnet, monkeypatch):
    monkeypatch.setenv("GPUNET_CONFIG", str(docker_devnet))
    client = gpunet.Client("devnet")
    wait_for_machines(client, 2)
    return client


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_rental_runs_commands_and_copies_files_both_ways(renter, tmp_path):
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "a.txt").write_text("alpha\n")
    (data / "sub" / "b.bin").write_bytes(os.urandom(300_000))
    with renter.rent(REPO / "examples" / "rental.toml", duration="10m") as rental:
        assert rental.status == "running", rental.order
        # A command's output, errors and exit code, as subprocess gives them.
        done = rental.exec("echo hello; echo oops >&2; exit 3")
        assert (done.exit_code, done.stdout, done.stderr) == (3, "hello\n", "oops\n")
        with pytest.raises(gpunet.GpunetError) as failed:
            rental.exec(["false"], check=True)
        assert failed.value.code == "command_failed"
        assert rental.exec(["cat"], input="piped in").stdout == "piped in"
        # A directory in, verified; again, nothing is sent.
        sent = rental.put(data, "/workspace/")
        assert (sent.files, sent.unchanged, sent.destination) == (
            2,
            0,
            f"{rental.id}:/workspace/data",
        )
        assert rental.put(data, "/workspace/").files == 0
        listed = rental.exec("cd /workspace/data && sha256sum a.txt sub/b.bin", check=True)
        assert listed.stdout.split()[::2] == [digest(data / "a.txt"), digest(data / "sub" / "b.bin")]
        # Changed there, fetched back over the original (into its parent
        # directory, as `cp -r` does): only what differs travels.
        original_b = digest(data / "sub" / "b.bin")
        rental.exec("echo changed > /workspace/data/a.txt; echo new > /workspace/data/c.txt", check=True)
        got = rental.get("/workspace/data", tmp_path)
        assert (got.files, got.unchanged, got.destination) == (2, 1, str(data))
        assert (data / "a.txt").read_text() == "changed\n"
        assert (data / "c.txt").read_text() == "new\n"
        assert digest(data / "sub" / "b.bin") == original_b
        rental.exec("echo newer > /workspace/data/c.txt", check=True)
        again = rental.get("/workspace/data", tmp_path)
        assert (again.files, again.unchanged) == (1, 2)
        assert (data / "c.txt").read_text() == "newer\n"
        # As `gpunet rent cp` writes it.
        rental.cp(f"{rental.id}:/workspace/data/c.txt", str(tmp_path / "c-again.txt"))
        assert (tmp_path / "c-again.txt").read_text() == "newer\n"
        with pytest.raises(gpunet.GpunetError) as neither:
            rental.cp(str(data), str(tmp_path / "elsewhere"))
        assert neither.value.code == "invalid"

        # asyncio: the same rental, awaited.
        async def from_asyncio():
            attached = await gpunet.AsyncClient("devnet").rental(rental.id)
            return await attached.exec(["echo", "from asyncio"])

        assert asyncio.run(from_asyncio()).stdout == "from asyncio\n"
        assert rental.renew(timedelta(minutes=5)) > 0
    # The block ended it, its unused escrow refunded.
    assert renter.describe(rental.id)["status"] not in ("pending", "running")
    with pytest.raises(gpunet.GpunetError) as ended:
        rental.exec("true")
    assert ended.value.code == "rental_session"


def test_a_saved_workspace_comes_back_in_the_next_rental(renter):
    rental = renter.rent(REPO / "examples" / "rental.toml", duration=600)
    rental.exec("echo kept > /workspace/notes.txt", check=True)
    root = rental.end(save=True)
    assert len(root) == 64, root
    with renter.rent(REPO / "examples" / "rental.toml", duration="10m", workspace=root) as later:
        assert later.exec("cat /workspace/notes.txt").stdout == "kept\n"


def test_a_rental_no_machine_takes_says_so_and_leaves_its_id(renter):
    with pytest.raises(gpunet.GpunetError) as waited:
        renter.rent(
            image="gpunet/busybox",
            command="sleep 600",
            max_price=50,
            resources={"cpu": 1, "gpu": {"count": 8, "vendor": "nvidia", "min_vram_mb": 80000}},
            duration="1h",
            wait="3s",
        )
    assert waited.value.order is not None
    assert renter.describe(waited.value.order)["status"] == "pending"
    renter.rental(waited.value.order).end()
    assert renter.describe(waited.value.order)["status"] not in ("pending", "running")
    for bad in (0, -5, "soon", True):
        with pytest.raises(gpunet.GpunetError) as refused:
            renter.rent(REPO / "examples" / "rental.toml", duration=bad)
        assert refused.value.code == "invalid", bad
