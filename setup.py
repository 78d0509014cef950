"""Installs SemPT's dependencies and its ``sempt`` package (engine and shared model code).

The repository runs from its root, like the CoOp family: ``train.py``, ``trainers/`` and ``datasets/``
are used in place and are deliberately not installed (a top-level ``datasets`` package would shadow the
popular library of that name).
"""
from setuptools import find_packages, setup

setup(
    name="sempt",
    version="0.1.0",
    description="Semantic Prompt Tuning for vision-language models on a Dassl-compatible engine",
    packages=find_packages(include=["sempt", "sempt.*"]),
    package_data={"sempt": ["data/*.json"]},
    python_requires=">=3.9",
    install_requires=[
        "torch>=2.1",
        "torchvision>=0.16",
        "openai-clip>=1.0",
        "setuptools<81",  # openai-clip imports pkg_resources
        "yacs>=0.1.8",
        "tabulate>=0.9",
        "tqdm>=4.60",
        "numpy>=1.22",
        "Pillow>=9",
    ],
    extras_require={"llm": ["openai>=1.0"], "plot": ["matplotlib>=3.5"],
                    "test": ["pytest>=7", "openai>=1.0", "matplotlib>=3.5"]},
)
