"""What the prediction log records: the answers of one call, as columns (``LogBatch``).

Its own module so that the queue (``serving/log.py``) and the sinks (``serving/log_sql.py``)
both read it without importing each other.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class LogBatch:
    """The answers of one call, as columns: one row each, one queue item for them all.

    What the answers share (clinic, time, model) is given once; the rest one item per answer,
    in the same order. A row holds no direct identifier of the patient: the inputs only as a
    hash (to find repeated requests without keeping them).

    Attributes:
        request_ids: Identifier of each answer's request.
        clinic: The clinic whose key made the call.
        time: When they were answered (timezone-aware; stored in UTC, a naive time taken
            as UTC).
        model_name: The model that answered.
        model_version: Its version.
        input_sha256: Hex SHA-256 of each request's canonical inputs; never the inputs.
        outputs: Each answer as JSON text (bytes, UTF-8, e.g. from ``orjson.dumps``), stored as
            it is.

    Raises:
        ValueError: The per-answer columns differ in length.
    """

    request_ids: Sequence[str]
    clinic: str
    time: datetime
    model_name: str
    model_version: str
    input_sha256: Sequence[str]
    outputs: Sequence[bytes]

    def __post_init__(self) -> None:
        lengths = {len(self.request_ids), len(self.input_sha256), len(self.outputs)}
        if len(lengths) != 1:
            raise ValueError(f"LogBatch columns differ in length: {sorted(lengths)}")

    def __len__(self) -> int:
        return len(self.request_ids)

    def take(self, at: slice | Sequence[int]) -> LogBatch:
        """The answers at ``at`` (a slice or positions), the shared fields as they are.

        Args:
            at: Which answers to keep, in the order given.

        Returns:
            A batch of those answers.
        """
        if isinstance(at, slice):
            return dataclasses.replace(
                self,
                request_ids=self.request_ids[at],
                input_sha256=self.input_sha256[at],
                outputs=self.outputs[at],
            )
        return dataclasses.replace(
            self,
            request_ids=[self.request_ids[k] for k in at],
            input_sha256=[self.input_sha256[k] for k in at],
            outputs=[self.outputs[k] for k in at],
        )
