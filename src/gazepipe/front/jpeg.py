"""JPEG intake: read the header, refuse what is too large, decode to greyscale straight into a ring slot."""

from __future__ import annotations

import binascii
import ctypes
import ctypes.util
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pybase64

from gazepipe.protocol import ProtocolError

_TJPF_GRAY = 6  # turbojpeg.h: TJPF_GRAY
_TJERR_WARNING = 0  # turbojpeg.h: tjGetErrorCode() of a warning (the stream is usable)


class _Decompressor:
    """libjpeg-turbo's TurboJPEG API through ctypes, with one decompressor handle kept for the process.

    PyTurboJPEG creates and destroys a handle on every call and wraps each buffer in NumPy and ctypes objects:
    about 0.05 ms of the front's CPU per frame for its header read and decode. A handle is not thread-safe: the
    front decodes on its event loop's thread only."""

    def __init__(self) -> None:
        lib = ctypes.CDLL(ctypes.util.find_library("turbojpeg") or "libturbojpeg.so.0")
        lib.tjInitDecompress.restype = ctypes.c_void_p
        int_p = ctypes.POINTER(ctypes.c_int)
        lib.tjDecompressHeader3.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_ulong,
                                            int_p, int_p, int_p, int_p]
        lib.tjDecompress2.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_void_p,
                                      ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.tjDestroy.argtypes = [ctypes.c_void_p]
        lib.tjGetErrorCode.argtypes = [ctypes.c_void_p]
        lib.tjGetErrorStr2.argtypes = [ctypes.c_void_p]
        lib.tjGetErrorStr2.restype = ctypes.c_char_p
        self._lib = lib
        self._handle = lib.tjInitDecompress()
        if not self._handle:
            raise OSError("libjpeg-turbo: tjInitDecompress failed")
        self._header = (ctypes.c_int(), ctypes.c_int(), ctypes.c_int(), ctypes.c_int())
        self._header_refs = tuple(ctypes.byref(v) for v in self._header)

    def _error(self) -> tuple[bool, str]:
        """Whether the last call's problem was only a warning, and libjpeg's message. The handle is replaced:
        libjpeg-turbo 2.1 keeps a warning's flag set on it, and every later call would fail."""
        message = self._lib.tjGetErrorStr2(self._handle) or b"unknown error"
        warning = self._lib.tjGetErrorCode(self._handle) == _TJERR_WARNING
        self._lib.tjDestroy(self._handle)
        self._handle = self._lib.tjInitDecompress()
        if not self._handle:
            raise MemoryError("libjpeg-turbo: tjInitDecompress failed")
        return warning, message.decode(errors="replace")

    def size(self, jpeg: bytes | memoryview) -> tuple[int, int]:
        """(width, height) from the header; one libjpeg only warns about still gives its size (OSError else), and
        one that stops before the frame's size gives (0, 0)."""
        for value in self._header:
            value.value = 0
        if self._lib.tjDecompressHeader3(self._handle, _address(jpeg), len(jpeg), *self._header_refs) != 0:
            warning, message = self._error()
            if not warning:
                raise OSError(message)
        return self._header[0].value, self._header[1].value

    def to_grey(self, jpeg: bytes | memoryview, out: np.ndarray) -> None:
        """Decodes into `out`, C-contiguous (height, width) uint8 at one of the JPEG's scaled sizes (libjpeg-turbo
        picks the scale from it); a warning (a truncated or corrupt stream) is an error too (OSError)."""
        height, width = out.shape
        if self._lib.tjDecompress2(self._handle, _address(jpeg), len(jpeg), out.ctypes.data, width, 0, height,
                                   _TJPF_GRAY, 0) != 0:
            raise OSError(self._error()[1])


def _address(buffer: bytes | memoryview) -> int:
    """The address of a (possibly read-only) buffer's bytes, valid while `buffer` lives."""
    address: int = np.frombuffer(buffer, np.uint8).__array_interface__["data"][0]
    return address


_turbo = _Decompressor()
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
    try:  # a header libjpeg only warns about still gives its size; the decode reports real corruption
        width, height = _turbo.size(jpeg)
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
    """Decodes to greyscale into `out`, a (decoded_height, decoded_width) view of a ring slot, from one thread
    only (`_Decompressor`). A truncated or corrupt stream, which libjpeg-turbo reports as a warning, is refused."""
    if out.shape != (plan.decoded_height, plan.decoded_width) or not out.flags.c_contiguous:
        raise ValueError(f"a {plan.decoded_width}x{plan.decoded_height} decode needs a contiguous array that size")
    try:
        _turbo.to_grey(jpeg, out)
    except OSError as exc:
        raise ProtocolError("bad_jpeg", f"JPEG data is corrupt: {exc}") from None


def decode_grey(jpeg: bytes | memoryview, max_side: int = 4096, slot_pixels: int = 1 << 30) -> np.ndarray:
    """A JPEG decoded to greyscale exactly as the front decodes it into a ring slot, as a new array: how the
    benchmarks feed the tracker the pixels a worker would see."""
    plan = plan_decode(jpeg, max_side, slot_pixels)
    grey = np.empty((plan.decoded_height, plan.decoded_width), dtype=np.uint8)
    decode_into(jpeg, plan, grey)
    return grey
