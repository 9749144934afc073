"""Packages only (everything else is in pyproject.toml): mlpexport and its subpackages,
and the top-level matlab/ folder, the one source of the hand-written MATLAB code, shipped
as the package data of mlpexport.matlab, so the wheel holds the same bytes
(tests/test_matlab_folder.py)."""
from setuptools import find_packages, setup

setup(packages=find_packages(include=["mlpexport*"]) + ["mlpexport.matlab"],
      package_dir={"mlpexport.matlab": "matlab"},
      package_data={"mlpexport.matlab": ["*.m"],
                    "mlpexport.emit": ["onnx_node.js"]})  # the onnxruntime-node runner (check)
