# Over 400 lines: the manifest schema and the checks refusing a bundle are one contract.
"""The model bundle: ONNX files plus ``manifest.json``, and the check that it fits this install.

A bundle is a folder written by ``training.export.export_bundle``::

    manifest.json     what is below, and everything needed to use it
    treatment.onnx    input ``features`` (n, F): per binary outcome its raw margin (or, for
                      the one explained by contributions, its per-feature contributions
                      (n, F), whose sum with the head's base is the margin), and the
                      difference quantiles, one output each
    longevity.onnx    input ``longevity`` (r, L): the raw margin f(x) of the discrete-time
                      hazard per treated (region, side); with the manifest's baseline alpha,
                      hazard[k] = sigmoid(alpha[region, k] + f(x))

The manifest lists the model's heads (``Head``: name, kind, ONNX outputs, calibration): the
predictor, the answers and every check iterate over them, so a new output is a head, not a
change in every layer. It names the feature order the models were fitted on.
``check_manifest`` refuses a bundle whose features, longevity inputs or format disagree with the
installed ``features`` package, or whose ONNX files are not the ones exported (SHA-256): a model
silently fed columns in another order would answer confidently and wrongly.

This module is imported by the server: numpy, pydantic and ``features`` only.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bundle.late_asymmetry import MAX_THETA, MIN_THETA
from data.contract import REGIONS
from features.longevity import LONGEVITY_NAMES
from features.spec import FEATURE_DTYPE, FEATURE_NAMES

FORMAT_VERSION: Final = 5
"""Layout of the bundle and its manifest; a server reads exactly this version.

2: the longevity graph takes one row per (region, side), no bin column, and outputs the hazard
booster's raw margin; the manifest's ``hazard_baseline`` turns it into hazards.
3: the treatment graph outputs ``risk_contributions`` instead of the risk, which is their sum
with the manifest's ``risk_contribution_base``, calibrated.
4: the manifest lists its heads (``Head``); calibration and contribution base are a head's.
5: ``side_dependence`` joins the two sides of each region (late-stage asymmetry)."""
MANIFEST_FILE: Final = "manifest.json"
TREATMENT_FILE: Final = "treatment"
"""Key (and file stem) of the per-treatment model: risk and difference quantiles."""
LONGEVITY_FILE: Final = "longevity"
"""Key (and file stem) of the hazard model."""
INPUT_DTYPE: Final = "float32"
"""dtype of every ONNX input (the features are computed in float64 and cast once)."""
HeadKind = Literal["binary", "contributions", "quantiles", "hazard"]
"""How a head's ONNX outputs become answers:

- ``binary``: one (n,) raw margin m; the answer is sigmoid(slope * m + intercept).
- ``contributions``: one (n, F) output of per-feature contributions c; the margin is
  ``contribution_base`` + the row's sum of c, calibrated as ``binary``; c is answered too.
- ``quantiles``: one (n,) output per quantile key, sorted per row so intervals never invert.
- ``hazard``: one (r,) raw margin f(x) per longevity row of a discrete-time hazard model with
  the manifest's ``hazard_baseline``."""
HEAD_FILE: Final = {
    "binary": TREATMENT_FILE,
    "contributions": TREATMENT_FILE,
    "quantiles": TREATMENT_FILE,
    "hazard": LONGEVITY_FILE,
}
"""Which ONNX file holds a head of each kind (the treatment rows, or the longevity rows)."""


class _Frozen(BaseModel):
    # Pydantic rather than a plain dataclass: reading a manifest validates every field and names
    # the one that is wrong, which is what a refused bundle must say.
    model_config = ConfigDict(frozen=True, extra="forbid")


class TensorSpec(_Frozen):
    """One ONNX input or output.

    Attributes:
        name: Tensor name in the graph.
        dtype: Element type.
        shape: Dimensions; ``None`` is the batch dimension.
        meaning: What it holds.
    """

    name: str
    dtype: str
    shape: tuple[int | None, ...]
    meaning: str


class OnnxFile(_Frozen):
    """One ONNX file of the bundle.

    Attributes:
        file: File name inside the bundle folder.
        sha256: Hex SHA-256 of the file's bytes.
        input: Its single input.
        outputs: Its outputs, in graph order.
    """

    file: str
    sha256: str
    input: TensorSpec
    outputs: tuple[TensorSpec, ...]


class Calibration(_Frozen):
    """Platt scaling of a binary head: p = sigmoid(slope * margin + intercept)."""

    slope: float
    intercept: float


class Head(_Frozen):
    """One answer of the model and the ONNX outputs it is computed from (see ``HeadKind``).

    Attributes:
        name: Name of the answer, e.g. ``asymmetry_risk``, ``brow_height_diff_mm``,
            ``longevity``.
        kind: How its outputs become the answer.
        outputs: Its ONNX output names in its file (``HEAD_FILE[kind]``), in order; for
            ``quantiles`` one per key of ``quantiles``.
        meaning: What the answer is, in words.
        calibration: Platt scaling of the margin (``binary``, ``contributions``).
        contribution_base: The margin with nothing known of a row (``contributions``): per
            tree, the mean of its leaves weighted by their training rows (LightGBM's TreeSHAP
            expected value); base + the sum of a row's contributions is its raw margin.
        quantiles: Quantile keys (``quantiles``), e.g. q10, q50, q90.
    """

    name: str
    kind: HeadKind
    outputs: tuple[str, ...]
    meaning: str
    calibration: Calibration | None = None
    contribution_base: float | None = None
    quantiles: tuple[str, ...] = ()


class Parity(_Frozen):
    """ONNX vs LightGBM on the held-out rows, measured at export.

    Attributes:
        rows: Held-out rows compared per file (treatment rows; expanded longevity rows).
        max_abs_deviation: Per output, the largest absolute difference.
        probability_atol: Tolerance of probabilities (absolute).
        regression_rtol: Relative tolerance of regression outputs.
        regression_atol: Absolute tolerance of regression outputs (mm).
    """

    rows: Mapping[str, int]
    max_abs_deviation: Mapping[str, float]
    probability_atol: float
    regression_rtol: float
    regression_atol: float


class FeatureSupport(_Frozen):
    """What the training rows covered, feature by feature: the plan advisor's support reference.

    A suggested plan whose features leave these ranges lies where the model has seen few plans
    (``serving.recommend``). Optional: a bundle without it answers with support unknown.

    Attributes:
        quantiles: The (low, high) quantile levels the ranges are taken at.
        low: Per feature (``feature_names`` order), the low quantile of its training values;
            None where no training row has a value.
        high: Same, the high quantile.
        rows: Training rows they come from.
    """

    quantiles: tuple[float, float]
    low: tuple[float | None, ...]
    high: tuple[float | None, ...]
    rows: int


class Manifest(_Frozen):
    """Everything a server needs to know about a bundle, and what it was made from.

    Attributes:
        format_version: ``FORMAT_VERSION`` of the writer.
        model_name: Registered model name.
        model_version: Model version (the MLflow model version or run id).
        run_id: MLflow run that trained it, if any.
        created: UTC time of export, ISO 8601.
        feature_names: Columns of the ``features`` input, in order (``features.spec``).
        feature_dtype: dtype of the feature matrix as computed (``features.spec.FEATURE_DTYPE``).
        input_dtype: dtype the ONNX models take (the features cast once).
        longevity_features: Columns of a longevity row (``features.longevity.LONGEVITY_NAMES``),
            the hazard model's input.
        heads: The model's answers and the outputs they come from, in answer order.
        files: ONNX files by role (``treatment``, ``longevity``).
        bin_days: Width of a hazard bin, days.
        n_bins: Number of hazard bins.
        hazard_baseline: (g, n_bins) log-odds baseline of the hazard per bin: one row for every
            region (g = 1) or one per region code (g = len(REGIONS)); the hazard of a longevity
            row in bin k is sigmoid(hazard_baseline[region][k] + hazard_margin)
            (``bundle.postprocess.hazards_from_margin``).
        side_dependence: Per region (``data.contract.REGIONS`` order), Frank's theta of the
            copula joining its two sides' survival curves (``bundle.late_asymmetry``), in
            [``MIN_THETA``, ``MAX_THETA``] of that module.
        visit_lattice_days: The visit step on which the training registry recorded returns of
            activity (0: none found, days taken as recorded); the survival curves are of the
            return itself, each return on that lattice taken as happening since the visit
            before (``training.visit_lattice``). For the reader; serving does not use it.
        visit_lattice_share: Share of the training registry's returns recorded on that lattice.
        libraries: Versions of the libraries that trained and exported it.
        data_fingerprint: SHA-256 of the training registry's files.
        parity: The export's parity check.
        support: The training rows' feature ranges (``FeatureSupport``), if exported with them.
    """

    format_version: int
    model_name: str
    model_version: str
    run_id: str | None
    created: str
    feature_names: tuple[str, ...]
    feature_dtype: str
    input_dtype: str
    longevity_features: tuple[str, ...]
    heads: tuple[Head, ...]
    files: Mapping[str, OnnxFile]
    bin_days: float
    n_bins: int
    hazard_baseline: tuple[tuple[float, ...], ...]
    side_dependence: tuple[float, ...]
    visit_lattice_days: Annotated[float, Field(ge=0.0)] = 0.0
    visit_lattice_share: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    libraries: Mapping[str, str]
    data_fingerprint: str
    parity: Parity
    support: FeatureSupport | None = None

    def heads_of(self, *kinds: HeadKind) -> tuple[Head, ...]:
        """The heads of the given kinds, in manifest order."""
        return tuple(h for h in self.heads if h.kind in kinds)

    def to_json(self) -> str:
        """The manifest as indented JSON (the content of ``manifest.json``)."""
        return self.model_dump_json(indent=2) + "\n"


class BundleError(Exception):
    """A bundle cannot be used: missing or unreadable manifest or file."""


class BundleMismatch(BundleError):  # noqa: N818  (the name the project uses for this refusal)
    """A bundle does not fit this install; the message names what differs."""


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def read_onnx(bundle_dir: Path, spec: OnnxFile) -> bytes:
    """Read one ONNX file of a bundle and check its bytes against the manifest's SHA-256.

    The server opens its session from these same bytes, so what was checked is what runs.

    Args:
        bundle_dir: The bundle folder.
        spec: The file's manifest entry.

    Returns:
        The file's bytes.

    Raises:
        BundleError: The file cannot be read.
        BundleMismatch: Its SHA-256 differs from the manifest's.
    """
    path = Path(bundle_dir) / spec.file
    try:
        data = path.read_bytes()
    except OSError as err:
        raise BundleError(f"{path}: cannot read ({err.strerror})") from None
    digest = sha256_bytes(data)
    if digest != spec.sha256:
        raise BundleMismatch(
            f"{spec.file}: SHA-256 {digest[:12]}..., the manifest says {spec.sha256[:12]}... "
            "(the file was changed after export)"
        )
    return data


def load_manifest(bundle_dir: Path) -> Manifest:
    """Read and validate ``manifest.json`` of a bundle (without comparing it to this install).

    Args:
        bundle_dir: The bundle folder.

    Returns:
        The manifest.

    Raises:
        BundleError: No manifest, not JSON, or a field missing or of the wrong type.
    """
    path = Path(bundle_dir) / MANIFEST_FILE
    try:
        text = path.read_text()
    except OSError as err:
        raise BundleError(f"{path}: cannot read the bundle manifest ({err.strerror})") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        raise BundleError(f"{path}: not JSON ({err})") from None
    if isinstance(raw, dict) and raw.get("format_version") != FORMAT_VERSION:
        # Before field validation: another format may legitimately have other fields.
        raise BundleMismatch(
            f"{path}: format_version {raw.get('format_version')!r}, this install reads "
            f"{FORMAT_VERSION}"
        )
    try:
        return Manifest.model_validate(raw)
    except ValidationError as err:
        raise BundleError(f"{path}: not a valid manifest: {err}") from None


def write_model_version(bundle_dir: Path, version: str) -> Manifest:
    """Record the registered version number in a bundle's manifest (written before registering).

    The manifest is not among the hashed files, so this changes what the bundle says of itself,
    never what it computes.

    Args:
        bundle_dir: The bundle folder.
        version: The model version, e.g. ``3``.

    Returns:
        The manifest as written.
    """
    manifest = load_manifest(bundle_dir).model_copy(update={"model_version": version})
    (Path(bundle_dir) / MANIFEST_FILE).write_text(manifest.to_json())
    return manifest


def _first_difference(name: str, bundle: tuple[str, ...], installed: tuple[str, ...]) -> str:
    """Say how two ordered name lists differ: count, first position, or names only one has."""
    missing = [n for n in installed if n not in bundle]
    extra = [n for n in bundle if n not in installed]
    parts = [f"{name} differ from the installed features package"]
    if missing:
        parts.append(f"missing from the bundle: {', '.join(missing[:5])}")
    if extra:
        parts.append(f"not installed: {', '.join(extra[:5])}")
    if not missing and not extra:
        i = next(i for i, (a, b) in enumerate(zip(bundle, installed, strict=True)) if a != b)
        parts.append(
            f"order differs first at column {i}: bundle {bundle[i]!r}, installed {installed[i]!r}"
        )
    parts.append(f"({len(bundle)} in the bundle, {len(installed)} installed)")
    return "; ".join(parts)


def _structure_problems(manifest: Manifest) -> list[str]:
    """What in the manifest contradicts itself (outputs the heads need but the files lack)."""
    problems = [
        f"no {role} ONNX file listed"
        for role in (TREATMENT_FILE, LONGEVITY_FILE)
        if role not in manifest.files
    ]
    if problems:
        return problems
    names = [h.name for h in manifest.heads]
    problems += [f"head {n!r} listed twice" for n in sorted(set(names)) if names.count(n) > 1]
    if len(manifest.heads_of("hazard")) != 1:
        problems.append(f"{len(manifest.heads_of('hazard'))} hazard heads, expected 1")
    # One set of quantiles for all: answers give each difference's range at the same levels.
    levels = sorted({h.quantiles for h in manifest.heads_of("quantiles")})
    if len(levels) > 1:
        problems.append(f"quantile heads at different quantiles: {levels}")
    for head in manifest.heads:
        spec = manifest.files[HEAD_FILE[head.kind]]
        have = {o.name for o in spec.outputs}
        problems += [
            f"head {head.name!r}: {spec.file} has no output {o!r}"
            for o in head.outputs
            if o not in have
        ]
        wanted = len(head.quantiles) if head.kind == "quantiles" else 1
        if len(head.outputs) != wanted:
            problems.append(
                f"head {head.name!r} has {len(head.outputs)} outputs, expected {wanted}"
            )
        if head.kind in ("binary", "contributions") and head.calibration is None:
            problems.append(f"head {head.name!r} has no calibration")
        if head.kind == "contributions" and head.contribution_base is None:
            problems.append(f"head {head.name!r} has no contribution_base")
    treatment = manifest.files[TREATMENT_FILE]
    if treatment.input.shape[1:] != (len(manifest.feature_names),):
        problems.append(
            f"{treatment.file} input shape {treatment.input.shape} does not match "
            f"{len(manifest.feature_names)} features"
        )
    longevity = manifest.files[LONGEVITY_FILE]
    if longevity.input.shape[1:] != (len(manifest.longevity_features),):
        problems.append(
            f"{longevity.file} input shape {longevity.input.shape} does not match "
            f"{len(manifest.longevity_features)} longevity features"
        )
    support = manifest.support
    if support is not None and not len(support.low) == len(support.high) == len(
        manifest.feature_names
    ):
        problems.append(
            f"support has {len(support.low)} low and {len(support.high)} high values, expected "
            f"{len(manifest.feature_names)}"
        )
    groups = len(manifest.hazard_baseline)
    if groups not in (1, len(REGIONS)):
        problems.append(f"hazard_baseline has {groups} rows, expected 1 or {len(REGIONS)}")
    theta = manifest.side_dependence
    if len(theta) != len(REGIONS) or not all(MIN_THETA <= t <= MAX_THETA for t in theta):
        problems.append(
            f"side_dependence {theta}: expected {len(REGIONS)} values in [{MIN_THETA}, {MAX_THETA}]"
        )
    lengths = sorted({len(row) for row in manifest.hazard_baseline})
    if lengths != [manifest.n_bins]:
        problems.append(f"hazard_baseline rows have {lengths} values, expected {manifest.n_bins}")
    return problems


def check_manifest(manifest: Manifest, bundle_dir: Path | None = None) -> None:
    """Refuse a bundle that does not fit the installed ``features`` package.

    Args:
        manifest: The bundle's manifest.
        bundle_dir: The bundle folder; given, each ONNX file's SHA-256 is checked too.

    Raises:
        BundleMismatch: Format version, feature names/order/dtype, longevity features, the
            listed outputs or a file hash differ; the message names each difference.
    """
    problems: list[str] = []
    if manifest.format_version != FORMAT_VERSION:
        problems.append(
            f"format_version {manifest.format_version}, this install reads {FORMAT_VERSION}"
        )
    if manifest.feature_names != FEATURE_NAMES:
        problems.append(_first_difference("feature names", manifest.feature_names, FEATURE_NAMES))
    if manifest.feature_dtype != FEATURE_DTYPE:
        problems.append(f"feature dtype {manifest.feature_dtype}, installed {FEATURE_DTYPE}")
    if manifest.input_dtype != INPUT_DTYPE:
        problems.append(f"ONNX input dtype {manifest.input_dtype}, this server feeds {INPUT_DTYPE}")
    longevity = tuple(LONGEVITY_NAMES)
    if manifest.longevity_features != longevity:
        problems.append(
            _first_difference("longevity features", manifest.longevity_features, longevity)
        )
    problems += _structure_problems(manifest)
    if bundle_dir is not None:
        for spec in manifest.files.values():
            try:
                read_onnx(bundle_dir, spec)
            except BundleError as err:
                problems.append(str(err))
    if problems:
        raise BundleMismatch(
            f"{bundle_dir or 'bundle'}: refused, it does not fit this install: "
            + " | ".join(problems)
        )
