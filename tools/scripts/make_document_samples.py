#!/usr/bin/python3
"""Writes synthetic document images as compressor sample folders.

    make_document_samples.py OUT_DIR [--count N] [--seed S] [--height H] [--width W]
                             [--norm imagenet|half] [--input NAME]

Each sample is a light page (brightness and tint vary per image) with dark text-like lines:
glyphs built from bars, stems, diagonals and dots, of a size that varies per line, grouped in
words, in an ink whose darkness varies per line, softened a little and with slight noise. Pages
up to 64 pixels high hold one text line (a cropped line, as PaddleOCR's recognizer and direction
classifier see it; some of them upside down); taller pages hold a few lines.

Sample i goes to OUT_DIR/s<i>/<NAME>.npy (float32 [1,3,H,W], NAME from --input, default x),
normalized as PaddleOCR pre-processes: `imagenet` (x - [0.485,0.456,0.406]) / [0.229,0.224,0.225]
(the detector), `half` (x - 0.5) / 0.5 (recognizer and classifier), with x the pixel in [0, 1].
Use the folder with `compressor ... --data OUT_DIR`.

Deterministic: sample i depends only on (--seed, i, --height, --width, --norm), so the same
options give the same bytes and a larger --count only appends samples.
Exit codes: 0 written, 1 I/O error, 2 usage error.
"""
import argparse
import os
import sys

import numpy as np

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float64)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float64)
SINGLE_LINE_MAX_HEIGHT = 64


def draw_glyph(mask, rng, top, left, height, width, stroke):
    """Marks 2-4 strokes of one glyph in the box (top, left, height, width) of the ink mask."""
    h, w = mask.shape
    for _ in range(rng.randint(2, 5)):
        kind = rng.randint(0, 10)
        if kind < 4:  # horizontal bar at a random height of the glyph
            y = top + rng.randint(0, max(1, height - stroke + 1))
            mask[y : min(h, y + stroke), left : min(w, left + width)] = 1
        elif kind < 8:  # vertical stem, sometimes only half the glyph high
            x = left + rng.randint(0, max(1, width - stroke + 1))
            y0 = top + (rng.randint(0, height // 2 + 1) if rng.rand() < 0.3 else 0)
            mask[y0 : min(h, top + height), x : min(w, x + stroke)] = 1
        elif kind < 9:  # diagonal from one corner of the glyph box to the other
            steps = max(height, width)
            flip = rng.rand() < 0.5
            for k in range(steps):
                y = top + k * (height - 1) // max(1, steps - 1)
                x = left + (steps - 1 - k if flip else k) * (width - 1) // max(1, steps - 1)
                mask[y : min(h, y + stroke), x : min(w, x + stroke)] = 1
        else:  # dot above the glyph body
            x = left + rng.randint(0, max(1, width - stroke + 1))
            y = max(0, top - 2 * stroke)
            mask[y : min(h, y + stroke), x : min(w, x + stroke)] = 1


def draw_line(mask, rng, top, line_height, x_start, x_end):
    """Fills one text line of words between x_start and x_end; returns nothing."""
    glyph_h = max(3, int(round(line_height * rng.uniform(0.45, 0.75))))
    stroke = max(1, int(round(glyph_h * rng.uniform(0.1, 0.22))))
    baseline = top + (line_height + glyph_h) // 2
    x = x_start
    while x < x_end:
        for _ in range(rng.randint(1, 9)):  # one word
            width = max(2, int(round(glyph_h * rng.uniform(0.45, 0.95))))
            if x + width > x_end:
                return
            tall = rng.rand() < 0.25  # ascenders and descenders
            height = int(glyph_h * (1.35 if tall else 1.0))
            y = baseline - height if rng.rand() < 0.7 else baseline - glyph_h
            draw_glyph(mask, rng, max(0, y), x, height, width, stroke)
            x += width + max(1, int(round(glyph_h * rng.uniform(0.1, 0.3))))
        x += int(round(glyph_h * rng.uniform(0.5, 1.2)))  # space between words


def document_page(rng, height, width):
    """One RGB page in [0, 1], shape [3, height, width]."""
    brightness = rng.uniform(0.72, 1.0)
    tint = brightness * (1.0 + rng.uniform(-0.04, 0.04, size=3))
    # A gentle illumination gradient across the page.
    gy, gx = np.meshgrid(np.linspace(-1, 1, height), np.linspace(-1, 1, width), indexing="ij")
    light = 1.0 + rng.uniform(-0.06, 0.06) * gy + rng.uniform(-0.06, 0.06) * gx
    page = tint[:, None, None] * light[None, :, :]

    if height <= SINGLE_LINE_MAX_HEIGHT:
        lines = [(int(height * rng.uniform(0.0, 0.15)), int(height * rng.uniform(0.75, 0.95)))]
        margin = int(width * rng.uniform(0.0, 0.06))
        spans = [(margin, width - int(width * rng.uniform(0.0, 0.4)))]
    else:
        count = rng.randint(max(1, height // 96), max(2, height // 40) + 1)
        lines, spans = [], []
        y = int(height * rng.uniform(0.02, 0.1))
        for _ in range(count):
            line_height = int(round(height * rng.uniform(0.04, 0.11)))
            if y + line_height > height:
                break
            lines.append((y, line_height))
            left = int(width * rng.uniform(0.02, 0.3))
            spans.append((left, left + int((width - left) * rng.uniform(0.4, 0.97))))
            y += line_height + int(round(line_height * rng.uniform(0.2, 1.5)))

    for (top, line_height), (x0, x1) in zip(lines, spans):
        mask = np.zeros((height, width), dtype=np.float64)
        draw_line(mask, rng, top, line_height, x0, x1)
        # Soften the edges as a scan does: average with the 4-neighbourhood.
        soft = mask.copy()
        soft[1:, :] += mask[:-1, :]
        soft[:-1, :] += mask[1:, :]
        soft[:, 1:] += mask[:, :-1]
        soft[:, :-1] += mask[:, 1:]
        alpha = np.clip(0.5 * mask + 0.125 * soft, 0.0, 1.0)
        ink = rng.uniform(0.0, 0.35) + rng.uniform(-0.03, 0.03, size=3)
        page = page * (1 - alpha[None]) + np.clip(ink, 0, 1)[:, None, None] * alpha[None]

    if height <= SINGLE_LINE_MAX_HEIGHT and rng.rand() < 0.3:
        page = page[:, ::-1, ::-1]  # an upside-down crop
    page = page + rng.normal(0.0, rng.uniform(0.005, 0.03), size=page.shape)
    return np.clip(page, 0.0, 1.0)


def normalize(page, norm):
    if norm == "imagenet":
        return (page - IMAGENET_MEAN[:, None, None]) / IMAGENET_STD[:, None, None]
    return (page - 0.5) / 0.5


def main():
    ap = argparse.ArgumentParser(
        usage="%(prog)s OUT_DIR [--count N] [--seed S] [--height H] [--width W] "
        "[--norm imagenet|half] [--input NAME]",
        description=__doc__.splitlines()[0],
    )
    ap.add_argument("out_dir")
    ap.add_argument("--count", type=int, default=16, help="number of samples (default 16)")
    ap.add_argument("--seed", type=int, default=1, help="seed, 0..2^32-1 (default 1)")
    ap.add_argument("--height", type=int, default=48, help="image height (default 48)")
    ap.add_argument("--width", type=int, default=320, help="image width (default 320)")
    ap.add_argument("--norm", choices=["imagenet", "half"], default="half",
                    help="imagenet (detector) or half (recognizer, classifier); default half")
    ap.add_argument("--input", default="x", help="model input name (default x)")
    args = ap.parse_args()
    if args.count < 1:
        ap.error(f"--count must be at least 1, got {args.count}")
    if not 0 <= args.seed < 2**32:
        ap.error(f"--seed must be in [0, 2^32), got {args.seed}")
    if args.height < 8 or args.width < 8:
        ap.error(f"--height and --width must be at least 8, got {args.height}x{args.width}")
    if not args.input or "/" in args.input:
        ap.error(f"--input: not a usable file name: '{args.input}'")

    width = len(str(args.count - 1))
    try:
        for i in range(args.count):
            # RandomState keeps its stream stable across numpy versions.
            rng = np.random.RandomState([args.seed, i])
            page = document_page(rng, args.height, args.width)
            x = normalize(page, args.norm).astype(np.float32)[None]
            folder = os.path.join(args.out_dir, f"s{i:0{max(3, width)}d}")
            os.makedirs(folder, exist_ok=True)
            np.save(os.path.join(folder, args.input + ".npy"), np.ascontiguousarray(x))
    except OSError as e:
        print(f"make_document_samples.py: {args.out_dir}: {e}", file=sys.stderr)
        return 1
    print(f"{args.count} samples {args.height}x{args.width} ({args.norm}) in {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
