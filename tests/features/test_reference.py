"""The committed feature reference is what the spec generates today."""

from pathlib import Path

from features.reference import feature_reference
from features.spec import FEATURES

DOC = Path(__file__).resolve().parents[2] / "docs" / "features.md"


def test_feature_reference_is_up_to_date() -> None:
    assert DOC.read_text() == feature_reference(), (
        "docs/features.md is stale: run `asym feature-docs`"
    )


def test_reference_lists_every_feature_once() -> None:
    text = feature_reference()
    for f in FEATURES:
        assert text.count(f"`{f.name}`") == 1, f.name
