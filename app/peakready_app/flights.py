"""Concurrent requests in a worker that need the same answer share one call in flight: under a
spike a hundred requests for one menu cost one Redis read, and a storm of health probes one check.
Each caller gets the flight's result as of when its call was made, at most one call's time earlier
than its own request."""

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


class Flights(Generic[T]):
    def __init__(self) -> None:
        self._flights: dict[Hashable, asyncio.Task[T]] = {}

    async def run(self, key: Hashable, call: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        """(call()'s result, whether it was shared with a flight already under way). A caller that
        goes away (cancelled) does not cancel the others' flight."""
        flight = self._flights.get(key)
        shared = flight is not None
        if flight is None:
            flight = asyncio.get_running_loop().create_task(call())  # type: ignore[arg-type]
            self._flights[key] = flight
            flight.add_done_callback(lambda done: self._landed(key, done))
        return await asyncio.shield(flight), shared

    def _landed(self, key: Hashable, flight: asyncio.Task[T]) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
        if not flight.cancelled():
            flight.exception()  # retrieved: every waiter may have gone

    def ground(self, keys: Iterable[Hashable]) -> None:
        """Flights of these keys are not joined any more: the next call starts its own."""
        for key in keys:
            self._flights.pop(key, None)

    def __len__(self) -> int:
        return len(self._flights)
