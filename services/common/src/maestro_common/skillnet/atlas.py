"""The glyph atlas that turns tty character codes into pixels: 6x6 grey-level coverage per byte value.

CDGPT5 renders each character of the 12x12 crop as a 6x6 bitmap tinted by its colour, giving a 72x72
RGB image. The atlas (`glyph_atlas.json`, package data) holds that bitmap for every byte value:
printable ASCII (32..126) drawn in DejaVu Sans Mono, every other value blank. It is fixed data, so
the rendering is identical on every machine; `render_glyph_atlas` rebuilds it from a font file
(Pillow needed only for that), and the network stores the atlas in its weights as well. The shipped
file was made with ``atlas_to_json(render_glyph_atlas("DejaVuSansMono.ttf", 10))`` (the DejaVu Sans
Mono that matplotlib ships, written as JSON with ``json.dump(..., indent=0)``).

The palette maps NetHack's 16 colours (CLR_BLACK .. CLR_WHITE, as in tty_colors) to RGB in [0, 1];
black (0) is drawn dark blue as NetHack's tty does, so black glyphs stay visible.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

import numpy as np

CELL = 6
"""Pixels per character cell side."""
ATLAS_FILE = "glyph_atlas.json"
"""Package data file of the atlas."""

PALETTE = np.array([
    (0.0, 0.0, 0.6), (0.7, 0.0, 0.0), (0.0, 0.7, 0.0), (0.6, 0.4, 0.1),  # black (dark blue), red, green, brown
    (0.0, 0.0, 0.8), (0.7, 0.0, 0.7), (0.0, 0.7, 0.7), (0.75, 0.75, 0.75),  # blue, magenta, cyan, grey
    (0.5, 0.5, 0.5), (1.0, 0.5, 0.0), (0.0, 1.0, 0.0), (1.0, 1.0, 0.0),  # no colour, orange, bright green, yellow
    (0.3, 0.3, 1.0), (1.0, 0.3, 1.0), (0.3, 1.0, 1.0), (1.0, 1.0, 1.0),  # bright blue, bright magenta, cyan, white
], dtype=np.float32)
"""RGB of NetHack's 16 colours, index = tty colour code."""


def render_glyph_atlas(font_path: str, size: int = 10) -> np.ndarray:
    """uint8 [256, CELL, CELL]: each printable ASCII character drawn at 2x and averaged down; others 0.

    All characters share one baseline; the 2*CELL rows kept are centred on the ink of the whole set."""
    from PIL import Image, ImageDraw, ImageFont  # only needed to regenerate the shipped atlas

    font = ImageFont.truetype(font_path, size)
    side = 2 * CELL
    drawn = np.zeros((256, 2 * side, side), dtype=np.float32)
    for code in range(33, 127):
        image = Image.new("L", (side, 2 * side), 0)
        draw = ImageDraw.Draw(image)
        width = draw.textlength(chr(code), font=font)
        draw.text(((side - width) / 2, 0), chr(code), fill=255, font=font)
        drawn[code] = np.asarray(image, dtype=np.float32)
    ink_rows = np.nonzero(drawn.max(axis=(0, 2)) > 0)[0]
    top = max(int(round((ink_rows[0] + ink_rows[-1] + 1 - side) / 2)), 0)
    window = drawn[:, top: top + side, :]
    pixels = window.reshape(256, CELL, 2, CELL, 2).mean(axis=(2, 4))
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)


def atlas_to_json(atlas: np.ndarray) -> dict:
    """The JSON form: one hex string of CELL*CELL bytes per code."""
    return {"cell": CELL, "glyphs": [bytes(row.reshape(-1).tolist()).hex() for row in atlas]}


@lru_cache(maxsize=1)
def glyph_atlas() -> np.ndarray:
    """The shipped atlas as float32 [256, CELL, CELL] in [0, 1] (read-only)."""
    data = json.loads((resources.files("maestro_common.skillnet") / ATLAS_FILE).read_text(encoding="ascii"))
    if data["cell"] != CELL or len(data["glyphs"]) != 256:
        raise ValueError(f"{ATLAS_FILE}: expected 256 glyphs of {CELL}x{CELL}")
    raw = np.stack([np.frombuffer(bytes.fromhex(row), dtype=np.uint8) for row in data["glyphs"]])
    atlas = (raw.reshape(256, CELL, CELL).astype(np.float32) / 255.0)
    atlas.flags.writeable = False
    return atlas


def render_crop(chars: np.ndarray, colors: np.ndarray) -> np.ndarray:
    """float32 [N, 3, rows*CELL, cols*CELL] image of [N, rows, cols] char / colour codes (numpy reference
    of the network's own rendering, for tests and inspection)."""
    atlas = glyph_atlas()
    n, rows, cols = chars.shape
    bitmap = atlas[chars.astype(np.int64)][..., None]                        # [N, r, c, 6, 6, 1]
    tint = PALETTE[np.clip(colors, 0, 15).astype(np.int64)][:, :, :, None, None, :]  # [N, r, c, 1, 1, 3]
    pixels = bitmap * tint
    return pixels.transpose(0, 5, 1, 3, 2, 4).reshape(n, 3, rows * CELL, cols * CELL)
