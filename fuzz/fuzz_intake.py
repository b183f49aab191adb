"""atheris (libFuzzer) harness for everything that parses client bytes: the binary header, the JSON messages,
the base64 and the JPEG header and decoder, into a fixed-size slot as the front does.

    .venv/bin/python fuzz/fuzz_intake.py -runs=20000 [-max_len=65536] [corpus_dir]

Any exception other than the service's own refusals (ProtocolError, msgspec.DecodeError) is a finding;
a decode into more memory than the slot would be caught by libFuzzer's -rss_limit_mb."""

from __future__ import annotations

import sys

import atheris
import msgspec
import numpy as np
import turbojpeg  # noqa: F401  (imported first so that only gazepipe's own code is instrumented)

with atheris.instrument_imports(include=["gazepipe"]):
    from gazepipe.front.jpeg import base64_payload, decode_into, plan_decode
    from gazepipe.protocol import ProtocolError, json_decoder, parse_binary_frame

SLOT_PIXELS = 320 * 240
_slot = np.zeros(SLOT_PIXELS, np.uint8)


def one_input(data: bytes) -> None:
    if not data:
        return
    mode, body = data[0] % 3, data[1:]
    try:
        if mode == 0:  # binary frame: header, then the JPEG
            jpeg = parse_binary_frame(body).jpeg
        elif mode == 1:  # text message, possibly a frame with a base64 image
            try:
                text = body.decode()  # the WebSocket layer refuses text messages that are not UTF-8
            except UnicodeDecodeError:
                return
            message = json_decoder.decode(text)
            image = getattr(message, "image", None)
            if image is None:
                return
            jpeg = memoryview(base64_payload(image))
        else:  # raw JPEG bytes
            jpeg = memoryview(body)
        plan = plan_decode(jpeg, 4096, SLOT_PIXELS)
        assert plan.decoded_width * plan.decoded_height <= SLOT_PIXELS
        view = _slot[:plan.decoded_width * plan.decoded_height].reshape(plan.decoded_height, plan.decoded_width)
        decode_into(jpeg, plan, view)
    except (ProtocolError, msgspec.DecodeError):
        pass


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
