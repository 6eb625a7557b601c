r"""Synthetic scenes for captioning: one to four coloured shapes, and captions that can be checked.

Each image shows one to four shapes (:data:`SHAPES`) of two sizes (:data:`SIZES`) and five colours
(:data:`COLOURS`) on a black background, and its captions come from a small grammar::

    caption  := np | np " " relation " " np
    np       := "a" [" " size] " " colour " " shape
    size     := "small" | "large"
    colour   := "red" | "green" | "blue" | "yellow" | "white"
    shape    := "circle" | "square" | "triangle"
    relation := "left of" | "right of" | "above" | "below"

("a small red circle left of a blue square"; lowercase words, single spaces, no punctuation.)
Because every scene is known exactly, so is every caption's truth, and every object word has a known
place in the image: the fraction of true captions and the attention each object word puts on its
object are measurable (:func:`caption_is_true`, :func:`attention_on_objects`).

Geometry. A shape's box ``(x0, y0, x1, y1)`` holds the pixels x0..x1 and y0..y1, both ends included;
image y grows downward. "A left of B" means A's box lies entirely left of B's (x1_A < x0_B), "A
above B" that it lies entirely above (y1_A < y0_B); "right of" and "below" are their converses.
Shapes sit in distinct cells of a 3 × 3 layout, each inside its cell with a margin, jittered no more
than keeps two shapes of one column overlapping in x (and of one row in y) by a few pixels. So for
every pair each relation either holds with a gap of a few pixels or fails by an overlap of a few:
none is a near thing.

Captions. No two shapes of a scene share all three attributes, so each can be named uniquely. A
noun phrase states the size when the colour and shape alone would fit two objects, and otherwise
states it with probability 1/2. A generated caption names the only object of a one-shape scene;
elsewhere it names one object (probability 1/4) or two distinct objects and a relation, drawn
uniformly among those that hold between them. Every noun phrase the generator writes fits exactly
one object of its scene. A model's caption need not be unique to be true: "a red circle" is true of
a scene with two red circles (:func:`caption_is_true`).

Everything is a pure function of the numpy generator passed in; :func:`generate_shapes` seeds one
with ``np.random.default_rng(seed)`` (the caller picks other seeds for the dev and test scenes).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

COLOURS = {
    "red": (230, 40, 40),
    "green": (40, 200, 60),
    "blue": (50, 100, 240),
    "yellow": (240, 220, 30),
    "white": (245, 245, 245),
}
BACKGROUND = (0, 0, 0)
SHAPES = ("circle", "square", "triangle")
# Side of a shape's box as a fraction of the image side (rounded to an odd number of pixels,
# so that the box has a centre pixel: :func:`side_pixels`).
SIZES = {"small": 0.15, "large": 0.25}
RELATIONS = ("left of", "right of", "above", "below")
LAYOUT = 3                       # shapes sit in distinct cells of a LAYOUT × LAYOUT grid
MAX_SHAPES = 4
MIN_IMAGE_SIZE = 48              # below this the large shapes and their margins no longer fit a cell
ONE_OBJECT_PROBABILITY = 0.25    # of a one-object caption when the scene holds two or more shapes

Box = tuple[int, int, int, int]  # (x0, y0, x1, y1), pixels, both ends included


@dataclass(frozen=True)
class Shape:
    """One object of a scene: its attributes (names from :data:`SHAPES`, :data:`COLOURS`,
    :data:`SIZES`) and its box in pixels (module docstring)."""

    kind: str
    colour: str
    size: str
    box: Box

    @property
    def centre_x(self) -> float:
        return (self.box[0] + self.box[2]) / 2

    @property
    def centre_y(self) -> float:
        return (self.box[1] + self.box[3]) / 2

    @property
    def centre(self) -> tuple[float, float]:
        """(x, y) of the box's centre."""
        return self.centre_x, self.centre_y


@dataclass(frozen=True)
class Scene:
    """The shapes of one image of ``image_size`` × ``image_size`` pixels."""

    shapes: tuple[Shape, ...]
    image_size: int


@dataclass(frozen=True)
class Caption:
    """A caption and what it names: for each noun phrase, (index of its shape word in
    ``text.split()``, index of its object in ``scene.shapes``)."""

    text: str
    objects: tuple[tuple[int, int], ...]


@dataclass
class ShapesData:
    """Generated scenes: their images (N, S, S, 3) uint8, the scenes and each image's captions."""

    images: np.ndarray
    scenes: list[Scene]
    captions: list[list[Caption]]


def generate_shapes(count: int, seed: int, image_size: int = 112, max_shapes: int = 4,
                    captions_per_image: int = 5) -> ShapesData:
    """``count`` scenes, their images and ``captions_per_image`` captions each (distinct where the
    scene allows, as Flickr gives five per photo); a pure function of the arguments.

    Example:
        >>> data = generate_shapes(3, seed=0, image_size=64)
        >>> data.images.shape, len(data.captions[0])
        ((3, 64, 64, 3), 5)
        >>> all(caption_is_true(s, c.text) for s, cs in zip(data.scenes, data.captions) for c in cs)
        True
    """
    if count < 1:
        raise ValueError(f"count must be a positive integer, got {count!r}")
    _check_scene_arguments(image_size, max_shapes)
    if captions_per_image < 1:
        raise ValueError(f"captions_per_image must be a positive integer, got {captions_per_image!r}")
    rng = np.random.default_rng(seed)
    images = np.empty((count, image_size, image_size, 3), dtype=np.uint8)
    scenes, captions = [], []
    for i in range(count):
        scene = generate_scene(rng, image_size, max_shapes)
        images[i] = render(scene)
        scenes.append(scene)
        captions.append(captions_for(scene, rng, captions_per_image))
    return ShapesData(images, scenes, captions)


# ------------------------------------------------------------------------------------------------
# Scenes and images


def generate_scene(rng: np.random.Generator, image_size: int = 112, max_shapes: int = 4) -> Scene:
    """One to ``max_shapes`` shapes (uniformly many) in distinct cells of the layout, no two with
    all three attributes alike (module docstring)."""
    _check_scene_arguments(image_size, max_shapes)
    count = int(rng.integers(1, max_shapes + 1))
    cells = rng.choice(LAYOUT * LAYOUT, size=count, replace=False)
    attributes: list[tuple[str, str, str]] = []
    while len(attributes) < count:
        drawn = (SHAPES[rng.integers(len(SHAPES))], _COLOUR_NAMES[rng.integers(len(_COLOUR_NAMES))],
                 _SIZE_NAMES[rng.integers(len(_SIZE_NAMES))])
        if drawn not in attributes:
            attributes.append(drawn)
    shapes = []
    for cell, (kind, colour, size) in zip(cells, attributes):
        row, column = divmod(int(cell), LAYOUT)
        half = side_pixels(size, image_size) // 2
        x = _jittered_centre(rng, column, half, image_size)
        y = _jittered_centre(rng, row, half, image_size)
        shapes.append(Shape(kind, colour, size, (x - half, y - half, x + half, y + half)))
    return Scene(tuple(shapes), image_size)


_COLOUR_NAMES = tuple(COLOURS)
_SIZE_NAMES = tuple(SIZES)


def side_pixels(size: str, image_size: int) -> int:
    """The side of a ``size`` shape's box in an image of ``image_size`` pixels: odd, so the box has
    a centre pixel."""
    return 2 * round(SIZES[size] * image_size / 2) + 1


def _margin(image_size: int) -> int:
    """Pixels kept free between a shape and its cell's edge (so two cells' shapes are 2× apart)."""
    return max(1, round(0.02 * image_size))


def _jittered_centre(rng: np.random.Generator, cell: int, half: int, image_size: int) -> int:
    """A centre coordinate in layout cell ``cell`` (a column or row) for a box of half-side
    ``half``: inside the cell with the margin, and within ``small half-side − margin`` of the
    cell's centre, so two boxes of one column overlap in x by more than 2 margins."""
    margin = _margin(image_size)
    start, end = cell * image_size / LAYOUT, (cell + 1) * image_size / LAYOUT   # [start, end)
    low = math.ceil(start + margin + half)
    high = math.floor(end - margin - half - 1)
    middle = math.floor((start + end) / 2)
    reach = side_pixels("small", image_size) // 2 - margin
    low, high = max(low, middle - reach), min(high, middle + reach)
    return int(rng.integers(low, high + 1))


def _check_scene_arguments(image_size: int, max_shapes: int) -> None:
    if image_size < MIN_IMAGE_SIZE:
        raise ValueError(f"image_size must be at least {MIN_IMAGE_SIZE} pixels for the shapes to fit, "
                         f"got {image_size!r}")
    if not 1 <= max_shapes <= MAX_SHAPES:
        raise ValueError(f"max_shapes must lie in 1..{MAX_SHAPES}, got {max_shapes!r}")


def render(scene: Scene) -> np.ndarray:
    """The scene's image (S, S, 3) uint8: each shape filled in its colour on the black background
    (circle: the ellipse in its box; square: the box; triangle: apex at the top middle, base the
    box's bottom edge)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (scene.image_size, scene.image_size), BACKGROUND)
    draw = ImageDraw.Draw(image)
    for shape in scene.shapes:
        x0, y0, x1, y1 = shape.box
        colour = COLOURS[shape.colour]
        if shape.kind == "circle":
            draw.ellipse(shape.box, fill=colour)
        elif shape.kind == "square":
            draw.rectangle(shape.box, fill=colour)
        else:
            draw.polygon([((x0 + x1) // 2, y0), (x1, y1), (x0, y1)], fill=colour)
    return np.asarray(image, dtype=np.uint8)


# ------------------------------------------------------------------------------------------------
# Writing captions


def captions_for(scene: Scene, rng: np.random.Generator, count: int = 5) -> list[Caption]:
    """``count`` captions of ``scene`` by :func:`describe`, distinct while the grammar allows (a
    one-shape scene has only two); past that the distinct ones repeat in order."""
    if count < 1:
        raise ValueError(f"count must be a positive integer, got {count!r}")
    wanted = min(count, _caption_count(scene))
    distinct: dict[str, Caption] = {}
    while len(distinct) < wanted:
        caption = describe(scene, rng)
        distinct.setdefault(caption.text, caption)
    captions = list(distinct.values())
    return [captions[i % wanted] for i in range(count)]


def describe(scene: Scene, rng: np.random.Generator) -> Caption:
    """One true caption of ``scene`` whose every noun phrase fits exactly one object (module
    docstring)."""
    shapes = scene.shapes
    if len(shapes) == 1 or rng.random() < ONE_OBJECT_PROBABILITY:
        index = int(rng.integers(len(shapes)))
        words = _noun_phrase(scene, index, rng)
        return Caption(" ".join(words), ((len(words) - 1, index),))
    first, second = (int(i) for i in rng.choice(len(shapes), size=2, replace=False))
    holding = [r for r in RELATIONS if relation_holds(shapes[first], r, shapes[second])]
    relation = holding[rng.integers(len(holding))]
    head = _noun_phrase(scene, first, rng)
    words = [*head, *relation.split(), *_noun_phrase(scene, second, rng)]
    return Caption(" ".join(words), ((len(head) - 1, first), (len(words) - 1, second)))


def _noun_phrase(scene: Scene, index: int, rng: np.random.Generator) -> list[str]:
    shape = scene.shapes[index]
    needs_size = not _colour_and_kind_unique(scene, index)
    if needs_size or rng.random() < 0.5:
        return ["a", shape.size, shape.colour, shape.kind]
    return ["a", shape.colour, shape.kind]


def _colour_and_kind_unique(scene: Scene, index: int) -> bool:
    shape = scene.shapes[index]
    return sum(s.colour == shape.colour and s.kind == shape.kind for s in scene.shapes) == 1


def _caption_count(scene: Scene) -> int:
    """How many distinct captions :func:`describe` can write of ``scene``."""
    shapes = scene.shapes
    phrases = [2 if _colour_and_kind_unique(scene, i) else 1 for i in range(len(shapes))]
    pairs = sum(phrases[a] * phrases[b] * sum(relation_holds(shapes[a], r, shapes[b]) for r in RELATIONS)
                for a in range(len(shapes)) for b in range(len(shapes)) if a != b)
    return sum(phrases) + pairs


def relation_holds(a: Shape, relation: str, b: Shape) -> bool:
    """Whether "``a`` ``relation`` ``b``" holds of the two boxes (module docstring)."""
    if relation == "left of":
        return a.box[2] < b.box[0]
    if relation == "right of":
        return b.box[2] < a.box[0]
    if relation == "above":
        return a.box[3] < b.box[1]
    if relation == "below":
        return b.box[3] < a.box[1]
    raise ValueError(f"unknown relation {relation!r}; the grammar has: {', '.join(RELATIONS)}")


# ------------------------------------------------------------------------------------------------
# Checking captions


def caption_is_true(scene: Scene, text: str) -> bool:
    """Whether ``text`` parses by the grammar and is true of ``scene``: some object fits a
    one-phrase caption; two different objects fit a two-phrase caption's phrases, in order, with
    the relation holding. A phrase fits the objects with every attribute it states.

    Example:
        >>> scene = Scene((Shape("circle", "red", "small", (10, 10, 26, 26)),
        ...                Shape("square", "blue", "large", (60, 60, 88, 88))), image_size=112)
        >>> caption_is_true(scene, "a red circle above a blue square")
        True
        >>> caption_is_true(scene, "a blue square above a red circle")
        False
        >>> caption_is_true(scene, "a small red")
        False
    """
    reading = _read(scene, text)
    if reading is None:
        return False
    _, fitting, pairs = reading
    return bool(fitting[0]) if pairs is None else bool(pairs)


def referents(scene: Scene, text: str) -> list[tuple[int, list[int]]] | None:
    """For each noun phrase of ``text``: (index of its shape word in ``text.split()``, the objects
    it may name), or None when ``text`` does not parse. A true two-phrase caption's phrases name the
    objects of the pairs that make it true; otherwise a phrase names the objects it fits (maybe none).
    """
    reading = _read(scene, text)
    if reading is None:
        return None
    positions, fitting, pairs = reading
    if pairs:
        fitting = [sorted({a for a, _ in pairs}), sorted({b for _, b in pairs})]
    return list(zip(positions, fitting))


# A parsed noun phrase: (size or None, colour, kind).
_Phrase = tuple[str | None, str, str]


def _read(scene: Scene, text: str) -> tuple[list[int], list[list[int]], list[tuple[int, int]] | None] | None:
    """Per phrase of ``text``, the index of its shape word and the objects it fits; and for two
    phrases the (first, second) object pairs that make the caption true. None if it does not parse."""
    parsed = _parse(text)
    if parsed is None:
        return None
    phrases, relation = parsed
    positions = [i for i, word in enumerate(text.split(" ")) if word in SHAPES]
    fitting = [_fitting(scene, phrase) for phrase in phrases]
    if relation is None:
        return positions, fitting, None
    # The relations are strict, so a pair is never an object with itself.
    pairs = [(a, b) for a in fitting[0] for b in fitting[1]
             if relation_holds(scene.shapes[a], relation, scene.shapes[b])]
    return positions, fitting, pairs


def _parse(text: str) -> tuple[list[_Phrase], str | None] | None:
    """The phrases and relation of ``text`` by the grammar, or None if it does not parse."""
    words = text.split(" ")
    first, at = _parse_phrase(words, 0)
    if first is None:
        return None
    if at == len(words):
        return [first], None
    for relation in RELATIONS:
        length = len(relation.split())
        if " ".join(words[at: at + length]) == relation:
            second, end = _parse_phrase(words, at + length)
            if second is not None and end == len(words):
                return [first, second], relation
            return None
    return None


def _parse_phrase(words: list[str], at: int) -> tuple[_Phrase | None, int]:
    """The noun phrase starting at ``words[at]`` and the index after it, or (None, at)."""
    if words[at: at + 1] != ["a"]:
        return None, at
    at += 1
    size = words[at] if at < len(words) and words[at] in SIZES else None
    if size is not None:
        at += 1
    if at + 2 > len(words) or words[at] not in COLOURS or words[at + 1] not in SHAPES:
        return None, at
    return (size, words[at], words[at + 1]), at + 2


def _fitting(scene: Scene, phrase: _Phrase) -> list[int]:
    size, colour, kind = phrase
    return [i for i, s in enumerate(scene.shapes)
            if s.kind == kind and s.colour == colour and (size is None or s.size == size)]


# ------------------------------------------------------------------------------------------------
# Where the objects are


def region_mask(shape: Shape, image_size: int, grid: tuple[int, int]) -> np.ndarray:
    """Which cells of a ``rows × cols`` grid over the image the shape's box overlaps: bool
    (rows·cols,), row-major. Cell (r, c), at r·cols + c, covers [r·S/rows, (r+1)·S/rows) ×
    [c·S/cols, (c+1)·S/cols) and pixel (x, y) the unit square [x, x+1) × [y, y+1): so the cells
    hold the pixels that adaptive average pooling to the grid averages, a pixel on a border
    belonging to both cells when S is not a multiple of the grid.

    Example:
        >>> region_mask(Shape("square", "red", "small", (0, 0, 9, 9)), 28, (2, 2)).tolist()
        [True, False, False, False]
    """
    rows, cols = grid
    if rows < 1 or cols < 1:
        raise ValueError(f"grid must be positive (rows, cols), got {grid!r}")
    x0, y0, x1, y1 = shape.box
    # Cell c covers [c·S/n, (c+1)·S/n) and the box [x0, x1 + 1); times n, in integers.
    across = [c * image_size < (x1 + 1) * cols and (c + 1) * image_size > x0 * cols for c in range(cols)]
    down = [r * image_size < (y1 + 1) * rows and (r + 1) * image_size > y0 * rows for r in range(rows)]
    return np.outer(down, across).reshape(-1)


def attention_on_objects(scene: Scene, text: str, weights: Sequence | np.ndarray,
                         grid: tuple[int, int]) -> list[float]:
    """For each noun phrase of ``text``, the attention its shape word puts on its object: the sum of
    that word's weights over the cells of the objects it may name (:func:`referents`; 0 when none).
    Empty when ``text`` does not parse.

    Args:
        weights: (T, rows·cols) or (T + 1, rows·cols), T the words of ``text``: row t is the
            attention while writing word t (the extra row, for the end token, is not read).
        grid: (rows, cols) of the regions.
    """
    found = referents(scene, text)
    if found is None:
        return []
    rows, cols = grid
    weights = np.asarray(weights, dtype=np.float64)
    words = len(text.split(" "))
    if weights.ndim != 2 or weights.shape[0] not in (words, words + 1) or weights.shape[1] != rows * cols:
        raise ValueError(f"weights must be ({words} or {words + 1}, {rows * cols}) for this caption and grid "
                         f"{grid}, got {weights.shape}")
    masses = []
    for position, candidates in found:
        mask = np.zeros(rows * cols, dtype=bool)
        for index in candidates:
            mask |= region_mask(scene.shapes[index], scene.image_size, grid)
        masses.append(float(weights[position][mask].sum()))
    return masses
