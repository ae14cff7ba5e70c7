"""The server's request path loads neither pandas, LightGBM nor MLflow (design.md, Serving)."""

import subprocess
import sys


def test_importing_the_app_loads_no_pandas_lightgbm_or_mlflow() -> None:
    # A fresh interpreter: this test session has imported all of them already.
    code = (
        "import sys, serving.app, serving.service, bundle.predictor, serving.schemas, "
        "bundle.manifest, bundle.resolve\n"
        "print(sorted(m for m in ('pandas', 'lightgbm', 'mlflow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
