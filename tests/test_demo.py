"""`asym demo --no-serve`, the main job, as a user runs it: twice in the same place."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ASYM = str(Path(sys.executable).with_name("asym"))


def _demo(work: Path) -> subprocess.CompletedProcess[str]:
    args = ["demo", "--no-serve", "--treatments", "2000", "--out", str(work / "demo")]
    args += ["--tracking-uri", f"sqlite:///{work / 'mlflow.db'}"]
    return subprocess.run(
        [ASYM, *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=work,  # MLflow's SQLite store keeps artifacts in ./mlruns
    )


def test_the_demo_runs_again_over_its_own_results(tmp_path: Path) -> None:
    first = _demo(tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "registry  asym version 1 (now champion)" in first.stdout
    manifest = tmp_path / "demo" / "bundle" / "manifest.json"
    run1 = json.loads(manifest.read_text())["run_id"]

    second = _demo(tmp_path)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "registry  asym version 2 (champion unchanged" in second.stdout
    assert "replaced the bundle of the previous demo run" in second.stdout
    # The bundle in place is the second run's, and no half-made one is left beside it.
    assert json.loads(manifest.read_text())["run_id"] not in (None, run1)
    assert sorted(p.name for p in (tmp_path / "demo").iterdir()) == [
        "bundle",
        "registry",
        "request.json",
    ]
    assert "Traceback" not in first.stderr + second.stderr
