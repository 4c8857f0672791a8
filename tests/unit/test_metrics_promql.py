"""The metrics PromQL: string escaping that no value can break out of, and the query's shape (pitfalls avoided)."""

from __future__ import annotations

import ast
import re

import pytest
from k8s_manager_facade.metrics.promql import promql_string, version_usage_query

# Go's escapes that PromQL takes (\\ \" \n \r \t \xHH) mean the same in Python, so Python's parser can check them.
VALUES = [
    "greeter-v1",
    "",
    'a"b',
    "back\\slash",
    "ends with a backslash\\",
    'v1"} or vector(1) or {"',
    '"} or sum(up) #',
    "new\nline",
    "carriage\rreturn\ttab",
    "bell\x07 escape\x1b delete\x7f nul\x00",
    "single 'quotes' and `backticks`",
    "ünïcödé €😀",
]


@pytest.mark.parametrize("value", VALUES)
def test_a_string_literal_means_exactly_its_value(value):
    literal = promql_string(value)

    assert literal.startswith('"')
    assert literal.endswith('"')
    assert ast.literal_eval(literal) == value


@pytest.mark.parametrize("value", VALUES)
def test_a_string_literal_has_no_unescaped_quote_or_line_break_inside(value):
    inside = promql_string(value)[1:-1]

    assert not re.search(r'(?<!\\)(\\\\)*"', inside)
    assert "\n" not in inside
    assert "\r" not in inside


def test_escaping_is_minimal_for_plain_names():
    assert promql_string("kre-demo") == '"kre-demo"'
    assert promql_string('a"b\\c\n') == '"a\\"b\\\\c\\n"'
    assert promql_string("\x01") == '"\\x01"'


@pytest.mark.parametrize("value", VALUES)
def test_a_value_cannot_change_the_query_around_it(value):
    """The query for any value is the query for a placeholder with only the placeholder's literals replaced."""
    placeholder = "PLACEHOLDER"
    template = version_usage_query(placeholder, placeholder)

    query = version_usage_query(value, value)

    assert query == template.replace(f'"{placeholder}"', promql_string(value))


QUERY = version_usage_query("kre-demo", "greeter-v1")


def test_the_query_selects_cpu_as_a_five_minute_rate_and_memory_as_the_working_set_gauge():
    assert 'rate(container_cpu_usage_seconds_total{namespace="kre-demo",container!="",container!="POD"}[5m])' in QUERY
    assert 'container_memory_working_set_bytes{namespace="kre-demo",container!="",container!="POD"} *' in QUERY
    assert "rate(container_memory" not in QUERY
    assert QUERY.count("rate(") == 1


def test_the_query_joins_the_version_pods_in_the_same_namespace_through_one_series_per_pod():
    version_pods = (
        "max by (namespace, pod, label_version_name) "
        '(kube_pod_labels{namespace="kre-demo",label_version_name="greeter-v1"})'
    )
    join = f"* on (namespace, pod) group_left(label_version_name) {version_pods}"

    assert QUERY.count(join) == 2
    assert QUERY.count('namespace="kre-demo"') == 4  # both sides of both joins
    assert "=~" not in QUERY  # exact matches only: no regex to smuggle a pattern into


def test_the_query_labels_the_two_sums_cpu_and_mem_in_one_or():
    cpu, mem = QUERY.split(" or ")

    assert cpu.startswith("label_replace(sum by (label_version_name) (rate(")
    assert cpu.endswith(', "metric", "cpu", "", "")')
    assert mem.startswith("label_replace(sum by (label_version_name) (container_memory_working_set_bytes")
    assert mem.endswith(', "metric", "mem", "", "")')
