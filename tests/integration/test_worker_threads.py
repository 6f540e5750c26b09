"""What the app's lifespan does when a server starts: `worker_threads` sizes the pool a serve
process runs its blocking handlers on (every route's database work), and the setting refuses
sizes outside 1-256; what was built before the first request is frozen out of the garbage
collector's full passes while the app serves, and thawed when it stops."""

from __future__ import annotations

import gc

import anyio
import anyio.to_thread
import pytest
from pydantic import ValidationError

from entrusted.bootstrap import Container
from entrusted.config import Settings
from entrusted.entrypoints.server import create_server_app


def _pool_size_while_serving(container: Container) -> int:
    app = create_server_app(container=container)

    async def serve() -> int:
        async with app.router.lifespan_context(app):
            return int(anyio.to_thread.current_default_thread_limiter().total_tokens)

    return anyio.run(serve)


def test_the_server_runs_its_handlers_on_worker_threads(container: Container) -> None:
    assert container.settings.worker_threads == 8  # the default
    assert _pool_size_while_serving(container) == 8
    container.settings = container.settings.model_copy(update={"worker_threads": 3})
    assert _pool_size_while_serving(container) == 3


@pytest.mark.parametrize("bad", [0, -1, 257])
def test_a_pool_size_out_of_range_is_refused(bad: int) -> None:
    with pytest.raises(ValidationError, match="worker_threads"):
        Settings(worker_threads=bad)


def test_the_startup_heap_is_frozen_while_serving_and_thawed_after(container: Container) -> None:
    app = create_server_app(container=container)
    gc.unfreeze()

    async def serve() -> int:
        async with app.router.lifespan_context(app):
            return gc.get_freeze_count()

    assert anyio.run(serve) > 10_000  # the modules, the app, the container
    assert gc.get_freeze_count() == 0
