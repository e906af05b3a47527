"""The dev identity provider as one object: its directory, its runtime state and its signing key."""

from dataclasses import dataclass, field

from .directory import Directory
from .state import State
from .tokens import Signer


@dataclass
class Provider:
    """Everything the endpoints work with, kept in the Flask app's extensions."""

    directory: Directory
    state: State = field(default_factory=State)
    signer: Signer = field(default_factory=Signer)
