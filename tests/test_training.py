import dataclasses
import json
import math
import os
import signal
import subprocess
import sys
import time
import warnings

import keras
import numpy as np
import pytest
from conftest import copy_fsdd_subset, run_uvac

from keras_uvac import datasets, pipeline, quality, training
from keras_uvac.features import FeatureConfig

TINY = {"encoder_channels": [4, 8], "gru_units": [8], "decoder_channels": [8, 4], "num_clusters": 3, "latent_dim": 4}


@pytest.fixture(scope="module")
def small_fsdd(tmp_path_factory):
    return copy_fsdd_subset(tmp_path_factory.mktemp("fsdd_small"), 30)


def test_schedule_pretrains_then_fits_the_prior_then_warms_up_the_kl(small_fsdd):
    collection = datasets.load_audio(small_fsdd)
    recipe = training.Recipe(name="t", epochs=5, pretrain_epochs=2, gmm_initialization=True, kl_warmup_epochs=2,
                             kl_weight=0.5, cluster_weight=2.0)
    seen = []

    class Spy(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.append((float(self.model.kl_weight.numpy()), float(self.model.sampling.numpy()),
                         float(self.model.cluster_weight.numpy()),
                         keras.ops.convert_to_numpy(self.model.prior.means).copy()))

    model, history = training.train(collection, os.path.join(small_fsdd, "..", "s.keras"), recipe, verbose=0,
                                    callbacks=[Spy()], validation_collection=collection, validation_every=2,
                                    consistency_weight=1.0, **TINY)
    assert [phase[:3] for phase in seen] == [(0, 0, 0), (0, 0, 0), (0.25, 1, 2), (0.5, 1, 2), (0.5, 1, 2)]
    assert not np.allclose(seen[1][3], seen[2][3])  # the prior was refitted to the codes at the joint start
    assert history[-1]["consistency"] > 0
    assert [record["epoch"] for record in history] == [1, 2, 3, 4, 5]
    # Validation metrics every second epoch and after the last.
    assert [record["epoch"] for record in history if "val_accuracy" in record] == [2, 4, 5]


def test_the_posterior_variance_starts_at_a_fraction_of_the_fitted_prior_variances(small_fsdd, tmp_path):
    collection = datasets.load_audio(small_fsdd)
    recipe = training.Recipe(name="t", epochs=3, pretrain_epochs=2, gmm_initialization=True,
                             initial_posterior_variance=0.01)
    config = FeatureConfig()
    spectrograms = np.random.default_rng(0).random((3, config.num_bins, config.num_frames)).astype("float32")
    log_variances = {}

    class Spy(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            log_variances[epoch] = keras.ops.convert_to_numpy(self.model.encoder(spectrograms)[1])
            log_variances["prior"] = keras.ops.convert_to_numpy(self.model.prior.log_variances())

    training.train(collection, tmp_path / "v.keras", recipe, verbose=0, callbacks=[Spy()], tied_prior_variances=True,
                   **TINY)
    assert np.ptp(log_variances[1], axis=0).max() > 1e-3  # pretraining leaves it input-dependent
    expected = np.log(0.01) + log_variances["prior"][0]
    np.testing.assert_allclose(log_variances[2], np.broadcast_to(expected, log_variances[2].shape), atol=1e-5)


@pytest.mark.slow
def test_restarts_continue_the_candidate_of_lowest_consistency_in_the_first_joint_epoch(small_fsdd, tmp_path):
    collection = datasets.load_audio(small_fsdd)
    recipe = training.Recipe(name="t", epochs=3, pretrain_epochs=1, gmm_initialization=True, restarts=2)
    out = tmp_path / "r.keras"
    model, history = training.train(collection, out, recipe, seed=1, verbose=0, consistency_weight=1.0, **TINY)
    with open(f"{out}.run/restarts/choice.json") as handle:
        choice = json.load(handle)
    candidates = choice["candidates"]
    assert [candidate["seed"] for candidate in candidates] == [2, 3]
    assert candidates[0]["consistency"] != candidates[1]["consistency"]
    chosen = min(candidates, key=lambda candidate: candidate["consistency"])
    assert choice["chosen_seed"] == chosen["seed"] and model.card["restarts"]["chosen_seed"] == chosen["seed"]
    with open(f"{out}.run/restarts/seed-{chosen['seed']}.keras.run/history.json") as handle:
        candidate_history = json.load(handle)
    assert len(history) == 3 and history[:2] == candidate_history  # the run went on from the chosen candidate
    assert not any(os.path.isdir(f"{out}.run/restarts/seed-{seed}.keras.run/checkpoints") for seed in (2, 3))
    # A candidate interrupted before the choice is an earlier run: it resumes, never silently restarts.
    os.makedirs(tmp_path / "s.keras.run" / "restarts" / "seed-0.keras.run" / "checkpoints" / "epoch-0001")
    with pytest.raises(training.TrainingError, match="earlier run"):
        training.train(collection, tmp_path / "s.keras", recipe, verbose=0, **TINY)


def test_clusters_auto_chooses_k_on_the_pretrained_codes_then_trains_with_it(small_fsdd, tmp_path):
    collection = datasets.load_audio(small_fsdd)
    recipe = training.Recipe(name="t", epochs=2, pretrain_epochs=1, gmm_initialization=True)
    out = tmp_path / "k.keras"
    without_k = {name: value for name, value in TINY.items() if name != "num_clusters"}
    model, history = training.train(collection, out, recipe, seed=0, verbose=0, num_clusters="auto", **without_k)
    with open(f"{out}.run/clusters/choice.json") as handle:
        choice = json.load(handle)
    assert [row["k"] for row in choice["curve"]] == list(range(2, len(collection) // 4 + 1))
    assert model.num_clusters == choice["chosen"] == training.clusters.choose_number_of_clusters(choice["curve"])
    assert model.card["clusters"] == choice
    assert len(history) == 2 and not os.path.isdir(f"{out}.run/clusters/seed-0.keras.run/checkpoints")
    with pytest.raises(ValueError, match="pretraining"):
        training.train(collection, tmp_path / "p.keras", dataclasses.replace(recipe, pretrain_epochs=0), verbose=0,
                       num_clusters="auto", **without_k)


def test_stability_curve_finds_the_number_of_groups_and_prefers_more_on_a_tie():
    rng = np.random.default_rng(1)
    codes = np.concatenate([rng.normal(centre, 0.2, (60, 3)) for centre in (-4, -1, 2, 5)])
    curve = training.clusters.stability_curve(codes, (2, 8))
    assert [row["k"] for row in curve] == list(range(2, 9))
    assert training.clusters.choose_number_of_clusters(curve) == 4
    assert [row["clusters_used"] for row in curve[:3]] == [2, 3, 4]
    # Codes without structure: every mixture puts all clips in one cluster, and the halves agree perfectly.
    collapsed = training.clusters.stability_curve(np.zeros((80, 3)), (2, 5))
    assert all(row["stability"] == 1.0 and row["clusters_used"] == 1 for row in collapsed)
    assert training.clusters.choose_number_of_clusters(collapsed) == 2


@pytest.mark.slow
def test_runs_train_each_seed_to_the_end_and_one_carries_their_consensus(small_fsdd, tmp_path):
    collection = datasets.load_audio(small_fsdd)
    recipe = training.Recipe(name="t", epochs=2, pretrain_epochs=1, gmm_initialization=True, runs=2,
                             consensus_epochs=1, balanced_clusters=True)
    out = tmp_path / "c.keras"
    model, history = training.train(collection, out, recipe, seed=1, verbose=0, **TINY)
    with open(f"{out}.run/runs/consensus.json") as handle:
        record = json.load(handle)
    assert record["seeds"] == [2, 3] and record["carrying_seed"] in (2, 3) and model.card["consensus"] == record
    # The report compares the runs as the recipe finishes them (balanced), on the training clips.
    report = model.card["quality"]
    assert report["runs"] == 2 and 0 <= report["run_agreement"] <= 1 and 0 <= report["headline"]["value"] <= 1
    assert sum(report["cluster_sizes"]) == len(collection)
    assert sum(record["cluster_sizes"]) == len(collection) and len(record["cluster_sizes"]) == 3
    assert len(record["clusters_used"]) == 2 and all(1 <= count <= 3 for count in record["clusters_used"])
    assert record["placement"] == "one device, one run after another"
    assert 0 < record["clips_with_targets"] <= len(collection)
    assert len(record["self_labelling"]) == 1 and math.isfinite(record["self_labelling"][0]["loss"])
    carrying_history = training.read_history(f"{out}.run/runs/seed-{record['carrying_seed']}.keras.run")
    assert len(carrying_history) == 2 and training.read_history(f"{out}.run") == carrying_history
    # The carrying run's model went on training (self-labelling) from its own weights, with a refitted prior.
    member = keras.saving.load_model(f"{out}.run/runs/seed-{record['carrying_seed']}.keras")
    saved = keras.saving.load_model(out)
    # The probabilities were calibrated to the runs' agreement on the training clips (no validation clips here).
    assert saved.posterior_temperature == model.posterior_temperature == model.card["temperature"]["temperature"]
    low, high = quality.TEMPERATURE_RANGE
    if low < saved.posterior_temperature < high:
        assert model.card["temperature"]["after"] == pytest.approx(model.card["temperature"]["runs_agreeing"], abs=1e-3)
    changes = [np.abs(mine - theirs).max() for mine, theirs in zip(saved.encoder.get_weights(),
                                                                    member.encoder.get_weights())]
    assert 0 < max(changes) < 1.0
    means = [keras.ops.convert_to_numpy(trained.prior.means) for trained in (saved, member)]
    assert not np.allclose(*means)
    # The saved prior is the one refitted to equal-size clusters (these tiny codes are too alike to split).
    balanced = model.card["balanced_clusters"]
    assert balanced["steps"] >= 1 and sum(balanced["cluster_sizes_before"]) == len(collection)
    train_features = pipeline.feature_dataset(collection, saved.feature_config_object(), 256, with_labels=False)
    saved_clusters = saved.predict_clusters(train_features)[0]
    assert np.bincount(saved_clusters, minlength=3).tolist() == balanced["cluster_sizes"]
    assert len(history) == 2 and not os.path.isdir(f"{out}.run/runs/seed-2.keras.run/checkpoints")
    # Finished runs are an earlier run: refused without resume, read back (not retrained) with it.
    with pytest.raises(training.TrainingError, match="earlier run"):
        training.train(collection, out, recipe, seed=1, verbose=0, **TINY)
    modified = os.path.getmtime(f"{out}.run/runs/seed-2.keras")
    keras.utils.set_random_seed(99)  # whatever ran before in this process must not change the result
    resumed, _ = training.train(collection, out, recipe, seed=1, verbose=0, resume=True, **TINY)
    assert os.path.getmtime(f"{out}.run/runs/seed-2.keras") == modified
    np.testing.assert_allclose(keras.ops.convert_to_numpy(resumed.prior.means),
                               keras.ops.convert_to_numpy(saved.prior.means), rtol=1e-5)
    # The self-labelling epochs are seeded by the carrying run, not by what the process ran before them.
    for mine, theirs in zip(resumed.encoder.get_weights(), saved.encoder.get_weights()):
        np.testing.assert_allclose(mine, theirs, atol=1e-6)


def test_runs_of_a_consensus_can_share_one_pretraining_and_part_afterwards(small_fsdd, tmp_path):
    collection = datasets.load_audio(small_fsdd)
    recipe = training.Recipe(name="t", epochs=3, pretrain_epochs=2, gmm_initialization=True, runs=2,
                             shared_pretraining=True)
    out = tmp_path / "shared.keras"
    model, _ = training.train(collection, out, recipe, seed=0, verbose=0, **TINY)
    pretraining = training.read_history(f"{out}.run/runs/pretraining.keras.run")
    histories = [training.read_history(f"{out}.run/runs/seed-{seed}.keras.run") for seed in (0, 1)]
    # Both runs carry the one pretraining's two epochs, then part: each its own third epoch.
    assert len(pretraining) == 2 and all(history[:2] == pretraining and len(history) == 3 for history in histories)
    assert histories[0][2]["loss"] != histories[1][2]["loss"]
    runs = [keras.saving.load_model(f"{out}.run/runs/seed-{seed}.keras") for seed in (0, 1)]
    assert max(np.abs(mine - theirs).max() for mine, theirs in zip(runs[0].encoder.get_weights(),
                                                                    runs[1].encoder.get_weights())) > 0
    record = model.card["consensus"]
    assert record["shared_pretraining_epochs"] == 2
    # The shared epochs' seconds count once.
    epochs = sum(epoch["seconds"] for epoch in pretraining) + sum(history[2]["seconds"] for history in histories)
    assert epochs <= record["seconds"] < epochs + sum(epoch["seconds"] for epoch in pretraining)
    assert not os.path.isdir(f"{out}.run/runs/pretraining.keras.run/checkpoints")


def test_a_corpus_too_small_for_the_recipes_steps_trains_more_epochs(small_fsdd, tmp_path):
    collection = datasets.load_audio(small_fsdd)
    steps_per_epoch = math.ceil(len(collection) / 16)
    recipe = training.Recipe(name="t", epochs=2, pretrain_epochs=1, gmm_initialization=True, kl_warmup_epochs=1,
                             batch_size=16, min_steps=2 * steps_per_epoch + 1)
    model, history = training.train(collection, tmp_path / "few.keras", recipe, verbose=0, **TINY)
    assert len(history) == 3 and model.card["recipe"]["epochs"] == 3 and model.card["recipe"]["pretrain_epochs"] == 2
    assert model.card["epochs_for_steps"] == {"min_steps": 2 * steps_per_epoch + 1, "steps_per_epoch": steps_per_epoch,
                                              "recipe_epochs": 2, "epochs": 3}
    enough = dataclasses.replace(recipe, min_steps=2 * steps_per_epoch)
    model, history = training.train(collection, tmp_path / "enough.keras", enough, verbose=0, **TINY)
    assert len(history) == 2 and "epochs_for_steps" not in model.card


def test_runs_that_leave_clusters_empty_are_named_in_a_warning():
    from keras_uvac.training.trainer import _warn_if_clusters_empty

    finished = {"consensus": {"seeds": [3, 4, 5], "clusters_used": [10, 2, 10]},
                "balanced_clusters": {"cluster_sizes_before": [40, 0, 8, 8, 8, 8, 8, 8, 8, 8]}}
    with pytest.warns(UserWarning, match=r"fewer than 10 clusters hold training clips in the run of seed 4 \(2\), "
                                         r"the model before its balanced refit \(9\)"):
        _warn_if_clusters_empty(finished, 10)
    finished = {"consensus": {"seeds": [3], "clusters_used": [10]},
                "balanced_clusters": {"cluster_sizes_before": [8] * 10}}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _warn_if_clusters_empty(finished, 10)


def test_speaker_term_and_tied_prior_variances_in_a_training_run(small_fsdd, tmp_path):
    collection = datasets.load_audio(small_fsdd)
    recipe = training.Recipe(name="t", epochs=3, pretrain_epochs=1, gmm_initialization=True)
    model, history = training.train(collection, tmp_path / "tied.keras", recipe, verbose=0, speaker_weight=1.0,
                                    tied_prior_variances=True, **TINY)
    assert all(record["speaker"] > 0 for record in history)  # train() feeds the FSDD speakers
    log_variances = keras.ops.convert_to_numpy(model.prior.log_variances())
    assert np.all(log_variances == log_variances[0]) and np.ptp(log_variances[0]) > 0
    assert keras.saving.load_model(tmp_path / "tied.keras").get_config()["tied_prior_variances"] is True
    _, history = training.train(collection, tmp_path / "blind.keras", dataclasses.replace(recipe, epochs=1),
                                verbose=0, speakers="none", speaker_weight=1.0, validation_collection=collection,
                                validation_every=0, **TINY)
    assert history[0]["speaker"] == 0.0 and "val_accuracy" not in history[0]


def test_nan_stops_training_and_keeps_the_last_good_checkpoint(small_fsdd, tmp_path):
    collection = datasets.load_audio(small_fsdd)

    class Diverge(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                kernel = self.model.encoder.to_moments.kernel
                kernel.assign(np.full(kernel.shape, np.nan, "float32"))

    out = tmp_path / "m.keras"
    recipe = training.Recipe(name="t", epochs=5)
    with pytest.raises(training.TrainingError, match=r"epoch 3: loss became nan.*last good checkpoint \(epoch 2\)"):
        training.train(collection, out, recipe, verbose=0, callbacks=[Diverge()], **TINY)
    assert not out.exists()
    checkpoint, history = training.load_checkpoint(training.latest_checkpoint(tmp_path / "m.keras.run"))
    assert [record["epoch"] for record in history] == [1, 2]
    assert all(np.all(np.isfinite(keras.ops.convert_to_numpy(v))) for v in checkpoint.trainable_variables)
    assert [record["epoch"] for record in training.read_history(tmp_path / "m.keras.run")] == [1, 2]


def test_recipes_round_trip_and_scale():
    paper = training.RECIPES["paper"]
    assert (paper.epochs, paper.batch_size, paper.learning_rate, paper.final_learning_rate) == (500, 64, 5e-3, 5e-4)
    short = training.RECIPES["default"].with_epochs(20)
    assert short.epochs == 20 and 0 < short.pretrain_epochs < 20
    assert training.Recipe.from_config(dataclasses.asdict(short)) == short
    assert short.with_changes({"cluster_weight": 3.0}) == dataclasses.replace(short, cluster_weight=3.0)
    with pytest.raises(ValueError, match="not a recipe field: cluster_wieght"):
        short.with_changes({"cluster_wieght": 3.0})
    # 480 clips are 8 steps of 64: the floor of 320 steps gives the 40-epoch recipe; 2,400 clips keep 20 epochs.
    default = training.RECIPES["default"]
    assert default.with_steps_per_epoch(8) == default.with_epochs(40) and default.with_steps_per_epoch(38) is default


def uvac_train(arguments, **kwargs):
    command = [sys.executable, "-m", "keras_uvac.cli", "-q", "train", *arguments]
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **kwargs)


@pytest.mark.slow
def test_interrupted_uvac_train_resumes_without_losing_an_epoch(small_fsdd, tmp_path, capsys):
    out = tmp_path / "model.keras"
    # Interrupted in the first of the consensus' two runs: it goes on from its checkpoint, then the second run.
    arguments = ["--data", str(small_fsdd), "--epochs", "4", "--runs", "2", "--out", str(out), "--model-config",
                 json.dumps(TINY), "--recipe-config", json.dumps({"cluster_weight": 0.5})]
    history_path = tmp_path / "model.keras.run" / "runs" / "seed-0.keras.run" / "history.json"
    process = uvac_train(arguments)
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        if history_path.exists() and len(json.loads(history_path.read_text())) >= 2:
            break
        time.sleep(0.05)
    assert process.poll() is None, "training finished before it could be interrupted"
    process.send_signal(signal.SIGKILL)
    process.wait()
    interrupted_at = len(json.loads(history_path.read_text()))
    assert 2 <= interrupted_at < 4 and not out.exists()

    status, _, error = run_uvac(capsys, "train", *arguments)
    assert status == 2 and "--resume" in error

    status, output, error = run_uvac(capsys, "train", *arguments, "--resume")
    assert status == 0, error[-3000:]
    assert "quality (no labels): " in output and "independent runs agree" in output
    for seed in (0, 1):
        history = json.loads((tmp_path / "model.keras.run" / "runs" / f"seed-{seed}.keras.run" / "history.json")
                             .read_text())
        assert [record["epoch"] for record in history] == list(range(1, 5))
    card = json.loads((tmp_path / "model.keras.card.json").read_text())
    assert card["epochs_done"] == 4 and math.isfinite(card["test_metrics"]["UVAC"]["nmi"])
    assert card["consensus"]["seeds"] == [0, 1]
    recipe = json.loads((tmp_path / "model.keras.run" / "runs" / "seed-1.keras.run" / "recipe.json").read_text())
    assert recipe["recipe"]["cluster_weight"] == 0.5 and recipe["recipe"]["epochs"] == 4
    assert keras.models.load_model(out).count_params() > 0


def test_a_corpus_of_many_speakers_trains_on_batches_dealt_in_speaker_runs(small_fsdd, tmp_path):
    fsdd = datasets.load_audio(small_fsdd)
    many = dataclasses.replace(fsdd, speakers=[f"speaker{index % 20}" for index in range(len(fsdd))])
    recipe = dataclasses.replace(training.RECIPES["default"].with_epochs(2), batch_size=16, runs=1)
    described = training.describe_speakers(many, "ids", recipe)
    assert "20 speaker ids of the data, each batch dealt in runs of 4" in described
    assert "runs" not in training.describe_speakers(fsdd, "ids", recipe)  # 6 speakers: plain shuffling
    _, history = training.train(many, tmp_path / "many.keras", recipe, verbose=0, **TINY)
    assert len(history) == 2 and all(record["speaker"] > 0 for record in history)


@pytest.mark.parametrize("descriptor", ["voice", "auto"])
def test_a_corpus_without_speaker_ids_trains_with_pseudo_speakers(small_fsdd, tmp_path, descriptor):
    collection = dataclasses.replace(datasets.load_audio(small_fsdd), speakers=None)
    recipe = dataclasses.replace(training.Recipe(name="t", epochs=2, pretrain_epochs=1, gmm_initialization=True),
                                 pseudo_speakers=3, pseudo_speaker_descriptor=descriptor)
    model, history = training.train(collection, tmp_path / "blind.keras", recipe, verbose=0, speaker_weight=1.0,
                                    **TINY)
    assert model.card["speakers"] == "pseudo" and json.loads((tmp_path / "blind.keras.card.json").read_text())
    # "auto" is resolved before training (the encoder is installed with the test extras), so the card says which.
    expected = {"voice": "voice", "auto": "encoder"}[descriptor]
    assert model.card["recipe"]["pseudo_speaker_descriptor"] == expected
    assert all(record["speaker"] > 0 for record in history)  # the speaker term ran on the pseudo-speaker groups
    assert "3 pseudo-speaker groups" in training.describe_speakers(collection, "auto", recipe)
    with pytest.raises(ValueError, match="names no speakers"):
        training.train(collection, tmp_path / "ids.keras", recipe, speakers="ids", **TINY)


@pytest.mark.slow
def test_repeatable_op_order_runs_one_op_at_a_time_and_says_when_it_is_too_late():
    script = ("import warnings\nfrom keras_uvac import training\nimport tensorflow as tf\n{before}"
              "with warnings.catch_warnings(record=True) as caught:\n"
              "    warnings.simplefilter('always'); done = training.repeatable_op_order()\n"
              "print(done, tf.config.threading.get_inter_op_parallelism_threads(), len(caught))")
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    for before, expected in (("", "True 1 0"), ("tf.constant(1.0) + 1\n", "False 0 1")):
        result = subprocess.run([sys.executable, "-c", script.format(before=before)], env=environment,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
        assert result.stdout.split("\n")[-2] == expected


@pytest.mark.slow
def test_train_without_an_out_path_works_in_memory_and_leaves_the_global_state_as_it_was(small_fsdd, tmp_path,
                                                                                           monkeypatch):
    import tempfile

    import tensorflow as tf

    collection = datasets.load_audio(small_fsdd)
    monkeypatch.chdir(tmp_path)
    keras.utils.set_random_seed(123)
    expected_keras, expected_numpy = keras.random.normal((3,)), np.random.rand(3)
    keras.utils.set_random_seed(123)
    threads = tf.config.threading.get_inter_op_parallelism_threads()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")  # the run trains in float32, then puts this back

    recipe = dataclasses.replace(training.RECIPES["default"].with_epochs(2), runs=2, batch_size=16)
    try:
        model, history = training.train(collection, recipe=recipe, verbose=0, **TINY)
        policy = keras.mixed_precision.global_policy().name
    finally:
        keras.mixed_precision.set_global_policy("float32")

    np.testing.assert_array_equal(keras.ops.convert_to_numpy(keras.random.normal((3,))),
                                  keras.ops.convert_to_numpy(expected_keras))
    np.testing.assert_array_equal(np.random.rand(3), expected_numpy)
    assert policy == "mixed_bfloat16"
    assert tf.config.threading.get_inter_op_parallelism_threads() == threads
    assert os.listdir(tmp_path) == [] and not [name for name in os.listdir(tempfile.gettempdir())
                                               if name.startswith("uvac-")]
    clusters, probabilities = model.predict_clusters(pipeline.extract_features(collection, progress=False))
    assert len(history) == 2 and len(clusters) == len(collection) and set(clusters.tolist()) <= {0, 1, 2}
    assert np.all((probabilities > 0) & (probabilities <= 1))
    assert model.card["consensus"]["seeds"] == [0, 1] and "test_metrics" not in model.card
    with pytest.raises(ValueError, match="need an out_path"):
        training.train(collection, recipe=recipe, resume=True, **TINY)
