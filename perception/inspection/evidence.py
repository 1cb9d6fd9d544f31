"""Frames kept as evidence: PNG files named by their own sha256 under data_dir/evidence/.

Content-addressed, so a hold or work order that cites a frame by digest can always be checked
against the file, the same frame is stored once, and nothing is ever overwritten.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

_NAME = re.compile(r"^([0-9a-f]{64})\.png$")


@dataclass(frozen=True, slots=True)
class StoredFrame:
    sha256: str  # of the PNG file's bytes
    uri: str  # the file's name in the store: what Evidence.uri holds, GET /evidence/{uri}


class EvidenceStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, image: np.ndarray) -> StoredFrame:
        """Store a uint8 frame ((H, W) grey or (H, W, 3) colour) as PNG; blocking file I/O."""
        buffer = io.BytesIO()
        # Fast compression: this runs between a detection and the halt it causes (1.2 ms
        # instead of 1.7 ms CPU for a 128 px frame, 10 % more bytes).
        Image.fromarray(image).save(buffer, format="PNG", compress_level=1)
        data = buffer.getvalue()
        digest = hashlib.sha256(data).hexdigest()
        name = f"{digest}.png"
        target = self.root / name
        if not target.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            # Written whole, then renamed: a reader never sees half a frame.
            fd, tmp = tempfile.mkstemp(dir=self.root, suffix=".part")
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        return StoredFrame(digest, name)

    def path(self, uri: str) -> Path | None:
        """The file of a stored frame, by its name; None for anything else."""
        if _NAME.match(uri) is None:
            return None
        path = self.root / uri
        return path if path.is_file() else None
