"""Output presets for editorial and review media, as ffmpeg-python keyword arguments.

Colour: untagged RGB is converted with the BT.709 matrix to video (limited) range, and a
trailing ``setparams`` pins the tags, because ffmpeg >= 7.1 drops ``-color_*`` flags on
untagged frames.
"""

from __future__ import annotations

BT709_TAGS = {"color_primaries": "bt709", "color_trc": "bt709", "colorspace": "bt709", "color_range": "tv"}


def to_bt709(stream, pix_fmt: str):
    """RGB in, BT.709 limited-range YUV out, tagged."""
    stream = stream.filter("scale", out_color_matrix="bt709", out_range="tv")
    stream = stream.filter("format", pix_fmt)
    return tag_bt709(stream)


def tag_bt709(stream):
    return stream.filter("setparams", color_primaries="bt709", color_trc="bt709", colorspace="bt709", range="tv")


#: the ProRes quantiser of takes and masters (lower is finer; see prores_hq)
PRORES_QSCALE = 4


def prores_hq(timecode: str, reel: str | None = None) -> dict:
    """ProRes 422 HQ, 10-bit 4:2:2, in a QuickTime with a timecode track and a reel name.

    A fixed quantiser (``PRORES_QSCALE``) rather than prores_ks's rate control, which encodes
    every slice at several quantisers to hit the profile's nominal bit rate. On the demo's
    photographs at 720p (bench/bench_prores.py): a quarter of the CPU and +0.7 dB on clean
    frames at 1.2x the bit rate; with film grain, which the rate control smears to stay at
    its nominal rate, an eighth of the CPU and +6.8 dB at 2.3x the bit rate.
    """
    args = {
        "vcodec": "prores_ks",
        "profile:v": 3,
        "qscale:v": PRORES_QSCALE,
        "vendor": "apl0",
        "pix_fmt": "yuv422p10le",
        "timecode": timecode,
        "f": "mov",
        **BT709_TAGS,
    }
    if reel:
        args["metadata:s:v:0"] = f"reel_name={reel}"
    return args


def lossless_rgb() -> dict:
    """Ut Video in Matroska, planar RGB: the take's lossless frames, bit-exact to what the generator made.

    Ut Video rather than FFV1, the archival codec: the take's frames are a working copy made on
    every generation, and on the demo's photographs at 720p (bench/bench_lossless.py) Ut Video
    needs 3.6x less CPU than FFV1 to encode and 3.0x less to decode, for 1.33x the bytes.
    Median prediction packs tighter than the default (left) at the same speed.
    """
    return {"vcodec": "utvideo", "pred": "median", "pix_fmt": "gbrp", "f": "matroska"}


def review_h264(patchable: bool = False) -> dict:
    """H.264 for review. ``patchable``: the pieces of a review copy, whose frames a later render
    swaps in place for those of a new piece of the same length (racines.render.quicktime): a
    fixed pattern of frame types (no adaptive B-frames, no key frame at a scene cut) gives two
    pieces of the same length the same key frames and timing, whatever they show."""
    args = {
        "vcodec": "libx264",
        "crf": 20,
        "preset": "veryfast",
        "pix_fmt": "yuv420p",
        "movflags": "+faststart",
        "f": "mp4",
        **BT709_TAGS,
    }
    if patchable:
        args["x264-params"] = "b-adapt=0:scenecut=0"
    return args
