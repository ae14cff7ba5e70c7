"""``asym serve``: refuses unsafe starts; serves a bundle through the app factory."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from asym_cli import app
from serving.cli import is_loopback
from tests.serving.live import asym_serve


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "no --keys-file"),
        (["--no-auth", "--host", "0.0.0.0"], "may only bind to loopback"),
        (["--no-auth", "--host", "192.168.1.5"], "may only bind to loopback"),
    ],
)
def test_serve_refuses_unsafe_starts(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["serve", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_serve_refuses_a_bad_keys_file(tmp_path: Path) -> None:
    keys = tmp_path / "keys.jsonl"
    keys.write_text("not json\n")
    result = CliRunner().invoke(app, ["serve", "--keys-file", str(keys)])
    assert result.exit_code == 2
    assert str(keys) in result.output


def test_serve_refuses_a_model_or_log_it_cannot_use(bundle: Path, tmp_path: Path) -> None:
    # Said once by the command, exit 2 and no traceback, before any worker starts.
    changed = tmp_path / "changed"
    shutil.copytree(bundle, changed)
    (changed / "longevity.onnx").write_bytes(b"not the exported file")
    cases = [
        (["--model", str(tmp_path / "none")], "no such bundle folder"),
        (["--model", str(changed)], "longevity.onnx: SHA-256"),
        (["--model", str(bundle), "--log-url", "nosuchdb://x"], "prediction log URL"),
    ]
    for args, message in cases:
        result = CliRunner().invoke(app, ["serve", "--no-auth", *args])
        assert result.exit_code == 2, result.output
        assert "error: " in result.output and message in result.output
        assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.5.0.1", True), ("::1", True), ("localhost", True),
     ("0.0.0.0", False), ("::", False), ("example.org", False)],
)  # fmt: skip
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_serve_starts_a_server(bundle: Path, tmp_path: Path) -> None:
    keys = tmp_path / "keys.jsonl"
    key = CliRunner().invoke(app, ["keys", "create", "--clinic", "c", "--keys-file", str(keys)])
    assert key.exit_code == 0, key.output
    args = ["--model", str(bundle), "--keys-file", str(keys),
            "--log-url", f"sqlite:///{tmp_path / 'log.db'}"]  # fmt: skip
    with asym_serve(args) as (_, url):
        r = httpx.get(f"{url}/readyz")
        assert r.json()["model"] == {"name": "asym-test", "version": "1", "run_id": "run-1"}
        r = httpx.get(f"{url}/v1/model", headers={"X-API-Key": key.output.strip().splitlines()[-1]})
        assert r.status_code == 200
