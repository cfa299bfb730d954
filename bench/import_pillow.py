"""Peer for bench/import.ts: Pillow decode + exif_transpose + RGB + resize, single process."""
import sys, time, os
from PIL import Image, ImageOps

size = int(sys.argv[1])
files = [l.strip() for l in open(sys.argv[2], encoding='utf8') if l.strip()]
t0 = time.perf_counter()
n = 0
for p in files:
    with Image.open(p) as im:
        im = ImageOps.exif_transpose(im)
        im = im.convert('RGB').resize((size, size))
        im.tobytes()
        n += 1
dt = time.perf_counter() - t0
print(f'{n} {dt:.4f}')
