import json
import os
import shutil
import subprocess

import keras
import numpy as np
import pytest

from keras_uvac import cli, datasets, export, pipeline, training
from keras_uvac.features import FeatureConfig
from keras_uvac.model import ARCHITECTURES, UVAC

pytest.importorskip("tflite_micro")

# Every builtin operator the exported int8 graph may use; all are registered in TFLite Micro.
TFLM_INT8_OPERATORS = {"ADD", "CONV_2D", "FULLY_CONNECTED", "LOGISTIC", "MAXIMUM", "MEAN", "MINIMUM", "MUL", "PACK",
                       "PAD", "QUANTIZE", "RELU", "RESHAPE", "SOFTMAX", "SPLIT", "STRIDED_SLICE", "SUB", "TANH",
                       "TRANSPOSE", "UNPACK"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny UVAC trained briefly on real clips, with its prior fitted to the codes."""
    collection = datasets.load_audio().subset(range(0, 3000, 25))
    arrays = pipeline.extract_features(collection, progress=False)
    keras.utils.set_random_seed(0)
    model = UVAC(encoder_channels=(4, 8), gru_units=(8, 8), decoder_channels=(8, 4), num_clusters=4, latent_dim=4,
                 seed=0)
    model.compile(optimizer="adam")
    model.fit(pipeline.feature_dataset(collection, batch_size=20), epochs=2, verbose=0)
    training.fit_prior_to_codes(model, arrays)
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    model.save(path)
    return model, arrays, path


def compile_and_run(driver, source):
    """Compiles `driver` with the exported C `source` beside it (g++, warnings as errors); its printed words."""
    folder = driver.parent
    binary = driver.with_suffix("")
    subprocess.run(["g++", "-std=c++17", "-Wall", "-Werror", "-I", str(folder), str(driver), str(folder / source),
                    "-o", str(binary)], check=True)
    return subprocess.run([str(binary)], check=True, capture_output=True, text=True).stdout.split()


def test_quadratic_posterior_equals_the_gmm_posterior(trained):
    model, arrays, _ = trained
    z = model.latent_mean(arrays)
    layer = export.QuadraticPosterior.from_prior(model.prior)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(z)), keras.ops.convert_to_numpy(model.prior(z)),
                               atol=1e-5)
    floored = export.QuadraticPosterior.from_prior(model.prior, export.calibrated_floor(model, arrays["spectrogram"]))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(floored(z)), keras.ops.convert_to_numpy(model.prior(z)),
                               atol=1e-6)


def test_the_export_carries_the_models_posterior_temperature(trained):
    model, arrays, _ = trained
    warm = UVAC.from_config({**model.get_config(), "posterior_temperature": 2.5})
    warm.set_weights(model.get_weights())
    spectrograms = arrays["spectrogram"][:16]
    exported = export.inference_model(warm, batch_size=16)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(exported(spectrograms)),
                               keras.ops.convert_to_numpy(warm(arrays)[:16]), atol=1e-5)
    assert not np.allclose(keras.ops.convert_to_numpy(warm(arrays)), keras.ops.convert_to_numpy(model(arrays)))


def test_activation_limits_are_percentiles_of_each_block_and_clamp_the_export(trained):
    model, arrays, _ = trained
    spectrograms = arrays["spectrogram"]
    limits = export.calibrated_activation_limits(model, spectrograms, percentile=99.0)
    activations = [keras.ops.convert_to_numpy(block) for block in model.encoder.convolution_activations(spectrograms)]
    assert len(limits) == len(model.encoder_channels)
    for limit, block in zip(limits, activations):
        assert 0 < limit < block.max() and abs(np.mean(block > limit) - 0.01) < 0.005
    clamped = export.inference_model(model, activation_limits=limits).get_layer("encoder")
    for limit, block in zip(limits, clamped.convolution_activations(spectrograms[:8])):
        assert float(keras.ops.max(block)) <= limit + 1e-6
    unclamped = export.inference_model(model, activation_limits=None)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(unclamped(spectrograms[:1])),
                               keras.ops.convert_to_numpy(model(spectrograms[:1])), atol=1e-5)


@pytest.mark.parametrize("export_format", ["tflite", "onnx"])
def test_float_exports_match_keras(trained, tmp_path, export_format):
    model, arrays, _ = trained
    path = tmp_path / ("model.onnx" if export_format == "onnx" else "model.tflite")
    report = export.export(model, export_format, path, arrays["spectrogram"], arrays["spectrogram"][:30])
    assert report["cluster_agreement"] == 1.0 and report["max_probability_difference"] < 1e-4
    assert path.stat().st_size == report["bytes"] > 0
    assert "FlexDelegate" not in report["operators"] and not any(op.startswith("Flex") for op in report["operators"])


def test_int8_export_runs_in_tflite_micro_with_builtin_operators(trained, tmp_path):
    model, arrays, _ = trained
    path = tmp_path / "model_int8.tflite"
    report = export.export(model, "tflite-int8", path, arrays["spectrogram"], arrays["spectrogram"][:40])
    assert report["interpreter"] == "tflite-micro"
    assert set(report["operators"]) <= TFLM_INT8_OPERATORS and "DEQUANTIZE" not in report["operators"]
    assert report["float_tensors"] == []  # full integer: no operator reads or writes float
    assert len(report["activation_limits"]) == len(model.encoder_channels)
    assert report["cluster_agreement"] >= 0.9
    assert 10_000 < report["arena_bytes"] < 4_000_000
    source, header, _ = report["c_files"]
    text = open(source).read()
    assert f"uvac_model_len = {report['bytes']};" in text and text.count("0x") == report["bytes"]
    assert "extern const unsigned char uvac_model[];" in open(header).read()


@pytest.mark.skipif(shutil.which("g++") is None, reason="needs a C++ compiler")
def test_c_files_compile_and_carry_the_model_and_an_example(trained, tmp_path):
    model, arrays, _ = trained
    report = export.export(model, "tflite-int8", tmp_path / "uvac_model.tflite", arrays["spectrogram"],
                           arrays["spectrogram"][:10])
    assert sorted(os.path.basename(path) for path in report["c_files"]) == [
        "uvac_model.cc", "uvac_model.h", "uvac_model_example.h"]
    driver = tmp_path / "check.cc"
    driver.write_text(
        '#include <cstdint>\n#include <cstdio>\n#include "uvac_model.h"\n#include "uvac_model_example.h"\n'
        "int main() {\n"
        '  printf("%u %.4s %d %d %d %d\\n", uvac_model_len, reinterpret_cast<const char*>(uvac_model) + 4,\n'
        "         static_cast<int>(sizeof(uvac_model_example_input)) == UVAC_INPUT_BINS * UVAC_INPUT_FRAMES,\n"
        "         UVAC_MODEL_EXAMPLE_CLUSTER, UVAC_ARENA_BYTES, static_cast<int>(\n"
        "         reinterpret_cast<std::uintptr_t>(uvac_model) % 16 == 0));\n}\n")
    length, identifier, shape_matches, cluster, arena, aligned = compile_and_run(driver, "uvac_model.cc")
    # The flatbuffer's file identifier sits at byte 4; the example's cluster is in range.
    assert (int(length), identifier, shape_matches, aligned) == (report["bytes"], "TFL3", "1", "1")
    assert 0 <= int(cluster) < model.num_clusters and int(arena) == report["arena_bytes"]


@pytest.mark.slow
def test_tiny_architecture_fits_a_small_microcontroller(tmp_path):
    collection = datasets.load_audio().subset(range(0, 3000, 25))
    arrays = pipeline.extract_features(collection, progress=False)
    keras.utils.set_random_seed(0)
    # The compact encoder as shipped; a small decoder and mixture keep the test fast (neither is exported).
    model = UVAC(**ARCHITECTURES["tiny"], decoder_channels=(8, 4), num_clusters=4, latent_dim=4, seed=0)
    model.compile(optimizer="adam")
    model.fit(pipeline.feature_dataset(collection, batch_size=20), epochs=2, verbose=0)
    training.fit_prior_to_codes(model, arrays)
    report = export.export(model, "tflite-int8", tmp_path / "tiny.tflite", arrays["spectrogram"],
                           arrays["spectrogram"][:60], activation_percentile=None)
    # Plain ReLUs fuse into the convolutions and "same" padding needs no PAD: one operator per block.
    assert report["activation_percentile"] is None
    assert {"MEAN", "CONV_2D", "FULLY_CONNECTED", "SOFTMAX"} <= set(report["operators"]) <= TFLM_INT8_OPERATORS
    assert not {"PAD", "RELU", "MINIMUM", "TANH", "LOGISTIC"} & set(report["operators"])
    assert report["float_tensors"] == []
    assert report["bytes"] < 40_000 and report["arena_bytes"] < 40_000
    # Two epochs leave near-even posteriors, where any rounding flips the top cluster; so the test bounds the
    # probabilities' error (the trained presets' agreement is in benchmarks/results/compact_models.json).
    assert report["max_probability_difference"] < 0.1
    # By default a compact encoder's export keeps the percentile that agrees best on the calibration clips.
    searched = export.export(model, "tflite-int8", tmp_path / "searched.tflite", arrays["spectrogram"],
                             arrays["spectrogram"][:10])
    agreements = searched["percentile_search_calibration_agreement"]
    assert list(agreements) == [str(candidate) for candidate in export.COMPACT_PERCENTILES]
    assert agreements[str(searched["activation_percentile"])] == max(agreements.values())


@pytest.mark.parametrize("feature_config", [FeatureConfig(),
                                            FeatureConfig(magnitude="log", log_range_db=40.0, noise_margin_db=6.0),
                                            FeatureConfig(magnitude="linear", noise_margin_db=None)])
def test_raw_audio_export_matches_keras_on_waveforms(trained, tmp_path, feature_config):
    model, arrays, _ = trained
    if feature_config != FeatureConfig():
        trained_weights = model.get_weights()
        model = UVAC.from_config({**model.get_config(), "feature_config": feature_config.get_config()})
        model.latent_mean(arrays)
        model.set_weights(trained_weights)
    collection = datasets.load_audio().subset(range(0, 3000, 300))
    waveforms = np.stack([w for w, _ in pipeline.waveform_dataset(collection, feature_config).as_numpy_iterator()])
    report = export.export(model, "tflite-audio", tmp_path / "audio.tflite", None, waveforms)
    assert report["cluster_agreement"] == 1.0 and report["max_probability_difference"] < 1e-4
    assert "RFFT2D" not in report["operators"]


def test_tflm_audio_runs_from_raw_samples_to_clusters_in_tflite_micro(trained, tmp_path):
    model, arrays, _ = trained
    collection = datasets.load_audio().subset(range(0, 3000, 150))
    windows = list(pipeline.waveform_dataset(collection, FeatureConfig()).as_numpy_iterator())
    check = {"waveform": np.stack([window for window, _ in windows]), "length": np.array([n for _, n in windows])}
    assert check["length"].min() < 16000  # clips shorter than the window: the length input matters
    report = export.export(model, "tflm-audio", tmp_path / "uvac_model.tflite", arrays["spectrogram"], check)
    frontend = report["frontend"]
    # The front end is float and builtin; TFLite Micro loaded and ran it (its runtime refuses unknown operators).
    assert {"FULLY_CONNECTED", "SQRT", "REDUCE_MIN", "REDUCE_MAX", "SELECT_V2"} <= set(frontend["operators"])
    assert frontend["bytes"] == os.path.getsize(tmp_path / "uvac_model_frontend.tflite")
    assert frontend["macs"] == 99 * 320 * 256 and 0 < frontend["arena_bytes"] < 4_000_000
    assert set(report["operators"]) <= TFLM_INT8_OPERATORS and report["float_tensors"] == []
    assert report["clips_checked"] == 20 and report["cluster_agreement"] >= 0.9
    # The front end in TFLite Micro computes the pipeline's features, padding and all.
    runner = export.micro_audio.FrontendRunner(open(frontend["path"], "rb").read())
    device = runner(check["waveform"][:4], check["length"][:4])
    np.testing.assert_allclose(device, arrays["spectrogram"][:4 * 6:6], atol=1e-4)
    assert sorted(os.path.basename(path) for path in report["c_files"]) == [
        "uvac_model.cc", "uvac_model.h", "uvac_model_audio_example.h", "uvac_model_example.h",
        "uvac_model_frontend.cc", "uvac_model_frontend.h"]
    if shutil.which("g++") is None:
        return
    driver = tmp_path / "check_audio.cc"
    driver.write_text(
        '#include <cstdio>\n#include "uvac_model_frontend.h"\n#include "uvac_model_audio_example.h"\n'
        "int main() {\n"
        '  printf("%u %.4s %d %d\\n", uvac_frontend_len, reinterpret_cast<const char*>(uvac_frontend) + 4,\n'
        "         static_cast<int>(sizeof(uvac_audio_example_samples) / sizeof(float)) == UVAC_FRONTEND_SAMPLES,\n"
        "         UVAC_FRONTEND_ARENA_BYTES);\n}\n")
    length, identifier, shape_matches, arena = compile_and_run(driver, "uvac_model_frontend.cc")
    assert (int(length), identifier, shape_matches, int(arena)) == (frontend["bytes"], "TFL3", "1",
                                                                    frontend["arena_bytes"])


def test_uvac_export_command_reports_parity(trained, tmp_path, capsys):
    _, _, model_path = trained
    data = tmp_path / "data"
    data.mkdir()
    for path in datasets.load_audio().paths[::100]:
        os.symlink(path, data / os.path.basename(path))
    out, report_path = tmp_path / "cli.tflite", tmp_path / "report.json"
    assert cli.main(["-q", "export", "--model", str(model_path), "--format", "tflite", "--out", str(out),
                     "--data", str(data), "--json", str(report_path)]) == 0
    printed = capsys.readouterr().out
    assert "100.00% same cluster" in printed and "operators (ai-edge-litert)" in printed
    assert json.loads(report_path.read_text())["cluster_agreement"] == 1.0
