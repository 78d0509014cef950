"""The attribute pipeline against a real OpenAI-compatible HTTP server on 127.0.0.1, through the real
``openai`` client: clean runs, recoveries, repairs, re-asks, resumption, errors, export/import, checks."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

from conftest import REPO
from sempt.attributes import load_attributes
from sempt.data import catalog
from trainers.attributes.exchange import ExchangeError, export, import_answers
from trainers.attributes.llm import LLMClient, LLMError
from trainers.attributes.pipeline import GenerationIncomplete, generate
from trainers.attributes.quality import check_file

PETS = catalog.classnames("OxfordPets")


def client(llm, **kw):
    return LLMClient("test-model", base_url=llm.url, sleep=lambda s: None, **kw)


def _gen(llm, tmp_path, c=None, **kw):
    return generate(c or client(llm), "OxfordPets", PETS, "cat and dog breeds", n_attributes=4, batch_size=10,
                    directory=str(tmp_path), **kw)


def test_clean_run_writes_a_file_the_trainer_loads(llm, tmp_path):
    path = _gen(llm, tmp_path)
    assert path == str(tmp_path / "oxford_pets.json") and not osp.exists(tmp_path / "oxford_pets.partial.json")
    assert len(llm.requests) == 1 + 4  # step 1, then ceil(37 / 10) batches
    k = load_attributes(path, dataset="OxfordPets")
    attrs, table = k.descriptions_for(PETS, n_attributes=4)
    assert attrs == ["trait 0", "trait 1", "trait 2", "trait 3"] and len(table) == 37
    prov = k.provenance
    assert prov["model"] == "test-model" and prov["endpoint_host"] == llm.url.split("/")[2]
    assert prov["status"] == "complete" and prov["counts"] == {"classes": 37, "attributes": 4}
    assert prov["prompt_version"] and len(prov["prompt_hash"]) == 12 and prov["date"].endswith("Z")
    assert llm.key not in open(path).read()
    assert check_file(path, "OxfordPets", PETS)[0] == []
    assert llm.requests[0]["body"]["response_format"] == {"type": "json_object"}


def test_rate_limits_and_server_errors_recover(llm, tmp_path):
    llm.script = [429, 500, 503, None]  # step 1 succeeds on the fourth try
    c = client(llm)
    _gen(llm, tmp_path, c)
    assert c.retries == 3 and len(llm.requests) == 4 + 4


def test_malformed_json_is_repaired(llm, tmp_path):
    llm.script = [None, '{"classes": {"abyssinian": ']  # the first step-2 answer is cut off
    _gen(llm, tmp_path)
    repair = llm.requests[2]["body"]["messages"]
    assert repair[-2]["role"] == "assistant" and "not valid JSON" in repair[-1]["content"]
    assert len(llm.requests) == 1 + 4 + 1


def test_omitted_and_renamed_classes_are_re_asked(llm, tmp_path):
    from fake_openai import correct_answer
    from trainers.attributes import prompts
    attrs = [{"name": f"trait {i}", "definition": ""} for i in range(4)]
    answer = json.loads(correct_answer(prompts.step2_messages("OxfordPets", "d", attrs, PETS[:10], 20)))
    del answer["classes"]["beagle"]  # omitted
    llm.script = [None, json.dumps(answer)]
    _gen(llm, tmp_path)
    reask = llm.requests[2]["body"]["messages"][-1]["content"]
    assert "- beagle" in reask and "- abyssinian" not in reask
    assert "beagle" in load_attributes(str(tmp_path / "oxford_pets.json")).classes
    # a name the model "fixed" is refused and asked again, never silently accepted
    answer["classes"]["Beagle"] = answer["classes"]["abyssinian"]
    llm.script = [None, json.dumps(answer)]
    _gen(llm, tmp_path / "again")
    repairs = [r["body"]["messages"][-1]["content"] for r in llm.requests
               if "not among the categories" in r["body"]["messages"][-1]["content"]]
    assert len(repairs) == 1 and "['Beagle']" in repairs[0]
    assert "Beagle" not in load_attributes(str(tmp_path / "again" / "oxford_pets.json")).classes


def test_unfixable_classes_are_reported_by_class(llm, tmp_path):
    bad = json.dumps({"classes": {}})
    llm.script = [None] + [bad] * 3  # the first batch: answer, then two re-asks, all empty
    with pytest.raises(GenerationIncomplete, match=r"10 class\(es\) could not be described:\n  'abyssinian': missing"):
        _gen(llm, tmp_path)
    partial = json.load(open(tmp_path / "oxford_pets.partial.json"))
    assert len(partial["classes"]) == 27 and partial["provenance"]["status"] == "partial"


def test_interrupted_run_resumes_without_repeating_batches(llm, tmp_path):
    llm.script = [None, None, None] + [500] * 10  # step 1 and two batches, then the server breaks
    with pytest.raises(LLMError, match="kept failing after 2 attempts"):
        _gen(llm, tmp_path, client(llm, max_attempts=2))
    partial = json.load(open(tmp_path / "oxford_pets.partial.json"))
    assert len(partial["classes"]) == 20 and partial["attributes"]
    llm.script, before = [], len(llm.requests)
    _gen(llm, tmp_path)
    assert len(llm.requests) - before == 2  # only the two remaining batches, no new step 1
    assert len(load_attributes(str(tmp_path / "oxford_pets.json")).classes) == 37
    before = len(llm.requests)
    _gen(llm, tmp_path)  # complete: nothing to do without --force
    assert len(llm.requests) == before


def test_bad_key_unknown_model_and_unreachable_server(llm, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-key")
    with pytest.raises(LLMError, match="rejected the API key.*OPENAI_API_KEY"):
        _gen(llm, tmp_path)
    monkeypatch.setenv("OPENAI_API_KEY", llm.key)
    with pytest.raises(LLMError, match="does not know model 'no-such-model'.*--model"):
        generate(LLMClient("no-such-model", base_url=llm.url, sleep=lambda s: None), "OxfordPets", PETS, "d",
                 directory=str(tmp_path))
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there
    with pytest.raises(LLMError, match=rf"Cannot reach http://127.0.0.1:{port}/v1.*--base-url"):
        _gen(llm, tmp_path, LLMClient("m", base_url=f"http://127.0.0.1:{port}/v1", sleep=lambda s: None,
                                      max_attempts=2))
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(LLMError, match="OPENAI_API_KEY is not set"):
        LLMClient("m")


def test_cli_generate_dry_run_and_validate(llm, tmp_path):
    env = dict(os.environ, OPENAI_API_KEY=llm.key)
    run = lambda *a: subprocess.run([sys.executable, "-m", "trainers.attributes", *a], cwd=REPO, env=env,
                                    capture_output=True, text=True)
    dry = run("generate", "--dataset", "dtd", "--dry-run", "--attributes", "5", "--batch-size", "16")
    assert dry.returncode == 0 and "requests (without repairs)  4" in dry.stdout and not llm.requests
    out = run("generate", "--dataset", "dtd", "--attributes", "5", "--base-url", llm.url, "--dir", str(tmp_path),
              "--backoff", "0.01")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "DescribableTextures" in out.stdout and " ok " in out.stdout and llm.key not in out.stdout + out.stderr
    val = run("validate", "--all", "--dir", str(tmp_path))
    assert val.returncode == 0 and "DescribableTextures" in val.stdout


def test_generated_file_drives_a_sempt_run(llm, tmp_path, tiny_clip):
    from conftest import TINY_OPTS, run_train
    from sempt.testing import make_dataset_tree
    generate(client(llm), "DescribableTextures", catalog.classnames("dtd"), "textures", n_attributes=3,
             batch_size=16, directory=str(tmp_path / "attrs"))
    root = str(tmp_path / "data")
    make_dataset_tree(root, "DescribableTextures", per_class=(1, 1, 1), image_size=32)
    proc = run_train("--root", root, "--seed", 1, "--trainer", "SemPT", "--dataset-config-file",
                     "configs/datasets/dtd.yaml", "--output-dir", tmp_path / "run", "MODEL.BACKBONE.NAME",
                     tiny_clip["state_dict"], *TINY_OPTS, "OPTIM.MAX_EPOCH", "1", "DATASET.NUM_SHOTS", "1",
                     "DATASET.SUBSAMPLE_CLASSES", "base", "TRAINER.SEMPT.ATTRIBUTES_DIR", tmp_path / "attrs",
                     "TRAINER.SEMPT.NUM_ATTRIBUTES", "3", "TRAINER.SEMPT.EMBED_CACHE", tmp_path / "emb")
    assert "Attributes (3) from " + str(tmp_path / "attrs" / "dtd.json") in proc.stdout
    assert "Finish training" in proc.stdout


def test_export_import_round_trip_gives_the_same_structure(llm, tmp_path):
    from fake_openai import correct_answer
    generated = load_attributes(_gen(llm, tmp_path / "gen"))
    folder = str(tmp_path / "exchange")
    todo = export("OxfordPets", PETS, "cat and dog breeds", folder, n_attributes=4, batch_size=10)
    assert todo == [osp.join(folder, "OxfordPets", "step1_answer.json")]
    with pytest.raises(ExchangeError, match="step1_answer.json is missing"):
        import_answers("OxfordPets", folder, directory=str(tmp_path / "imp"))

    def answer(prompt_file, answer_file):  # "a chat assistant" answers the exported prompt
        text = open(prompt_file).read()
        user = text.split("### user\n", 1)[1]
        open(answer_file, "w").write(correct_answer([{"role": "user", "content": user}]))

    d = osp.join(folder, "OxfordPets")
    answer(osp.join(d, "step1_prompt.txt"), osp.join(d, "step1_answer.json"))
    todo = export("OxfordPets", PETS, "cat and dog breeds", folder, n_attributes=4, batch_size=10)
    assert len(todo) == 4
    for i, ans in enumerate(todo[:-1]):
        answer(osp.join(d, f"step2_prompt_{i:03d}.txt"), ans)
    with pytest.raises(ExchangeError, match=r"step2_answer_003.json: missing"):
        import_answers("OxfordPets", folder, directory=str(tmp_path / "imp"))
    answer(osp.join(d, "step2_prompt_003.txt"), todo[-1])
    imported = load_attributes(import_answers("OxfordPets", folder, directory=str(tmp_path / "imp"),
                                              answered_by="a test"))
    assert imported.attributes == generated.attributes and set(imported.classes) == set(generated.classes)
    assert all(set(v) == set(generated.classes[c]) for c, v in imported.classes.items())
    assert imported.provenance["method"] == "export/import" and imported.provenance["answered_by"] == "a test"
    assert check_file(imported.path, "OxfordPets", PETS)[0] == []


def test_quality_checks_catch_bad_files(tmp_path):
    from sempt.testing import make_attribute_file
    names = catalog.classnames("FGVCAircraft")
    path = make_attribute_file(str(tmp_path / "fgvc_aircraft.json"), "FGVCAircraft", names, ("wings", "tail"))
    errors, _, _ = check_file(path, "FGVCAircraft", names)
    assert errors == []
    data = json.load(open(path))
    data["classes"]["737-300"]["wings"] = data["classes"]["737-400"]["wings"]  # identical
    data["classes"]["737-500"]["tail"] = "The " + data["classes"]["737-600"]["tail"].upper() + "."  # near-duplicate
    data["classes"]["A310"]["wings"] = " ".join(["long"] * 30)  # too long
    data["classes"]["A318"]["tail"] = "the tail of a 747-400"  # another class, as if it were this one
    data["classes"]["A319"]["tail"] = "taller than the 747-400's tail"  # a contrast is fine
    del data["classes"]["A320"]
    json.dump(data, open(path, "w"))
    errors, _, _ = check_file(path, "FGVCAircraft", names)
    assert any("no descriptions for 1 class" in e and "A320" in e for e in errors)
    data["classes"]["A320"] = dict(data["classes"]["A321"])
    data["classes"]["A320"]["wings"] = "wings of the A320 family, short"
    data["classes"]["A320"]["tail"] = "a single fin with a small dorsal fillet"
    json.dump(data, open(path, "w"))
    errors, warnings, _ = check_file(path, "FGVCAircraft", names, near_dup_max=0.0)
    text = "\n".join(errors)
    assert "identical description for 2 classes ['737-300', '737-400']" in text
    assert "'A310' / 'wings': 30 words" in text
    assert "'A318' / 'tail': mentions another class, '747-400'" in text and "'A319'" not in text
    assert "'tail': 2 of 100 classes share a near-duplicate" in text
    assert any("near-duplicate descriptions for ['737-500', '737-600']" in w for w in warnings)


def test_ctrl_c_leaves_a_valid_partial_file(llm, tmp_path):
    c = client(llm)
    real, calls = c.chat, []

    def chat(messages, on_retry=None):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(messages, on_retry)

    c.chat = chat
    with pytest.raises(KeyboardInterrupt):
        _gen(llm, tmp_path, c)
    partial = json.load(open(tmp_path / "oxford_pets.partial.json"))
    assert len(partial["classes"]) == 10 and not osp.exists(tmp_path / "oxford_pets.json")
    assert partial["provenance"]["requests"] == 2  # the interrupted run's requests still count
    _gen(llm, tmp_path)
    assert len(load_attributes(str(tmp_path / "oxford_pets.json")).classes) == 37


# --- datasets whose class names are not shipped: the synthetic world, --classes lists, a user's ImageFolder ---

def _cli(capsys, *argv):
    from trainers.attributes.__main__ import main
    capsys.readouterr()
    rc = main(list(argv))
    seen = capsys.readouterr()
    return rc, seen.out, seen.err


def test_validate_knows_the_synthetic_world(tmp_path, capsys, monkeypatch):
    """`validate --dataset CLIPWorld` used to answer "Unknown dataset 'CLIPWorld'": its class names come from
    its data, read under --root."""
    from sempt.testing import make_attribute_file, make_coop_dataset
    monkeypatch.delenv("DATA", raising=False)
    names = ["red striped circle", "blital", "green dotted square"]
    root = str(tmp_path / "data")
    make_coop_dataset(root, "clip_world", "images", "split_zhou_CLIPWorld_s0.json", names, n_train=1, n_val=1,
                      n_test=1, image_size=8)
    attrs = tmp_path / "attrs"
    path = make_attribute_file(str(attrs / "clipworld.json"), "CLIPWorld", names)
    rc, out, _ = _cli(capsys, "validate", "--dataset", "CLIPWorld", "--root", root, "--dir", str(attrs))
    assert rc == 0 and out.splitlines()[-1].split()[:3] == ["CLIPWorld", osp.relpath(path), "ok"]
    rc, _, err = _cli(capsys, "validate", "--dataset", "CLIPWorld", "--dir", str(attrs))
    assert rc == 1 and err.startswith("error: CLIPWorld's class names come from its data: pass --root (or set DATA)")
    data = json.load(open(path))  # the world's ground truth: classes that share a value share a description
    data["classes"]["blital"]["colour"] = data["classes"]["red striped circle"]["colour"]
    json.dump(data, open(path, "w"))
    rc, out, _ = _cli(capsys, "validate", "--dataset", "CLIPWorld", "--root", root, "--dir", str(attrs))
    assert rc == 1 and "'colour': identical description for 2 classes" in out
    rc, out, _ = _cli(capsys, "validate", "--dataset", "CLIPWorld", "--root", root, "--dir", str(attrs),
                      "--allow-shared")
    assert rc == 0 and out.splitlines()[-1].split()[2:4] == ["ok", "2"]  # two warnings: identical, share


def test_class_list_from_a_file_lines_or_json(tmp_path, capsys):
    from fake_openai import correct_answer
    lines = tmp_path / "garden.txt"
    lines.write_text("daisy\n\ncommon rose\ntulip\n")
    as_json = tmp_path / "garden.json"
    as_json.write_text(json.dumps(["daisy", "common rose", "tulip"]))
    out_dir, attrs = tmp_path / "exchange", tmp_path / "attrs"
    rc, _, err = _cli(capsys, "export", "--classes", str(lines), "--out", str(out_dir), "--attributes", "3")
    assert rc == 1 and "No domain description for dataset 'garden': pass --domain" in err
    rc, _, _ = _cli(capsys, "export", "--classes", str(lines), "--domain", "flowers", "--out", str(out_dir),
                    "--attributes", "3")
    assert rc == 0
    assert json.load(open(out_dir / "garden" / "export.json"))["classes"] == ["daisy", "common rose", "tulip"]

    def answer(prompt, reply):  # "a chat assistant" answers an exported prompt
        user = (out_dir / "garden" / prompt).read_text().split("### user\n", 1)[1]
        (out_dir / "garden" / reply).write_text(correct_answer([{"role": "user", "content": user}]))

    answer("step1_prompt.txt", "step1_answer.json")
    assert _cli(capsys, "export", "--classes", str(lines), "--domain", "flowers", "--out", str(out_dir),
                "--attributes", "3")[0] == 0
    answer("step2_prompt_000.txt", "step2_answer_000.json")
    rc, out, _ = _cli(capsys, "import", "--classes", str(lines), "--from", str(out_dir), "--dir", str(attrs))
    assert rc == 0 and " ok " in out and json.load(open(attrs / "garden.json"))["dataset"] == "garden"
    rc, out, _ = _cli(capsys, "validate", "--dataset", "garden", "--classes", str(as_json), "--dir", str(attrs))
    assert rc == 0  # the same list as JSON, under its dataset name
    as_json.write_text(json.dumps(["daisy", "common rose", "tulip", "lily"]))
    rc, out, _ = _cli(capsys, "validate", "--dataset", "garden", "--classes", str(as_json), "--dir", str(attrs))
    assert rc == 1 and "no descriptions for 1 class(es)" in out and "lily" in out
    lines.write_text("daisy\ndaisy\n")
    rc, _, err = _cli(capsys, "validate", "--classes", str(lines), "--dir", str(attrs))
    assert rc == 1 and err.strip() == f"error: --classes {lines}: ['daisy'] appear more than once; give each class once"


def test_generate_for_an_image_folder_config(llm, tmp_path, capsys, monkeypatch):
    import sempt.data.catalog as catalog_module
    from sempt.testing import make_coop_dataset
    root = str(tmp_path / "data")
    make_coop_dataset(root, "garden", "", "", ["n1", "n2", "n3"], n_train=3, n_val=0, n_test=0,
                      folder_of=lambda label, c: c, write_split=False, image_size=8)
    open(osp.join(root, "garden", "names.txt"), "w").write("n1 daisy\nn2 common rose\nn3 tulip\n")
    configs = tmp_path / "configs"
    configs.mkdir()
    example = open(osp.join(REPO, "configs", "datasets", "image_folder.yaml")).read()
    config = configs / "my_garden.yaml"
    config.write_text(example.replace('DIR: "my_dataset"', 'DIR: "garden"').replace('NAME: ""', 'NAME: "MyGarden"')
                      .replace('CLASSNAMES: ""', 'CLASSNAMES: "names.txt"'))
    attrs = str(tmp_path / "attrs")
    common = ["--dataset", str(config), "--root", root, "--dir", attrs, "--attributes", "3"]
    rc, _, err = _cli(capsys, "generate", *common, "--base-url", llm.url, "--backoff", "0")
    assert rc == 1 and "or set DATASET.IMAGE_FOLDER.DOMAIN in " + str(config) in err
    rc, out, _ = _cli(capsys, "generate", *common, "--domain", "garden flowers", "--base-url", llm.url,
                      "--backoff", "0")
    assert rc == 0 and "MyGarden" in out
    written = json.load(open(osp.join(attrs, "MyGarden.json")))
    assert written["dataset"] == "MyGarden" and sorted(written["classes"]) == ["common rose", "daisy", "tulip"]
    assert "Dataset: MyGarden. Domain: garden flowers." in llm.requests[0]["body"]["messages"][1]["content"]
    assert sorted(os.listdir(osp.join(root, "garden"))) == ["n1", "n2", "n3", "names.txt"]  # nothing written there
    rc, _, err = _cli(capsys, "validate", "--all", "--dir", attrs, "--root", root)
    assert rc == 1 and "files for no known dataset" in err  # its config is not in configs/datasets/
    monkeypatch.setattr(catalog_module, "CONFIGS_DIR", str(configs))
    rc, out, _ = _cli(capsys, "validate", "--all", "--dir", attrs, "--root", root)
    assert rc == 0 and out.splitlines()[-1].split()[:3] == ["MyGarden", osp.relpath(osp.join(attrs, "MyGarden.json")),
                                                           "ok"]
    rc, out, _ = _cli(capsys, "validate", "--dataset", "MyGarden", "my_garden", "--dir", attrs, "--root", root)
    assert rc == 0 and out.count(" ok ") == 2  # by its configured name, and by its config's name
