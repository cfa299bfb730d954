"""Peer for bench/import.ts: Pillow in one long-lived process, timed inside it.

Usage: import_pillow.py <file list>; then one command per stdin line, one answer line each:
  run <variant> <size>   -> "<images> <seconds> <cpu seconds> <dct scales>" for every file:
                            open, DCT scale (per variant), exif_transpose, RGB, resize BILINEAR
  dump <variant> <size> <k> <out>  -> writes the first k results (RGB bytes) to <out>, answers "ok"
Variants: 'sharp-draft' uses the JPEG DCT scale sharp's shrink-on-load picks for a fill resize
(like with like), 'draft' Pillow's own draft() to the target size, 'plain' a full-size decode.
"""
import sys, time
from PIL import Image, ImageOps

files = [l.strip() for l in open(sys.argv[1], encoding='utf8') if l.strip()]


def sharp_scale(w, h, size):
    """The JPEG shrink-on-load factor sharp 0.3x chooses (fastShrinkOnLoad) for a fill resize."""
    s = min(w / size, h / size)
    k = 8 if s >= 8 else 4 if s >= 4 else 2 if s >= 2 else 1
    return k // 2 if k > 1 and int(s) == k else k


def load(path, variant, size):
    im = Image.open(path)
    if im.format == 'JPEG' and variant != 'plain':
        k = sharp_scale(*im.size, size) if variant == 'sharp-draft' else None
        im.draft('RGB', (im.width // k, im.height // k) if k else (size, size))
    scale = im.decoderconfig[0] if im.format == 'JPEG' and im.decoderconfig else 1
    im = ImageOps.exif_transpose(im).convert('RGB').resize((size, size), Image.BILINEAR)
    return im.tobytes(), scale


for line in sys.stdin:
    cmd, variant, size, *rest = line.split()
    size = int(size)
    if cmd == 'run':
        scales = {}
        t0, c0 = time.perf_counter(), time.process_time()
        for p in files:
            _, k = load(p, variant, size)
            scales[k] = scales.get(k, 0) + 1
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        print(len(files), f'{dt:.4f}', f'{dc:.4f}', ','.join(f'{k}:{n}' for k, n in sorted(scales.items())), flush=True)
    elif cmd == 'dump':
        with open(rest[1], 'wb') as f:
            for p in files[:int(rest[0])]:
                f.write(load(p, variant, size)[0])
        print('ok', flush=True)
