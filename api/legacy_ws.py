"""The legacy ``graphql-ws`` protocol (subscriptions-transport-ws), which Apollo's old client and
Python gql's default websocket transport speak, held to the rules of ``graphql-transport-ws``.

Strawberry runs only subscriptions over it: a query or a mutation met
``InvalidOperationTypeError`` and the client got INTERNAL. Here every operation runs as over
graphql-transport-ws (a query or mutation answers one ``data``, then ``complete``), with the same
key, roles, limits and error masking, since they live in the schema. And as there, a socket must
send ``connection_init`` within the view's ``connection_init_wait_timeout`` (else 4408), and only
once (4429): the legacy protocol has neither rule of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, cast

from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import ConnectionInitMessage
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError

INIT_TIMEOUT = (4408, "Connection initialisation timeout")  # graphql-transport-ws's words
SECOND_INIT = (4429, "Too many initialisation requests")


class LegacyGraphQLWSHandler(BaseGraphQLWSHandler[Any, None]):
    init_received = False

    async def handle(self) -> None:
        deadline = asyncio.create_task(self._close_unless_initialised())
        try:
            await super().handle()
        finally:
            deadline.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await deadline

    async def _close_unless_initialised(self) -> None:
        await asyncio.sleep(self.view.connection_init_wait_timeout.total_seconds())
        if not self.init_received:
            await self.websocket.close(*INIT_TIMEOUT)

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        if self.init_received:
            await self.websocket.close(*SECOND_INIT)
            return
        self.init_received = True
        await super().handle_connection_init(message)

    async def handle_async_results(
        self,
        operation_id: str,
        query: str,
        operation_name: str | None,
        variables: dict[str, object] | None,
    ) -> None:
        """Strawberry's, with ``schema.stream`` (any operation) for ``schema.subscribe``."""
        try:
            results = await self.schema.stream(
                query=query,
                variable_values=variables,
                operation_name=operation_name,
                context_value=self.context,
                root_value=self.root_value,
            )
            self.subscriptions[operation_id] = results
            first = True
            async for result in results:
                if first and isinstance(result, PreExecutionError):
                    assert result.errors
                    error = result.errors[0].formatted
                    await self.send_message({"type": "error", "id": operation_id, "payload": error})
                    return
                # The schema does not enable @defer / @stream: every result is whole.
                await self.send_data_message(cast("ExecutionResult", result), operation_id)
                first = False
            await self.send_message({"type": "complete", "id": operation_id})
        except asyncio.CancelledError:
            await self.send_message({"type": "complete", "id": operation_id})
        finally:
            # Over, whichever way: it no longer counts against the socket's operations.
            self.subscriptions.pop(operation_id, None)
            self.tasks.pop(operation_id, None)
