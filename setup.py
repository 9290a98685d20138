"""Build hook: the shipped presets (`saved_models/` in the repository) travel in the wheel as
`keras_uvac/preset_files/`.

Everything else about the package is declared in pyproject.toml.
"""

import glob
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

PRESET_FILES = ("uvac_*.keras", "uvac_*.keras.card.json", "uvac_*.md")


class BuildWithPresets(build_py):
    def run(self):
        super().run()
        # An editable install reads the checkout's saved_models/ directly.
        if getattr(self, "editable_mode", False):
            return
        target = os.path.join(self.build_lib, "keras_uvac", "preset_files")
        os.makedirs(target, exist_ok=True)
        for pattern in PRESET_FILES:
            for path in glob.glob(os.path.join(os.path.dirname(os.path.abspath(__file__)), "saved_models", pattern)):
                shutil.copy2(path, target)


setup(cmdclass={"build_py": BuildWithPresets})
