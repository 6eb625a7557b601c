"""The synthetic scenes of the captioning task: their geometry, images, captions and checks.

The generator's captions are checked here by a parser of the grammar of our own (a regular
expression) and by geometry read straight from the shapes' boxes, not by ``caption_is_true``."""

import re
from collections import Counter

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from rnnkit.data.shapes import (
    BACKGROUND, COLOURS, RELATIONS, SHAPES, SIZES, Scene, Shape, attention_on_objects, caption_is_true, captions_for,
    generate_scene, generate_shapes, referents, region_mask,
)

_NP = r"a (?:(small|large) )?(red|green|blue|yellow|white) (circle|square|triangle)"
CAPTION = re.compile(rf"{_NP}(?: (left of|right of|above|below) {_NP})?")
CONVERSE = {"left of": "right of", "right of": "left of", "above": "below", "below": "above"}


@pytest.fixture(scope="module")
def data():
    return generate_shapes(200, seed=11)


def holds(a: Shape, relation: str, b: Shape) -> bool:
    """The relation read from the boxes, x growing rightward and y downward."""
    (ax0, ay0, ax1, ay1), (bx0, by0, bx1, by1) = a.box, b.box
    return {"left of": ax1 < bx0, "right of": bx1 < ax0, "above": ay1 < by0, "below": by1 < ay0}[relation]


def matching(scene: Scene, size: str | None, colour: str, kind: str) -> list[int]:
    return [i for i, s in enumerate(scene.shapes)
            if s.colour == colour and s.kind == kind and size in (None, s.size)]


def test_the_grammar_offers_what_the_task_describes():
    assert SHAPES == ("circle", "square", "triangle")
    assert RELATIONS == ("left of", "right of", "above", "below")
    assert set(SIZES) == {"small", "large"} and SIZES["small"] < SIZES["large"]
    assert 4 <= len(COLOURS) <= 5 and len(set(COLOURS.values())) == len(COLOURS)
    assert BACKGROUND not in COLOURS.values()


def test_every_generated_caption_names_its_objects_uniquely_and_truly(data):
    for scene, captions in zip(data.scenes, data.captions):
        assert len(captions) == 5
        for caption in captions:
            match = CAPTION.fullmatch(caption.text)
            assert match, caption.text
            words = caption.text.split()
            size1, colour1, kind1, relation, size2, colour2, kind2 = match.groups()
            phrases = [(size1, colour1, kind1)] + ([(size2, colour2, kind2)] if relation else [])
            shape_words = [i for i, word in enumerate(words) if word in SHAPES]
            assert len(caption.objects) == len(phrases)
            for (word, index), phrase, expected_word in zip(caption.objects, phrases, shape_words):
                assert matching(scene, *phrase) == [index], (caption.text, scene)
                assert word == expected_word and words[word] == scene.shapes[index].kind
            if len(scene.shapes) == 1:
                assert relation is None
            if relation:
                (_, first), (_, second) = caption.objects
                assert first != second
                assert holds(scene.shapes[first], relation, scene.shapes[second]), caption.text


def test_captions_cover_the_grammar(data):
    texts = [c.text for captions in data.captions for c in captions]
    matches = [CAPTION.fullmatch(t).groups() for t in texts]
    assert {m[3] for m in matches} == {*RELATIONS, None}
    assert {m[2] for m in matches} == set(SHAPES) and {m[1] for m in matches} == set(COLOURS)
    assert {m[0] for m in matches} == {*SIZES, None}
    several = [c.text for s, cs in zip(data.scenes, data.captions) if len(s.shapes) > 1 for c in cs]
    assert any(CAPTION.fullmatch(t).group(4) is None for t in several)   # one object named in a busy scene


def test_size_is_stated_at_random_when_colour_and_shape_suffice(data):
    stated = Counter()
    for scene, captions in zip(data.scenes, data.captions):
        for caption in captions:
            words = caption.text.split()
            for word, index in caption.objects:
                shape = scene.shapes[index]
                if len(matching(scene, None, shape.colour, shape.kind)) == 1:
                    stated[words[word - 2] in SIZES] += 1
    assert 0.35 < stated[True] / (stated[True] + stated[False]) < 0.65


def test_captions_are_distinct_when_the_scene_allows(data):
    for scene, captions in zip(data.scenes, data.captions):
        texts = [c.text for c in captions]
        if len(scene.shapes) >= 3:
            assert len(set(texts)) == 5
        if len(scene.shapes) == 1:
            assert len(set(texts)) == 2


def test_scenes_hold_one_to_max_shapes_of_distinct_attributes(data):
    assert set(Counter(len(s.shapes) for s in data.scenes)) == {1, 2, 3, 4}
    assert all(len(generate_scene(np.random.default_rng(i), 64, max_shapes=2).shapes) <= 2 for i in range(30))
    for scene in data.scenes:
        assert len({(s.kind, s.colour, s.size) for s in scene.shapes}) == len(scene.shapes)


@pytest.mark.parametrize("image_size", [48, 112])
def test_shapes_lie_apart_and_every_relation_is_clear_cut(image_size):
    rng = np.random.default_rng(image_size)
    for _ in range(1000):
        scene = generate_scene(rng, image_size)
        for shape in scene.shapes:
            x0, y0, x1, y1 = shape.box
            assert 0 <= x0 < x1 < image_size and 0 <= y0 < y1 < image_size
        for i, a in enumerate(scene.shapes):
            for b in scene.shapes[i + 1:]:
                assert any(holds(a, relation, b) for relation in RELATIONS), (a, b)   # apart
                # Along each axis the boxes are apart, or overlap, by a few pixels: never a near thing.
                for lo in (0, 1):
                    gap = max(b.box[lo] - a.box[lo + 2], a.box[lo] - b.box[lo + 2])
                    assert abs(gap) >= image_size // 28, (a, b)


def test_render_draws_each_shape_in_its_colour_on_the_background(data):
    for image, scene in zip(data.images, data.scenes):
        assert image.shape == (112, 112, 3) and image.dtype == np.uint8
        inside = np.zeros((112, 112), dtype=bool)
        for shape in scene.shapes:
            x0, y0, x1, y1 = shape.box
            inside[y0: y1 + 1, x0: x1 + 1] = True
            x, y = (x0 + x1) // 2, (y0 + y1) // 2
            if shape.kind == "triangle":
                y += (y1 - y0) // 8                      # the apex is at the top: go a little down
            assert tuple(image[y, x]) == COLOURS[shape.colour], shape
            box = image[y0: y1 + 1, x0: x1 + 1].reshape(-1, 3)
            painted = {tuple(p) for p in box}
            assert painted <= {COLOURS[shape.colour], BACKGROUND}
        assert (image[~inside] == BACKGROUND).all()


def test_generated_captions_are_true_and_their_converses_false(data):
    reversed_count = 0
    for scene, captions in zip(data.scenes, data.captions):
        for caption in captions:
            assert caption_is_true(scene, caption.text)
            assert referents(scene, caption.text) == [(word, [index]) for word, index in caption.objects]
            relation = CAPTION.fullmatch(caption.text).group(4)
            if relation:
                wrong = caption.text.replace(f" {relation} ", f" {CONVERSE[relation]} ")
                assert not caption_is_true(scene, wrong), wrong
                reversed_count += 1
    assert reversed_count > 100


# A hand-made scene on a 7 × 7 grid of 16-pixel cells: a small red circle top left, a large
# red circle top right and a large blue square bottom right.
SCENE = Scene((Shape("circle", "red", "small", (8, 8, 24, 24)),
               Shape("circle", "red", "large", (76, 6, 104, 34)),
               Shape("square", "blue", "large", (76, 76, 104, 104))), image_size=112)


@pytest.mark.parametrize("text, truth", [
    ("a small red circle left of a blue square", True),
    ("a blue square right of a small red circle", True),
    ("a blue square left of a small red circle", False),          # relation reversed
    ("a large red circle above a blue square", True),
    ("a large red circle below a blue square", False),
    ("a blue square below a large red circle", True),
    ("a green square", False),                                   # wrong colour
    ("a red square", False),
    ("a red triangle", False),                                   # no such object
    ("a small blue square", False),
    ("a red circle", True),                                      # two red circles: not unique, but true
    ("a red circle left of a red circle", True),
    ("a red circle above a red circle", False),                  # side by side, not above
    ("a large red circle left of a red circle", False),
    ("a red circle left of a large red circle", True),
    ("a small red", False),                                      # truncated
    ("a small red circle left of", False),
    ("a small red circle left", False),
    ("a small red circle circle", False),                        # extra word
    ("a a red circle", False),
    ("a small red circle left of a blue square square", False),
    ("a small large red circle", False),
    ("red circle", False),
    ("a red circle near a blue square", False),                  # unknown word
    ("the red circle", False),
    ("A red circle", False),
    ("a red  circle", False),
    (" a red circle", False),
    ("a red circle ", False),
    ("", False),
])
def test_caption_is_true_parses_and_checks(text, truth):
    assert caption_is_true(SCENE, text) is truth


def test_referents_are_every_object_a_phrase_may_name():
    assert referents(SCENE, "a red circle") == [(2, [0, 1])]
    assert referents(SCENE, "a red circle left of a red circle") == [(2, [0]), (7, [1])]
    assert referents(SCENE, "a red circle above a square") is None
    assert referents(SCENE, "a red circle below a blue square") == [(2, [0, 1]), (6, [2])]   # false: attribute fits


def test_region_mask_marks_the_cells_a_box_overlaps():
    small, large, square = SCENE.shapes
    # 16-pixel cells: x 8..24 lies in columns 0 and 1, 76..104 in columns 4..6; y 6..34 in rows 0..2.
    expected = np.zeros((7, 7), dtype=bool)
    expected[0:2, 0:2] = True
    assert (region_mask(small, 112, (7, 7)) == expected.reshape(-1)).all()
    expected = np.zeros((7, 7), dtype=bool)
    expected[0:3, 4:7] = True
    assert (region_mask(large, 112, (7, 7)) == expected.reshape(-1)).all()
    edge = Shape("square", "red", "small", (16, 0, 31, 15))           # exactly cell (0, 1)
    assert np.flatnonzero(region_mask(edge, 112, (7, 7))).tolist() == [1]
    assert np.flatnonzero(region_mask(square, 112, (2, 3))).tolist() == [5]


@pytest.mark.parametrize("grid", [(7, 7), (4, 4), (3, 5), (14, 14)])
def test_region_mask_is_where_adaptive_pooling_sees_the_box(data, grid):
    # The regions an encoder gives: its map pooled to the grid; a cell is marked when its window holds
    # a pixel of the box (with 112 / 5 pixels a cell, a pixel on a border falls in both windows).
    for scene in data.scenes[:30]:
        for shape in scene.shapes:
            x0, y0, x1, y1 = shape.box
            box = torch.zeros(1, 1, 112, 112)
            box[..., y0: y1 + 1, x0: x1 + 1] = 1.0
            expected = (F.adaptive_avg_pool2d(box, grid) > 0).reshape(-1).numpy()
            assert (region_mask(shape, 112, grid) == expected).all()


def test_attention_on_objects_sums_each_object_words_weight_on_its_cells():
    text = "a small red circle left of a blue square"                   # shape words 3 and 8
    words = len(text.split())
    on_object = np.zeros((words + 1, 49))
    on_object[3, 0] = 1.0                                              # cell (0, 0): the small red circle
    on_object[8, 6 * 7 + 6] = 1.0                                      # cell (6, 6): the blue square
    on_object[:, 24] += 1.0                                            # other words: ignored
    assert attention_on_objects(SCENE, text, on_object, (7, 7)) == [1.0, 1.0]
    assert attention_on_objects(SCENE, text, on_object[:words], (7, 7)) == [1.0, 1.0]
    elsewhere = np.zeros((words + 1, 49))
    elsewhere[3, 6] = 1.0                                              # the small circle's word on the large one
    elsewhere[8, 24] = 1.0
    assert attention_on_objects(SCENE, text, elsewhere, (7, 7)) == [0.0, 0.0]
    split = np.zeros((3 + 1, 49))
    split[2, [0, 6]] = 0.5                                             # "a red circle": either circle
    assert attention_on_objects(SCENE, "a red circle", split, (7, 7)) == [1.0]
    assert attention_on_objects(SCENE, "a red circle circle", split, (7, 7)) == []
    with pytest.raises(ValueError, match="weights"):
        attention_on_objects(SCENE, text, on_object[:, :48], (7, 7))


def test_generation_is_a_function_of_the_seed():
    first, again, other = generate_shapes(20, seed=5), generate_shapes(20, seed=5), generate_shapes(20, seed=6)
    assert np.array_equal(first.images, again.images)
    assert first.scenes == again.scenes and first.captions == again.captions
    assert not np.array_equal(first.images, other.images)
    assert [c.text for cs in first.captions for c in cs] != [c.text for cs in other.captions for c in cs]


def test_other_sizes_and_caption_counts():
    data = generate_shapes(4, seed=0, image_size=48, max_shapes=1, captions_per_image=3)
    assert data.images.shape == (4, 48, 48, 3)
    assert all(len(s.shapes) == 1 for s in data.scenes) and all(len(c) == 3 for c in data.captions)
    assert all(caption_is_true(s, c.text) for s, cs in zip(data.scenes, data.captions) for c in cs)


@pytest.mark.parametrize("arguments, name", [
    ({"count": 0, "seed": 0}, "count"),
    ({"count": 2, "seed": 0, "image_size": 40}, "image_size"),
    ({"count": 2, "seed": 0, "max_shapes": 0}, "max_shapes"),
    ({"count": 2, "seed": 0, "max_shapes": 5}, "max_shapes"),
    ({"count": 2, "seed": 0, "captions_per_image": 0}, "captions_per_image"),
])
def test_bad_arguments_are_named(arguments, name):
    with pytest.raises(ValueError, match=name):
        generate_shapes(**arguments)


def test_bad_arguments_of_the_parts_are_named():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="image_size"):
        generate_scene(rng, image_size=47)
    with pytest.raises(ValueError, match="count"):
        captions_for(SCENE, rng, count=0)
    with pytest.raises(ValueError, match="grid"):
        region_mask(SCENE.shapes[0], 112, (0, 7))
