"""A synthetic "CLIP world": a procedural image domain, a tiny CLIP pretrained on it, and downstream
datasets in the CoOp layout, so the whole base-to-novel study runs on a laptop CPU.

- ``spec``: the world (attribute vocabulary, categories and their three kinds of names);
- ``render``: deterministic 32x32 images of a category with nuisance variation;
- ``captions``: pretraining captions (attributes; names of the "known" categories only);
- ``pretrain``: contrastive pretraining of ``clip.model.CLIP``, cached outside the repository;
- ``build``: writes the datasets and the attribute file (through the attribute pipeline's import);
- ``report``: novel accuracy split by name kind;
- ``study``: the benchmark (plan, run with progress, statistics, calibration targets, tables), with
  ``progress`` (compact progress lines with ETAs) and ``figures`` (the world, Base vs Novel);
- ``__main__``: the command line. Calibration record: ``benchmarks/world_calibration.md``.
"""
