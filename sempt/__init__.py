"""SemPT: Semantic Prompt Tuning for vision-language models, on a Dassl-compatible engine.

Package map (each concept lives in the module its name suggests):

- ``sempt.backend``         picks the real ``dassl`` package or the built-in engine; trainers and
                            dataset readers import every Dassl name from here.
- ``sempt.engine``          the built-in engine with Dassl's interface (config, data, trainer,
                            optim, evaluation, utils).
- ``sempt.checkpoint``      safe (``weights_only``) and atomic checkpoint files.
- ``sempt.clip_loader``     CLIP by name, from the CLIP cache, or from any local file.
- ``sempt.text_encoder``    CLIP's text tower fed with token embeddings (prompts).
- ``sempt.prompt_learner``  CoOp-style learnable context.
- ``sempt.prompt_trainer``  the shared trainer skeleton every prompt-learning method builds on.
- ``sempt.templates``       hand-crafted prompt templates per dataset.
- ``sempt.data``            CoOp-compatible reader core (splits, few-shot cache, base/new).
- ``sempt.results``         finding test results in run logs (used by ``parse_test_res.py``).
- ``sempt.testing``         tiny random CLIP and miniature datasets for tests and demos.
- ``sempt.predict``         ``Predictor`` and ``python -m sempt.predict``: a trained run's top-k classes per image.
- ``sempt.prompts``         ``python -m sempt.prompts``: nearest words of learned contexts, drift, export.
"""

__version__ = "0.1.0"

import warnings as _warnings

# the `clip` package imports pkg_resources, which warns on every import; it is not ours to fix
_warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)


def __getattr__(name):  # ``from sempt import Predictor`` without importing torch and the trainers up front
    if name == "Predictor":
        from sempt.predict import Predictor
        return Predictor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
