"""Raw HTTP to the API server of a kubeconfig, for what the `kubernetes` client cannot say or show.

The tests that read Status bodies, Warning headers, watch streams or query parameters the client does not expose
go through this, with the kubeconfig's own credentials (the emulator's bearer token, or a real cluster's client
certificate) and CA, so that they run against the emulator and a real cluster alike.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import kubernetes
import requests

# kubernetes>=37 types its models with Optional everywhere; the configuration is used untyped, as in conftest.py.
client: Any = kubernetes.client
config: Any = kubernetes.config


class RawApi:
    """`requests` bound to the API server's base URL, as the kubeconfig's user.

    With `credentials=False` the requests carry none (they are anonymous), with `token` that bearer token instead.
    """

    def __init__(self, kubeconfig: Path, credentials: bool = True, token: str | None = None) -> None:
        configuration = client.Configuration()
        config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
        self.base: str = configuration.host
        self.session = requests.Session()
        # The CA comes from the kubeconfig: REQUESTS_CA_BUNDLE and friends would take its place.
        self.session.trust_env = False
        self.session.verify = configuration.ssl_ca_cert if configuration.verify_ssl else False
        if token is not None:
            self.session.headers["Authorization"] = f"Bearer {token}"
            return
        if not credentials:
            return
        if configuration.cert_file and configuration.key_file:
            self.session.cert = (configuration.cert_file, configuration.key_file)
        own = configuration.get_api_key_with_prefix("BearerToken") or configuration.get_api_key_with_prefix(
            "authorization"
        )
        if own:
            self.session.headers["Authorization"] = own

    def url(self, path: str) -> str:
        return self.base + path

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 10)
        return self.session.request(method, self.base + path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, json=body, **kwargs)

    def put(self, path: str, body: Any, **kwargs: Any) -> requests.Response:
        return self.request("PUT", path, json=body, **kwargs)

    def patch(self, path: str, body: Any, content_type: str, **kwargs: Any) -> requests.Response:
        return self.request("PATCH", path, data=json.dumps(body), headers={"Content-Type": content_type}, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)


@contextmanager
def raw_api(kubeconfig: Path, credentials: bool = True, token: str | None = None) -> Iterator[RawApi]:
    api = RawApi(kubeconfig, credentials, token)
    try:
        yield api
    finally:
        api.session.close()
