"""The websockets one process holds, counted for their limits: those still awaiting
``connection_init`` (a socket that says nothing still costs a task and buffers, and a client that
opens them by the thousand must not starve the others), and those of each API key.

Not per client address: behind a load balancer every client shares one. Counts are sets, not
integers, so they stay exact whatever ends a socket (either side closing, a dropped connection, an
error): its owner releases it once on its way out, and releasing a socket twice, or one never
admitted, changes nothing.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

Socket = TypeVar("Socket", bound=Hashable)


class OpenSockets(Generic[Socket]):
    def __init__(self, *, max_awaiting_init: int, max_per_key: int) -> None:
        self.max_awaiting_init = max_awaiting_init
        self.max_per_key = max_per_key
        self._awaiting: set[Socket] = set()
        self._by_key: dict[str, set[Socket]] = {}
        self._key_of: dict[Socket, str] = {}

    @property
    def awaiting_init(self) -> int:
        return len(self._awaiting)

    def admit(self, socket: Socket) -> bool:
        """A socket just opened; False when the most allowed already await ``connection_init``."""
        if len(self._awaiting) >= self.max_awaiting_init:
            return False
        self._awaiting.add(socket)
        return True

    def authenticated(self, socket: Socket, key_id: str) -> bool:
        """The socket's key is live: it counts against that key from now on. False when the key
        already holds the most allowed (the socket is left as it was)."""
        held = self._by_key.get(key_id, set())
        if socket not in held and len(held) >= self.max_per_key:
            return False
        self.release(socket)
        self._by_key[key_id] = held
        held.add(socket)
        self._key_of[socket] = key_id
        return True

    def release(self, socket: Socket) -> None:
        """The socket no longer counts, wherever it did (if anywhere)."""
        self._awaiting.discard(socket)
        key_id = self._key_of.pop(socket, None)
        if key_id is None:
            return
        held = self._by_key[key_id]
        held.discard(socket)
        if not held:
            del self._by_key[key_id]

    def of_key(self, key_id: str) -> list[Socket]:
        return list(self._by_key.get(key_id, ()))

    def one_per_key(self) -> list[tuple[str, Socket]]:
        """Each key holding sockets, with one of them (any: they all carry that key)."""
        return [(key_id, next(iter(held))) for key_id, held in self._by_key.items()]
