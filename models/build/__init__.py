"""Recipe that builds the built-in answer model from nothing (``python -m models.build``).

Training-only dependencies (torch, kaldifst, kaldi-native-fbank) are imported
lazily by the steps that need them; they come from the ``train`` extra.
"""

RECIPE_VERSION = "13"
