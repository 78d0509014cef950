"""The one reader of class-name list files (``sempt.fileio.read_class_list``), used by the attribute CLI's
``--classes`` and by ``sempt.predict --classes``: formats it accepts and the one-line errors it gives."""
import json

import pytest

from sempt.fileio import read_class_list


def test_lines_json_and_comments(tmp_path):
    lines = tmp_path / "pets.txt"
    lines.write_text("# my pets\nabyssinian\n\n  glass cat  \n#beagle\nmoon rabbit\n", encoding="utf-8")
    assert read_class_list(str(lines)) == ["abyssinian", "glass cat", "moon rabbit"]
    as_json = tmp_path / "pets.json"
    as_json.write_text(json.dumps([" abyssinian", "glass cat", "#1 dog"]), encoding="utf-8")
    assert read_class_list(str(as_json)) == ["abyssinian", "glass cat", "#1 dog"]  # JSON names are taken as given


@pytest.mark.parametrize("content, message", [
    ("", "no class names in the file (one per line, or a JSON list)"),
    ("# only a comment\n\n", "no class names in the file (one per line, or a JSON list)"),
    ("daisy\ntulip\ndaisy\n", "['daisy'] appear more than once; give each class once"),
    ('["daisy", ', "not a valid JSON list (Expecting value: line 1 column 11 (char 10))"),
    ('["daisy", 3]', "the JSON list must hold non-empty class names"),
    ('["daisy", "  "]', "the JSON list must hold non-empty class names"),
])
def test_bad_files_give_one_line_naming_the_file(tmp_path, content, message):
    path = tmp_path / "classes.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError) as e:
        read_class_list(str(path), flag="--classes")
    assert str(e.value) == f"--classes {path}: {message}"


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(ValueError) as e:
        read_class_list(str(tmp_path / "nope.txt"), flag="--classnames-file")
    assert str(e.value) == f"--classnames-file {tmp_path / 'nope.txt'}: No such file or directory"
    binary = tmp_path / "x.bin"
    binary.write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(ValueError) as e:
        read_class_list(str(binary))
    assert str(e.value) == f"--classes {binary}: not a UTF-8 text file"
