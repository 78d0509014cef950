"""Issue 16, items 5 and 6: what ``validate`` now flags, the shipped files being free of it (with the three
factual errors corrected), and distinct attribute entries for ImageNet's duplicated class names."""
import glob
import json
import os.path as osp

import pytest

from conftest import REPO
from sempt.attributes import AttributeFileError, attribute_file_for, class_ids, load_attributes
from sempt.data import catalog
from sempt.testing import make_attribute_file
from trainers.attributes.quality import check_file, comparison_mentions, unit_mentions

PETS = catalog.classnames("OxfordPets")
ATTRS = ("coat", "ears", "size")
SHIPPED = sorted(glob.glob(osp.join(REPO, "attributes_cache", "*.json")))
STEMS = {d.config: d.reader for d in catalog.CATALOG.values()}


def _pets_file(tmp_path, edit):
    path = make_attribute_file(str(tmp_path / "oxford_pets.json"), "OxfordPets", PETS, ATTRS)
    data = json.load(open(path))
    edit(data["classes"])
    json.dump(data, open(path, "w"))
    return check_file(path, "OxfordPets", PETS)


def test_the_same_description_for_every_attribute_of_a_class(tmp_path):
    def edit(classes):
        classes["beagle"] = {a: "tricolour hound with long droopy ears" for a in ATTRS}
        classes["boxer"]["size"] = classes["boxer"]["coat"]
    errors, warnings, _ = _pets_file(tmp_path, edit)
    assert errors == []
    assert any(w.startswith("'beagle': the same description for all 3 attributes") for w in warnings)
    assert any(w.startswith("'boxer': the same description for attributes ['coat', 'size']") for w in warnings)


def test_near_duplicates_in_another_word_order(tmp_path):
    def edit(classes):
        classes["keeshond"]["ears"] = "small, triangular, erect ears set high"
        classes["pomeranian"]["ears"] = "small erect, triangular ears set high"
    errors, warnings, _ = _pets_file(tmp_path, edit)
    assert errors == []
    assert any("near-duplicate descriptions (the same words in another order) for ['keeshond', 'pomeranian']" in w
               for w in warnings)


def test_a_comparison_that_names_another_class(tmp_path):
    def edit(classes):
        classes["american_pit_bull_terrier"]["size"] = "medium, taller than the Staffordshire Bull Terrier"
        classes["chihuahua"]["size"] = "tiny, lighter than a pug"  # a one-word name right after "than"
        classes["beagle"]["size"] = "small, shorter than most hounds"  # no class named: fine
    errors, warnings, _ = _pets_file(tmp_path, edit)
    assert errors == []
    text = "\n".join(warnings)
    assert "'american_pit_bull_terrier' / 'size': compares with another class, 'staffordshire_bull_terrier'" in text
    assert "'chihuahua' / 'size': compares with another class, 'pug'" in text
    assert "'beagle'" not in text
    keys = {"red fox": "red fox", "fox": "fox", "mop": "mop"}
    assert comparison_mentions("stockier than a red fox", "grey fox", keys) == ["red fox"]
    assert comparison_mentions("long dog-like muzzle", "baboon", {"muzzle": "muzzle"}) == []


def test_units_a_photo_cannot_show(tmp_path):
    def edit(classes):
        classes["newfoundland"]["size"] = "giant, 60-70 kg, 69 cm at the shoulder"
        classes["pug"]["size"] = "small square body, weighs little"
        classes["boxer"]["size"] = "medium-large, square, knee-high"  # relative size: fine
    errors, warnings, _ = _pets_file(tmp_path, edit)
    assert errors == []
    text = "\n".join(warnings)
    assert "'newfoundland' / 'size': a measurement a photo cannot show (60-70 kg, 69 cm)" in text
    assert "'pug' / 'size': a measurement a photo cannot show (weighs)" in text and "'boxer'" not in text
    assert unit_mentions("on 18-inch alloys") == ["18 inch"] and unit_mentions("2.5 m wingspan") == ["2.5 m"]
    assert unit_mentions("Boeing 737 MAX, 3 engines, 35-degree sweep, weight plates") == []


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: osp.basename(p))
def test_shipped_files_have_none_of_the_new_problems(path):
    reader = STEMS[osp.basename(path)[:-5]]
    errors, warnings, _ = check_file(path, reader, catalog.classnames(reader), 20, 0.02)
    assert errors == []
    flagged = [w for w in warnings if "another order" in w or "compares with another class" in w
               or "the same description for" in w]
    assert flagged == []
    units = [w for w in warnings if "measurement a photo cannot show" in w]
    assert units == [], units[:5]


def test_three_factual_errors_are_corrected():
    cars = json.load(open(osp.join(REPO, "attributes_cache", "stanford_cars.json")))["classes"]
    flowers = json.load(open(osp.join(REPO, "attributes_cache", "oxford_flowers.json")))["classes"]
    assert "four small round headlamps" in cars["2001 Acura Integra Type R"]["headlight shape"].lower()
    assert "five-lobed stigma" in flowers["canterbury bells"]["flower centre"]
    rear = cars["2012 Jeep Liberty SUV"]["rear and tail-light design"].lower()
    assert "liftgate" in rear and "no exterior spare" in rear


# --- 6. classes that share a name ----------------------------------------------------------------------------

def test_class_ids_follow_the_reader_and_its_halves():
    names = catalog.classnames("ImageNet")
    ids = class_ids("ImageNet", names)
    assert [ids[i] for i, c in enumerate(names) if c == "missile"] == ["n03773504", "n04008634"]
    assert class_ids("ImageNet", names[500:]) == ids[500:] and class_ids("ImageNet", names[:500]) == ids[:500]
    assert class_ids("OxfordPets", PETS[:19])[:2] == ["#0", "#1"]
    assert class_ids("OxfordPets", ["not a pet"]) is None and class_ids("NoSuchSet", ["a"]) is None


def test_shipped_imagenet_file_tells_the_duplicated_names_apart():
    path = attribute_file_for("ImageNet")
    k = load_attributes(path, dataset="ImageNet")
    names = catalog.classnames("ImageNet")
    ids = class_ids("ImageNet", names)
    _, table = k.descriptions_for(names, 6, ids=ids)
    for name in ("missile", "sunglasses"):
        i, j = [n for n, c in enumerate(names) if c == name]
        assert table[i] != table[j] and all(a != b for a, b in zip(table[i], table[j]))
    # without ids (an older reader, an unknown label space) both fall back to the shared entry
    _, plain = k.descriptions_for(names, 6)
    i, j = [n for n, c in enumerate(names) if c == "missile"]
    assert plain[i] == plain[j] == [k.classes["missile"][a] for a in k.attributes]
    # ImageNet-R holds one of the two missiles: it gets that one's entry
    r_names = catalog.classnames("ImageNetR")
    _, r_table = k.descriptions_for(r_names, 6, ids=class_ids("ImageNetR", r_names))
    assert r_table[r_names.index("missile")] == [k.by_id["missile"]["n03773504"][a] for a in k.attributes]


def test_validate_requires_distinct_entries_for_shared_names(tmp_path):
    names = catalog.classnames("ImageNet")
    path = make_attribute_file(str(tmp_path / "imagenet.json"), "ImageNet", names, ("shape", "colour"))
    errors, _, _ = check_file(path, "ImageNet", names)
    assert any(e.startswith("'missile' names 2 classes of ImageNet (n03773504, n04008634)") and "by_id" in e
               for e in errors)
    data = json.load(open(path))
    pairs = (("missile", ("n03773504", "n04008634")), ("sunglasses", ("n04355933", "n04356056")))
    data["by_id"] = {c: {i: {a: f"{c} {i} {a} look" for a in ("shape", "colour")} for i in ids} for c, ids in pairs}
    json.dump(data, open(path, "w"))
    assert check_file(path, "ImageNet", names)[0] == []
    data["by_id"]["no such class"] = {"n0": {"shape": "x"}}  # no shared entry for it
    json.dump(data, open(path, "w"))
    with pytest.raises(AttributeFileError, match="'by_id' has entries for 'no such class', which 'classes' lacks"):
        load_attributes(path)
    data["by_id"] = {"missile": {"n03773504": {"size": "x"}}}
    json.dump(data, open(path, "w"))
    with pytest.raises(AttributeFileError, match=r"class 'missile' with id 'n03773504' describes unknown attribute"):
        load_attributes(path)


def test_sempt_attribute_table_uses_the_distinct_entries(capsys):
    from types import SimpleNamespace

    from trainers.sempt import SemPT
    names = catalog.classnames("ImageNet")
    S = SimpleNamespace(ATTRIBUTES_FILE="", ATTRIBUTES_DIR="", NUM_ATTRIBUTES=6)
    fake = SimpleNamespace(tcfg=S, cfg=SimpleNamespace(DATASET=SimpleNamespace(NAME="ImageNet"),
                                                       TRAINER={"SEMPT": S}), CFG_SECTION="SEMPT")
    k, attrs, table, _ = SemPT.attribute_table(fake, names[500:])  # the "new" half holds both missiles
    new = names[500:]
    i, j = [n for n, c in enumerate(new) if c == "missile"]
    assert table[i] == [k.by_id["missile"]["n03773504"][a] for a in attrs]
    assert table[j] == [k.by_id["missile"]["n04008634"][a] for a in attrs]
    out = capsys.readouterr().out
    assert ("Classes sharing a name: ['missile', 'sunglasses']; distinct attribute entries for "
            "['missile', 'sunglasses']") in out


def test_the_pipeline_writes_distinct_entries_for_shared_names(tmp_path, monkeypatch):
    from fake_openai import FakeLLM
    from trainers.attributes.exchange import export
    from trainers.attributes.llm import LLMClient
    from trainers.attributes.pipeline import generate
    names = catalog.classnames("ImageNet")[500:]  # the "new" half holds both missiles and both sunglasses
    server = FakeLLM()
    monkeypatch.setenv("OPENAI_API_KEY", server.key)
    try:
        path = generate(LLMClient("m", base_url=server.url, sleep=lambda s: None), "ImageNet", names, "objects",
                        n_attributes=2, batch_size=250, directory=str(tmp_path))
    finally:
        server.close()
    prompts_sent = "\n".join(r["body"]["messages"][-1]["content"] for r in server.requests)
    assert "- missile [n04008634]: WordNet 'projectile, missile'" in prompts_sent
    k = load_attributes(path, dataset="ImageNet")
    assert sorted(k.by_id) == ["missile", "sunglasses"] and sorted(k.by_id["missile"]) == ["n03773504", "n04008634"]
    assert not any("[" in c for c in k.classes) and len(k.classes) == 498
    assert check_file(path, "ImageNet", names)[0] == []
    assert k.provenance["counts"]["distinct entries for shared names"] == 4
    export("ImageNet", names, "objects", str(tmp_path / "ex"), n_attributes=2)
    exported = json.load(open(tmp_path / "ex" / "ImageNet" / "export.json"))["classes"]
    assert "sunglasses [n04356056]" in exported and len(exported) == 502


def test_row_keys_and_all_entries_for_an_embedding_cache():
    from sempt.attributes import split_variant_key
    k = load_attributes(attribute_file_for("ImageNet"), dataset="ImageNet")
    names = catalog.classnames("ImageNet")
    keys = k.row_keys(names, class_ids("ImageNet", names))
    entries = k.all_entries()
    assert len(set(keys)) == 1000 and all(key in entries for key in keys)
    assert keys[names.index("missile")] == "missile [n03773504]"
    assert split_variant_key(keys[657]) == ("missile", "n03773504")
    assert k.row_keys(names)[657] == "missile" and len(entries) == 998 + 4
