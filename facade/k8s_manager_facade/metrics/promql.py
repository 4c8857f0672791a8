"""The PromQL of ResourceMetricsService, pure.

One query returns both series of a version, told apart by a `metric` label ("cpu" or "mem"):

- CPU in cores: `rate(container_cpu_usage_seconds_total[5m])` of the version's containers, summed;
- memory in bytes: `container_memory_working_set_bytes` of the same containers, summed (a gauge: no rate).

Each side is joined to `kube_pod_labels{label_version_name=...}` (kube-state-metrics) on (namespace, pod). The
pitfalls, measured against Prometheus (../shared/reference/test-infrastructure-findings.md):
- `namespace` is matched on both sides, or pods of the same name in other namespaces leak in;
- `container!=""` drops cAdvisor's pod-level cgroup series, which would double the sums, and `container!="POD"`
  the pause container;
- `max by (namespace, pod, label_version_name)` makes kube_pod_labels one series per pod even when two
  kube-state-metrics replicas are scraped (else: HTTP 422 "found duplicate series").

Label values go into PromQL string literals escaped, so no value can end the literal or change the query.
"""

from __future__ import annotations

RATE_WINDOW = "5m"
METRIC_LABEL = "metric"  # the label telling the two series of the one query apart
CPU = "cpu"
MEM = "mem"
VERSION_LABEL = "label_version_name"  # kube-state-metrics' name for the pods' `version-name` label
# PromQL string literals take Go's escape sequences; these characters must be escaped in a double-quoted one.
_SHORT_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def promql_string(value: str) -> str:
    """`value` as a double-quoted PromQL string literal that means exactly `value`."""
    escaped = []
    for char in value:
        if char in _SHORT_ESCAPES:
            escaped.append(_SHORT_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            escaped.append(f"\\x{ord(char):02x}")  # other control characters: a two-digit hex escape
        else:
            escaped.append(char)  # anything else, non-ASCII included, is literal UTF-8 inside the quotes
    return '"' + "".join(escaped) + '"'


def version_usage_query(namespace: str, version_name: str) -> str:
    """The one range query for a version's CPU (cores) and memory (working-set bytes), labelled metric=cpu|mem."""
    ns = promql_string(namespace)
    containers = f'namespace={ns},container!="",container!="POD"'
    version_pods = (
        f"max by (namespace, pod, {VERSION_LABEL}) "
        f"(kube_pod_labels{{namespace={ns},{VERSION_LABEL}={promql_string(version_name)}}})"
    )

    def per_version(per_container: str) -> str:
        return (
            f"sum by ({VERSION_LABEL}) "
            f"({per_container} * on (namespace, pod) group_left({VERSION_LABEL}) {version_pods})"
        )

    cpu = per_version(f"rate(container_cpu_usage_seconds_total{{{containers}}}[{RATE_WINDOW}])")
    mem = per_version(f"container_memory_working_set_bytes{{{containers}}}")
    return (
        f'label_replace({cpu}, "{METRIC_LABEL}", "{CPU}", "", "") '
        f'or label_replace({mem}, "{METRIC_LABEL}", "{MEM}", "", "")'
    )
