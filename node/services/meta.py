"""The node's `Meta` gRPC service."""

from __future__ import annotations

import logging

import grpc
import orjson

from cluster.rpc import reply
from cluster.tasks import within
from ddb.errors import DynamoDBError
from node.control.view import Control
from node.groups.replica import Rejected, UnknownOutcome
from node.services.admission import Admission
from node.services.bodies import json_body
from trireme_pb import node_pb2, node_pb2_grpc

log = logging.getLogger(__name__)


class MetaServicer(node_pb2_grpc.MetaServicer):
    """Metadata calls, answered by the meta leader (others forward), and
    Watch, served by meta members in touch with their group."""

    def __init__(self, control: Control, admission: Admission) -> None:
        self.control = control
        self.admission = admission

    async def Call(self, request, context):  # noqa: N802
        await self.admission.admit(context)
        control = self.control
        try:
            body = json_body(request.body)
            result = await control.handle_meta_call(request.op, body)
        except Rejected as exc:
            return reply(status=node_pb2.Status.Value(exc.status), message=str(exc), leader=exc.leader or "",
                         leader_addr=self.control.address_of(exc.leader) or "" if exc.leader else "")
        except DynamoDBError as exc:
            return reply(status=node_pb2.DDB_ERROR, error_type=exc.type_name.split("#")[-1],
                         message=exc.message or "")
        except UnknownOutcome as exc:
            return reply(status=node_pb2.UNKNOWN, message=str(exc))
        except Exception as exc:  # noqa: BLE001 (deterministic: logged once, answered, never retried)
            log.exception("meta %s failed", request.op)
            return reply(status=node_pb2.INTERNAL, message=f"internal error: {type(exc).__name__}: {exc}")
        return reply(result)

    async def Watch(self, request, context):  # noqa: N802
        await self.admission.admit(context)
        control = self.control
        after = request.after_version
        while True:
            if control.local_meta() is None:
                # Only a meta member in touch with its group serves the metadata:
                # a removed or lagging one would feed its watchers a stale history.
                await context.abort(grpc.StatusCode.UNAVAILABLE,
                                    f"{control.cfg.id} holds no current metadata replica")
            state = control.view
            if state is not None and state.version > after:
                after = state.version
                yield node_pb2.MetaSnapshot(version=state.version, body=orjson.dumps(state.to_json()))
            try:  # wake now and then to notice losing touch
                await within(control.wait_change(after), 1.0)
            except TimeoutError:
                pass
