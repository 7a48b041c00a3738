"""Helpers of the Transformers bridge (``python_bridges/transformers_bridge.py``).

One module per concern: ``environment`` (offline mode and the lazy imports of torch and
transformers), ``locate`` (a model reference → a local directory, never a download),
``devices`` (device and dtype), ``tasks`` (the pipelines the bridge runs and their answers as
wire values), ``memory`` (RSS, weight sizes, the memory budget, giving memory back),
``registry`` (models shared by every session of a worker, held by session references),
``generation`` (generation settings, seeds, streaming), ``embeddings`` (pooled vectors) and
``errors`` (what torch and transformers raise → bridge errors with categories).

Nothing here imports torch or transformers at import time: ``environment.force_offline()``
must run first, and the bridge imports them in ``initialize``.
"""
