"""The ``asym`` command: one Typer app composed of each stage's commands, plus the main job."""

from __future__ import annotations

import json
import os
import shutil

# LightGBM's OpenMP threads busy-wait by default, which on a small shared machine starves every
# other process; it must be set before lightgbm is first imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from pathlib import Path
from typing import Annotated

import typer

from bundle.manifest import MANIFEST_FILE
from bundle.registry import DEFAULT_TRACKING_URI
from data.cli import simulate_cmd, summarise, validate_cmd
from data.registry import read_registry
from data.simulate import simulate
from features.cli import feature_docs_cmd, features_cmd
from features.tables import registry_requests
from serving.cli import predict_cmd, serve_cmd
from serving.keys_cli import keys_create_cmd
from serving.recommend_cli import recommend_cmd
from training.cli import promote_cmd, report_cmd, train_cmd

app = typer.Typer(
    name="asym",
    help="Predict facial asymmetry risk and per-side longevity of botulinum-toxin treatments.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.command("simulate")(simulate_cmd)
app.command("validate")(validate_cmd)
app.command("features")(features_cmd)
app.command("feature-docs")(feature_docs_cmd)
app.command("train")(train_cmd)
app.command("predict")(predict_cmd)
app.command("recommend")(recommend_cmd)
app.command("promote")(promote_cmd)
app.command("report")(report_cmd)
app.command("serve")(serve_cmd)
keys_app = typer.Typer(help="API keys of the prediction server.", no_args_is_help=True)
keys_app.command("create")(keys_create_cmd)
app.add_typer(keys_app, name="keys")


@app.command("demo")
def demo_cmd(
    out: Annotated[Path, typer.Option(help="Working folder for everything the demo makes.")] = Path(
        "artifacts/demo"
    ),
    treatments: Annotated[int, typer.Option(min=1000, help="Treatments to simulate.")] = 20_000,
    seed: Annotated[int, typer.Option(min=0, help="Simulator seed.")] = 0,
    tracking_uri: Annotated[str, typer.Option(help="MLflow tracking URI.")] = DEFAULT_TRACKING_URI,
    serve: Annotated[
        bool, typer.Option(help="End by serving the model on 127.0.0.1:8000 (no auth).")
    ] = True,
) -> None:
    """Run the main job on the embedded defaults: simulate, validate, train, register, serve.

    The registry is simulated (see README): nothing here is fit for clinical use.
    """
    registry_dir = out / "registry"
    report = simulate(treatments, registry_dir, seed=seed)
    typer.echo(
        f"simulated {report.n_treatments:,} treatments of {report.n_patients:,} patients "
        f"in {report.seconds:.1f} s -> {registry_dir}"
    )
    reg = read_registry(registry_dir)
    typer.echo("validated against the registry contract:")
    typer.echo(summarise(reg))
    f, d = reg.followups, reg.durations
    rate = f[["visible_asymmetry", "eyelid_ptosis", "brow_ptosis"]].mean()
    typer.echo(
        f"at {len(f):,} reviews: visible asymmetry {rate['visible_asymmetry']:.1%}, "
        f"eyelid ptosis {rate['eyelid_ptosis']:.2%}, brow ptosis {rate['brow_ptosis']:.2%}; "
        f"{1 - d['returned'].mean():.1%} of {len(d):,} durations censored"
    )
    typer.echo("")
    bundle = out / "bundle"
    # A run again replaces the bundle of the previous run, once the new one is made (a failed
    # run leaves it as it was); anything else there is refused by train as a used folder.
    target = out / "bundle.new" if (bundle / MANIFEST_FILE).is_file() else bundle
    shutil.rmtree(out / "bundle.new", ignore_errors=True)  # left by an interrupted run
    train_cmd(registry=registry_dir, out=target, tracking_uri=tracking_uri)
    if target != bundle:
        shutil.rmtree(bundle)
        target.rename(bundle)
        typer.echo(f"replaced the bundle of the previous demo run: {bundle}")

    # One real request a clinic could send: the latest treatment of the registry, with history.
    last = reg.treatments.iloc[-1]
    own = reg.treatments["patient_id"] == last["patient_id"]
    ids = set(reg.treatments.loc[own, "treatment_id"])
    patient_tables = {k: v[v["treatment_id"].isin(ids)] for k, v in reg.tables.items()}
    example = out / "request.json"
    example.write_text(
        json.dumps(registry_requests(patient_tables)[last["treatment_id"]], indent=1)
    )
    typer.echo(
        "\nask the model about one treatment (in another terminal):\n"
        "  curl -s -X POST http://127.0.0.1:8000/v1/predict "
        f"-H 'Content-Type: application/json' -d @{example}"
    )
    if serve:
        typer.echo(
            f"serving {bundle} on http://127.0.0.1:8000: the clinic page at /, the API docs at "
            "/docs; Ctrl-C stops"
        )
        serve_cmd(model=str(bundle), no_auth=True, tracking_uri=tracking_uri)
