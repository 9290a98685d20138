"""keras_uvac: unsupervised variational acoustic clustering for Keras 3.

Public names are imported on first use, so `import keras_uvac` is quick and
the command line can quiet TensorFlow's start-up logging before it loads.
"""

import importlib

__version__ = "0.1.0"

_PUBLIC = {
    "AudioCollection": "keras_uvac.datasets",
    "load_audio": "keras_uvac.datasets",
    "FeatureConfig": "keras_uvac.features",
    "feature_dataset": "keras_uvac.pipeline",
    "extract_features": "keras_uvac.pipeline",
    "clustering_report": "keras_uvac.metrics",
    "ClusteringMetricsCallback": "keras_uvac.metrics",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'keras_uvac' has no attribute {name!r}")
    return getattr(importlib.import_module(_PUBLIC[name]), name)
