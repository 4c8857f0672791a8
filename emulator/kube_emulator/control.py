"""The emulator's own control API under /_emulator/, for tests and the dev mode in other processes.

GET    /_emulator/faults                 list fault rules with their hit counts
POST   /_emulator/faults                 add a rule (JSON fields of kube_emulator.faults.Fault)
DELETE /_emulator/faults[/ID]            remove all rules, or one
POST   /_emulator/compact                forget the watch history (older watches get 410 Gone)
POST   /_emulator/watches/close          end every open watch, as an apiserver restart would
POST   /_emulator/workloads/NS/NAME      {"ready": true|false}: decide a Deployment's availability
GET    /_emulator/rbac/usage             the RBAC rules used so far (kube_emulator.authz.Authorizer.usage)
DELETE /_emulator/rbac/usage             forget them

These routes are for tests on loopback: they take no credentials and are not authorized.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from .emulator import Emulator

PREFIX = "/_emulator"


def add_routes(app: web.Application, emulator: Emulator) -> None:
    async def list_faults(request: web.Request) -> web.Response:
        return web.json_response([f.public() for f in emulator.faults.list()])

    async def add_fault(request: web.Request) -> web.Response:
        try:
            data = await request.json()
            fault = emulator.faults.add_from_json(data)
        except (ValueError, TypeError) as error:
            return web.json_response({"error": str(error)}, status=400)
        return web.json_response(fault.public(), status=201)

    async def clear_faults(request: web.Request) -> web.Response:
        emulator.faults.clear()
        return web.json_response({})

    async def remove_fault(request: web.Request) -> web.Response:
        found = emulator.faults.remove(int(request.match_info["fault_id"]))
        return web.json_response({}, status=200 if found else 404)

    async def compact(request: web.Request) -> web.Response:
        return web.json_response({"compactedResourceVersion": str(emulator.cluster.store.compact())})

    async def close_watches(request: web.Request) -> web.Response:
        emulator.cluster.store.end_watches()
        return web.json_response({})

    async def workload(request: web.Request) -> web.Response:
        try:
            ready = bool((await request.json()).get("ready", True))
        except (ValueError, json.JSONDecodeError, AttributeError):
            return web.json_response({"error": 'body must be {"ready": true|false}'}, status=400)
        emulator.controllers.set_workload_ready(request.match_info["namespace"], request.match_info["name"], ready)
        return web.json_response({"ready": ready})

    async def rbac_usage(request: web.Request) -> web.Response:
        return web.json_response(emulator.rbac_usage())

    async def reset_rbac_usage(request: web.Request) -> web.Response:
        emulator.reset_rbac_usage()
        return web.json_response({})

    app.router.add_get(f"{PREFIX}/faults", list_faults)
    app.router.add_post(f"{PREFIX}/faults", add_fault)
    app.router.add_delete(f"{PREFIX}/faults", clear_faults)
    app.router.add_delete(f"{PREFIX}/faults/{{fault_id:\\d+}}", remove_fault)
    app.router.add_post(f"{PREFIX}/compact", compact)
    app.router.add_post(f"{PREFIX}/watches/close", close_watches)
    app.router.add_post(f"{PREFIX}/workloads/{{namespace}}/{{name}}", workload)
    app.router.add_get(f"{PREFIX}/rbac/usage", rbac_usage)
    app.router.add_delete(f"{PREFIX}/rbac/usage", reset_rbac_usage)
