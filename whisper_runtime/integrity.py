"""Weight files checked against the sizes and sha256 digests recorded for them, before any is loaded.

The export records every file it writes in the model's manifest (`files`: bytes, `sha256`: digest,
paths relative to the repository); a version directory added later (`triton_server.rollout`)
records its own files in its `version.json` the same way. A file that is truncated, altered or
not recorded at all is refused with CorruptWeightsError naming it, so a damaged copy never
reaches ONNX Runtime and the version already serving keeps serving.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from whisper_runtime.errors import CorruptWeightsError, ModelFilesError
from whisper_runtime.repository import file_sha256

SIZES_KEY = "files"
DIGESTS_KEY = "sha256"


@dataclass(frozen=True)
class WeightRecord:
    """What a manifest records of the files under the repository `root`."""

    root: Path
    source: Path  # the manifest it was read from, named in errors
    sizes: dict[str, int]
    digests: dict[str, str]

    @classmethod
    def read(cls, manifest: Path, root: Path) -> WeightRecord:
        """The record in `manifest`; ModelFilesError when it is missing or records no digests."""
        try:
            content = json.loads(manifest.read_text())
            sizes, digests = content[SIZES_KEY], content[DIGESTS_KEY]
        except FileNotFoundError as exc:
            raise ModelFilesError(f"{manifest} does not exist: run the export first (make export)") from exc
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ModelFilesError(f"{manifest} records no file sizes and digests: export again") from exc
        return cls(root, manifest, dict(sizes), dict(digests))

    def verify(self, path: Path) -> Path:
        """`path`, once its size and sha256 match the record; CorruptWeightsError naming it otherwise."""
        name = str(path.relative_to(self.root))
        if name not in self.digests:
            raise CorruptWeightsError(f"{path} is not recorded in {self.source}: refusing to load it")
        if not path.is_file():
            raise ModelFilesError(f"{path} does not exist: run the export first (make export)")
        size = path.stat().st_size
        if size != self.sizes.get(name):
            raise CorruptWeightsError(
                f"{path} is {size} bytes where {self.source} records {self.sizes.get(name)}: truncated or replaced"
            )
        if file_sha256(path) != self.digests[name]:
            raise CorruptWeightsError(f"{path} does not match its sha256 in {self.source}: the file is corrupted")
        return path
