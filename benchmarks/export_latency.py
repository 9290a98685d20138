"""Per-clip inference latency of the shipped model's exports on this CPU.

Batch 1, the 128 x 99 features of bundled FSDD test clips already computed:
Keras float (the inference graph in a compiled tf.function), LiteRT float and
int8 (ai-edge-litert interpreter), ONNX Runtime, and TFLite Micro's host
interpreter (int8, for reference; a microcontroller is far slower). Each
runtime is timed over several windows of clips; medians are reported.

    python benchmarks/export_latency.py [--windows 7] [--clips 50]
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

import keras
import tensorflow as tf

import keras_uvac  # noqa: F401  (registers the model classes)
from keras_uvac import datasets, export, pipeline
from keras_uvac.atomic import atomic_path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAVED = os.path.join(ROOT, "saved_models")
EXPORTS = os.path.join(ROOT, "runs", "exports")


def timed_windows(run_one, clips, windows):
    run_one(clips[0])  # warm-up
    medians = []
    for _ in range(windows):
        seconds = []
        for clip in clips:
            start = time.perf_counter()
            run_one(clip)
            seconds.append(time.perf_counter() - start)
        medians.append(statistics.median(seconds))
    return {"median_ms": 1000 * statistics.median(medians), "window_medians_ms": [1000 * s for s in medians]}


def litert_runner(path):
    runner = export.TFLiteRunner(open(path, "rb").read())
    interpreter, input_details, output_details = runner.interpreter, runner.input, runner.output

    def run(clip):
        interpreter.set_tensor(input_details["index"], export.quantize(clip[None], input_details))
        interpreter.invoke()
        return interpreter.get_tensor(output_details["index"])

    return run, runner


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=os.path.join(SAVED, "uvac_fsdd.keras"))
    parser.add_argument("--windows", type=int, default=7)
    parser.add_argument("--clips", type=int, default=50)
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "export_latency.json"))
    args = parser.parse_args()

    model = keras.models.load_model(args.model)
    test = datasets.load_audio().split(seed=0)["test"]
    clips = pipeline.extract_features(test.subset(range(args.clips)), model.feature_config_object(),
                                      progress=False)["spectrogram"]
    inference = export.inference_model(model)
    compiled = tf.function(lambda x: inference(x, training=False), jit_compile=False)
    results = {"keras_float32": timed_windows(lambda clip: compiled(clip[None]).numpy(), clips, args.windows)}

    # The exports that `python benchmarks/export_shipped.py` wrote.
    stem = os.path.join(EXPORTS, os.path.splitext(os.path.basename(args.model))[0])
    float_run, _ = litert_runner(stem + ".tflite")
    results["litert_float32"] = timed_windows(float_run, clips, args.windows)
    int8_run, int8_runner = litert_runner(stem + "_int8.tflite")
    results["litert_int8"] = timed_windows(int8_run, clips, args.windows)

    import onnxruntime

    session = onnxruntime.InferenceSession(stem + ".onnx", providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    results["onnxruntime_float32"] = timed_windows(lambda clip: session.run(None, {name: clip[None]}), clips,
                                                   args.windows)
    micro = export.MicroRunner(open(stem + "_int8.tflite", "rb").read(), (int8_runner.input, int8_runner.output))
    results["tflite_micro_host_int8"] = timed_windows(lambda clip: micro(clip[None]), clips, args.windows)

    payload = {"what": "per-clip latency, batch 1, features precomputed, medians of window medians",
               "command": "python benchmarks/export_latency.py " + " ".join(sys.argv[1:]),
               "machine": {"processor": platform.processor() or platform.machine(), "cpus": os.cpu_count()},
               "clips_per_window": len(clips), "windows": args.windows, "results": results}
    with atomic_path(args.out) as temporary, open(temporary, "w") as handle:
        json.dump(payload, handle, indent=2)
    for runtime, result in results.items():
        print(f"{runtime}: {result['median_ms']:.2f} ms")


if __name__ == "__main__":
    main()
