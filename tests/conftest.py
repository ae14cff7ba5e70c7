"""Test-wide settings."""

import os

# LightGBM's OpenMP threads busy-wait by default; on a shared 2-core machine that starves every
# other process (fits measured 15x slower). Must be set before lightgbm is first imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
