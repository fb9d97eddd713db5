"""`live-digits image` end to end through the CLI's main(): files and folders in, annotated copies, JSON lines and
a summary out, whatever format the photos come in, and one clear line for each file that cannot be read."""

from __future__ import annotations

import json
import os

import cv2
import numpy as np
import pillow_heif
import pytest
from PIL import Image

from live_digits.cli import main

from test_recognizer import page_of


@pytest.fixture(scope="module")
def photos(tmp_path_factory, mnist):
    """A folder of the same page in several formats, plus the number it holds."""
    folder = tmp_path_factory.mktemp("photos")
    page, texts = page_of(mnist, [[[0, 1]]])  # "72"
    gray = cv2.cvtColor(page, cv2.COLOR_BGR2GRAY)
    cv2.imwrite(str(folder / "a_colour.jpg"), page)
    cv2.imwrite(str(folder / "b_gray.png"), gray)
    cv2.imwrite(str(folder / "c_sixteen.png"), gray.astype(np.uint16) * 257)
    bgra = np.zeros((*gray.shape, 4), np.uint8)  # dark digits on a transparent background
    bgra[:, :, 3] = 255 - gray
    cv2.imwrite(str(folder / "d_alpha.png"), bgra)
    Image.fromarray(gray).save(folder / "e_pillow.gif")
    pillow_heif.register_heif_opener()
    Image.fromarray(cv2.cvtColor(page, cv2.COLOR_BGR2RGB)).save(folder / "f_phone.heic")
    (folder / "notes.txt").write_text("not an image, and not taken for one")
    return folder, texts[0]


def run(capsys, *args) -> tuple[int, str, str]:
    code = main(["image", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def read_lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_folder_of_formats(photos, tmp_path, capsys, model_path):
    folder, text = photos
    code, out, err = run(capsys, folder, "--output", tmp_path / "out", "--json", tmp_path / "r.jsonl",
                         "--model", model_path)
    assert code == 0, err
    records = read_lines(tmp_path / "r.jsonl")
    names = ["a_colour.jpg", "b_gray.png", "c_sixteen.png", "d_alpha.png", "e_pillow.gif", "f_phone.heic"]
    assert [r["source"] for r in records] == [os.path.join(str(folder), n) for n in names]
    for record in records:
        assert [n["text"] for n in record["numbers"]] == [text]
        assert all(set(d) == {"digit", "confidence", "box"} for d in record["digits"])
    assert sorted(os.listdir(tmp_path / "out")) == ["a_colour.jpg", "b_gray.png", "c_sixteen.png", "d_alpha.png",
                                                    "e_pillow.png", "f_phone.png"]
    annotated = cv2.imread(str(tmp_path / "out" / "b_gray.png"))
    assert annotated.ndim == 3 and annotated.shape[:2] == (360, 640)
    assert out.splitlines()[0] == f"{os.path.join(str(folder), 'a_colour.jpg')}: {text}"


def test_json_to_stdout_keeps_the_summary_off_it(photos, capsys, model_path):
    folder, text = photos
    source = str(folder / "b_gray.png")
    code, out, err = run(capsys, source, "--json", "-", "--model", model_path)
    assert code == 0
    (record,) = [json.loads(line) for line in out.splitlines()]
    assert record["source"] == source and [n["text"] for n in record["numbers"]] == [text]
    assert f"{source}: {text}" in err


def test_tiny_image_is_read_and_annotated_legibly(tmp_path, capsys, model_path, mnist):
    tiny = 255 - mnist[1][0][0]  # a 28x28 MNIST "7", dark on white
    cv2.imwrite(str(tmp_path / "tiny.png"), tiny)
    code, out, err = run(capsys, tmp_path / "tiny.png", "--output", tmp_path / "out", "--model", model_path)
    assert code == 0
    assert out.strip().endswith(": 7")
    assert max(cv2.imread(str(tmp_path / "out" / "tiny.png")).shape[:2]) >= 480


def test_bad_files_reported_and_skipped_then_non_zero_exit(photos, tmp_path, capsys, model_path):
    folder, text = photos
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (tmp_path / "empty.jpg").write_bytes(b"")
    code, out, err = run(capsys, tmp_path / "broken.png", folder / "b_gray.png", tmp_path / "empty.jpg",
                         tmp_path / "missing.png", "--json", tmp_path / "r.jsonl", "--model", model_path)
    assert code == 1
    errors = err.strip().splitlines()
    assert any("broken.png" in line and "not an image" in line for line in errors)
    assert any("empty.jpg" in line and "empty" in line for line in errors)
    assert any("missing.png" in line and "no such file" in line for line in errors)
    assert all(line.startswith("live-digits: error: ") for line in errors)
    assert [r["source"] for r in read_lines(tmp_path / "r.jsonl")] == [str(folder / "b_gray.png")]
    assert "Traceback" not in err


def test_nothing_readable_is_an_error(tmp_path, capsys, model_path):
    code, out, err = run(capsys, tmp_path / "missing.png", "--model", model_path)
    assert code == 1 and "no such file" in err
    assert len(err.strip().splitlines()) == 1  # one line, said once
    (tmp_path / "empty_folder").mkdir()
    code, out, err = run(capsys, tmp_path / "empty_folder", "--model", model_path)
    assert code == 1 and "no image files" in err


def test_output_that_is_a_file_is_refused_before_any_work(photos, tmp_path, capsys, model_path):
    folder, _ = photos
    (tmp_path / "taken").write_text("")
    code, out, err = run(capsys, folder / "b_gray.png", "--output", tmp_path / "taken", "--model", model_path)
    assert code == 1 and "not a folder" in err and out == ""


def test_no_partial_files_left_behind(photos, tmp_path, capsys, model_path):
    folder, _ = photos
    run(capsys, folder, "--output", tmp_path / "out", "--json", tmp_path / "r.jsonl", "--model", model_path)
    leftovers = [n for n in os.listdir(tmp_path) + os.listdir(tmp_path / "out") if "partial" in n]
    assert leftovers == []


def test_same_names_from_two_folders_both_kept(photos, tmp_path, capsys, model_path):
    folder, _ = photos
    other = tmp_path / "other"
    other.mkdir()
    cv2.imwrite(str(other / "b_gray.png"), cv2.imread(str(folder / "b_gray.png")))
    code, _, _ = run(capsys, folder / "b_gray.png", other / "b_gray.png", "--output", tmp_path / "out",
                     "--model", model_path)
    assert code == 0
    assert sorted(os.listdir(tmp_path / "out")) == ["b_gray-2.png", "b_gray.png"]


def test_bad_confidence_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["image", "x.png", "--confidence", "2"])
    assert exit_.value.code == 2
    assert "between 0 and 1" in capsys.readouterr().err
