#!/usr/bin/env bash
# Regenerate the Python code of proto/*.proto into facade/k8s_manager_facade/generated/.
# The virtual include path makes the generated modules import each other as
# k8s_manager_facade.generated.*; tests/unit/test_protos.py fails when the checked-in code is stale.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${1:-facade}"
python3 -m grpc_tools.protoc \
    --proto_path=k8s_manager_facade/generated=proto \
    --python_out="$out" --pyi_out="$out" --grpc_python_out="$out" \
    k8s_manager_facade/generated/runtime.proto \
    k8s_manager_facade/generated/version.proto \
    k8s_manager_facade/generated/resourcemetrics.proto \
    k8s_manager_facade/generated/reflection_v1.proto
touch "$out/k8s_manager_facade/generated/__init__.py"
