"""The mail store: synced folders and messages (raw and indexed), threads, for the sync engine and mail pages."""

from . import models  # noqa: F401  (the models join the metadata the migrations are checked against)
