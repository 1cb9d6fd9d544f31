"""Load and validate the plant model file, turning every problem into one readable error."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from control.plant.models import PlantModel

DEMO_SITE = Path(__file__).with_name("demo_site.yaml")


class PlantModelError(ValueError):
    """The plant model file is missing, not YAML, or does not describe a valid plant."""


def load_plant(path: Path | str = DEMO_SITE) -> PlantModel:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PlantModelError(f"plant model file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise PlantModelError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise PlantModelError(f"{path}: expected a mapping at the top level")
    try:
        return PlantModel.model_validate(raw)
    except ValidationError as exc:
        lines = [
            f"  {'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
            for err in exc.errors()
        ]
        raise PlantModelError(f"{path}: invalid plant model:\n" + "\n".join(lines)) from None
