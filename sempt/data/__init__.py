"""Data side of the project: the CoOp reader core (``sempt.data.coop``) and shipped class names."""
