"""API keys: only hashes on disk, each key maps to its clinic, bad files are named precisely."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from serving.keys import Clinic, KeysFileError, KeyStore, create_key, key_hash
from serving.keys_cli import keys_create_cmd


def test_create_stores_the_hash_not_the_key(tmp_path: Path) -> None:
    path = tmp_path / "keys.jsonl"
    key = create_key(path, "north")
    text = path.read_text()
    assert key not in text
    (line,) = text.splitlines()
    entry = json.loads(line)
    assert entry["sha256"] == key_hash(key)
    assert entry["clinic"] == "north" and entry["admin"] is False
    assert entry["created"].endswith("+00:00")
    assert len(key) >= 43  # 32 random bytes, URL-safe base64


def test_file_is_created_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "keys.jsonl"
    create_key(path, "north")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_keys_map_to_their_clinics(tmp_path: Path) -> None:
    path = tmp_path / "keys.jsonl"
    north = create_key(path, "north")
    south = create_key(path, "south", admin=True)
    north2 = create_key(path, "north")
    store = KeyStore.load(path)
    assert len(store) == 3
    assert store.clinic_for(north) == Clinic("north", admin=False)
    assert store.clinic_for(north2) == Clinic("north", admin=False)
    assert store.clinic_for(south) == Clinic("south", admin=True)


@pytest.mark.parametrize("key", [None, "", "not-a-key", "x" * 43])
def test_unknown_or_missing_key_is_none(tmp_path: Path, key: str | None) -> None:
    path = tmp_path / "keys.jsonl"
    real = create_key(path, "north")
    store = KeyStore.load(path)
    assert store.clinic_for(key) is None
    assert store.clinic_for(real[:-1]) is None
    assert store.clinic_for(key_hash(real)) is None  # the stored hash is not itself a key


def test_comments_and_blank_lines_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "keys.jsonl"
    key = create_key(path, "north")
    path.write_text("# issued by ops\n\n" + path.read_text() + "\n")
    assert KeyStore.load(path).clinic_for(key) == Clinic("north", admin=False)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("{not json", "not a JSON object"),
        ('["north"]', "not a JSON object"),
        ('{"clinic": "north", "admin": false, "created": "x"}', "missing sha256"),
        ('{"clinic": "", "admin": false, "sha256": "' + "a" * 64 + '", "created": "x"}', "clinic"),
        ('{"clinic": "n", "admin": "yes", "sha256": "' + "a" * 64 + '", "created": "x"}', "admin"),
        ('{"clinic": "n", "admin": false, "sha256": "abc", "created": "x"}', "64 lowercase hex"),
    ],
)
def test_malformed_line_is_named(tmp_path: Path, line: str, problem: str) -> None:
    path = tmp_path / "keys.jsonl"
    create_key(path, "north")
    with path.open("a") as f:
        f.write(line + "\n")
    with pytest.raises(KeysFileError, match=rf"keys\.jsonl, line 2: .*{problem}"):
        KeyStore.load(path)
    # Creating a key refuses to extend a broken file rather than bury the problem.
    with pytest.raises(KeysFileError, match="line 2"):
        create_key(path, "south")


def test_duplicate_hash_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keys.jsonl"
    create_key(path, "north")
    line = path.read_text().splitlines()[0]
    path.write_text(f"{line}\n{line.replace('north', 'south')}\n")
    with pytest.raises(KeysFileError, match="line 2: the same key hash as line 1"):
        KeyStore.load(path)


def test_missing_file_is_a_keys_file_error(tmp_path: Path) -> None:
    with pytest.raises(KeysFileError, match=r"nope\.jsonl: cannot read"):
        KeyStore.load(tmp_path / "nope.jsonl")


def test_append_after_a_last_line_without_newline(tmp_path: Path) -> None:
    path = tmp_path / "keys.jsonl"
    first = create_key(path, "north")
    path.write_text(path.read_text().rstrip("\n"))  # as an editor may save it
    second = create_key(path, "south")
    store = KeyStore.load(path)
    assert store.clinic_for(first) == Clinic("north", admin=False)
    assert store.clinic_for(second) == Clinic("south", admin=False)


def test_empty_clinic_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="clinic name"):
        create_key(tmp_path / "keys.jsonl", "  ")


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("create")(keys_create_cmd)
    app.command("other")(lambda: None)  # two commands, so "create" is a subcommand as wired
    return app


def test_cli_prints_the_key_last_and_only_once(tmp_path: Path) -> None:
    path = tmp_path / "keys.jsonl"
    result = CliRunner().invoke(
        _app(),
        ["create", "--clinic", "north", "--keys-file", str(path), "--admin"],
    )
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    key = lines[-1]
    assert result.output.count(key) == 1
    assert key_hash(key) not in result.output
    assert KeyStore.load(path).clinic_for(key) == Clinic("north", admin=True)


def test_cli_reports_a_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.jsonl"
    path.write_text("garbage\n")
    result = CliRunner().invoke(
        _app(),
        ["create", "--clinic", "north", "--keys-file", str(path)],
    )
    assert result.exit_code == 2
    assert "line 1" in result.output
