"""Regenerates the README's result tables from the committed JSON results.

    python benchmarks/update_readme.py
"""

import json
import os
import re

from keras_uvac.metrics import format_table

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results")


def baselines_section():
    with open(os.path.join(RESULTS, "baselines_fsdd.json")) as handle:
        return format_table(json.load(handle)["rows"])


def feature_benchmark_section():
    with open(os.path.join(RESULTS, "feature_pipeline.json")) as handle:
        result = json.load(handle)
    return ("| path | clips/s |\n| --- | --- |\n"
            f"| tf.data pipeline (batched STFT, parallel decode) | {result['tf_data_pipeline_clips_per_s']:.0f} |\n"
            f"| per-file SciPy loop | {result['scipy_per_file_loop_clips_per_s']:.0f} |\n\n"
            f"Ratio {result['speedup']:.2f}x on {result['machine']['cpus']} cores "
            f"(`{result['command']}`).")


SECTIONS = {"baselines": baselines_section, "feature-benchmark": feature_benchmark_section}


def main():
    path = os.path.join(ROOT, "README.md")
    with open(path) as handle:
        text = handle.read()
    for name, build in SECTIONS.items():
        pattern = re.compile(f"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.DOTALL)
        body = build()
        text = pattern.sub(lambda match, body=body: match.group(1) + body + "\n" + match.group(2), text)
    with open(path, "w") as handle:
        handle.write(text)
    print(f"updated {path}")


if __name__ == "__main__":
    main()
