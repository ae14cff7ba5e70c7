"""The model bundle: the contract between training (which writes it) and serving (which runs it).

A bundle is a folder of ONNX files with a manifest. This package holds its format
(``manifest``), its runtime (``predictor``, ``postprocess``), where a bundle comes from
(``resolve``, ``registry``) and its MLflow flavour (``pyfunc``). It imports neither ``training``
nor ``serving``.
"""
