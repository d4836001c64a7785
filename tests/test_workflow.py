"""The GitHub Actions workflows guard main: what they run on, what they may do, and zizmor.

Structural rules (each can fail on a real mistake): the tests and ``ankigen check`` run on
pull requests and on pushes to main; a failing check hides neither the tests nor the
diff; no ``${{ }}`` expression is pasted into a shell script; every action is pinned to a
full commit SHA with its release in a comment; no checkout keeps the token; a job whose
token can write runs no project code; the change record is written on main only. Then
zizmor, offline, must report no high-severity finding.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML, a dependency of genanki

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
WORKFLOW_FILES = sorted([*WORKFLOWS.glob("*.yml"), *WORKFLOWS.glob("*.yaml")])

PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>[^\s#]+)\s*(?P<comment>#.*)?$")
VERSION_COMMENT = re.compile(r"^#\s*v\d+\.\d+\.\d+\b")
# A command that runs Python, pip, pytest or ankigen (by any path), outside comments.
PROJECT_CODE = re.compile(r"(?:^|[\s;&|(])(?:\S*/)?(?:pip3?|pytest|python3?|ankigen)(?:\s|$)")


def _load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path.name}: not a mapping"
    return data


def _triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    # YAML 1.1 reads the bare key `on` as the boolean True.
    on = workflow.get("on", workflow.get(True))
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return dict.fromkeys(on)
    assert isinstance(on, dict), f"unexpected 'on': {on!r}"
    return {name: config or {} for name, config in on.items()}


def _jobs() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path in WORKFLOW_FILES:
        for name, job in _load(path)["jobs"].items():
            yield path.name, name, job


def _steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps", []))


def _uses(step: dict[str, Any]) -> str:
    return str(step.get("uses", ""))


def _run(step: dict[str, Any]) -> str:
    return str(step.get("run", ""))


def _commands(step: dict[str, Any]) -> str:
    """The step's script without its comment lines."""
    lines = _run(step).splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith("#"))


def _writes(job: dict[str, Any]) -> set[str]:
    permissions = job.get("permissions")
    if permissions == "write-all":
        return {"*"}
    if not isinstance(permissions, dict):
        return set()
    return {scope for scope, level in permissions.items() if level == "write"}


def _condition_chain(jobs: dict[str, Any], name: str) -> str:
    """The job's `if:` and those of every job it needs: all must hold for it to run."""
    job = jobs[name]
    needs = job.get("needs", [])
    needs = [needs] if isinstance(needs, str) else needs
    return " && ".join([str(job.get("if", "")), *(_condition_chain(jobs, n) for n in needs)])


def test_there_are_workflows() -> None:
    assert WORKFLOW_FILES, "no workflow under .github/workflows"


def test_tests_and_check_run_on_pull_requests_and_pushes_to_main() -> None:
    guarded = []
    for path in WORKFLOW_FILES:
        workflow = _load(path)
        triggers = _triggers(workflow)
        push = triggers.get("push") or {}
        if "pull_request" not in triggers or "main" not in push.get("branches", []):
            continue
        for name, job in workflow["jobs"].items():
            runs = [_commands(step) for step in _steps(job)]
            if (
                "if" not in job
                and any(re.search(r"\bpytest\b", run) for run in runs)
                and any(re.search(r"\bankigen check\b", run) for run in runs)
            ):
                guarded.append(f"{path.name}:{name}")
    assert guarded, (
        "no job runs pytest and `ankigen check` unconditionally in a workflow triggered by "
        "pull_request and by push to main"
    )


def test_no_pull_request_target_or_workflow_run() -> None:
    for path in WORKFLOW_FILES:
        triggers = _triggers(_load(path))
        for trigger in ("pull_request_target", "workflow_run"):
            assert trigger not in triggers, f"{path.name}: {trigger} runs with a write token"


def test_no_expression_inside_run_scripts() -> None:
    offenders = [
        f"{file}:{job_name}:{step.get('name', index)}"
        for file, job_name, job in _jobs()
        for index, step in enumerate(_steps(job))
        if "${{" in _run(step)
    ]
    assert not offenders, f"pass values through env:, not ${{{{ }}}} in run: {offenders}"


def test_every_action_is_pinned_to_a_commit_with_its_release_noted() -> None:
    for path in WORKFLOW_FILES:
        parsed = [
            _uses(step)
            for _, job in _load(path)["jobs"].items()
            for step in [*_steps(job), job]
            if "uses" in step
        ]
        lines = [m for line in path.read_text().splitlines() if (m := USES_LINE.match(line))]
        # Every `uses:` the YAML holds is written one per line, where the comment can sit.
        assert sorted(m["ref"].strip("'\"") for m in lines) == sorted(parsed), path.name
        for match in lines:
            ref = match["ref"].strip("'\"")
            if ref.startswith("./"):
                continue
            assert PINNED.match(ref), f"{path.name}: {ref} is not pinned to a full commit SHA"
            comment = match["comment"] or ""
            assert VERSION_COMMENT.match(comment), f"{path.name}: {ref} has no '# vX.Y.Z'"


def test_permissions_are_least_privilege() -> None:
    for path in WORKFLOW_FILES:
        workflow = _load(path)
        top = workflow.get("permissions")
        assert top in ({}, {"contents": "read"}), f"{path.name}: top-level permissions {top!r}"
        for name, job in workflow["jobs"].items():
            assert "permissions" in job, f"{path.name}:{name} does not state its permissions"
            if not _writes(job):
                continue
            # A token that can write must not sit beside code from the pull request or PyPI.
            for step in _steps(job):
                assert "setup-python" not in _uses(step), f"{path.name}:{name} sets up Python"
                assert not any(
                    PROJECT_CODE.search(line) for line in _commands(step).splitlines()
                ), (
                    f"{path.name}:{name} can write ({_writes(job)}) and runs project code: "
                    f"{_run(step)[:80]!r}"
                )


def test_checkouts_do_not_persist_credentials() -> None:
    for file, name, job in _jobs():
        for step in _steps(job):
            if _uses(step).startswith("actions/checkout@"):
                value = (step.get("with") or {}).get("persist-credentials")
                assert value in (False, "false"), f"{file}:{name}: persist-credentials not false"


def test_a_failing_check_hides_neither_the_tests_nor_the_diff() -> None:
    found = False
    for file, name, job in _jobs():
        steps = _steps(job)
        for index, step in enumerate(steps):
            if not re.search(r"\bankigen check\b", _commands(step)):
                continue
            found = True
            assert not step.get("continue-on-error"), f"{file}:{name}: check must fail the job"
            for later in steps[index + 1 :]:
                condition = str(later.get("if", ""))
                assert "!cancelled()" in condition or "always()" in condition, (
                    f"{file}:{name}: step {later.get('name')!r} is skipped when check fails"
                )
        if any(re.search(r"\bankigen diff\b", _commands(step)) for step in steps):
            assert not any(re.search(r"\bankigen check\b", _commands(s)) for s in steps), (
                f"{file}:{name}: the diff shares a job with the check"
            )
    assert found, "no step runs `ankigen check`"


def test_the_diff_is_kept_and_posted_for_same_repository_pull_requests_only() -> None:
    diff_steps = [
        _run(step)
        for _, _, job in _jobs()
        for step in _steps(job)
        if re.search(r"\bankigen diff\b", _commands(step))
    ]
    assert diff_steps, "no step runs `ankigen diff`"
    assert all("--comment" in run and "--full-report" in run for run in diff_steps)
    uploads = [
        str((step.get("with") or {}).get("path", ""))
        for _, _, job in _jobs()
        for step in _steps(job)
        if _uses(step).startswith("actions/upload-artifact@")
    ]
    assert any("deck-diff.md" in p and "deck-diff-full.md" in p for p in uploads), uploads
    for path in WORKFLOW_FILES:
        jobs = _load(path)["jobs"]
        for name, job in jobs.items():
            if "pull-requests" in _writes(job) or "*" in _writes(job):
                assert "head.repo.full_name == github.repository" in _condition_chain(jobs, name), (
                    f"{path.name}:{name} can write to pull requests from forks too"
                )


def test_writing_to_the_repository_happens_on_main_or_a_tag_only() -> None:
    recorders = 0
    for path in WORKFLOW_FILES:
        jobs = _load(path)["jobs"]
        for name, job in jobs.items():
            chain = _condition_chain(jobs, name)
            if "contents" in _writes(job) or "*" in _writes(job):
                assert "refs/heads/main" in chain or "refs/tags/" in chain, (
                    f"{path.name}:{name} can write contents outside main and release tags"
                )
            for step in _steps(job):
                if re.search(r"\bankigen record\b(?!\s+--check)", _commands(step)):
                    recorders += 1
                    assert "refs/heads/main" in chain, (
                        f"{path.name}:{name} writes the change record outside main"
                    )
    assert recorders, "no job runs `ankigen record` on main"


def _zizmor() -> str | None:
    beside = Path(sys.executable).with_name("zizmor")
    return str(beside) if beside.exists() else shutil.which("zizmor")


def test_zizmor_reports_no_high_findings() -> None:
    zizmor = _zizmor()
    if zizmor is None:
        pytest.skip("zizmor is not installed (pip install -e '.[test]' installs it)")
    result = subprocess.run(
        # Offline (no network, no token); no config file and no inline ignore may hide one.
        [zizmor, "--offline", "--no-config", "--no-ignores", "--format", "json", str(WORKFLOWS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.stdout.strip(), (
        f"zizmor printed nothing (exit {result.returncode}):\n{result.stderr}"
    )
    findings = json.loads(result.stdout)
    high = [
        f"{f['ident']}: {f['desc']} at "
        + ", ".join(
            f"{loc['symbolic']['key']['Local']['verbatim_path']}:"
            f"{loc['concrete']['location']['start_point']['row'] + 1}"
            for loc in f["locations"]
            if loc["symbolic"].get("kind") == "Primary"
        )
        for f in findings
        if f["determinations"]["severity"] == "High"
    ]
    assert not high, "zizmor high-severity findings:\n" + "\n".join(high)
