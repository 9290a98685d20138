import json

import keras
import numpy as np
import pytest

from keras_uvac import datasets, distillation, pipeline
from keras_uvac.model import ARCHITECTURES, UVAC


@pytest.mark.slow
def test_student_learns_the_teachers_codes_and_keeps_its_prior(tmp_path):
    collection = datasets.load_audio().subset(range(0, 3000, 30))
    splits = collection.split(seed=0, fractions=(0.8, 0.0, 0.2))
    keras.utils.set_random_seed(0)
    teacher = UVAC(**ARCHITECTURES["tiny"], decoder_channels=(8, 4), num_clusters=4, latent_dim=4, seed=0)
    # As in the recipe's pretraining (no KL, no sampling), so that the codes carry the clips.
    teacher.kl_weight.assign(0.0)
    teacher.sampling.assign(0.0)
    teacher.compile(optimizer="adam")
    teacher.fit(pipeline.feature_dataset(splits["train"], batch_size=20), epochs=3, verbose=0)
    out = tmp_path / "student.keras"
    student, history = distillation.distill(teacher, splits["train"], out, architecture="tiny", epochs=30, views=1,
                                            batch_size=8, learning_rate=3e-3, verbose=0, seed=1,
                                            test_collection=splits["test"], card={"command": "test"})
    assert student.encoder_channels == (4, 8, 16, 32) and student.gru_units == ()
    assert history[-1]["code_mse"] < 0.5 * history[0]["code_mse"]
    for mine, theirs in zip(student.prior.get_weights() + student.decoder.get_weights(),
                            teacher.prior.get_weights() + teacher.decoder.get_weights()):
        np.testing.assert_array_equal(mine, theirs)
    # On unseen clips the student is far closer to the teacher's codes than an untrained one.
    test = pipeline.extract_features(splits["test"], progress=False)["spectrogram"]
    target = keras.ops.convert_to_numpy(teacher.encode(test)[0])

    def error(model):
        return float(np.mean((keras.ops.convert_to_numpy(model.encode(test)[0]) - target) ** 2))

    assert error(student) < 0.2 * error(distillation.student_of(teacher, "tiny", seed=2))
    card = json.loads((tmp_path / "student.keras.card.json").read_text())
    assert card["command"] == "test" and card["distillation"]["views"] == 1 and "UVAC" in card["test_metrics"]
    reloaded = keras.models.load_model(out)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(reloaded(test[:4])),
                               keras.ops.convert_to_numpy(student(test[:4])), atol=1e-6)
