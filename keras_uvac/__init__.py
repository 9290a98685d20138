"""keras_uvac: unsupervised variational acoustic clustering for Keras 3.

Importing the package registers its layers and model with Keras, so saved
`.keras` files load with `keras.models.load_model`.
"""

from keras_uvac._startup import import_tensorflow

import_tensorflow()

from keras_uvac.datasets import AudioCollection, load_audio  # noqa: E402
from keras_uvac.features import FeatureConfig  # noqa: E402
from keras_uvac.layers import Decoder, Encoder, GMMPrior, SpectrogramAugment  # noqa: E402
from keras_uvac.metrics import ClusteringMetricsCallback, clustering_report  # noqa: E402
from keras_uvac.model import UVAC  # noqa: E402
from keras_uvac.pipeline import extract_features, feature_dataset  # noqa: E402

__version__ = "0.1.0"
__all__ = ["UVAC", "AudioCollection", "ClusteringMetricsCallback", "Decoder", "Encoder", "FeatureConfig", "GMMPrior",
           "SpectrogramAugment", "clustering_report", "extract_features", "feature_dataset", "load_audio"]
