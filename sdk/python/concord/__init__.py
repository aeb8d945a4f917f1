"""Concord operator SDK and scheduler client for Python.

    import concord

    class Counter(concord.Computation):
        def metadata(self):
            return concord.Metadata(name="counter",
                                    istreams=[("words", concord.StreamGrouping.GROUP_BY)],
                                    ostreams=["counts"])
        def process_record(self, ctx, record):
            ctx.produce_record("counts", record.key, b"1")

    concord.serve_computation(Counter())
"""

import os as _os

# Generated modules are named after their proto packages (concord.types.v1, ...) and live in
# concord/gen/concord; adding that directory to this package's path makes those names resolve
# without editing generated code (see concord/gen/__init__.py).
__path__.append(_os.path.join(_os.path.dirname(__file__), "gen", "concord"))

from concord._session import Context, LOG_DEBUG, LOG_ERROR, LOG_INFO, LOG_WARNING, State  # noqa: E402
from concord.computation import (  # noqa: E402
    Computation, Metadata, ProduceError, StateError, StreamGrouping, TimeDomain)
from concord.scheduler_client import OperatorList, SchedulerClient, SchedulerError  # noqa: E402
from concord.server import run_computation, serve_computation  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "Computation", "Context", "Metadata", "StreamGrouping", "TimeDomain", "ProduceError",
    "State", "StateError",
    "serve_computation", "run_computation", "SchedulerClient", "SchedulerError", "OperatorList",
    "LOG_DEBUG", "LOG_INFO", "LOG_WARNING", "LOG_ERROR",
]
