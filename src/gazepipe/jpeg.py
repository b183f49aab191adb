"""JPEG intake: read the header, refuse what is too large, decode to greyscale straight into a ring slot."""

from __future__ import annotations

import binascii
import warnings
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from turbojpeg import TJPF_GRAY, TurboJPEG

from gazepipe.protocol import ProtocolError

_turbo = TurboJPEG()
# libjpeg-turbo scales during decoding at no extra cost; these are the reductions we allow, largest first.
_SCALES = (Fraction(1), Fraction(1, 2), Fraction(1, 4), Fraction(1, 8))
_DATA_URL_PREFIX = "base64,"


@dataclass(frozen=True)
class JpegPlan:
    """How a JPEG will be decoded: its size as sent and the size it decodes to."""

    width: int
    height: int
    scale: Fraction

    @property
    def decoded_width(self) -> int:
        return -(-self.width * self.scale.numerator // self.scale.denominator)

    @property
    def decoded_height(self) -> int:
        return -(-self.height * self.scale.numerator // self.scale.denominator)


def base64_payload(image: str) -> bytes:
    """The JPEG bytes of a `data:image/jpeg;base64,...` URL (a bare base64 string is accepted too)."""
    start = image.find(_DATA_URL_PREFIX, 0, 64)
    payload = image[start + len(_DATA_URL_PREFIX):] if start >= 0 else image
    try:
        return binascii.a2b_base64(payload, strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise ProtocolError("bad_base64", f"image is not valid base64: {exc}") from None


def plan_decode(jpeg: bytes | memoryview, max_side: int, slot_pixels: int) -> JpegPlan:
    """Reads only the JPEG header and picks the decode scale; nothing the size of the image is allocated."""
    if len(jpeg) < 4 or bytes(jpeg[:2]) != b"\xff\xd8":
        raise ProtocolError("not_jpeg", "image is not a JPEG (no SOI marker)")
    try:
        width, height, _subsample, _colorspace = _turbo.decode_header(jpeg)
    except OSError as exc:
        raise ProtocolError("bad_jpeg", f"JPEG header unreadable: {exc}") from None
    if width <= 0 or height <= 0:
        raise ProtocolError("bad_jpeg", "JPEG has no pixels")
    if width > max_side or height > max_side:
        raise ProtocolError("frame_too_large", f"{width}x{height} exceeds the {max_side}-pixel side limit")
    for scale in _SCALES:
        plan = JpegPlan(width, height, scale)
        if plan.decoded_width * plan.decoded_height <= slot_pixels:
            return plan
    raise ProtocolError("frame_too_large", f"{width}x{height} does not fit a ring slot even at 1/8 scale")


def decode_into(jpeg: bytes | memoryview, plan: JpegPlan, out: np.ndarray) -> None:
    """Decodes to greyscale into `out`, a (decoded_height, decoded_width) view of a ring slot.

    Call it from one thread only: libjpeg-turbo reports a truncated or corrupt stream as a warning, which
    PyTurboJPEG turns into a Python warning, and catching those is process-global."""
    scaling = (plan.scale.numerator, plan.scale.denominator)
    target = out[:, :, np.newaxis]  # PyTurboJPEG writes in place only into an (h, w, 1) array
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            decoded = _turbo.decode(jpeg, pixel_format=TJPF_GRAY, scaling_factor=scaling, dst=target)
        except OSError as exc:
            raise ProtocolError("bad_jpeg", f"JPEG data is corrupt: {exc}") from None
    if caught:
        raise ProtocolError("bad_jpeg", f"JPEG data is corrupt: {caught[0].message}")
    if decoded is not target:
        raise ProtocolError("bad_jpeg", "JPEG decoded to an unexpected size")
