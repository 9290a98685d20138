"""keras_uvac: unsupervised variational acoustic clustering for Keras 3.

Importing the package registers its layers and model with Keras, so saved
`.keras` files load with `keras.models.load_model`. (Only `uvac --help` and
`uvac --version` skip that, so that they answer without TensorFlow.)
"""

from keras_uvac import _startup

if not _startup.answers_without_tensorflow():
    _startup.import_tensorflow()

    from keras_uvac.datasets import AudioCollection, load_audio  # noqa: F401
    from keras_uvac.features import FeatureConfig  # noqa: F401
    from keras_uvac.layers import Decoder, Encoder, GMMPrior, SpectrogramAugment  # noqa: F401
    from keras_uvac.metrics import ClusteringMetricsCallback, clustering_report  # noqa: F401
    from keras_uvac.model import UVAC  # noqa: F401
    from keras_uvac.pipeline import extract_features, feature_dataset  # noqa: F401

__version__ = "0.1.0"
__all__ = ["UVAC", "AudioCollection", "ClusteringMetricsCallback", "Decoder", "Encoder", "FeatureConfig", "GMMPrior",
           "SpectrogramAugment", "clustering_report", "extract_features", "feature_dataset", "load_audio"]
