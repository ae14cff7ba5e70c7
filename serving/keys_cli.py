"""Command ``asym keys create``: a new API key for a clinic (wired into ``asym_cli``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from data.cli import EXIT_UNUSABLE
from serving.keys import KeysFileError, create_key


def keys_create_cmd(
    clinic: Annotated[str, typer.Option(help="Name of the clinic the key is for.")],
    keys_file: Annotated[
        Path, typer.Option(help="Keys file to append to (created with mode 0600).")
    ],
    admin: Annotated[
        bool, typer.Option("--admin", help="Allow the administrative endpoints (model reload).")
    ] = False,
) -> None:
    """Create an API key for a clinic; only its hash is stored, the key is printed once.

    The key is the last line of the output and nothing else on it, so a script can take it
    with ``tail -n 1``.
    """
    try:
        key = create_key(keys_file, clinic, admin=admin)
    except (KeysFileError, ValueError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(EXIT_UNUSABLE) from None
    role = "admin key" if admin else "key"
    typer.echo(
        f"New {role} for clinic {clinic.strip()!r}; its SHA-256 was appended to {keys_file}. "
        "The key is not stored anywhere: give it to the clinic now, it is shown only once."
    )
    typer.echo(key)
