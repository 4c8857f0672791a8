from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Version(_message.Message):
    __slots__ = ("id", "name", "namespace", "entrypoint", "config", "workflows")
    class Config(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class Entrypoint(_message.Message):
        __slots__ = ("proto_file", "image", "src")
        PROTO_FILE_FIELD_NUMBER: _ClassVar[int]
        IMAGE_FIELD_NUMBER: _ClassVar[int]
        SRC_FIELD_NUMBER: _ClassVar[int]
        proto_file: str
        image: str
        src: str
        def __init__(self, proto_file: _Optional[str] = ..., image: _Optional[str] = ..., src: _Optional[str] = ...) -> None: ...
    class Workflow(_message.Message):
        __slots__ = ("id", "name", "entrypoint", "nodes", "edges")
        class Node(_message.Message):
            __slots__ = ("id", "name", "image", "src")
            ID_FIELD_NUMBER: _ClassVar[int]
            NAME_FIELD_NUMBER: _ClassVar[int]
            IMAGE_FIELD_NUMBER: _ClassVar[int]
            SRC_FIELD_NUMBER: _ClassVar[int]
            id: str
            name: str
            image: str
            src: str
            def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., image: _Optional[str] = ..., src: _Optional[str] = ...) -> None: ...
        class Edge(_message.Message):
            __slots__ = ("id", "fromNode", "toNode")
            ID_FIELD_NUMBER: _ClassVar[int]
            FROMNODE_FIELD_NUMBER: _ClassVar[int]
            TONODE_FIELD_NUMBER: _ClassVar[int]
            id: str
            fromNode: str
            toNode: str
            def __init__(self, id: _Optional[str] = ..., fromNode: _Optional[str] = ..., toNode: _Optional[str] = ...) -> None: ...
        ID_FIELD_NUMBER: _ClassVar[int]
        NAME_FIELD_NUMBER: _ClassVar[int]
        ENTRYPOINT_FIELD_NUMBER: _ClassVar[int]
        NODES_FIELD_NUMBER: _ClassVar[int]
        EDGES_FIELD_NUMBER: _ClassVar[int]
        id: str
        name: str
        entrypoint: str
        nodes: _containers.RepeatedCompositeFieldContainer[Version.Workflow.Node]
        edges: _containers.RepeatedCompositeFieldContainer[Version.Workflow.Edge]
        def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., entrypoint: _Optional[str] = ..., nodes: _Optional[_Iterable[_Union[Version.Workflow.Node, _Mapping]]] = ..., edges: _Optional[_Iterable[_Union[Version.Workflow.Edge, _Mapping]]] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    ENTRYPOINT_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    WORKFLOWS_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    namespace: str
    entrypoint: Version.Entrypoint
    config: _containers.RepeatedCompositeFieldContainer[Version.Config]
    workflows: _containers.RepeatedCompositeFieldContainer[Version.Workflow]
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., namespace: _Optional[str] = ..., entrypoint: _Optional[_Union[Version.Entrypoint, _Mapping]] = ..., config: _Optional[_Iterable[_Union[Version.Config, _Mapping]]] = ..., workflows: _Optional[_Iterable[_Union[Version.Workflow, _Mapping]]] = ...) -> None: ...

class Request(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: Version
    def __init__(self, version: _Optional[_Union[Version, _Mapping]] = ...) -> None: ...

class Response(_message.Message):
    __slots__ = ("message",)
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    message: str
    def __init__(self, message: _Optional[str] = ...) -> None: ...
