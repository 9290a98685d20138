"""The latent means of a model's training clips (split seed 0) and their labels, for `curve_variants.py`.

    python experiments/clusters_auto/save_codes.py MODEL.keras OUT.npz [DATA_DIR]
"""
import sys

import keras
import numpy as np

from keras_uvac import datasets, pipeline

model = keras.saving.load_model(sys.argv[1])
splits = datasets.load_audio(sys.argv[3] if len(sys.argv) > 3 else None).split("random", seed=0)
data = pipeline.feature_dataset(splits["train"], model.feature_config_object(), 256, with_labels=False)
codes = model.latent_mean(data)
np.savez(sys.argv[2], codes=codes, labels=splits["train"].labels)
