"""The TRIPOD+AI items the model report is keyed to, and who fills each.

Collins et al., BMJ 2024;385:e078378; numbered as summarised in
``../shared/research/wave2-anchors.md`` section 6 (the report says to check the numbers against
the BMJ table before citing). ``anchor`` names the report's section that fills an item.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Item:
    """One TRIPOD+AI item: number, topic, who fills it, what the report says or where."""

    item: str
    topic: str
    who: str
    text: str
    anchor: str = ""


ITEMS: Final = (
    Item("1", "Title", "software", "the title of this report names outcome, data and model"),
    Item("2", "Abstract", "person", "a structured summary (TRIPOD+AI for Abstracts)"),
    Item("3a", "Healthcare context", "person", "the clinical setting and existing models"),
    Item("3b", "Target population, intended users", "person", "who uses it, when, for whom"),
    Item("3c", "Health inequalities", "person", "known inequalities; subgroup figures below", ""),
    Item("4", "Objectives", "person", "development and internal validation, or more"),
    Item("5a", "Data sources", "software", "registry, fingerprint, simulator", "data"),
    Item("5b", "Data dates", "software", "first and last treatment per set", "data"),
    Item("6a", "Setting", "software", "clinics and treatments per set", "characteristics"),
    Item("6b", "Eligibility", "person", "who enters the registry"),
    Item("6c", "Treatments received", "software", "products, points per plan", "characteristics"),
    Item("7", "Data preparation", "software", "contract validation, quarantine", "flow"),
    Item("8", "Outcome", "software", "definitions under Model; blinding: a person", "methods"),
    Item("9", "Predictors", "software", "feature groups and reference", "predictors"),
    Item(
        "10", "Sample size", "software", "treatments and events (justification: a person)", "flow"
    ),
    Item("11", "Missing data", "software", "empty values per field and their handling", "missing"),
    Item("12", "Analytical methods", "software", "model, tuning, validation, measures", "methods"),
    Item("13", "Class imbalance", "software", "none applied; probabilities calibrated", "methods"),
    Item(
        "14", "Fairness", "software", "performance by sex, ancestry, product, clinic", "subgroups"
    ),
    Item("15", "Model output", "software", "calibrated probabilities, quantiles, curves", "output"),
    Item(
        "16",
        "Training vs evaluation",
        "software",
        "characteristics side by side",
        "characteristics",
    ),
    Item("17", "Ethical approval", "person", "approval and consent"),
    Item("18", "Open science", "software", "code version, data fingerprint, model", "open"),
    Item("18", "Funding, conflicts, protocol, registration", "person", "not known to software"),
    Item("19", "Patient and public involvement", "person", "not known to software"),
    Item("20a", "Participant flow", "software", "from the export to each set", "flow"),
    Item("20b", "Characteristics", "software", "per set", "characteristics"),
    Item("21", "Events per analysis", "software", "per outcome and set", "flow"),
    Item("22", "Full model", "software", "the ONNX bundle and registered version", "output"),
    Item("23a", "Performance with intervals", "software", "with 95% intervals", "performance"),
    Item("23b", "Heterogeneity, subgroups", "software", "subgroup table", "subgroups"),
    Item("24", "Model updating", "software", "new versions and the champion rule", "output"),
    Item("25", "Interpretation", "person", "what the figures mean for practice"),
    Item("26", "Limitations", "software", "simulated data (the rest: a person)", "limitations"),
    Item("27a", "Poor quality or missing input", "software", "quarantine, 422", "output"),
    Item("27b", "User interaction, expertise", "person", "who may act on an answer"),
    Item("27c", "Future research, generalisability", "person", "what to validate next"),
)
"""The checklist as this report keys it: ``who`` is "software" or "person"."""
