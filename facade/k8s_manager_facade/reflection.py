"""gRPC server reflection in both versions clients use: `grpc.reflection.v1` and `grpc.reflection.v1alpha`.

grpcio-reflection serves only v1alpha, so v1 answered UNIMPLEMENTED and a client that speaks only v1 found no
reflection. The two protocols differ only in their package name: the same messages with the same field numbers,
so the same bytes on the wire. v1 is served by grpcio-reflection's v1alpha servicer, each message converted
through its wire format (proto/reflection_v1.proto is v1's definition).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from typing import Any

from grpc_reflection.v1alpha import reflection as reflection_v1alpha
from grpc_reflection.v1alpha import reflection_pb2 as v1alpha_pb2

from .generated import reflection_v1_pb2, reflection_v1_pb2_grpc

V1ALPHA_SERVICE_NAME: str = reflection_v1alpha.SERVICE_NAME
V1_SERVICE_NAME: str = reflection_v1_pb2.DESCRIPTOR.services_by_name["ServerReflection"].full_name
SERVICE_NAMES = (V1_SERVICE_NAME, V1ALPHA_SERVICE_NAME)


class ReflectionV1Servicer(reflection_v1_pb2_grpc.ServerReflectionServicer):
    """`grpc.reflection.v1.ServerReflection`, answered by the v1alpha servicer."""

    def __init__(self, service_names: Iterable[str]) -> None:
        self._v1alpha = reflection_v1alpha.aio.ReflectionServicer(tuple(service_names))

    async def ServerReflectionInfo(  # noqa: N802
        self, request_iterator: AsyncIterable[reflection_v1_pb2.ServerReflectionRequest], context: Any
    ) -> AsyncIterator[reflection_v1_pb2.ServerReflectionResponse]:
        async def as_v1alpha() -> AsyncIterator[Any]:
            async for request in request_iterator:
                yield v1alpha_pb2.ServerReflectionRequest.FromString(request.SerializeToString())

        async for response in self._v1alpha.ServerReflectionInfo(as_v1alpha(), context):
            yield reflection_v1_pb2.ServerReflectionResponse.FromString(response.SerializeToString())


def enable_server_reflection(service_names: Iterable[str], server: Any) -> None:
    """Serve both versions on `server` (a grpc.aio server), listing `service_names`."""
    names = tuple(service_names)
    reflection_v1alpha.enable_server_reflection(names, server)
    # The generated registration function is untyped: named here with its signature.
    register: Callable[[Any, Any], None] = reflection_v1_pb2_grpc.add_ServerReflectionServicer_to_server
    register(ReflectionV1Servicer(names), server)
