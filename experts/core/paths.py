"""Where one tinyexperts home keeps its ontology, datasets and registry."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# the name of an imported ontology (`build --experts ontology --ontology FILE.ttl`): its
# folder under `Paths.ontologies`, `ask --ontology NAME`, `/v1/ask {"ontology": NAME}`
ONTOLOGY_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,39}$"


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

    @property
    def ontologies(self) -> Path:
        """Imported ontologies, one folder each (a copy of the file, a registry)."""
        return self.home / "ontologies"
