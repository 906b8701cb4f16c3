"""Photos with face tags as photo managers leave them: digiKam's sidecars (written by
exiftool) and a photo whose tagged face the detector misses."""

from __future__ import annotations

import subprocess
from pathlib import Path


def sidecar(uri: str, width: int, height: int, box, name: str) -> Path:
    """IMG.jpg.xmp as digiKam writes it: an MWG face region (centre, normalised) and PersonInImage."""
    x, y, w, h = box
    esc = "".join("|" + c if c in ",]}|" else c for c in name)
    area = f"Area={{X={(x + w / 2) / width:.6f},Y={(y + h / 2) / height:.6f},W={w / width:.6f},H={h / height:.6f},Unit=normalized}}"
    info = f"-XMP-mwg-rs:RegionInfo={{AppliedToDimensions={{W={width},H={height},Unit=pixel}},RegionList=[{{{area},Name={esc},Type=Face}}]}}"
    photo = Path(uri)
    out = photo.with_name(photo.name + ".xmp")
    subprocess.run(
        ["exiftool", "-q", "-q", "-o", str(out), info, f"-XMP-iptcExt:PersonInImage={name}", str(photo)], check=True
    )
    return out


def dark_photo(seen: Path, path: Path) -> tuple[int, int, int, int]:
    """An underexposed 1600x1200 photo of the face in ``seen`` (where MTCNN, the default
    detector, finds none) written to ``path``; returns the face's box (found by the detector
    in the bright original)."""
    import numpy as np
    from PIL import Image, ImageEnhance

    from facepipe.core.deployment import settings
    from facepipe.models.detect import make_detector

    src = Image.open(seen).convert("RGB")
    canvas = Image.new("RGB", (1600, 1200), (90, 110, 90))
    canvas.paste(ImageEnhance.Brightness(src).enhance(0.12), (500, 300))
    canvas.save(path, "JPEG", quality=92)
    sb = make_detector(settings().detector).detect(np.asarray(src), 20)[0]
    return (500 + sb.x, 300 + sb.y, sb.w, sb.h)
