"""Pictures for the demo data, drawn with Pillow so that the repository ships no binaries.

Landscapes are layered shapes over a sky gradient, chosen by the listing's category
and made deterministic by a seed, so two runs of `seed_demo` draw the same picture.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable

from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

Color = tuple[int, int, int]
SIZE = (960, 640)


def _jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="JPEG", quality=85, optimize=True)
    return buf.getvalue()


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _gradient(size: tuple[int, int], top: Color, bottom: Color) -> Image.Image:
    ramp = Image.linear_gradient("L").resize(size)
    return ImageOps.colorize(ramp, black=top, white=bottom)


def _shade(color: Color, factor: float) -> Color:
    return tuple(max(0, min(255, int(c * factor))) for c in color)  # type: ignore[return-value]


def _ridge(rnd: random.Random, base: float, height: float, roughness: int) -> list[tuple[int, int]]:
    """A jagged skyline from left to right, closed along the bottom edge."""
    w, h = SIZE
    points = [(0, h)]
    steps = roughness
    for i in range(steps + 1):
        x = int(i * w / steps)
        y = int(h * base - rnd.uniform(0, height) * h)
        points.append((x, y))
    points.append((w, h))
    return points


def _sun(img: Image.Image, rnd: random.Random, color: Color, y_frac: float) -> None:
    w, h = SIZE
    cx, cy, r = int(w * rnd.uniform(0.15, 0.85)), int(h * y_frac), int(h * 0.07)
    glow = Image.new("L", SIZE, 0)
    ImageDraw.Draw(glow).ellipse((cx - 3 * r, cy - 3 * r, cx + 3 * r, cy + 3 * r), fill=110)
    glow = glow.filter(ImageFilter.GaussianBlur(r))
    img.paste(Image.new("RGB", SIZE, color), mask=glow)
    ImageDraw.Draw(img).ellipse((cx - r, cy - r, cx + r, cy + r), fill=color)


def _water(img: Image.Image, rnd: random.Random, top: float, color: Color) -> None:
    w, h = SIZE
    y0 = int(h * top)
    sea = _gradient((w, h - y0), _shade(color, 1.15), _shade(color, 0.6))
    img.paste(sea, (0, y0))
    draw = ImageDraw.Draw(img)
    for _ in range(60):
        y = rnd.randint(y0 + 4, h - 2)
        x = rnd.randint(0, w)
        length = rnd.randint(20, 90)
        draw.line((x, y, x + length, y), fill=_shade(color, 1.4), width=2)


def _trees(img: Image.Image, rnd: random.Random, ground: float, color: Color, count: int) -> None:
    w, h = SIZE
    draw = ImageDraw.Draw(img)
    for _ in range(count):
        x = rnd.randint(0, w)
        base = int(h * ground) + rnd.randint(0, int(h * 0.2))
        tall = rnd.randint(40, 110)
        half = tall // 4
        draw.polygon([(x, base - tall), (x - half, base), (x + half, base)], fill=color)


def _beach(img: Image.Image, rnd: random.Random) -> None:
    _sun(img, rnd, (255, 236, 170), 0.25)
    _water(img, rnd, 0.5, (30, 130, 170))
    w, h = SIZE
    sand = [(0, h), (0, int(h * 0.78)), (w // 2, int(h * 0.72)), (w, int(h * 0.8)), (w, h)]
    ImageDraw.Draw(img).polygon(sand, fill=(236, 210, 160))


def _mountains(img: Image.Image, rnd: random.Random) -> None:
    _sun(img, rnd, (255, 245, 215), 0.2)
    draw = ImageDraw.Draw(img)
    for layer, color in enumerate([(150, 160, 190), (95, 110, 140), (55, 75, 90)]):
        draw.polygon(_ridge(rnd, 0.62 + 0.1 * layer, 0.3, 9 + 3 * layer), fill=color)
    _trees(img, rnd, 0.78, (30, 60, 45), 40)


def _snow(img: Image.Image, rnd: random.Random) -> None:
    draw = ImageDraw.Draw(img)
    draw.polygon(_ridge(rnd, 0.6, 0.28, 8), fill=(235, 240, 248))
    draw.polygon(_ridge(rnd, 0.8, 0.12, 14), fill=(250, 252, 255))
    _trees(img, rnd, 0.7, (40, 70, 60), 30)
    for _ in range(250):
        x, y = rnd.randint(0, SIZE[0]), rnd.randint(0, SIZE[1])
        draw.ellipse((x, y, x + 3, y + 3), fill=(255, 255, 255))


def _countryside(img: Image.Image, rnd: random.Random) -> None:
    _sun(img, rnd, (255, 220, 150), 0.22)
    w, h = SIZE
    draw = ImageDraw.Draw(img)
    greens = [(160, 180, 90), (120, 160, 70), (95, 135, 55), (140, 150, 60)]
    for i, color in enumerate(greens):
        top = int(h * (0.5 + 0.12 * i))
        draw.ellipse((-w // 2 + rnd.randint(-200, 200), top, w * 1.5, top + h), fill=color)
    for _ in range(14):  # cypress rows
        x = rnd.randint(0, w)
        y = int(h * rnd.uniform(0.55, 0.75))
        draw.ellipse((x - 6, y - 60, x + 6, y), fill=(40, 70, 40))


def _city(img: Image.Image, rnd: random.Random) -> None:
    w, h = SIZE
    draw = ImageDraw.Draw(img)
    x = 0
    while x < w:
        bw = rnd.randint(50, 130)
        top = int(h * rnd.uniform(0.3, 0.65))
        shade = rnd.randint(50, 95)
        draw.rectangle((x, top, x + bw, h), fill=(shade, shade - 10, shade + 25))
        for wy in range(top + 12, h - 10, 22):
            for wx in range(x + 8, x + bw - 10, 18):
                if rnd.random() < 0.45:
                    draw.rectangle((wx, wy, wx + 8, wy + 11), fill=(255, 214, 120))
        x += bw + rnd.randint(0, 8)


def _lake(img: Image.Image, rnd: random.Random) -> None:
    draw = ImageDraw.Draw(img)
    draw.polygon(_ridge(rnd, 0.5, 0.22, 10), fill=(70, 100, 90))
    _water(img, rnd, 0.58, (60, 120, 150))
    _trees(img, rnd, 0.42, (35, 70, 50), 25)


def _forest(img: Image.Image, rnd: random.Random) -> None:
    w, h = SIZE
    draw = ImageDraw.Draw(img)
    for layer in range(4):
        green = (30 + 25 * layer, 90 + 20 * layer, 50 + 10 * layer)
        for _ in range(25):
            x = rnd.randint(-50, w + 50)
            y = int(h * (0.35 + 0.15 * layer)) + rnd.randint(-20, 20)
            r = rnd.randint(40, 90)
            draw.ellipse((x - r, y - r, x + r, y + r), fill=green)
    mist = Image.new("L", SIZE, 0)
    ImageDraw.Draw(mist).rectangle((0, int(h * 0.4), w, int(h * 0.55)), fill=90)
    img.paste((235, 240, 235), mask=mist.filter(ImageFilter.GaussianBlur(30)))


def _desert(img: Image.Image, rnd: random.Random) -> None:
    _sun(img, rnd, (255, 230, 180), 0.3)
    w, h = SIZE
    draw = ImageDraw.Draw(img)
    for i, color in enumerate([(220, 160, 100), (200, 130, 80), (180, 110, 70)]):
        top = int(h * (0.55 + 0.13 * i))
        draw.ellipse((-w // 3 + rnd.randint(-150, 150), top, w + w // 3, top + h // 2), fill=color)
    for _ in range(6):  # palms
        x = rnd.randint(0, w)
        y = int(h * rnd.uniform(0.62, 0.8))
        draw.line((x, y, x + 6, y - 90), fill=(90, 60, 40), width=6)
        for dx in (-40, -20, 20, 40):
            draw.line(
                (x + 6, y - 90, x + 6 + dx, y - 70 - abs(dx) // 4), fill=(40, 110, 60), width=5
            )


SCENES: dict[str, tuple[tuple[Color, Color], Callable[[Image.Image, random.Random], None]]] = {
    "beach": (((90, 170, 230), (250, 220, 190)), _beach),
    "cabins": (((120, 150, 200), (240, 220, 200)), _mountains),
    "mountains": (((140, 120, 190), (250, 200, 170)), _mountains),
    "snow": (((170, 190, 220), (235, 240, 250)), _snow),
    "countryside": (((110, 170, 230), (255, 230, 190)), _countryside),
    "city": (((30, 30, 80), (240, 130, 90)), _city),
    "lakes": (((120, 180, 230), (230, 240, 245)), _lake),
    "treehouses": (((150, 190, 200), (220, 235, 225)), _forest),
    "villas": (((240, 170, 110), (255, 225, 170)), _desert),
}


def landscape(scene: str, seed: str) -> bytes:
    """A JPEG landscape for `scene` (a category; unknown ones get countryside)."""
    (top, bottom), draw = SCENES.get(scene, SCENES["countryside"])
    rnd = random.Random(seed)  # noqa: S311 - repeatable pictures, not secrets
    img = _gradient(SIZE, top, bottom)
    draw(img, rnd)
    return _jpeg(img.filter(ImageFilter.SMOOTH))


def initials_avatar(name: str, color: Color, size: int = 256) -> bytes:
    """A PNG disc in `color` with the name's initials in white."""
    initials = "".join(part[0] for part in name.split()[:2]).upper() or "?"
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    draw.ellipse((0, 0, size - 1, size - 1), fill=color)
    font = ImageFont.load_default(size=int(size * 0.42))
    draw.text((size / 2, size / 2), initials, fill="white", font=font, anchor="mm")
    return _png(img)
