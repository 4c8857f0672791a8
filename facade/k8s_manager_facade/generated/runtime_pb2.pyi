from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Runtime(_message.Message):
    __slots__ = ("name", "namespace", "minio", "mongo")
    class MongoConf(_message.Message):
        __slots__ = ("username", "password", "sharedKey")
        USERNAME_FIELD_NUMBER: _ClassVar[int]
        PASSWORD_FIELD_NUMBER: _ClassVar[int]
        SHAREDKEY_FIELD_NUMBER: _ClassVar[int]
        username: str
        password: str
        sharedKey: str
        def __init__(self, username: _Optional[str] = ..., password: _Optional[str] = ..., sharedKey: _Optional[str] = ...) -> None: ...
    class MinioConf(_message.Message):
        __slots__ = ("accessKey", "secretKey")
        ACCESSKEY_FIELD_NUMBER: _ClassVar[int]
        SECRETKEY_FIELD_NUMBER: _ClassVar[int]
        accessKey: str
        secretKey: str
        def __init__(self, accessKey: _Optional[str] = ..., secretKey: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    MINIO_FIELD_NUMBER: _ClassVar[int]
    MONGO_FIELD_NUMBER: _ClassVar[int]
    name: str
    namespace: str
    minio: Runtime.MinioConf
    mongo: Runtime.MongoConf
    def __init__(self, name: _Optional[str] = ..., namespace: _Optional[str] = ..., minio: _Optional[_Union[Runtime.MinioConf, _Mapping]] = ..., mongo: _Optional[_Union[Runtime.MongoConf, _Mapping]] = ...) -> None: ...

class Request(_message.Message):
    __slots__ = ("runtime",)
    RUNTIME_FIELD_NUMBER: _ClassVar[int]
    runtime: Runtime
    def __init__(self, runtime: _Optional[_Union[Runtime, _Mapping]] = ...) -> None: ...

class Response(_message.Message):
    __slots__ = ("message",)
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    message: str
    def __init__(self, message: _Optional[str] = ...) -> None: ...

class RuntimeStatusResponse(_message.Message):
    __slots__ = ("Status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    Status: str
    def __init__(self, Status: _Optional[str] = ...) -> None: ...
