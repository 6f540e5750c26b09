"""`worker_threads` sizes the pool a serve process runs its blocking handlers on (every
route's database work): the app's lifespan sets it when the server starts, and the setting
refuses sizes outside 1-256."""

from __future__ import annotations

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
