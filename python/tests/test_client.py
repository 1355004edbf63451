"""The Python package as a notebook uses it, against a real devnet."""

import asyncio
import json
import os
from decimal import Decimal

import pytest

import gpunet

from conftest import REPO


def test_five_lines_run_a_job_and_read_its_verified_output(client, tmp_path):
    result = client.run(REPO / "examples" / "hello.toml", outputs=tmp_path / "hello")
    assert result.status in ("reported", "settled"), result.order
    assert "sum: 500000500000" in result.stdout
    assert result.outputs == tmp_path / "hello"
    sums = [f for f in result.files if f.endswith("sum.txt")]
    assert len(sums) == 1, result.files
    assert (result.outputs / sums[0]).read_text().strip() == "500000500000"


def test_a_job_from_keyword_arguments(client, tmp_path):
    result = client.run(
        image="gpunet/busybox",
        command="echo hello from python",
        max_price=50,
        timeout_secs=60,
        outputs=tmp_path / "kw",
    )
    assert result.stdout.strip() == "hello from python"
    assert client.describe(result.id)["order"] == result.id
    assert result.id in [o["order"] for o in client.list()]


def test_a_secret_reaches_the_job_and_stays_off_the_chain(client, tmp_path, monkeypatch):
    monkeypatch.setenv("PY_SECRET", "from-python-s3cr3t")
    result = client.run(
        image="gpunet/busybox",
        command='echo "${#API_TOKEN} characters"',
        max_price=50,
        timeout_secs=60,
        secrets={"API_TOKEN": {"env": "PY_SECRET"}},
        outputs=tmp_path / "secret",
    )
    assert result.stdout.strip() == "18 characters"
    order = client.describe(result.id)
    assert order["spec"]["secrets"] == ["API_TOKEN"]
    assert "from-python-s3cr3t" not in json.dumps(order)
    assert order["lease"]["sealed_secrets"]


def test_machines_are_records_with_the_query_language(client):
    machines = client.machines("verified=true cpu>=1", order="-gops")
    assert len(machines) == 2
    assert all({"machine", "owner", "price_per_hour", "spec"} <= m.keys() for m in machines)
    assert client.machines("gpu_model=H100") == []
    with pytest.raises(gpunet.GpunetError) as refused:
        client.machines("cpus>=1")
    assert refused.value.code == "bad_request"


def test_balances_are_exact_and_errors_carry_the_api_code(client):
    assert isinstance(client.balance(), Decimal) and client.balance() > 0
    with pytest.raises(gpunet.GpunetError) as refused:
        client.run(image="gpunet/busybox", command="true", max_price=10**12)
    assert refused.value.code == "insufficient_funds", refused.value


def test_a_transfer_moves_exact_amounts(client):
    owner = client.machines()[0]["owner"]
    before = client.balance(owner)
    included = client.transfer(owner, Decimal("1.25"))
    assert included["height"] > 0, included
    # A provider's balance may also move by its own work meanwhile: the
    # transfer is in the block it names, so read it from there on.
    assert client.balance(owner) - before >= Decimal("1.25")
    assert client.account()["account"]["nonce"] > 0
    for bad_to, bad_amount in ((owner, 0.5), (owner, "-1"), ("nobody", "1"), (owner, "10**30")):
        with pytest.raises(gpunet.GpunetError) as refused:
            client.transfer(bad_to, bad_amount)
        assert refused.value.code == "invalid", (bad_to, bad_amount, refused.value)


def test_a_running_job_stops_and_pays_the_time_it_ran(client):
    order = client.run(image="gpunet/busybox", command="sleep 60", max_price=50, wait=False)
    assert isinstance(order, int)
    import time

    deadline = time.monotonic() + 60
    while client.describe(order)["status"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.3)
    client.stop(order)
    while client.describe(order)["status"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.3)
    assert client.describe(order)["status"] == "stopped"


def test_a_missing_profile_is_a_clear_error(devnet):
    with pytest.raises(gpunet.GpunetError) as refused:
        gpunet.Client("nonesuch")
    assert refused.value.code == "invalid" and "nonesuch" in refused.value.message


def test_asyncio_runs_jobs_together(client, tmp_path):
    async def main():
        async_client = gpunet.AsyncClient("devnet")
        assert async_client.address == client.address
        results = await asyncio.gather(
            *(
                async_client.run(
                    image="gpunet/busybox",
                    command=f"echo job {n}",
                    max_price=50,
                    outputs=tmp_path / f"job-{n}",
                )
                for n in range(3)
            )
        )
        return async_client, results

    async_client, results = asyncio.run(main())
    assert sorted(r.stdout.strip() for r in results) == ["job 0", "job 1", "job 2"]
    assert len({r.id for r in results}) == 3
    assert asyncio.run(async_client.describe(results[0].id))["order"] == results[0].id


def test_a_job_array_runs_each_index_and_returns_its_results_in_order(client, tmp_path):
    results = client.run(
        image="gpunet/busybox",
        command=["sh", "-c", 'echo "$GPUNET_ARRAY_INDEX of $GPUNET_ARRAY_SIZE"'],
        max_price=50,
        timeout_secs=60,
        outputs=tmp_path / "array",
        array=3,
    )
    assert [r.stdout.strip() for r in results] == ["0 of 3", "1 of 3", "2 of 3"]
    first = results[0].id
    assert [r.id for r in results] == [first, first + 1, first + 2]
    assert [r.order["array"]["index"] for r in results] == [0, 1, 2]
    assert [r.outputs for r in results] == [tmp_path / "array" / str(i) for i in range(3)]


def test_logs_are_followed_as_the_job_writes_them_until_it_reports(client):
    script = 'for i in 1 2 3 4 5; do echo "line $i"; sleep 0.4; done; printf "fin \\303\\251\\n" >&2'
    order = client.run(image="gpunet/busybox", command=script, max_price=50, wait=False)
    chunks = list(client.logs(order, follow=True, poll=0.1))
    stdout = [c for c in chunks if c.stream == "stdout"]
    assert "".join(c.text for c in stdout) == "".join(f"line {i}\n" for i in range(1, 6))
    # UTF-8 decoded whole, whatever the pieces.
    assert "".join(c.text for c in chunks if c.stream == "stderr") == "fin \u00e9\n"
    assert not any(c.skipped for c in chunks)
    # Followed while it ran (pieces as they were written), and the iterator
    # ended because the job reported.
    assert len(stdout) > 1, chunks
    assert client.describe(order)["report"] is not None

    async def follow_async():
        async_client = gpunet.AsyncClient("devnet")
        order = await async_client.run(
            image="gpunet/busybox", command="echo one; sleep 0.5; echo two", max_price=50, wait=False
        )
        return [c.text async for c in async_client.logs(order, follow=True, poll=0.1)]

    assert "".join(asyncio.run(follow_async())) == "one\ntwo\n"
