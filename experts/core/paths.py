"""Where one tinyexperts home keeps its ontology, datasets and registry."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class Paths:
    home: Path

    @property
    def ontology(self) -> Path:
        return self.home / "ontology" / "automotive.json"

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def registry(self) -> Path:
        return self.home / "registry"
