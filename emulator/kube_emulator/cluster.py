"""The emulated cluster without its HTTP face: served kinds, storage, and CRD registration."""

from __future__ import annotations

from .resources import JsonObject, Registry, ResourceType, ScalePaths
from .schema import CrdSchema
from .store import ADDED, DELETED, MODIFIED, Change, Store
from .strategies import Strategies

CRD_KEY = ("apiextensions.k8s.io", "customresourcedefinitions")
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class Cluster:
    """Registry + strategies + store, with the kinds of every CRD registered as soon as it is written."""

    def __init__(self, history_size: int = 20000) -> None:
        self.registry = Registry()
        self.strategies = Strategies()
        self.store = Store(self.registry, self.strategies, history_size=history_size)
        self.store.subscribe(self._on_change)
        namespaces = self.rtype("", "v1", "namespaces")
        for name in SYSTEM_NAMESPACES:
            self.store.create(namespaces, None, {"metadata": {"name": name}})

    def rtype(self, group: str, version: str, plural: str) -> ResourceType:
        found = self.registry.get(group, version, plural)
        if found is None:
            raise KeyError(f"{plural}.{group}/{version} is not served")
        return found

    def _on_change(self, change: Change) -> None:
        if change.storage_key != CRD_KEY:
            return
        if change.type in (ADDED, MODIFIED):
            self._register_crd(change.object, change.old)
        elif change.type == DELETED:
            self._unregister_crd(change.object)

    def _register_crd(self, crd: JsonObject, old: JsonObject | None) -> None:
        spec = crd["spec"]
        group, names = spec["group"], spec["names"]
        if old is not None:
            old_spec = old.get("spec", {})
            self.registry.remove_group_resource(old_spec.get("group", ""), old_spec.get("names", {}).get("plural", ""))
        storage = next((v["name"] for v in spec.get("versions", []) if v.get("storage")), "")
        for version in spec.get("versions", []):
            if not version.get("served", True):
                continue
            schema = (version.get("schema") or {}).get("openAPIV3Schema")
            subresources = version.get("subresources") or {}
            scale = subresources.get("scale")
            rtype = ResourceType(
                group=group,
                version=version["name"],
                plural=names["plural"],
                singular=names.get("singular") or names["kind"].lower(),
                kind=names["kind"],
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                subresources=frozenset(k for k in ("status", "scale") if k in subresources),
                scale=None
                if scale is None
                else ScalePaths(
                    spec_replicas_path=str(scale.get("specReplicasPath") or ""),
                    status_replicas_path=str(scale.get("statusReplicasPath") or ""),
                    label_selector_path=str(scale.get("labelSelectorPath") or ""),
                ),
                schema=schema,
                printer_columns=tuple(version.get("additionalPrinterColumns") or ()),
                selectable_fields=tuple(
                    str(f.get("jsonPath", "")).lstrip(".") for f in version.get("selectableFields") or ()
                ),
                from_crd=True,
                storage_version=storage,
            )
            self.registry.add(rtype)
            self.strategies.set_schema(rtype, CrdSchema(schema) if schema else None)

    def _unregister_crd(self, crd: JsonObject) -> None:
        spec = crd["spec"]
        group, plural = spec["group"], spec["names"]["plural"]
        for rtype in [t for t in self.registry if t.group == group and t.plural == plural]:
            self.strategies.set_schema(rtype, None)
        self.registry.remove_group_resource(group, plural)
        self.store.drop_resource((group, plural))
