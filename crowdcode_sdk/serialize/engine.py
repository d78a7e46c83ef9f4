"""Running :func:`.dataset.process` over many sessions: in this process, on local cores, or on Ray.

Every engine runs the same per-session function and yields results in the order of the sources,
so the output files are byte-identical whichever engine built them.

* ``local``: ``concurrent.futures.ProcessPoolExecutor`` (one process per core by default; one
  worker runs in-process).
* ``ray``: Ray Data, ``from_items(sources).map(process)`` with ordered execution, on a running
  cluster (``--ray-address``) or a local Ray started for the run. Sources and results cross the
  object store pickled, so nested timelines and conversations are not forced into Arrow columns.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from itertools import repeat
from typing import Any

from ..errors import CrowdcodeError
from ..extras import require
from .dataset import DatasetConfig, SessionResult, process
from .sources import SessionSource

ENGINES = ("local", "ray")


def run(
    sources: list[SessionSource],
    config: DatasetConfig,
    *,
    engine: str = "local",
    workers: int | None = None,
    ray_address: str | None = None,
) -> Iterator[SessionResult]:
    if engine == "local":
        yield from _local(sources, config, workers or os.cpu_count() or 1)
    elif engine == "ray":
        yield from _ray(sources, config, workers, ray_address)
    else:
        raise CrowdcodeError(f"unknown engine {engine!r}; choose from {', '.join(ENGINES)}")


def _local(sources: list[SessionSource], config: DatasetConfig, workers: int) -> Iterator[SessionResult]:
    if workers <= 1 or len(sources) <= 1:
        for source in sources:
            yield process(source, config)
        return
    with ProcessPoolExecutor(max_workers=min(workers, len(sources))) as pool:
        yield from pool.map(process, sources, repeat(config), chunksize=1)


def _ray_process(row: dict[str, Any], config: DatasetConfig) -> dict[str, Any]:
    result = process(pickle.loads(row["source"]), config)
    return {"result": pickle.dumps(result)}


def _ray(
    sources: list[SessionSource], config: DatasetConfig, workers: int | None, address: str | None
) -> Iterator[SessionResult]:
    require("ray", "dataset", "--engine ray")
    import ray

    started = False
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address:
            kwargs["address"] = address
        else:
            kwargs["num_cpus"] = workers or os.cpu_count() or 1
        ray.init(**kwargs)
        started = True
    try:
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True
        context.enable_progress_bars = False
        items = ray.data.from_items(
            [{"source": pickle.dumps(s)} for s in sources], override_num_blocks=max(len(sources), 1)
        )
        # Ray types fn as taking the row alone, though it passes fn_kwargs too.
        dataset = items.map(_ray_process, fn_kwargs={"config": config})  # type: ignore[arg-type]
        for row in dataset.iter_rows():
            yield pickle.loads(row["result"])
    finally:
        if started:
            ray.shutdown()
