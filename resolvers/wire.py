"""The JSON form of everything published on the bus, defined once for every event type.

Events are frozen dataclasses of the product's vocabulary (enums, datetimes, nested dataclasses,
lists, optionals); this codec walks their type hints, so a new field needs no code here. A
Redis bus carries ``{"type": <class name>, "data": <fields>}`` between replicas.
"""

from __future__ import annotations

import dataclasses
import json
import types
from collections.abc import Iterable
from datetime import datetime
from enum import Enum
from functools import cache
from typing import Any, Union, get_args, get_origin, get_type_hints

from domain.messages import Message
from resolvers.api_keys import KeyRevoked
from resolvers.campaign_events import CampaignChanged
from resolvers.events import AccountEvent, SendersChanged


class UnknownEventError(ValueError):
    """The bus carried a message type this process does not know (a newer replica?)."""


def to_json(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name: to_json(getattr(value, field.name)) for field in dataclasses.fields(value)
        }
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    return value


def from_json(kind: Any, data: Any) -> Any:
    origin = get_origin(kind)
    if origin in (Union, types.UnionType):
        if data is None:
            return None
        (inner,) = [arg for arg in get_args(kind) if arg is not type(None)]
        return from_json(inner, data)
    if origin is list:
        (item,) = get_args(kind)
        return [from_json(item, element) for element in data]
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        hints = _hints(kind)
        return kind(**{name: from_json(hints[name], data[name]) for name in hints})
    if isinstance(kind, type) and issubclass(kind, Enum):
        return kind(data)
    if kind is datetime:
        return datetime.fromisoformat(data)
    return data


@cache
def _hints(kind: type) -> dict[str, Any]:
    names = {field.name for field in dataclasses.fields(kind)}
    return {name: hint for name, hint in get_type_hints(kind).items() if name in names}


class JsonCodec:
    def __init__(self, kinds: Iterable[type]) -> None:
        self._kinds = {kind.__name__: kind for kind in kinds}

    def encode(self, message: object) -> bytes:
        name = type(message).__name__
        if self._kinds.get(name) is not type(message):
            raise UnknownEventError(f"{name} is not a bus event")
        return json.dumps({"type": name, "data": to_json(message)}).encode()

    def decode(self, data: bytes) -> object:
        envelope = json.loads(data)
        kind = self._kinds.get(envelope["type"])
        if kind is None:
            raise UnknownEventError(f"{envelope['type']} is not a bus event")
        return from_json(kind, envelope["data"])


EVENTS = JsonCodec([AccountEvent, SendersChanged, Message, KeyRevoked, CampaignChanged])
