"""Model-from-code entry MLflow executes when it logs or loads the asym pyfunc model.

Only MLflow runs this file (``mlflow.pyfunc.log_model(python_model=<this path>)``), so the
registration below happens in MLflow's loader, never on an ordinary import of ``serving``.
"""

from mlflow.models import set_model

from bundle.pyfunc import AsymModel

set_model(AsymModel())
