"""JPEG intake: read the header, refuse what is too large, decode to greyscale straight into a ring slot."""

from __future__ import annotations

import binascii
import warnings
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pybase64
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
    try:  # SIMD: 15x binascii's strict decode (0.11 ms for a 24 KB JPEG here), and as strict about padding
        return pybase64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ProtocolError("bad_base64", f"image is not valid base64: {exc}") from None


_PROGRESSIVE_SOF = {0xC2, 0xC6, 0xCA, 0xCE}
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def buffers_whole_image(jpeg: bytes | memoryview) -> bool:
    """True when libjpeg must hold every DCT coefficient of the image at once (2 bytes a sample, at any decode
    scale): a progressive JPEG, or a multi-scan one whose first scan lacks some of the frame's components.
    Walks the marker segments up to the first scan; never reads past the buffer."""
    data = bytes(jpeg[:65536]) if len(jpeg) > 65536 else bytes(jpeg)
    pos, components = 2, 0
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return False  # not a marker where one belongs: the decoder will report it
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        if marker in _SOF:
            if marker in _PROGRESSIVE_SOF:
                return True
            components = data[pos + 9] if pos + 9 < len(data) else 0
        elif marker == 0xDA:  # start of scan: its component count
            scan_components = data[pos + 4] if pos + 4 < len(data) else 0
            return components > 1 and scan_components < components
        if length < 2:
            return False
        pos += 2 + length
    return False


def plan_decode(jpeg: bytes | memoryview, max_side: int, slot_pixels: int,
                max_buffered_pixels: int | None = None) -> JpegPlan:
    """Reads only the JPEG header and picks the decode scale; nothing the size of the image is allocated.

    A progressive (or multi-scan) JPEG makes libjpeg allocate coefficient buffers for the whole image whatever
    the scale, so those are refused above `max_buffered_pixels` (default: `slot_pixels`)."""
    if len(jpeg) < 4 or bytes(jpeg[:2]) != b"\xff\xd8":
        raise ProtocolError("not_jpeg", "image is not a JPEG (no SOI marker)")
    try:
        # A header libjpeg warns about still decodes its size; the decode itself reports real corruption.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            width, height, _subsample, _colorspace = _turbo.decode_header(jpeg)
    except OSError as exc:
        raise ProtocolError("bad_jpeg", f"JPEG header unreadable: {exc}") from None
    if width <= 0 or height <= 0:
        raise ProtocolError("bad_jpeg", "JPEG has no pixels")
    if width > max_side or height > max_side:
        raise ProtocolError("frame_too_large", f"{width}x{height} exceeds the {max_side}-pixel side limit")
    limit = slot_pixels if max_buffered_pixels is None else max_buffered_pixels
    if width * height > limit and buffers_whole_image(jpeg):
        raise ProtocolError("frame_too_large", f"progressive or multi-scan JPEG of {width}x{height} exceeds the "
                                               f"{limit}-pixel limit for such images")
    return fit_slot(width, height, slot_pixels)


def fit_slot(width: int, height: int, slot_pixels: int) -> JpegPlan:
    """The largest of the allowed reductions at which a `width` x `height` frame fits a ring slot."""
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


def decode_grey(jpeg: bytes | memoryview, max_side: int = 4096, slot_pixels: int = 1 << 30) -> np.ndarray:
    """A JPEG decoded to greyscale exactly as the front decodes it into a ring slot, as a new array: how the
    benchmarks feed the tracker the pixels a worker would see."""
    plan = plan_decode(jpeg, max_side, slot_pixels)
    grey = np.empty((plan.decoded_height, plan.decoded_width), dtype=np.uint8)
    decode_into(jpeg, plan, grey)
    return grey
