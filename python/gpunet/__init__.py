"""gpunet from Python: run jobs on a decentralized GPU network and read
their verified results.

The client is the CLI's own, in Rust: signing, encoding, key pinning and
the verification of every downloaded byte happen there; this module turns
its answers (the API's JSON: amounts as exact decimal strings, instants as
RFC 3339) into Python values.

    import gpunet
    client = gpunet.Client()                  # the CLI's default profile
    result = client.run("examples/hello.toml")
    print(result.stdout)                      # verified logs of the run
    print(result.files)                       # verified outputs, in result.outputs

    with client.rent("examples/rental.toml", duration="2h") as rental:
        rental.put("data", "/workspace/")     # verified by SHA-256, resumable
        print(rental.exec("ls /workspace").stdout)
        rental.get("/workspace/data", "back") # the rental ends with the block

:class:`AsyncClient` has the same methods for asyncio. Every failure
raises :class:`GpunetError`, whose ``code`` is the node's
stable error code (``insufficient_funds``, ``bad_nonce``...) or the
client's (``unreachable``, ``invalid``...).
"""

from __future__ import annotations

import asyncio
import codecs
import functools
import json
import os
import tomllib
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import (
    Any,
    AsyncIterator,
    Iterator,
    List,
    Literal,
    Mapping,
    Optional,
    Union,
    overload,
)

from . import _native

__all__ = [
    "AsyncClient",
    "AsyncRental",
    "Client",
    "Copied",
    "Executed",
    "GpunetError",
    "LogChunk",
    "Logs",
    "Rental",
    "Result",
]


class GpunetError(Exception):
    """A call that failed: ``code`` is stable, ``message`` is for people;
    ``order`` is the order it left behind, if any (a rental placed but not
    ready in time)."""

    def __init__(self, code: str, message: str, order: Optional[int] = None) -> None:
        super().__init__(f"{message} ({code})")
        self.code = code
        self.message = message
        self.order = order


def _call(function, *args):
    try:
        return function(*args)
    except _native.NativeError as e:
        code, message = e.args
        raise GpunetError(code, message) from None


@dataclass(frozen=True)
class Logs:
    """What a job wrote; ``live`` while it runs (the end of it, unverified),
    else its result's, verified."""

    stdout: str
    stderr: str
    live: bool


@dataclass(frozen=True)
class LogChunk:
    """A piece of a job's log as it was written: ``stream`` is "stdout" or
    "stderr"; ``skipped`` counts bytes written there that no node kept (the
    job wrote faster than it was followed), with no ``text``."""

    stream: str
    text: str
    skipped: int = 0


class _OfAnOrder:
    """What holds an order as the node has it (``order``): its id and status."""

    order: dict

    @property
    def id(self) -> int:
        return self.order["order"]

    @property
    def status(self) -> str:
        return self.order["status"]


@dataclass(frozen=True)
class Result(_OfAnOrder):
    """A job that ended: its order as the node has it, its logs, and, when
    it completed, its outputs downloaded into ``outputs`` and verified."""

    order: dict
    logs: Logs
    outputs: Optional[Path]
    files: list

    @property
    def stdout(self) -> str:
        return self.logs.stdout


JobLike = Union[Mapping[str, Any], str, os.PathLike]
DurationLike = Union[int, str, timedelta]


def _seconds(duration: DurationLike) -> int:
    """Whole seconds of ``duration``: a count, a ``timedelta`` or a string
    as the CLI reads it (``"90s"``, ``"30m"``, ``"2h"``, ``"1d"``)."""
    if isinstance(duration, timedelta):
        duration = int(duration.total_seconds())
    if isinstance(duration, bool) or not isinstance(duration, (int, str)):
        raise GpunetError("invalid", f"{duration!r} is not a duration")
    if isinstance(duration, int):
        if duration <= 0:
            raise GpunetError("invalid", f"{duration} is not a positive duration")
        return duration
    return _call(_native.parse_duration, duration)


@dataclass(frozen=True)
class Executed:
    """A command that ran in a rental: its exit code and what it wrote."""

    command: list
    exit_code: int
    stdout: str
    stderr: str

    def check(self) -> "Executed":
        """Itself if it exited 0; else raises :class:`GpunetError` with the
        code ``"command_failed"``."""
        if self.exit_code != 0:
            raise GpunetError(
                "command_failed",
                f"{self.command} exited with {self.exit_code}: {self.stderr.strip()[-2000:]}",
            )
        return self


@dataclass(frozen=True)
class Copied:
    """What a copy did: where the files went (``ID:PATH`` in a rental),
    how many were sent and their bytes, and how many were there already."""

    destination: str
    files: int
    bytes: int
    unchanged: int


class Rental(_OfAnOrder):
    """A machine (or some of its GPUs) rented for a time: commands run in
    its container (:meth:`exec`), files go both ways (:meth:`put`,
    :meth:`get`, :meth:`cp`), all over one connection to its provider,
    which lets in only the renter's key.

    Used as a context manager, it ends when the block does (``save=True``
    in :meth:`end` keeps its ``/workspace``; outside a block, call it).
    """

    def __init__(self, client: "Client", order: dict) -> None:
        self._client = client
        self.order = order
        self._link = None


    def describe(self) -> dict:
        """The rental as the node has it now (also kept in ``order``)."""
        self.order = self._client.describe(self.id)
        return self.order

    def _linked(self):
        if self._link is None:
            self._link = _call(self._client._native.rental_link, self.id)
        return self._link

    def exec(
        self,
        command: Union[str, List[str]],
        *,
        input: Union[bytes, str, None] = None,
        check: bool = False,
    ) -> Executed:
        """Runs ``command`` in the rental's container and returns what it
        wrote and its exit code once it exited: a string runs in ``sh -c``,
        a list as the program and its arguments. ``input`` goes to its
        standard input. With ``check``, a command that exits other than 0
        raises :class:`GpunetError` (``command_failed``).

            rental.exec("nvidia-smi --query-gpu=name --format=csv").stdout
            rental.exec(["python", "train.py", "--epochs", "3"], check=True)
        """
        argv = ["sh", "-c", command] if isinstance(command, str) else [str(a) for a in command]
        data = input.encode() if isinstance(input, str) else (input or b"")
        code, stdout, stderr = _call(self._linked().exec, argv, data)
        executed = Executed(
            command=argv,
            exit_code=code,
            stdout=bytes(stdout).decode("utf-8", "replace"),
            stderr=bytes(stderr).decode("utf-8", "replace"),
        )
        return executed.check() if check else executed

    def put(self, local: Union[str, os.PathLike], remote: str) -> Copied:
        """Copies local file or directory ``local`` to ``remote`` in the
        rental (into it, when it is a directory or ends with ``/``), as
        ``gpunet rent cp`` does: verified by SHA-256; run again after an
        interruption, it sends only what is missing."""
        copied = _call(self._linked().copy, os.fspath(local), remote, True)
        return Copied(**json.loads(copied))

    def get(self, remote: str, local: Union[str, os.PathLike]) -> Copied:
        """Copies ``remote`` (a file or directory in the rental) to
        ``local`` (into it, when it is a directory), verified and resumable
        as :meth:`put` is."""
        copied = _call(self._linked().copy, os.fspath(local), remote, False)
        return Copied(**json.loads(copied))

    def cp(self, source: str, destination: str) -> Copied:
        """:meth:`put` or :meth:`get` written as ``gpunet rent cp`` takes
        them: the rental's side as ``ID:PATH`` (this rental's id), e.g.
        ``rental.cp("data", f"{rental.id}:/workspace/")``."""
        def in_rental(place: str) -> Optional[str]:
            prefix = f"{self.id}:"
            return place[len(prefix):] if place.startswith(prefix) else None

        remote_source, remote_destination = in_rental(source), in_rental(destination)
        if remote_destination is not None and remote_source is None:
            return self.put(source, remote_destination)
        if remote_source is not None and remote_destination is None:
            return self.get(remote_source, destination)
        raise GpunetError(
            "invalid",
            f"one side of a copy is in rental {self.id} (written {self.id}:PATH), the other here",
        )

    def renew(self, duration: DurationLike) -> Decimal:
        """Extends the rental by ``duration``; returns the GPN paid into escrow."""
        return Decimal(_call(self._client._native.renew, self.id, _seconds(duration)))

    def end(self, save: bool = False, wait: DurationLike = 600) -> Optional[str]:
        """Ends the rental now (the unused escrow is refunded). With
        ``save``, its provider first stores ``/workspace``: this waits up to
        ``wait`` for it and returns the saved root, which a later rental or
        job starts with (``workspace=ROOT``)."""
        self.close()
        self.order = json.loads(
            _call(self._client._native.end_rental, self.id, save, _seconds(wait))
        )
        workspace = self.order.get("workspace") or {}
        if workspace.get("state") == "saved":
            return workspace["root"]
        if save:
            raise GpunetError(
                "invalid", f"rental {self.id} ended without a saved workspace: {workspace}"
            )
        return None

    def close(self) -> None:
        """Closes the connection to its provider (the rental goes on)."""
        self._link = None

    def __enter__(self) -> "Rental":
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.describe()["status"] in ("pending", "preparing", "running"):
            self.end()
        self.close()



class Client:
    """A wallet on a gpunet node.

    ``Client()`` uses the CLI's default profile, ``Client("devnet")`` a named
    one (``gpunet profiles`` lists them); ``node`` and ``keystore`` name them
    directly. A sealed keystore opens with ``passphrase`` (or the
    ``GPUNET_PASSPHRASE`` environment variable).
    """

    def __init__(
        self,
        profile: Optional[str] = None,
        *,
        node: Optional[str] = None,
        keystore: Optional[Union[str, os.PathLike]] = None,
        passphrase: Optional[str] = None,
    ) -> None:
        if node is None or keystore is None:
            profile_node, profile_keystore = _call(_native.profile, profile)
            node = node or profile_node
            keystore = keystore or profile_keystore
        if passphrase is not None:
            os.environ["GPUNET_PASSPHRASE"] = passphrase
        self._native = _call(_native.NativeClient, node, os.fspath(keystore))

    @property
    def address(self) -> str:
        """This wallet's address."""
        return self._native.address()

    def status(self) -> dict:
        """The node's view of the chain: height, validators, parameters, supply."""
        return json.loads(_call(self._native.status))

    def balance(self, address: Optional[str] = None) -> Decimal:
        """The spendable GPN of ``address`` (this wallet's by default), exactly."""
        return Decimal(self.account(address)["account"]["balance"])

    def account(self, address: Optional[str] = None) -> dict:
        """The account at ``address`` (this wallet's by default) as the node
        has it: balance, stake, nonce (amounts as exact decimal strings)."""
        return json.loads(_call(self._native.account, address))

    def transfer(self, to: str, amount: Union[Decimal, str, int]) -> dict:
        """Sends ``amount`` GPN (exactly: a ``Decimal``, a string or an int,
        never a float) to address ``to``; returns where it was included."""
        if isinstance(amount, float):
            raise GpunetError("invalid", f"{amount!r}: give amounts as Decimal or str, not float")
        return json.loads(_call(self._native.transfer, to, str(amount)))

    def machines(
        self, query: str = "", order: Optional[str] = None, limit: Optional[int] = None
    ) -> list:
        """The machines ``query`` matches, in the CLI's query language
        (``"gpu_model=H100 vram>=80 price<=2.5"``), sorted by ``order``
        (``"-gops,price"``): records ``pandas.DataFrame`` takes."""
        machines, _matched = json.loads(_call(self._native.machines, query, order, limit))
        return machines

    def run(
        self,
        job: Optional[JobLike] = None,
        *,
        wait: bool = True,
        timeout: int = 3600,
        outputs: Optional[Union[str, os.PathLike]] = None,
        array: Optional[int] = None,
        **fields: Any,
    ) -> Union[Result, int, List[Result], List[int]]:
        """Runs a job: a job file's path (TOML), a dict of its fields, or the
        fields as keyword arguments (``image``, ``command``, ``max_price``,
        ``timeout_secs``, ``resources``, ``inputs``...).

        With ``wait`` (the default) it returns the :class:`Result` once the
        job ended, its outputs fetched into ``outputs`` (``job-ID`` in the
        working directory by default) and verified; else the order's id.

        Secret environment variables go in ``secrets`` (``{"HF_TOKEN": {"env":
        "HF_TOKEN"}}``, ``{"file": "token.txt"}`` or the value itself): only
        their names are on chain; the values are sealed to the provider
        once the job is leased, so ``run`` returns no sooner than that.

        With ``array=N`` it runs N copies as a job array, each seeing its
        index in ``GPUNET_ARRAY_INDEX``, and returns a list in index order:
        results (each member's outputs in ``outputs/INDEX``, ``job-FIRST``
        by default) or, without ``wait``, order ids.
        """
        spec, base_dir = _job_fields(job, fields)
        if array is not None:
            ids = _call(self._native.submit_array, json.dumps(spec), os.fspath(base_dir), array)
            if not wait:
                return ids
            root = Path(outputs if outputs is not None else f"job-{ids[0]}")
            return [
                self.result(order, timeout=timeout, outputs=root / str(index))
                for index, order in enumerate(ids)
            ]
        order_id = _call(self._native.submit, json.dumps(spec), os.fspath(base_dir))
        if not wait:
            return order_id
        return self.result(order_id, timeout=timeout, outputs=outputs)

    def result(
        self,
        order: int,
        *,
        timeout: int = 3600,
        outputs: Optional[Union[str, os.PathLike]] = None,
    ) -> Result:
        """Waits for job ``order`` to report (or to close without running) and
        returns its :class:`Result`. Its outputs are final then; settlement
        may follow later (after an audit's second run, say): ``describe``
        shows it."""
        view = json.loads(_call(self._native.wait, order, timeout))
        logs = self.logs(order)
        outcome = (view.get("report") or {}).get("outcome") or {}
        if "completed" not in outcome:
            return Result(order=view, logs=logs, outputs=None, files=[])
        directory = Path(outputs if outputs is not None else f"job-{order}").absolute()
        directory.mkdir(parents=True, exist_ok=True)
        files = _call(self._native.fetch_outputs, order, os.fspath(directory))
        return Result(order=view, logs=logs, outputs=directory, files=files)

    def rent(
        self,
        job: Optional[JobLike] = None,
        *,
        duration: DurationLike,
        wait: DurationLike = 120,
        **fields: Any,
    ) -> Rental:
        """Rents the resources a job asks for (a job file's path, a dict of
        its fields or keyword arguments, as :meth:`run` takes them; its
        container runs for you) for ``duration`` (seconds, a ``timedelta``
        or ``"2h"``), and returns the :class:`Rental` once it is up: a
        machine, an address for each port, its secrets sealed. Raises
        after ``wait`` without one: the rental stays pending until it is
        taken, ended or expires, and the error's ``order`` is its id
        (``client.rental(e.order).end()`` ends it).

            with client.rent("examples/rental.toml", duration="1h") as rental:
                rental.exec("ls /workspace")
        """
        spec, base_dir = _job_fields(job, fields)
        order_id, ready, not_ready = _call(
            self._native.rent,
            json.dumps(spec),
            os.fspath(base_dir),
            _seconds(duration),
            _seconds(wait),
        )
        if not_ready is not None:
            code, message = not_ready
            raise GpunetError(code, message, order=order_id)
        return Rental(self, json.loads(ready))

    def rental(self, order: int) -> Rental:
        """Rental ``order`` (one of this wallet's), to run commands and copy
        files in while it runs."""
        return Rental(self, self.describe(order))

    def describe(self, order: int) -> dict:
        """Order ``order`` as the node has it: status, lease, result, settlement."""
        return json.loads(_call(self._native.describe, order))

    def list(self, limit: int = 50) -> list:
        """This wallet's orders, newest first."""
        return json.loads(_call(self._native.orders, limit))

    def stop(self, order: int) -> None:
        """Stops running job ``order``: the provider is paid the time it ran."""
        _call(self._native.stop, order)

    @overload
    def logs(self, order: int, follow: Literal[False] = False) -> Logs: ...

    @overload
    def logs(
        self, order: int, follow: Literal[True], poll: float = 1.0
    ) -> Iterator[LogChunk]: ...

    def logs(
        self, order: int, follow: bool = False, poll: float = 1.0
    ) -> Union[Logs, Iterator[LogChunk]]:
        """What job ``order`` wrote (see :class:`Logs`); with ``follow``, an
        iterator of :class:`LogChunk` as the job writes them (polled every
        ``poll`` seconds), which ends when the job has reported: what it
        wrote last comes from its result's logs, verified.

            for chunk in client.logs(order, follow=True):
                print(chunk.text, end="")
        """
        if follow:
            return self._follow_logs(order, poll)
        stdout, stderr, live = _call(self._native.logs, order)
        return Logs(
            stdout=bytes(stdout).decode("utf-8", "replace"),
            stderr=bytes(stderr).decode("utf-8", "replace"),
            live=live,
        )

    def _follow_logs(self, order: int, poll: float) -> Iterator[LogChunk]:
        follower = _call(self._native.follow_logs, order, max(1, int(poll * 1000)))
        # Per stream, so that a character split between two pieces is whole.
        decoders = {
            stream: codecs.getincrementaldecoder("utf-8")("replace")
            for stream in ("stdout", "stderr")
        }
        while (piece := _call(follower.next_piece)) is not None:
            stream, data, skipped = piece
            if skipped:
                yield LogChunk(stream=stream, text="", skipped=skipped)
            elif text := decoders[stream].decode(bytes(data)):
                yield LogChunk(stream=stream, text=text)
        for stream, decoder in decoders.items():
            if rest := decoder.decode(b"", final=True):
                yield LogChunk(stream=stream, text=rest)


class AsyncClient:
    """:class:`Client` for asyncio: the same methods, awaitable. Each call
    runs on a worker thread with the interpreter's lock released while the
    native client works, so calls made together (``asyncio.gather``) run
    together.

    ``AsyncClient(...)`` takes what :class:`Client` takes.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._client = Client(*args, **kwargs)

    @property
    def address(self) -> str:
        """This wallet's address."""
        return self._client.address

    async def rent(self, *args: Any, **kwargs: Any) -> "AsyncRental":
        """:meth:`Client.rent`, awaitable; the rental's methods are too."""
        return AsyncRental(await asyncio.to_thread(self._client.rent, *args, **kwargs))

    async def rental(self, order: int) -> "AsyncRental":
        """:meth:`Client.rental`, awaitable."""
        return AsyncRental(await asyncio.to_thread(self._client.rental, order))

    def logs(self, order: int, follow: bool = False, poll: float = 1.0):
        """:meth:`Client.logs`: awaitable, or with ``follow`` an async
        iterator of :class:`LogChunk` (``async for chunk in ...``)."""
        if follow:
            return self._follow_logs(order, poll)
        return asyncio.to_thread(self._client.logs, order)

    async def _follow_logs(self, order: int, poll: float) -> AsyncIterator[LogChunk]:
        chunks = self._client.logs(order, follow=True, poll=poll)
        done = object()
        while (chunk := await asyncio.to_thread(next, chunks, done)) is not done:
            yield chunk

    def __getattr__(self, name: str):
        return _awaitable(getattr(self._client, name))


class AsyncRental:
    """:class:`Rental` for asyncio: the same methods, awaitable, and an
    async context manager (``async with await client.rent(...) as r``)."""

    def __init__(self, rental: Rental) -> None:
        self._rental = rental

    async def __aenter__(self) -> "AsyncRental":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await asyncio.to_thread(self._rental.__exit__, *exc)

    def __getattr__(self, name: str):
        return _awaitable(getattr(self._rental, name))


def _awaitable(method: Any) -> Any:
    """``method`` run on a worker thread, awaitable (an attribute that is
    not a method, as it is)."""
    if not callable(method):
        return method

    @functools.wraps(method)
    async def call(*args: Any, **kwargs: Any):
        return await asyncio.to_thread(method, *args, **kwargs)

    return call


def _job_fields(job: Optional[JobLike], fields: Mapping[str, Any]) -> tuple:
    """A job file's fields and the directory its local inputs are relative
    to, from a path, a dict or keyword arguments."""
    if isinstance(job, (str, os.PathLike)):
        path = Path(job)
        with open(path, "rb") as f:
            spec = tomllib.load(f)
        base_dir = path.parent.absolute()
    else:
        spec = dict(job or {})
        base_dir = Path.cwd()
    for key, value in fields.items():
        if key == "max_price":
            spec.setdefault("price", {})["max_per_hour"] = str(value)
        else:
            spec[key] = value
    spec.setdefault("name", "python")
    spec.setdefault("timeout_secs", 600)
    if isinstance(spec.get("command"), str):
        spec["command"] = ["sh", "-c", spec["command"]]
    price = spec.get("price", {})
    for key in ("max_per_hour", "deposit"):
        if key in price:
            price[key] = str(price[key])
    return spec, base_dir
