from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class VersionResourceMetrics(_message.Message):
    __slots__ = ("date", "cpu", "mem")
    DATE_FIELD_NUMBER: _ClassVar[int]
    CPU_FIELD_NUMBER: _ClassVar[int]
    MEM_FIELD_NUMBER: _ClassVar[int]
    date: str
    cpu: float
    mem: float
    def __init__(self, date: _Optional[str] = ..., cpu: _Optional[float] = ..., mem: _Optional[float] = ...) -> None: ...

class Response(_message.Message):
    __slots__ = ("versionResourceMetrics",)
    VERSIONRESOURCEMETRICS_FIELD_NUMBER: _ClassVar[int]
    versionResourceMetrics: _containers.RepeatedCompositeFieldContainer[VersionResourceMetrics]
    def __init__(self, versionResourceMetrics: _Optional[_Iterable[_Union[VersionResourceMetrics, _Mapping]]] = ...) -> None: ...

class VersionRequest(_message.Message):
    __slots__ = ("versionName", "namespace", "fromDate", "toDate", "step")
    VERSIONNAME_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    FROMDATE_FIELD_NUMBER: _ClassVar[int]
    TODATE_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    versionName: str
    namespace: str
    fromDate: str
    toDate: str
    step: int
    def __init__(self, versionName: _Optional[str] = ..., namespace: _Optional[str] = ..., fromDate: _Optional[str] = ..., toDate: _Optional[str] = ..., step: _Optional[int] = ...) -> None: ...
