"""The Containerfile's invariants, read from the file (no image is built here: no container runtime or registry).

A pinned base image, the project installed with pip (not editable, no dev extras) into a venv that is all the
final stage takes from the builder, a numeric non-root USER that matches the manifests, `k8s-manager` as the
entrypoint, and a build context without tests, benchmarks, .git or caches.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CONTAINERFILE = ROOT / "Containerfile"
IGNORE_FILES = (ROOT / ".containerignore", ROOT / ".dockerignore")
# A Python base image tag that names a patch release, e.g. 3.11.11-slim-bookworm.
PINNED_PYTHON_TAG = re.compile(r"^3\.11\.\d+(-[a-z]+)*$")
VENV = "/opt/venv"


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def arguments(self, instruction: str) -> list[str]:
        return [arguments for name, arguments in self.instructions if name == instruction]


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, comments dropped and continued lines joined."""
    joined = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    parsed: list[tuple[str, str]] = []
    for line in joined.splitlines():
        if line.strip():
            name, _, arguments = line.strip().partition(" ")
            parsed.append((name.upper(), arguments.strip()))
    return parsed


def stages() -> list[Stage]:
    parsed: list[Stage] = []
    for name, arguments in instructions(CONTAINERFILE.read_text()):
        if name == "FROM":
            words = arguments.split()
            alias = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            parsed.append(Stage(words[0], alias))
        else:
            assert parsed, f"{name} before the first FROM"
            parsed[-1].instructions.append((name, arguments))
    return parsed


def base_image(stage: Stage, all_stages: list[Stage]) -> str:
    """The registry image a stage starts from, through the stages it is built on."""
    by_name = {s.name: s for s in all_stages if s.name}
    while stage.base in by_name:
        stage = by_name[stage.base]
    return stage.base


def exec_form(arguments: str) -> list[str]:
    value = json.loads(arguments)
    assert isinstance(value, list), f"{arguments} is not in exec form"
    return [str(item) for item in value]


def test_every_stage_starts_from_a_pinned_python_3_11_slim_image() -> None:
    all_stages = stages()
    assert len(all_stages) >= 2, "multi-stage: the builder's tools stay out of the final image"
    for stage in all_stages:
        image = base_image(stage, all_stages)
        name, _, digest = image.partition("@")
        repository, _, tag = name.partition(":")
        assert repository == "python"
        assert PINNED_PYTHON_TAG.match(tag), f"{image}: the tag must name a patch release"
        assert "slim" in tag
        assert not digest or digest.startswith("sha256:")


def test_the_project_is_installed_with_pip_into_a_venv_not_editable_without_extras() -> None:
    builder = next(stage for stage in stages() if any("pip install" in run for run in stage.arguments("RUN")))
    (install,) = [shlex.split(run) for run in builder.arguments("RUN") if "pip install" in run]
    workdir = builder.arguments("WORKDIR")[-1]
    targets = [word for word in install[install.index("install") + 1 :] if not word.startswith("-")]

    assert any(f"venv {VENV}" in run for run in builder.arguments("RUN"))
    assert f"PATH={VENV}/bin:$PATH" in " ".join(stages()[0].arguments("ENV") + builder.arguments("ENV"))
    assert targets in ([workdir], ["."]), f"pip must install the project directory, not {targets}"
    assert not {"-e", "--editable"} & set(install)
    assert "[" not in " ".join(targets), "no extras: the dev tools stay out of the image"


def test_the_builder_gets_every_source_package_of_pyproject() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    package_dirs = pyproject["tool"]["setuptools"]["packages"]["find"]["where"]
    builder = next(stage for stage in stages() if stage.arguments("COPY") and stage.name == "builder")
    copied = {source.rstrip("/") for arguments in builder.arguments("COPY") for source in arguments.split()[:-1]}

    assert {"pyproject.toml", pyproject["project"]["readme"], *package_dirs} <= copied


def test_the_final_stage_runs_k8s_manager_as_the_manifests_non_root_user() -> None:
    final = stages()[-1]
    (user,) = final.arguments("USER")
    uid = user.partition(":")[0]
    (entrypoint,) = final.arguments("ENTRYPOINT")
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    pod_users = {
        document["spec"]["template"]["spec"]["securityContext"]["runAsUser"]
        for path in (ROOT / "manifests").glob("*/deployment.yaml")
        for document in yaml.safe_load_all(path.read_text())
    }

    # Numeric: the kubelet can check runAsNonRoot only against a number.
    assert re.fullmatch(r"[1-9][0-9]*:[1-9][0-9]*", user), f"USER {user} is not a numeric non-root uid:gid"
    assert pod_users == {int(uid)}
    assert exec_form(entrypoint) == ["k8s-manager"]
    assert "k8s-manager" in scripts
    assert final.arguments("COPY") == [f"--from=builder {VENV} {VENV}"], "the final stage takes only the venv"


def test_the_build_context_leaves_out_tests_benchmarks_git_and_caches() -> None:
    first, second = (path.read_text() for path in IGNORE_FILES)
    patterns = {line.strip() for line in first.splitlines() if line.strip() and not line.startswith("#")}

    assert first == second, ".containerignore (podman) and .dockerignore (docker) must say the same"
    assert {"tests", "benchmarks", ".git", "**/__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"} <= patterns
    assert not {"pyproject.toml", "README.md", "api", "cmd", "operator", "facade", "emulator"} & patterns
