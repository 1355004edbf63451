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

__all__ = ["AsyncClient", "Client", "GpunetError", "LogChunk", "Logs", "Result"]


class GpunetError(Exception):
    """A call that failed: ``code`` is stable, ``message`` is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{message} ({code})")
        self.code = code
        self.message = message


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


@dataclass(frozen=True)
class Result:
    """A job that ended: its order as the node has it, its logs, and, when
    it completed, its outputs downloaded into ``outputs`` and verified."""

    order: dict
    logs: Logs
    outputs: Optional[Path]
    files: list

    @property
    def id(self) -> int:
        return self.order["order"]

    @property
    def status(self) -> str:
        return self.order["status"]

    @property
    def stdout(self) -> str:
        return self.logs.stdout


JobLike = Union[Mapping[str, Any], str, os.PathLike]


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
        account = json.loads(_call(self._native.account, address))
        return Decimal(account["account"]["balance"])

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
        method = getattr(self._client, name)
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
