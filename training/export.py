"""Export stage: the fitted LightGBM models as an ONNX bundle with its manifest, parity-checked.

Two ONNX files, so that a request costs two session calls whatever it asks:

- ``treatment.onnx``: over one ``features`` input, per binary outcome (``bundle.heads``) its raw
  margin, or for the outcome explained by contributions its per-feature path contributions
  (``training.contributions``), whose sum with the head's base is that margin; and the
  difference quantile regressors, one named output per model;
- ``longevity.onnx``: the raw margin f(x) of the proportional-odds hazard booster over
  ``longevity`` rows (one per treated (region, side)); the hazard of bin k is
  sigmoid(baseline[region, k] + f(x)) with the manifest's ``hazard_baseline``
  (``bundle.postprocess.hazards_from_margin``).

The manifest lists one head per answer (``bundle.manifest.Head``). Before anything is published
the ONNX graphs are run with onnxruntime on the held-out rows and compared with LightGBM
(``training.parity``); a deviation beyond tolerance raises ``ParityError`` and leaves nothing
behind (the bundle is written to a temporary sibling folder and renamed into place at the end).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper

from bundle import postprocess
from bundle.heads import OUTCOMES
from bundle.manifest import (
    FORMAT_VERSION,
    INPUT_DTYPE,
    LONGEVITY_FILE,
    MANIFEST_FILE,
    TREATMENT_FILE,
    Calibration,
    Head,
    Manifest,
    OnnxFile,
    Parity,
    TensorSpec,
    check_manifest,
    sha256_bytes,
)
from features.longevity import LONGEVITY_INDEX, LONGEVITY_NAMES, longevity_matrix
from features.spec import FEATURE_DTYPE, FEATURE_NAMES
from training import parity
from training.contributions import PathContributions, contributions_node, path_contributions
from training.dataset import TrainingData
from training.model_string import as_regression
from training.models import DIFF_TARGETS, QUANTILES, FittedModels, LongevityModel, RiskModel
from training.onnx_graph import Converted, merge, run
from training.parity import ParityError
from training.support import feature_support

Float32Array = npt.NDArray[np.float32]
FloatArray = npt.NDArray[np.float64]

__all__ = ["ParityError", "check_out", "export_bundle"]

FEATURES_INPUT: Final = "features"
LONGEVITY_INPUT: Final = "longevity"
HAZARD_MARGIN_OUTPUT: Final = "hazard_margin"
HAZARD_PARITY: Final = "hazard"
"""Parity key of the hazards computed from the ONNX margin and the baseline."""
LIBRARIES: Final = ("asym", "lightgbm", "numpy", "onnx", "onnxmltools", "onnxruntime")


class _Binary:
    """One binary outcome on its way into the treatment graph: its head and its parity check."""

    def __init__(self, name: str, model: RiskModel, meaning: str, explained: bool) -> None:
        self.name, self.model = name, model
        slope, intercept = model.calibration
        calibration = Calibration(slope=slope, intercept=intercept)
        self.paths: PathContributions | None = None
        if explained:
            self.paths = path_contributions(model.booster)
            self.output = f"{name}_contributions"
            self.head = Head(
                name=name,
                kind="contributions",
                outputs=(self.output,),
                meaning=meaning,
                calibration=calibration,
                contribution_base=self.paths.base,
            )
        else:
            self.output = f"{name}_margin"
            self.head = Head(
                name=name, kind="binary", outputs=(self.output,), meaning=meaning,
                calibration=calibration,
            )  # fmt: skip

    def converted(self) -> Converted | None:
        """The booster as a margin regressor, for a ``binary`` head."""
        if self.paths is not None:
            return None
        return Converted(as_regression(self.model.booster), self.output, self.head.meaning)

    def node(self, width: int) -> tuple[onnx.NodeProto, onnx.ValueInfoProto] | None:
        """The contributions ensemble and its output, for a ``contributions`` head."""
        if self.paths is None:
            return None
        node = contributions_node(
            self.model.booster, self.paths, FEATURES_INPUT, width, self.output
        )
        info = helper.make_tensor_value_info(self.output, TensorProto.FLOAT, ["N", width])
        return node, info

    def check(self, onnx_out: Mapping[str, FloatArray], x: Float32Array) -> dict[str, float]:
        """Parity of the probability (before calibration) and, if any, of the contributions."""
        booster, got = self.model.booster, onnx_out[self.output]
        deviations: dict[str, float] = {}
        if self.paths is not None:
            margin = np.asarray(booster.predict(x, raw_score=True), dtype=np.float64)
            expected = self.paths.of(np.asarray(booster.predict(x, pred_leaf=True), dtype=np.int64))
            # By construction the contributions split the margin exactly (up to float64 rounding).
            gap = np.abs(self.paths.base + expected.sum(axis=1) - margin)
            if len(gap) and gap.max() > 1e-6:
                raise RuntimeError(f"path contributions miss the margin by up to {gap.max():.3g}")
            deviations[self.output] = parity.regression(
                f"ONNX output {self.output!r} deviates from the LightGBM leaves' path "
                "contributions",
                got,
                expected,
                lambda f: f"feature {FEATURE_NAMES[f]}",
            )
            got = self.paths.base + got.sum(axis=1)
        deviations[self.name] = parity.probability(
            f"the {self.name} from ONNX output {self.output!r} deviates from LightGBM",
            1.0 / (1.0 + np.exp(-got)),
            np.asarray(booster.predict(x), dtype=np.float64),
        )
        return deviations


def _differences(models: FittedModels) -> tuple[list[Converted], list[Head]]:
    converted, heads = [], []
    for target in DIFF_TARGETS:
        outputs = []
        for key, level in QUANTILES:
            output = f"{target}_{key}"
            meaning = f"{level:.0%} quantile of the post-treatment {target} (mm, left minus right)"
            converted.append(Converted(models.differences.boosters[target][key], output, meaning))
            outputs.append(output)
        heads.append(
            Head(
                name=target,
                kind="quantiles",
                outputs=tuple(outputs),
                meaning=f"post-treatment {target} (mm, left minus right): its 10-90% interval "
                "and median, sorted per row so the interval never inverts",
                quantiles=tuple(key for key, _ in QUANTILES),
            )
        )
    return converted, heads


def _held_out_longevity(data: TrainingData) -> Float32Array:
    """Longevity rows of the held-out treatments' observed (region, side) durations."""
    dur = data.registry.durations
    test_ids = set(data.treatment_ids[data.test])
    held = dur[dur["treatment_id"].isin(test_ids)] if test_ids else dur
    rows: Float32Array = longevity_matrix(
        data.features,
        data.rows(held["treatment_id"].to_numpy()),
        held["region"].cat.codes.to_numpy().astype(np.int64),
        held["side"].cat.codes.to_numpy().astype(np.int64),
    )
    return rows


def _compare_hazards(lon: LongevityModel, onnx_margin: FloatArray, rows: Float32Array) -> float:
    """Max |hazard from the ONNX margin - LightGBM hazard|; ParityError beyond tolerance."""
    region = rows[:, LONGEVITY_INDEX["region"]].astype(np.int64)
    return parity.probability(
        f"hazards from the ONNX output {HAZARD_MARGIN_OUTPUT!r} deviate from LightGBM",
        postprocess.hazards_from_margin(onnx_margin, lon.baseline, region),
        lon.hazards(rows),
        lambda k: f"bin {k}",
    )


def _libraries() -> dict[str, str]:
    out = {}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:  # running from a checkout that is not installed
            out[name] = "unknown"
    return out


def _spec(
    stem: str,
    data: bytes,
    inp: TensorSpec,
    outputs: Sequence[tuple[str, tuple[int | None, ...], str]],
) -> OnnxFile:
    return OnnxFile(
        file=f"{stem}.onnx",
        sha256=sha256_bytes(data),
        input=inp,
        outputs=tuple(
            TensorSpec(name=name, dtype=INPUT_DTYPE, shape=shape, meaning=meaning)
            for name, shape, meaning in outputs
        ),
    )


def check_out(out: Path) -> None:
    """Refuse a bundle folder that exists and is not empty (a bundle is never overwritten).

    Args:
        out: The bundle folder to be.

    Raises:
        FileExistsError: It is a file, or a folder with something in it.
    """
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out}: exists and is not an empty folder; export to a new one")


def _prepare_out(out: Path) -> None:
    check_out(out)
    out.parent.mkdir(parents=True, exist_ok=True)


def export_bundle(
    models: FittedModels,
    data: TrainingData,
    out: Path,
    *,
    model_name: str,
    model_version: str,
    run_id: str | None = None,
) -> Manifest:
    """Convert the fitted models to ONNX, check parity on held-out rows, write the bundle.

    Args:
        models: The run's fitted LightGBM models.
        data: The data they were fitted on; its held-out rows (``data.test``, or every row if
            none is held out) are the parity rows, and its fingerprint goes in the manifest.
        out: Bundle folder to create; must not exist or be empty.
        model_name: Registered model name.
        model_version: Model version recorded in the manifest (e.g. the MLflow run id).
        run_id: MLflow run that trained the models, if any.

    Returns:
        The manifest written as ``out/manifest.json`` (with the parity deviations).

    Raises:
        ParityError: An ONNX output deviates from LightGBM beyond tolerance; ``out`` is left as
            it was.
        FileExistsError: ``out`` exists and is not empty.
    """
    out = Path(out)
    _prepare_out(out)
    width = len(FEATURE_NAMES)
    lon = models.longevity
    x = data.features[data.test] if data.test.any() else data.features
    x = np.ascontiguousarray(x, dtype=np.float32)
    rows = _held_out_longevity(data)

    binary = [
        _Binary(o.name, models.risks[o.name], o.description, o.contributions) for o in OUTCOMES
    ]
    differences, difference_heads = _differences(models)
    regressors = [c for b in binary if (c := b.converted()) is not None] + differences
    nodes = [n for b in binary if (n := b.node(width)) is not None]
    hazard = Converted(
        as_regression(lon.booster),
        HAZARD_MARGIN_OUTPUT,
        "raw margin f(x) of the hazard booster (log-odds); the hazard of bin k is "
        "sigmoid(hazard_baseline[region][k] + f(x)), region row 0 if the baseline has one row "
        "(bundle.postprocess.hazards_from_margin)",
    )
    heads = [
        *(b.head for b in binary),
        *difference_heads,
        Head(
            name="longevity",
            kind="hazard",
            outputs=(HAZARD_MARGIN_OUTPUT,),
            meaning="discrete-time hazard of the return of muscle activity per treated "
            "(region, side): survival curves, medians, late asymmetry",
        ),
    ]
    treatment_bytes = merge(regressors, FEATURES_INPUT, width, nodes).SerializeToString()
    longevity_bytes = merge([hazard], LONGEVITY_INPUT, rows.shape[1]).SerializeToString()

    treatment_out = run(treatment_bytes, FEATURES_INPUT, x)
    deviations = parity.boosters(regressors, treatment_out, x)
    for b in binary:
        deviations |= b.check(treatment_out, x)
    margin = run(longevity_bytes, LONGEVITY_INPUT, rows)
    deviations |= parity.boosters([hazard], margin, rows)
    deviations[HAZARD_PARITY] = _compare_hazards(lon, margin[HAZARD_MARGIN_OUTPUT], rows)

    treatment_outputs = [(c.output, (None,), c.meaning) for c in regressors] + [
        (b.output, (None, width), "per feature (feature_names order), its path contribution to "
         f"the raw margin of {b.name} (log-odds before calibration): the head's "
         "contribution_base + the row's sum is that margin")
        for b in binary if b.paths is not None
    ]  # fmt: skip
    files = {
        TREATMENT_FILE: _spec(
            TREATMENT_FILE,
            treatment_bytes,
            TensorSpec(
                name=FEATURES_INPUT,
                dtype=INPUT_DTYPE,
                shape=(None, width),
                meaning="treatment features in feature_names order (NaN = missing)",
            ),
            treatment_outputs,
        ),
        LONGEVITY_FILE: _spec(
            LONGEVITY_FILE,
            longevity_bytes,
            TensorSpec(
                name=LONGEVITY_INPUT,
                dtype=INPUT_DTYPE,
                shape=(None, rows.shape[1]),
                meaning="longevity_features of one (treatment, region, side), in "
                "longevity_features order (NaN = missing)",
            ),
            [(hazard.output, (None,), hazard.meaning)],
        ),
    }
    manifest = Manifest(
        format_version=FORMAT_VERSION,
        model_name=model_name,
        model_version=model_version,
        run_id=run_id,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        feature_names=FEATURE_NAMES,
        feature_dtype=FEATURE_DTYPE,
        input_dtype=INPUT_DTYPE,
        longevity_features=LONGEVITY_NAMES,
        heads=tuple(heads),
        files=files,
        bin_days=float(lon.bin_days),
        n_bins=int(lon.n_bins),
        hazard_baseline=tuple(tuple(float(a) for a in row) for row in lon.baseline),
        side_dependence=tuple(float(t) for t in lon.side_dependence),
        visit_lattice_days=lon.visit_lattice.step_days,
        visit_lattice_share=lon.visit_lattice.share,
        libraries=_libraries(),
        data_fingerprint=data.fingerprint,
        parity=Parity(
            rows={TREATMENT_FILE: len(x), LONGEVITY_FILE: len(rows)},
            max_abs_deviation=deviations,
            probability_atol=parity.PROBABILITY_ATOL,
            regression_rtol=parity.REGRESSION_RTOL,
            regression_atol=parity.REGRESSION_ATOL,
        ),
        support=feature_support(data.features[data.train] if data.train.any() else data.features),
    )
    _publish(
        out,
        {files[TREATMENT_FILE].file: treatment_bytes, files[LONGEVITY_FILE].file: longevity_bytes},
        manifest,
    )
    return manifest


def _publish(out: Path, blobs: Mapping[str, bytes], manifest: Manifest) -> None:
    """Write the files to a temporary sibling folder, check them as a server would, rename."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for name, blob in blobs.items():
            (tmp / name).write_bytes(blob)
        (tmp / MANIFEST_FILE).write_text(manifest.to_json())
        check_manifest(manifest, tmp)
        if out.exists():  # an empty folder (checked on entry): rename needs it gone
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
