"""What every int8-agreement experiment starts from: the shipped model, its calibration clips and validation clips."""

from keras_uvac import datasets, pipeline
from keras_uvac.export import micro
from keras_uvac.model import UVAC


def shipped_model_and_features(validation_clips=None, calibration_clips=400):
    """`(model, train, calibration, validation)`: the shipped model and its features of the FSDD split (seed 0).

    `calibration` is the export's seeded sample of the training features; `validation` the first
    `validation_clips` validation clips (all by default). The test split is never read.
    """
    model = UVAC.from_preset("uvac_fsdd")
    config = model.feature_config_object()
    splits = datasets.load_audio().split(seed=0)
    train = pipeline.extract_features(splits["train"], config, progress=False)["spectrogram"]
    validation = splits["validation"]
    if validation_clips is not None:
        validation = validation.subset(range(validation_clips))
    validation = pipeline.extract_features(validation, config, progress=False)["spectrogram"]
    return model, train, micro.representative_subset(train, calibration_clips), validation
